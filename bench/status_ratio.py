#!/usr/bin/env python3
"""Inbound status sync's cost (issue "Two-way sync"): the durable webhook
throughput, as a ratio to the bare actix-web handler, of deliveries that
change the assignee AND the status (both parts with an effect every time:
assigned+resolved, unassigned+unresolved) against deliveries that change
only the assignee, in ONE run on one daemon (each workload on its own half
of the 1k linked issues), back to back at each level (every other round in the other order),
--repeat rounds: the median of the per-round ratios is the result.

    bench/status_ratio.py [--levels 32,128] [--repeat 4] [--perf C]

Goal: status-and-assignee >= 0.9x the assignee-only ratio."""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import Target, build, diagnose, drive, log, scratch_dir, small_keys  # noqa: E402
from harness import load, procs, seeding  # noqa: E402
from harness.admin import admin_client  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", default="32,128")
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--perf", type=int, metavar="C",
                    help="after the rounds, profile each workload at concurrency C (perf record; "
                         "reports under the work directory)")
    a = ap.parse_args()
    bins = build(a.skip_build)
    levels = [int(x) for x in a.levels.split(",")]
    work = scratch_dir("synclink-status-")
    res = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": {}, "all_runs": {}}
    bare = procs.Bare(bins["bare"], work)
    d = procs.Daemon(bins["synclinkd"], work, "status", durability="sync")
    try:
        d.start()
        log("seeding 1000 groups x 1 link")
        s = seeding.seed(d, bins["seed"], 1000, 1)
        admin_client(d.socket).must("POST", f"/v1/integrations/{s.integration}/installations",
                                    {"org": s.org, "sync_inbound_status": True})
        keys, emails = small_keys(s)
        half = len(keys) // 2
        path = seeding.webhook_path(d, s)[0]
        wl_a = load.Workload(path, keys[:half], emails[:half], work, "assignee")
        wl_s = load.Workload(path, keys[half:], emails[half:], work, "status", status=True)
        wl_b = load.Workload(path, keys[:half], emails[:half], work, "bare")
        targets = [Target("bare", bare.port, bare.pid, wl_b, False),
                   Target("assignee", d.port, d.pid, wl_a, True),
                   Target("status", d.port, d.pid, wl_s, True)]
        runner = load.Runner()
        drive(runner, targets, levels, a.duration, a.warmup, res, a.repeat, alternate=True)
        if a.perf:
            for t in targets[1:]:
                out = work / f"perf-{t.name}"
                out.mkdir()
                diag = diagnose(runner, t, a.perf, out)
                log(f"{t.name}: perf report in {out / 'perf-report.txt'}")
                n = diag["threads_run"]["requests"] or 1
                for th in diag["threads"][:8]:
                    print(f"  {t.name} | thread {th['comm']:<16} {th['cpu_s'] * 1e6 / n:6.1f} µs/delivery  "
                          f"busy {th['busy']:.0%}")
                for line in diag.get("perf", []):
                    print(f"  {t.name} | {line}")
        # Every delivery must carry a usable timestamp (see load.Runner).
        bad = d.log_events(["bad-timestamp", "stale-delivery", "duplicate-delivery"])
        log(f"daemon log events: {bad}")
    finally:
        bare.stop()
        d.stop()
    by = {t: {r["concurrency"]: r for r in res["runs"][t]} for t in ("bare", "assignee", "status")}
    # Per round, the two workloads ran back to back: their ratio in each
    # round, and the daemon's CPU per delivery (less disturbed by the
    # machine's other work than throughput is).
    rounds = {t: {(r["round"], r["concurrency"]): r for r in res["all_runs"][t]} for t in ("assignee", "status")}
    print("| c | bare req/s | assignee-only req/s | status+assignee req/s | assignee ÷ bare | "
          "status ÷ bare | status ÷ assignee (best) | per round | median | CPU µs/delivery assignee | "
          "status | p99 assignee ms | p99 status ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for c in levels:
        b, x, y = by["bare"][c], by["assignee"][c], by["status"][c]
        per = [rounds["status"][(n, c)]["rps"] / rounds["assignee"][(n, c)]["rps"]
               for n in range(1, a.repeat + 1)]
        cpu = {t: statistics.median(rounds[t][(n, c)]["cpu_ms_per_req"] * 1000 for n in range(1, a.repeat + 1))
               for t in ("assignee", "status")}
        print(f"| {c} | {b['rps']:.0f} | {x['rps']:.0f} | {y['rps']:.0f} | {x['rps'] / b['rps']:.1%} | "
              f"{y['rps'] / b['rps']:.1%} | {y['rps'] / x['rps']:.3f} | {' '.join(f'{v:.3f}' for v in per)} | "
              f"{statistics.median(per):.3f} | {cpu['assignee']:.0f} | {cpu['status']:.0f} | "
              f"{x['lat_p99_us'] / 1000:.2f} | {y['lat_p99_us'] / 1000:.2f} |")

if __name__ == "__main__":
    main()
