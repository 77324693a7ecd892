#!/bin/sh
# Postern's node installer, served by a Postern server at /install.sh. It
# downloads postern-agent from that server, checks its SHA-256, registers
# this node with an activation and installs the agent as a service
# (systemd on Linux, launchd on macOS). `postern activations create`
# prints the command that runs it:
#
#   curl -fsSL https://SERVER/install.sh | sudo sh -s -- --code CODE --id ID [--ca-pin sha256:HEX]
#
# With --ca-pin, the server's CA is fetched and checked against the pin
# before anything else is downloaded, and every download after it trusts
# that CA only. Nothing is installed before the agent is downloaded,
# checked and the node registered: a wrong pin, an expired activation or
# a server out of reach stops it with the reason and leaves the machine
# as it was; a failure while installing takes back what it wrote.
set -eu

# The server this script came from (filled in by the server, from the
# address it was fetched at); --server overrides it.
server={{.Server}}

usage() {
  cat <<'EOF'
usage: install.sh --code CODE --id ID [options]     (as root)
       install.sh --upgrade [options]

  --code CODE       the activation code (postern activations create)
  --id ID           the activation id
  --ca-pin PIN      trust the server's CA with this fingerprint (sha256:HEX)
  --server URL      the server, https://HOST:PORT (default: the one this script came from)
  --name NAME       the node's name (default: the activation's, else the host name)
  --tag KEY=VALUE   a tag for the node (repeatable)
  --dir DIR         the agent's identity (default: /var/lib/postern-agent)
  --root DIR        install under DIR instead of / (the service names the paths under
                    it; nothing is started)
  --no-start        install the service without starting it
  --upgrade         replace the agent of a registered node with the server's, and restart it
EOF
}

say() { printf 'postern install: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
# quote prints its argument quoted for the shell.
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
# sedesc escapes a replacement for sed's s|||.
sedesc() { printf '%s' "$1" | sed 's/[|&\\]/\\&/g'; }

# pemcheck succeeds if $1 holds one PEM certificate and nothing else: what
# is hashed against the pin is then all that curl will trust.
pemcheck() {
  [ "$(sed -n '1p' "$1")" = "-----BEGIN CERTIFICATE-----" ] &&
    [ "$(sed -n '$p' "$1")" = "-----END CERTIFICATE-----" ] &&
    [ "$(grep -c -e '-----' "$1")" = 2 ] &&
    ! sed '1d;$d' "$1" | grep -q '[^A-Za-z0-9+/=]'
}

# All of it is in main, called on the last line: a download cut short
# runs nothing.
main() {

code='' actid='' pin='' name='' dir='' root='' start=yes upgrade=no tags=''
while [ $# -gt 0 ]; do
  case $1 in
    --*=*) v=${1#*=} o=${1%%=*}; shift; set -- "$o" "$v" "$@"; continue ;;
    --no-start) start=no; shift; continue ;;
    --upgrade) upgrade=yes; shift; continue ;;
    -h | --help) usage; exit 0 ;;
    --server | --code | --id | --ca-pin | --name | --tag | --dir | --root)
      [ $# -ge 2 ] || die "$1 needs a value (see --help)" ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  case $1 in
    --server) server=$2 ;;
    --code) code=$2 ;;
    --id) actid=$2 ;;
    --ca-pin) pin=$(printf '%s' "$2" | tr 'A-F' 'a-f') ;;
    --name) name=$2 ;;
    --tag) tags="$tags --tag $(quote "$2")" ;;
    --dir) dir=$2 ;;
    --root) root=${2%/} ;;
  esac
  shift 2
done

case $server in
  https://?*) server=${server%/} ;;
  '') die "--server is needed: the Postern server's https://HOST:PORT" ;;
  *) die "--server $server: not an https:// URL" ;;
esac
if [ $upgrade = no ] && { [ -z "$code" ] || [ -z "$actid" ]; }; then
  die "--code and --id are needed: run postern activations create for them"
fi
case $pin in
  '') ;;
  sha256:*)
    hex=${pin#sha256:}
    case $hex in *[!0-9a-f]*) die "--ca-pin $pin: not sha256: and 64 hexadecimal digits" ;; esac
    [ ${#hex} -eq 64 ] || die "--ca-pin $pin: not sha256: and 64 hexadecimal digits" ;;
  *) die "--ca-pin $pin: not sha256: and 64 hexadecimal digits" ;;
esac
if [ -z "$root" ] && [ "$(id -u)" != 0 ]; then
  die "run it as root (sudo sh -s -- ...): it installs a system service"
fi
command -v curl >/dev/null 2>&1 || die "curl is needed and not installed"

case $(uname -s) in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) die "this script installs on Linux and macOS, not $(uname -s)" ;;
esac
case $(uname -m) in
  x86_64 | amd64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) die "no postern-agent is built for $(uname -m)" ;;
