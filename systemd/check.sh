#!/usr/bin/env bash
# Checks the systemd unit without a running systemd (CI calls this):
#   1. `systemd-analyze verify` on synclink.service, inside a throw-away root
#      that holds the stock units and an executable at the ExecStart path
#      (the built synclinkd when there is one, else a stub): any warning fails.
#   2. `systemd-analyze security --offline=true`: the exposure score must stay
#      at or below MAX_EXPOSURE (2.0, "OK"); the score is printed.
#   3. `systemd-sysusers --dry-run` on synclink.sysusers.conf.
#   4. `synclinkd --check-config` on the production config.toml (when built).
# Installs nothing. Without systemd-analyze it says so and exits 0.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
cd "$repo/systemd"
MAX_EXPOSURE=${MAX_EXPOSURE:-2.0}
UNIT=synclink.service

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "systemd/check.sh: systemd-analyze not found (apt-get install systemd); skipped" >&2
  exit 0
fi
systemd-analyze --version | head -1

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

# A built daemon, if any (CARGO_TARGET_DIR or target/, debug or release).
bin=""
for b in "$target/debug/synclinkd" "$target/release/synclinkd"; do
  if [ -x "$b" ]; then bin=$b; break; fi
done

exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$UNIT")
mkdir -p "$root/etc/systemd/system" "$root/usr/lib/systemd" "$root$(dirname "$exec_start")"
for d in /usr/lib/systemd/system /lib/systemd/system; do
  if [ -d "$d" ]; then cp -r "$d" "$root/usr/lib/systemd/"; break; fi
done
if [ -n "$bin" ]; then
  cp "$bin" "$root$exec_start"
else
  printf '#!/bin/sh\nexit 0\n' >"$root$exec_start"
fi
chmod 0755 "$root$exec_start"
cp "$UNIT" "$root/etc/systemd/system/$UNIT"

echo "== systemd-analyze verify $UNIT"
out=$(systemd-analyze verify --man=no --root="$root" "$UNIT" 2>&1) || {
  echo "$out" >&2
  echo "FAIL: systemd-analyze verify" >&2
  exit 1
}
if [ -n "$out" ]; then
  echo "$out" >&2
  echo "FAIL: systemd-analyze verify printed warnings" >&2
  exit 1
fi
echo "ok"

echo "== systemd-analyze verify synclink-compact.service synclink-compact.timer"
for exe in /bin/systemctl /usr/sbin/runuser /bin/sh; do
  if [ ! -e "$root$exe" ]; then
    mkdir -p "$root$(dirname "$exe")"
    printf '#!/bin/sh\nexit 0\n' >"$root$exe"
    chmod 0755 "$root$exe"
  fi
done
cp synclink-compact.service synclink-compact.timer "$root/etc/systemd/system/"
out=$(systemd-analyze verify --man=no --root="$root" synclink-compact.service synclink-compact.timer 2>&1) || {
  echo "$out" >&2
  echo "FAIL: systemd-analyze verify (compaction units)" >&2
  exit 1
}
if [ -n "$out" ]; then
  echo "$out" >&2
  echo "FAIL: systemd-analyze verify printed warnings (compaction units)" >&2
  exit 1
fi
echo "ok"

echo "== systemd-analyze security --offline=true $UNIT"
report=$(systemd-analyze security --offline=true --threshold=100 "$UNIT" 2>&1) || {
  echo "$report" >&2
  exit 1
}
score=$(printf '%s\n' "$report" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' | tail -1)
if [ -z "$score" ]; then
  echo "$report" >&2
  echo "FAIL: no exposure score in the report" >&2
  exit 1
fi
printf '%s\n' "$report" | grep -E '^✗' || true
echo "exposure score: $score (must be <= $MAX_EXPOSURE)"
threshold=$(awk -v m="$MAX_EXPOSURE" 'BEGIN { printf "%d", m * 10 + 0.5 }')
if ! systemd-analyze security --offline=true --threshold="$threshold" "$UNIT" >/dev/null 2>&1; then
  echo "FAIL: exposure $score is above $MAX_EXPOSURE" >&2
  exit 1
fi
echo "ok"

if command -v systemd-sysusers >/dev/null 2>&1; then
  echo "== systemd-sysusers --dry-run synclink.sysusers.conf"
  mkdir -p "$root/sysusers/etc"
  out=$(systemd-sysusers --dry-run --root="$root/sysusers" "$PWD/synclink.sysusers.conf" 2>&1) || {
    echo "$out" >&2
    exit 1
  }
  echo "ok"
fi

if [ -n "$bin" ]; then
  echo "== synclinkd --check-config --config config.toml"
  "$bin" --check-config --config config.toml
fi
echo "systemd checks passed"
