#!/bin/sh
# Before the files are unpacked: the system user the server runs as.
set -e
if ! getent group postern >/dev/null; then
  groupadd --system postern
fi
if ! getent passwd postern >/dev/null; then
  useradd --system --gid postern --home-dir /var/lib/postern --no-create-home \
    --shell /usr/sbin/nologin --comment "Postern server" postern
fi