esac
bindir=$root/usr/local/bin
[ -n "$dir" ] || dir=$root/var/lib/postern-agent
case $os in
  linux) service=$root/etc/systemd/system/postern-agent.service ;;
  darwin) service=$root/Library/LaunchDaemons/com.postern.agent.plist ;;
esac

if [ -z "$root" ] && [ -x /usr/bin/postern-agent ] && [ -f /lib/systemd/system/postern-agent.service ]; then
  die "postern-agent is installed by its package here: upgrade it with the package; register with postern-agent register (postern activations create prints it) and start it with systemctl start postern-agent"
fi
if [ $upgrade = no ] && [ -e "$dir/identity.json" ]; then
  die "this node is already registered ($dir/identity.json exists): --upgrade replaces its agent; to register it again, deregister it (postern nodes deregister NODE), remove $dir and run this again"
fi
if [ $upgrade = yes ] && [ ! -e "$dir/identity.json" ]; then
  die "--upgrade: this node is not registered here ($dir/identity.json is missing)"
fi

# The agent is run from here to check it: not /tmp, which is often
# mounted noexec.
mkdir -p "$root/var/lib"
tmp=$(mktemp -d "$root/var/lib/.postern-install.XXXXXX")
# undo holds, quoted, what was installed: removed again if a later step
# fails.
# pending is the node registered but not yet installed.
undo='' pending=''
cleanup() {
  status=$?
  if [ $status -ne 0 ] && [ -n "$undo" ]; then
    eval "rm -f $undo"
    say "took back what was installed"
  fi
  if [ $status -ne 0 ] && [ -n "$pending" ]; then
    say "the server has node $pending registered all the same: deregister it (postern nodes deregister $pending) and use a new activation"
  fi
  rm -rf "$tmp"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -c1-64
}
b64decode() { base64 -d 2>/dev/null || base64 -D; }

# fetch URL FILE [CURL-OPTION...] writes URL's body to FILE, or stops with
# why it could not.
cafile=''
fetch() {
  url=$1 file=$2
  shift 2
  if [ -n "$cafile" ]; then set -- --cacert "$cafile" "$@"; fi
  if ! status=$(curl -sS --proto '=https' -o "$file" -w '%{http_code}' "$@" "$url" 2>"$tmp/curl.err"); then
    why=$(head -n 1 "$tmp/curl.err")
    case $why in
      *certificate* | *subject* | *SSL*)
        if [ -n "$cafile" ]; then
          why="$why (the server's certificate must name the host you reach it by: add it to hosts in the server's configuration)"
        else
          why="$why (this system does not trust the server's certificate: pass --ca-pin, which postern activations create prints)"
        fi ;;
    esac
    die "cannot fetch $url: $why; nothing was installed"
  fi
  [ "$status" = 200 ] || die "$url answered $status: $(head -c 300 "$file" 2>/dev/null); nothing was installed"
}

# The server's CA, checked against the pin before anything is trusted.
if [ -n "$pin" ]; then
  fetch "$server/install/ca.pem" "$tmp/ca.pem" --insecure
  pemcheck "$tmp/ca.pem" || die "$server/install/ca.pem is not one PEM certificate and nothing else: this is not a Postern server, or something between you answered instead; nothing was installed"
  sed -e '/-----/d' "$tmp/ca.pem" | b64decode >"$tmp/ca.der" || die "$server/install/ca.pem does not decode; nothing was installed"
  got=$(sha256 "$tmp/ca.der")
  if [ "sha256:$got" != "$pin" ]; then
    die "the server's CA is sha256:$got, not the pinned $pin: this is not the server the activation came from, or something between you answered instead; nothing was installed"
  fi
  cafile=$tmp/ca.pem
fi

# The agent for this machine, and its checksum.
fetch "$server/install/agent/SHA256SUMS" "$tmp/SHA256SUMS"
line=$(grep -E "^[0-9a-f]{64}  postern-agent-([^ ]*-)?$os-$arch\$" "$tmp/SHA256SUMS" | head -n 1 || true)
if [ -z "$line" ]; then
  die "the server offers no postern-agent for $os/$arch (it has: $(cut -c67- "$tmp/SHA256SUMS" | tr '\n' ' ')); nothing was installed"
