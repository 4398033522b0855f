#!/usr/bin/env python3
"""Disk per delivery over a long run, with and without activity retention
(issue "Performance, restated", section Disk). Two daemons, one after the
other, each driven by the same webhook load (assign / unassign over 1,000
linked issues, `sync` durability) for --minutes in slices; after each slice
the data directory's size, the deliveries applied and the activities kept.
Then each daemon is stopped and compacted (`synclinkd --compact`, what
systemd/synclink-compact.timer runs), and the directory measured again.

    bench/disk.py [--minutes 6] [--retention-secs 60] [--concurrency 32]

The retention run uses `storage.activity_retention_days` = --retention-secs
as a fraction of a day (the daemon then prunes ten times per period), so a
run of minutes shows what a retention of days does over months: the kept
data stops growing once the oldest activities fall out of the window."""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import ROOT, build, log, scratch_dir, small_keys  # noqa: E402
from harness import load, procs, report, seeding  # noqa: E402
from harness.admin import admin_client  # noqa: E402

MIB = 1024 * 1024


def counts(d):
    return admin_client(d.socket).must("GET", "/v1/status")["counts"]


def one(bins, work, name, extra, a, runner):
    d = procs.Daemon(bins["synclinkd"], work, name, durability="sync", extra_toml=extra)
    d.start()
    slices = []
    try:
        s = seeding.seed(d, bins["seed"], 1000, 1)
        keys, emails = small_keys(s)
        wl = load.Workload(seeding.webhook_path(d, s)[0], keys, emails, work, name)
        base = procs.dir_bytes(d.data)
        applied = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < a.minutes * 60:
            r = runner.run(d.port, wl, a.concurrency, a.slice, pid=d.pid, metrics=True, label=name)
            applied += sum((r.get("outcomes") or {}).values())
            size = procs.dir_bytes(d.data)
            c = counts(d)
            slices.append({"t_s": round(time.monotonic() - t0), "deliveries": applied, "bytes": size,
                           "activities": c.get("activities"), "rps": r["rps"]})
            log(f"{name:>12} t={slices[-1]['t_s']:4d}s deliveries {applied:8d}  data {size / MIB:8.1f} MiB  "
                f"activities {c.get('activities')}")
        events = d.log_events(["activities-pruned", "bad-timestamp"])
    finally:
        d.stop()
    before = procs.dir_bytes(d.data)
    t = time.monotonic()
    subprocess.run([str(bins["synclinkd"]), "--config", str(d.config), "--compact"], check=True,
                   capture_output=True, timeout=1800)
    compact_s = time.monotonic() - t
    after = procs.dir_bytes(d.data)
    log(f"{name:>12} compacted: {before / MIB:.1f} MiB -> {after / MIB:.1f} MiB in {compact_s:.1f} s")
    return {"name": name, "seeded_bytes": base, "slices": slices, "stopped_bytes": before,
            "compacted_bytes": after, "compact_s": compact_s, "log_events": events}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=6, help="load per daemon")
    ap.add_argument("--slice", type=int, default=30, help="seconds per measured slice")
    ap.add_argument("--retention-secs", type=float, default=60)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--json", default=None, help="also write the results here")
    a = ap.parse_args()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    bins = build(a.skip_build)
    work = scratch_dir("synclink-disk-")
    runner = load.Runner()
    days = a.retention_secs / 86400
    runs = [one(bins, work, "no-retention", "", a, runner),
            one(bins, work, "retention", f"activity_retention_days = {days!r}\n", a, runner)]
    print(f"\n{a.minutes:g} min of load per daemon at c={a.concurrency}, `sync` durability, 1,000 linked "
          f"issues; retention {a.retention_secs:g} s (activity_retention_days = {days:.6f}).\n")
    print("| daemon | deliveries | data dir growth MiB | bytes per delivery | activities kept at the end | "
          "second half: bytes per delivery | after `--compact` MiB | compact s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        sl = r["slices"]
        last, mid = sl[-1], sl[len(sl) // 2]
        grown = last["bytes"] - r["seeded_bytes"]
        late = (last["bytes"] - mid["bytes"]) / max(1, last["deliveries"] - mid["deliveries"])
        print(f"| {r['name']} | {last['deliveries']} | {grown / MIB:.1f} | {grown / max(1, last['deliveries']):.0f} | "
              f"{last['activities']} | {late:.0f} | {r['compacted_bytes'] / MIB:.1f} | {r['compact_s']:.1f} |")
    for r in runs:
        print(f"\n{r['name']}: log events {r['log_events']}; slices (t s, deliveries, MiB, activities): " +
              ", ".join(f"({x['t_s']}, {x['deliveries']}, {x['bytes'] / MIB:.0f}, {x['activities']})"
                        for x in r["slices"]))
    if a.json:
        Path(a.json).write_text(json.dumps({"started": started, "commit": report.machine(ROOT)["commit"],
                                            "params": vars(a), "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
