#!/bin/sh
# After install or upgrade: the identity's directory, the unit enabled (it
# starts once the node is registered), and a registered agent restarted
# on the new binary.
set -e
install -d -m 0700 /var/lib/postern-agent
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable postern-agent.service >/dev/null
  if [ -f /var/lib/postern-agent/identity.json ]; then
    systemctl restart postern-agent.service
  fi
fi
if [ ! -f /var/lib/postern-agent/identity.json ]; then
  echo "postern-agent: register this node, then start the agent:"
  echo "  postern-agent register --server https://SERVER:8443 --code CODE --id ID --ca-pin sha256:..."
  echo "  systemctl start postern-agent"
fi