fi
want=${line%% *} file=${line##* }
fetch "$server/install/agent/$file" "$tmp/postern-agent"
got=$(sha256 "$tmp/postern-agent")
[ "$got" = "$want" ] || die "$file: its SHA-256 is $got, the server lists $want: the download is damaged; nothing was installed"
chmod 0755 "$tmp/postern-agent"
"$tmp/postern-agent" version >"$tmp/version" 2>&1 || die "$file does not run on this machine: $(head -c 300 "$tmp/version"); nothing was installed"
version=$(head -n 1 "$tmp/version")

# Registered before anything is installed: an activation that is
# expired, used up or mistyped stops here.
if [ $upgrade = no ]; then
  set -- register --dir "$tmp/identity" --server "$server" --code "$code" --id "$actid"
  if [ -n "$pin" ]; then set -- "$@" --ca-pin "$pin"; fi
  if [ -n "$name" ]; then set -- "$@" --name "$name"; fi
  eval "set -- \"\$@\" $tags"
  "$tmp/postern-agent" "$@" >"$tmp/register.out" || die "the node was not registered (the reason is above); nothing was installed"
  node=$(sed -n 's/^Registered this node as \([^ ]*\).*/\1/p' "$tmp/register.out")
  pending=$node
fi

# Installed: each file written beside its place and renamed into it. The
# undo list takes the files this made (their .new too), not those that
# were there.
# fresh FILE adds FILE to the undo list unless it exists already.
fresh() { [ -e "$1" ] || undo="$undo $(quote "$1")"; }
mkdir -p "$bindir"
undo="$undo $(quote "$bindir/.postern-agent.new")"
cp "$tmp/postern-agent" "$bindir/.postern-agent.new"
chmod 0755 "$bindir/.postern-agent.new"
[ $upgrade = yes ] || fresh "$bindir/postern-agent"
mv -f "$bindir/.postern-agent.new" "$bindir/postern-agent"

if [ $upgrade = no ]; then
  mkdir -p "$dir"
  chmod 0700 "$dir"
  for f in "$tmp/identity"/*; do
    base=${f##*/}
    [ "$base" = identity.json ] && continue
    undo="$undo $(quote "$dir/.$base.new")"
    cp -p "$f" "$dir/.$base.new"
    fresh "$dir/$base"
    mv -f "$dir/.$base.new" "$dir/$base"
  done
  # identity.json last: the service starts once it is there.
  undo="$undo $(quote "$dir/.identity.json.new") $(quote "$dir/identity.json")"
  cp -p "$tmp/identity/identity.json" "$dir/.identity.json.new"
  mv -f "$dir/.identity.json.new" "$dir/identity.json"

  mkdir -p "${service%/*}"
  undo="$undo $(quote "$service.new")"
  fresh "$service"
  case $os in
    linux)
      {
        echo "# The Postern agent, installed by $server/install.sh."
        sed -e '1,/^\[Unit\]/{/^#/d;}' \
          -e "s|/usr/bin/postern-agent|$(sedesc "$bindir/postern-agent")|g" \
          -e "s|/var/lib/postern-agent|$(sedesc "$dir")|g" <<'POSTERN_UNIT_EOF'
{{.Unit}}POSTERN_UNIT_EOF
      } >"$service.new" ;;
    darwin)
      sed -e "s|/usr/local/bin/postern-agent|$(sedesc "$bindir/postern-agent")|g" \
        -e "s|/var/lib/postern-agent|$(sedesc "$dir")|g" >"$service.new" <<'POSTERN_PLIST_EOF'
{{.Launchd}}POSTERN_PLIST_EOF
  esac
  chmod 0644 "$service.new"
  mv -f "$service.new" "$service"
fi
undo='' pending=''

# Started (or restarted on the new binary).
started=no
if [ $start = yes ] && [ -z "$root" ]; then
  case $os in
    linux)
      if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl daemon-reload
        if [ $upgrade = yes ]; then
          systemctl restart postern-agent.service || die "the agent was replaced but did not restart: see systemctl status postern-agent"
        else
          systemctl enable --now postern-agent.service || die "installed, but the service did not start: see systemctl status postern-agent"
        fi
        started=yes
      fi ;;
    darwin)
      if [ $upgrade = yes ]; then
        launchctl kickstart -k system/com.postern.agent || die "the agent was replaced but did not restart: see /var/log/postern-agent.log"
      else
        launchctl bootstrap system "$service" || die "installed, but the daemon did not start: see /var/log/postern-agent.log"
      fi
      started=yes ;;
  esac
fi

if [ $upgrade = yes ]; then
  say "the agent is now $version ($bindir/postern-agent)"
else
  say "registered this node as $node; $version in $bindir/postern-agent, its identity in $dir"
fi
if [ $started = yes ]; then
  say "the agent service is running"
elif [ -n "$root" ]; then
  say "installed under $root; nothing was started"
else
  case $os in
    linux) say "start it with: systemctl daemon-reload && systemctl enable --now postern-agent (without systemd: $bindir/postern-agent run --dir $dir)" ;;
    darwin) say "start it with: launchctl bootstrap system $service" ;;
  esac
fi
}

main "$@"
