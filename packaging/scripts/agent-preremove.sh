#!/bin/sh
# Before removal (not before an upgrade): the agent stopped and disabled;
# sessions it runs end. The node's identity stays.
set -e
case "$1" in
  remove | 0)
    if [ -d /run/systemd/system ]; then
      systemctl disable --now postern-agent.service >/dev/null 2>&1 || true
    fi ;;
esac
