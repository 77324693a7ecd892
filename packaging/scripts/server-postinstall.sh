#!/bin/sh
# After install or upgrade: the state directory (kept across upgrades and
# removal), the unit enabled, and on an upgrade the running server
# restarted on the new binary. Without systemd (a container) nothing is
# started.
set -e
install -d -m 0700 -o postern -g postern /var/lib/postern
install -d -m 0750 -o root -g postern /etc/postern
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable postern-server.service >/dev/null
  if systemctl is-active --quiet postern-server.service; then
    systemctl restart postern-server.service
  else
    systemctl start postern-server.service
  fi
fi
