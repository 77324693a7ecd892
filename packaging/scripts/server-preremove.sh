#!/bin/sh
# Before removal (not before an upgrade: deb passes "remove", rpm 0): the
# server stopped and disabled. Its data and configuration stay.
set -e
case "$1" in
  remove | 0)
    if [ -d /run/systemd/system ]; then
      systemctl disable --now postern-server.service >/dev/null 2>&1 || true
    fi ;;
esac
