#!/usr/bin/env python3
"""Outbound sync benchmark (issue "Two-way sync"): latency from an admin
change being answered to the fake Jira receiving its PUT, the outbox's drain
rate, and the daemon's memory while entries wait for a Jira that is down.

    bench/outbound.py [--groups 1000] [--links 10] [--samples 200]

Builds the release synclinkd and examples/fake_jira_bench (a fast fake that
only counts: the tests' fake checks every signature), seeds one org with
--groups groups, each linked to --links Jira issues of an imported
integration whose base URL is the fake (outbound assignee switch on), then:
  (1) latency: --samples assign / unassign changes one after another, each
      timed from the admin API's answer to the fake's receipt of the PUT;
  (2) memory: with Jira down (503), every group is assigned once, so that
      groups x links entries wait; VmRSS is read;
  (3) drain: Jira comes back; the time from the first to the last PUT of
      those entries gives the pushes per second (jira.outbound_max_in_flight
      = 4, the default; backoff capped at 1 s so the waiting entries are
      tried soon after Jira is back).
Prints a markdown report and writes JSON to --json. Loopback only."""

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import build_release, scratch_dir  # noqa: E402
from harness import procs, report, seeding  # noqa: E402
from harness.admin import admin_client  # noqa: E402

BENCH = Path(__file__).resolve().parent


def log(msg):
    print(f"[outbound {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fake_get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
        return json.loads(r.read() or b"null")


def fake_post(port, path):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST", data=b"")
    urllib.request.urlopen(req, timeout=30).read()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--groups", type=int, default=1000)
    ap.add_argument("--links", type=int, default=10)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--json", default=str(BENCH / "results/outbound.json"))
    a = ap.parse_args()
    rel = build_release(["fake_jira_bench"], a.skip_build)
    work = scratch_dir("synclink-outbound-")
    fake, fport = procs.fake_jira(rel, work)
    d = procs.Daemon(rel / "synclinkd", work, "outbound", durability="sync",
                     extra_toml="[jira]\noutbound_max_backoff_secs = 1\n")
    res = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "params": vars(a)}
    try:
        d.start()
        c = admin_client(d.socket)
        org, user, project, integ = seeding.jira_world(c, fport)
        c.must("POST", f"/v1/integrations/{integ}/installations",
               {"org": org, "sync_outbound_assignee": True})
        log(f"seeding {a.groups} groups x {a.links} links")
        t0 = time.monotonic()
        groups = []
        for g in range(a.groups):
            gid = c.must("POST", "/v1/groups", {"project": project, "title": f"g{g}"})["id"]
            groups.append(gid)
            for k in range(a.links):
                c.must("POST", "/v1/links", {"group": gid, "integration": integ,
                                             "key": f"BENCH-{g * a.links + k + 1}"})
        res["seed_s"] = time.monotonic() - t0
        rss_idle = procs.proc_status(d.pid)

        # (1) latency, one change at a time, on groups with one link each
        # would be ideal; here each change makes `links` entries, and the
        # first PUT of the change is timed.
        log(f"(1) latency: {a.samples} changes")
        lat = []
        seen = len(fake_get(fport, "/__received"))
        for i in range(a.samples):
            gid = groups[i % len(groups)]
            if (i // len(groups)) % 2 == 0:
                c.must("PUT", f"/v1/groups/{gid}/assignee", {"user": user})
            else:
                c.must("DELETE", f"/v1/groups/{gid}/assignee")
            answered = time.time() * 1000
            want = seen + a.links
            deadline = time.monotonic() + 10
            while True:
                got = fake_get(fport, "/__received")
                if len(got) >= want or time.monotonic() > deadline:
                    break
                time.sleep(0.001)
            if len(got) > seen:
                lat.append(max(0.0, got[seen][1] - answered))
            seen = len(got)
        res["latency_ms"] = {"p50": pct(lat, 50), "p99": pct(lat, 99), "max": max(lat), "n": len(lat)}
        log(f"    p50 {res['latency_ms']['p50']:.1f} ms  p99 {res['latency_ms']['p99']:.1f} ms")

        # (2) memory while entries wait for a Jira that is down.
        log("(2) Jira down; every group assigned once")
        # Unassign first (while up), so each group's assign is a change.
        for gid in groups:
            c.call("DELETE", f"/v1/groups/{gid}/assignee")
        time.sleep(2)
        fake_post(fport, "/__down")
        before = len(fake_get(fport, "/__received"))
        for gid in groups:
            c.must("PUT", f"/v1/groups/{gid}/assignee", {"user": user})
        time.sleep(2)
        pending = c.must("GET", "/v1/outbox?state=pending&limit=10000")
        res["waiting_entries"] = len(pending)
        res["rss_waiting_kib"] = procs.proc_status(d.pid)
        res["rss_idle_kib"] = rss_idle
        log(f"    {len(pending)} entries waiting; RSS {res['rss_waiting_kib']}")

        # (3) drain.
        log("(3) Jira back: drain")
        fake_post(fport, "/__up")
        t_up = time.time() * 1000
        want = before + len(pending)
        deadline = time.monotonic() + 300
        while True:
            got = fake_get(fport, "/__received")
            if len(got) >= want or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        drained = got[before:]
        if drained:
            first, last = drained[0][1], drained[-1][1]
            span = max(1, last - first) / 1000
            res["drain"] = {"pushes": len(drained), "first_after_up_ms": first - t_up,
                            "span_s": span, "pushes_per_s": len(drained) / span}
            log(f"    {len(drained)} pushes in {span:.2f} s: {len(drained) / span:.0f}/s")
        res["rss_after_kib"] = procs.proc_status(d.pid)
    finally:
        d.stop()
        procs.stop_process(fake)
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(res, indent=1))
    print("\n".join(report.outbound_section(res)))


if __name__ == "__main__":
    main()
