#!/usr/bin/env bash
# Builds the Debian package and checks it the way an operator meets it (CI
# runs this as root on a fresh machine; it installs and purges the package):
#   1. `cargo deb`, then `dpkg-deb --info` / `--contents` and lintian (no errors);
#   2. `dpkg -i`: every file where docs/OPERATIONS.md says, with its owner and
#      mode; the config a conffile; the service user; `systemd-analyze verify`
#      on the installed unit;
#   3. the installed synclinkd started as the service user (`runuser`: systemd
#      is not PID 1 here) with the installed config, reached by the installed
#      synclinkctl through the installed socket path, without --socket; a user
#      outside the synclink group is told what to do;
#   4. `dpkg --purge`: the config goes, the data and the user stay.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target="$repo/$target" ;; esac

fail() { echo "packaging/check-deb.sh: $*" >&2; exit 1; }
if [ "$(id -u)" != 0 ]; then
  echo "packaging/check-deb.sh: needs root (it installs the package); skipped" >&2
  exit 0
fi

echo "-- cargo deb"
cargo deb --locked >/dev/null 2>&1 || cargo deb --locked
deb=$(ls -t "$target"/debian/synclink_*.deb | head -1)
[ -f "$deb" ] || fail "no package built"
echo "$deb"
info=$(dpkg-deb --info "$deb")
echo "$info" | grep -q "^ Package: synclink$" || fail "dpkg-deb --info: not package synclink"
echo "$info" | grep -q "conffiles" || fail "dpkg-deb --info: no conffiles"
contents=$(dpkg-deb --contents "$deb")
for f in ./usr/bin/synclinkd ./usr/bin/synclinkctl ./lib/systemd/system/synclink.service \
         ./lib/systemd/system/synclink-compact.service ./lib/systemd/system/synclink-compact.timer \
         ./usr/lib/sysusers.d/synclink.conf ./usr/lib/tmpfiles.d/synclink.conf \
         ./etc/synclink/config.toml ./usr/share/man/man1/synclinkctl.1.gz \
         ./usr/share/man/man8/synclinkd.8.gz ./usr/share/bash-completion/completions/synclinkctl \
         ./usr/share/zsh/vendor-completions/_synclinkctl \
         ./usr/share/fish/vendor_completions.d/synclinkctl.fish ./usr/share/doc/synclink/copyright; do
  echo "$contents" | grep -q " $f\$" || fail "the package lacks $f"
done
if echo "$contents" | grep -Ev '^(-rw-r--r--|-rwxr-xr-x|drwxr-xr-x) (root/root|0/0) '; then
  fail "files not root-owned with modes 644 / 755"
fi

if command -v lintian >/dev/null 2>&1; then
  echo "-- lintian"
  lintian --fail-on error "$deb" \
    || fail "lintian reports errors"
else
  echo "lintian not installed (apt-get install lintian); skipped" >&2
fi

echo "-- dpkg -i"
dpkg -i "$deb" >/dev/null
listed=$(dpkg -L synclink)
for f in /usr/bin/synclinkd /usr/bin/synclinkctl /lib/systemd/system/synclink.service \
         /etc/synclink/config.toml /usr/share/man/man1/synclinkctl.1.gz; do
  echo "$listed" | grep -qx "$f" || fail "dpkg -L does not list $f"
done
dpkg-query -W -f='${Conffiles}\n' synclink | grep -q "/etc/synclink/config.toml" \
  || fail "/etc/synclink/config.toml is not a conffile"
[ "$(stat -c '%a %U:%G' /usr/bin/synclinkd)" = "755 root:root" ] || fail "synclinkd mode/owner"
[ "$(stat -c '%a %U:%G' /etc/synclink/config.toml)" = "644 root:root" ] || fail "config mode/owner"
getent passwd synclink | grep -q ":/var/lib/synclink:" || fail "no service user synclink"
[ "$(stat -c '%a %U' /var/lib/synclink)" = "700 synclink" ] || fail "/var/lib/synclink mode/owner"
grep -q "^ExecStart=/usr/bin/synclinkd --config /etc/synclink/config.toml" \
  /lib/systemd/system/synclink.service || fail "the installed unit does not run /usr/bin/synclinkd"
page=$(zcat /usr/share/man/man1/synclinkctl.1.gz)
echo "$page" | grep -q '^\.TH synclinkctl 1' || fail "man page"
if command -v systemd-analyze >/dev/null 2>&1; then
  out=$(systemd-analyze verify /lib/systemd/system/synclink.service \
    /lib/systemd/system/synclink-compact.service /lib/systemd/system/synclink-compact.timer 2>&1) \
    || fail "verify: $out"
  [ -z "$out" ] || fail "systemd-analyze verify: $out"
fi

echo "-- the installed daemon, as the service user"
install -d -m 0750 -o synclink -g synclink /run/synclink
runuser -u synclink -- /usr/bin/synclinkd --config /etc/synclink/config.toml \
  >/dev/null 2>/tmp/synclink-deb.log &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -S /run/synclink/synclink.sock ] && break; sleep 0.1; done
[ -S /run/synclink/synclink.sock ] || { cat /tmp/synclink-deb.log >&2; fail "no socket"; }
status=$(cd / && env -u SYNCLINK_SOCKET /usr/bin/synclinkctl --json status) \
  || { cat /tmp/synclink-deb.log >&2; fail "synclinkctl could not reach the daemon"; }
echo "$status" | grep -q '"version"' || fail "unexpected status: $status"
if err=$(cd / && runuser -u nobody -- env -u SYNCLINK_SOCKET /usr/bin/synclinkctl status 2>&1); then
  fail "a user outside the synclink group reached the socket"
fi
echo "$err" | grep -q "sudo" || fail "no advice for a user without permission: $err"
# SIGTERM to synclinkd itself (runuser, its parent, passes its exit code on).
pkill -TERM -P "$pid" -x synclinkd
wait "$pid" || fail "synclinkd did not exit cleanly"
trap - EXIT
[ -d /var/lib/synclink/data ] || fail "no data in /var/lib/synclink/data"

echo "-- dpkg --purge"
dpkg --purge synclink >/dev/null
[ ! -e /usr/bin/synclinkd ] || fail "/usr/bin/synclinkd left after purge"
[ ! -e /etc/synclink ] || fail "/etc/synclink left after purge"
[ ! -e /run/synclink ] || fail "/run/synclink left after purge"
[ -d /var/lib/synclink/data ] || fail "purge removed the data"
getent passwd synclink >/dev/null || fail "purge removed the service user"
rm -rf /var/lib/synclink
echo "package checks passed"
