#!/usr/bin/env python3
"""Compare two synclinkd builds in ONE run: their durable webhook throughput
and latency as a ratio to the bare actix-web handler, measured back to back
(bare, old, new at each concurrency level, `--repeat` rounds, every other
round in the other order; the best round and the median of the per-round ratios), on the same seeded data (1k links, durability sync).

    bench/compare.py --old PATH/TO/OLD/synclinkd [--new PATH] [--levels 32,128]

Build the old binary from a git worktree, e.g.

    git worktree add /tmp/base <commit>
    (cd /tmp/base && CARGO_TARGET_DIR=/tmp/base-target cargo build --release --bin synclinkd)
    bench/compare.py --old /tmp/base-target/release/synclinkd

Writes a markdown table to stdout and JSON to --json. Stdlib only; loopback
only; wrk is needed (bench/run.sh installs it)."""

import argparse
import statistics
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import Target, build, drive, log, scratch_dir, small_keys  # noqa: E402
from harness import load, procs, seeding  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, help="the synclinkd binary to compare against")
    ap.add_argument("--new", default=None, help="default: this checkout's release build")
    ap.add_argument("--levels", default="32,128")
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--groups", type=int, default=1000)
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    bins = build(a.skip_build)
    new_bin = Path(a.new) if a.new else bins["synclinkd"]
    levels = [int(x) for x in a.levels.split(",")]
    work = scratch_dir("synclink-compare-")
    res = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "old": a.old,
           "new": str(new_bin), "runs": {}, "all_runs": {}}
    runner = load.Runner()
    daemons = []
    bare = procs.Bare(bins["bare"], work)
    try:
        targets = [None]
        for name, binary in (("old", Path(a.old)), ("new", new_bin)):
            d = procs.Daemon(binary, work, name, durability="sync")
            daemons.append(d)
            d.start()
            log(f"seeding {name}: {a.groups} groups x 1 link")
            s = seeding.seed(d, bins["seed"], a.groups, 1)
            keys, emails = small_keys(s)
            path = seeding.webhook_path(d, s)[0]
            targets.append(Target(name, d.port, d.pid, load.Workload(path, keys, emails, work, name), True))
        targets[0] = Target("bare", bare.port, bare.pid,
                            load.Workload(targets[1].workload.path, keys, emails, work, "bare"), False)
        drive(runner, targets, levels, a.duration, a.warmup, res, a.repeat, alternate=True)
    finally:
        bare.stop()
        for d in daemons:
            d.stop()
    rows = []
    by = {t: {r["concurrency"]: r for r in res["runs"][t]} for t in ("bare", "old", "new")}
    # Per round (old and new back to back, every other round in the other
    # order): new ÷ old, and each daemon's CPU per delivery, as medians.
    rounds = {t: {(r["round"], r["concurrency"]): r for r in res["all_runs"][t]} for t in ("old", "new")}
    print("| c | bare req/s | old req/s | new req/s | old ÷ bare | new ÷ bare | new ÷ old (best) | "
          "new ÷ old, median of rounds | CPU µs/delivery old | new | old p99 ms | new p99 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for c in levels:
        b, o, n = by["bare"][c], by["old"][c], by["new"][c]
        row = {"c": c, "bare": b["rps"], "old": o["rps"], "new": n["rps"],
               "old_ratio": o["rps"] / b["rps"], "new_ratio": n["rps"] / b["rps"],
               "new_over_old": n["rps"] / o["rps"],
               "old_p99_ms": o["lat_p99_us"] / 1000, "new_p99_ms": n["lat_p99_us"] / 1000}
        ns = range(1, a.repeat + 1)
        row["new_over_old_median"] = statistics.median(
            rounds["new"][(k, c)]["rps"] / rounds["old"][(k, c)]["rps"] for k in ns)
        for t in ("old", "new"):
            row[f"{t}_cpu_us"] = statistics.median(rounds[t][(k, c)]["cpu_ms_per_req"] * 1000 for k in ns)
        rows.append(row)
        print(f"| {c} | {b['rps']:.0f} | {o['rps']:.0f} | {n['rps']:.0f} | {row['old_ratio']:.1%} | "
              f"{row['new_ratio']:.1%} | {row['new_over_old']:.3f} | {row['new_over_old_median']:.3f} | "
              f"{row['old_cpu_us']:.1f} | {row['new_cpu_us']:.1f} | {row['old_p99_ms']:.2f} | "
              f"{row['new_p99_ms']:.2f} |")
    res["summary"] = rows
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
