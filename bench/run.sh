#!/usr/bin/env bash
# synclink benchmarks: builds release binaries, runs everything, writes
# bench/RESULTS.md and bench/results/latest.json. See bench/README.md.
# Loopback only; bounded (--max-minutes, default 15); stops by itself.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v wrk >/dev/null 2>&1; then
    echo "[bench] installing wrk (Debian package)"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk;
    else sudo apt-get update -qq && sudo apt-get install -y -qq wrk; fi
fi
py="$(command -v python3.11 || command -v python3)"
exec "$py" "$here/bench.py" "$@"
