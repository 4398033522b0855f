#!/usr/bin/env bash
# Runs synclinkd under strace through start-up, a few admin and public
# requests and a SIGTERM shutdown, then checks that every system call it made
# is allowed by the unit's filter: in @system-service and in neither
# @privileged nor @resources. Needs strace, curl and systemd-analyze; not
# part of CI (strace is not always available there).
#   usage: systemd/syscall-check.sh [path/to/synclinkd]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-${CARGO_TARGET_DIR:-$repo/target}/debug/synclinkd}
for tool in strace curl systemd-analyze; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
cat >"$work/config.toml" <<CONF
[http]
listen = "127.0.0.1:$port"
[admin]
socket = "$work/admin.sock"
[storage]
path = "$work/data"
CONF
strace -f -qq -o "$work/trace" "$bin" --config "$work/config.toml" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do
  grep -q '"ready"' "$work/log" 2>/dev/null && break
  sleep 0.1
done
curl -fsS "127.0.0.1:$port/healthz" >/dev/null
curl -fsS "127.0.0.1:$port/readyz" >/dev/null
curl -fsS "127.0.0.1:$port/metrics" >/dev/null
curl -fsS --unix-socket "$work/admin.sock" -H 'content-type: application/json' \
  -d '{"slug":"acme","name":"Acme"}' http://x/v1/orgs >/dev/null
curl -fsS --unix-socket "$work/admin.sock" http://x/v1/status >/dev/null
# strace blocks SIGTERM for itself: signal the daemon, its child.
daemon=$(pgrep -P "$pid")
kill -TERM "$daemon"
wait "$pid"

expand() {
  systemd-analyze syscall-filter "$1" | sed -n 's/^    \([a-z0-9_@-]*\)$/\1/p' |
    while read -r s; do
      case $s in @*) expand "$s" ;; *) echo "$s" ;; esac
    done
}
sed -nE 's/^[0-9]+ +([a-z0-9_]+)\(.*/\1/p' "$work/trace" | sort -u >"$work/used"
expand @system-service | sort -u >"$work/allowed"
{ expand @privileged; expand @resources; } | sort -u >"$work/denied"
outside=$(comm -23 "$work/used" "$work/allowed")
denied=$(comm -12 "$work/used" "$work/denied")
echo "$(wc -l <"$work/used") distinct system calls used"
if [ -n "$outside$denied" ]; then
  echo "outside @system-service: ${outside:-none}" >&2
  echo "in @privileged/@resources: ${denied:-none}" >&2
  exit 1
fi
echo "all allowed by SystemCallFilter=@system-service ~@privileged @resources"
