#!/usr/bin/env python3
"""Reconcile after downtime (issue "Converge"), in one run on one machine.

    bench/reconcile.py [--issues 10000] [--changed 2000] [--skip-build]

Builds the release synclinkd, examples/fake_jira_bench (a fast fake Jira
that serves search pages from memory and does not verify signatures) and
examples/bare_webhook, then:

 (1) Convergence: 10,000 groups, each linked to its own issue BENCH-i, one
     integration connected to the fake (inbound assignee sync on). A first
     reconcile sets the cursor; synclinkd stops; 2,000 issues are reassigned
     in the fake; synclinkd starts, and its start-up run reads them back.
     Measured: the run's time (its `started` to `finished`) and the time from
     spawning the process to converged, against the time the fake needs to
     serve the same pages alone (fetched here, back to back, with the same
     JQL); and the search pages it asked for, against one per 100 changed
     issues.
 (2) Webhook throughput while a reconcile runs: wrk drives webhook
     deliveries at the bare actix-web handler, at synclinkd idle, and at
     synclinkd while a reconcile applies 5,000 changed issues (issues 1-5,000;
     the webhooks go to 5,001-10,000), each for the same time. Goal: the
     ratio to bare during the reconcile >= 0.8x the ratio without one.
"""

import argparse
import json
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import build_release, log, scratch_dir  # noqa: E402
from harness import load, procs, report, seeding  # noqa: E402
from harness.admin import admin_client  # noqa: E402

BENCH = Path(__file__).resolve().parent


def fake(port, method, path):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    with urllib.request.urlopen(req, timeout=60) as r:
        body = r.read()
    return json.loads(body) if body else None


def wait_run(c, integ, after_ms, timeout=600):
    """Wait for a reconcile run that started at or after `after_ms` to end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = c.must("GET", f"/v1/integrations/{integ}/reconcile")
        last = s.get("last_run")
        if not s["running"] and last and iso_ms(last["started"]) >= after_ms:
            return s
        time.sleep(0.02)
    raise RuntimeError("the reconcile run did not end")


def iso_ms(t):
    from datetime import datetime
    return int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000)


def serve_alone(port, jql, pages):
    """The fake serving the same pages with nobody else: back-to-back GETs."""
    t = time.monotonic()
    for i in range(pages):
        q = urllib.parse.urlencode({"jql": jql, "startAt": i * 100, "maxResults": 100,
                                    "fields": "assignee,status,updated,project", "expand": "changelog"})
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/rest/api/2/search?{q}", timeout=60) as r:
            r.read()
    return time.monotonic() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--issues", type=int, default=10000)
    ap.add_argument("--changed", type=int, default=2000)
    ap.add_argument("--conc", type=int, default=32)
    ap.add_argument("--duration", type=int, default=6)
    ap.add_argument("--page-ms", type=int, default=50,
                    help="how long the fake takes per search page in the second convergence run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--json", default=str(BENCH / "results/reconcile.json"))
    a = ap.parse_args()
    rel = build_release(["fake_jira_bench", "bare_webhook"], a.skip_build)
    work = scratch_dir("synclink-reconcile-")
    fk, fport = procs.fake_jira(rel, work)
    # Start-up runs on; no periodic run during the measurement.
    d = procs.Daemon(rel / "synclinkd", work, "reconcile", durability="sync",
                     extra_toml="[jira]\nreconcile_interval_secs = 3600\n")
    bare = procs.Bare(rel / "examples/bare_webhook", work)
    res = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "params": vars(a)}
    try:
        d.start()
        c = admin_client(d.socket)
        org, user, project, integ = seeding.jira_world(c, fport)
        c.must("POST", f"/v1/integrations/{integ}/installations", {"org": org, "sync_inbound_assignee": True})
        log(f"seeding {a.issues} groups, each linked to its own issue")
        t0 = time.monotonic()
        for i in range(1, a.issues + 1):
            gid = c.must("POST", "/v1/groups", {"project": project, "title": f"g{i}"})["id"]
            c.must("POST", "/v1/links", {"group": gid, "integration": integ, "key": f"BENCH-{i}"})
        res["seed_s"] = time.monotonic() - t0
        fake(fport, "POST", f"/__issues?count={a.issues}")
        # A first run sets the cursor (nothing changed).
        now = int(time.time() * 1000)
        c.must("POST", f"/v1/integrations/{integ}/reconcile", {}, expect=(202,))
        wait_run(c, integ, now)
        c.close()

        # (1) downtime, then start: with a fake that answers at once, and
        # with one that takes --page-ms per search page (a fast Jira).
        res["convergence"] = {}
        for n, page_ms in enumerate([0, a.page_ms]):
            log(f"(1) synclinkd down; {a.changed} issues change in Jira; start (pages take {page_ms} ms)")
            d.stop()
            fake(fport, "POST", f"/__change?from=1&to={a.changed}&unassign={n % 2}")
            fake(fport, "POST", f"/__delay?ms={page_ms}")
            before = fake(fport, "GET", "/__stats")
            t_spawn = time.monotonic()
            spawn_ms = int(time.time() * 1000)
            d.start()
            c = admin_client(d.socket)
            s = wait_run(c, integ, spawn_ms)
            converged_s = time.monotonic() - t_spawn
            last = s["last_run"]
            after = fake(fport, "GET", "/__stats")
            run_s = (iso_ms(last["finished"]) - iso_ms(last["started"])) / 1000
            pages = after["searches"] - before["searches"]
            jql = 'project in ("BENCH") AND updated >= "-10m" ORDER BY updated ASC'
            alone = min(serve_alone(fport, jql, pages) for _ in range(3))
            fake(fport, "POST", "/__delay?ms=0")
            res["convergence"][page_ms] = {
                "histories_applied": last["histories_applied"], "outcomes": last["outcomes"],
                "issues_read": last["issues_read"], "error": last["error"],
                "run_s": run_s, "spawn_to_converged_s": converged_s, "search_pages": pages,
                "fake_serve_s_in_run": (after["serve_us"] - before["serve_us"]) / 1e6,
                "pages_alone_s": alone, "run_over_alone": run_s / alone if alone else None,
            }
            log(f"    {last['histories_applied']} applied, {pages} pages, run {run_s:.2f} s, "
                f"spawn->converged {converged_s:.2f} s, pages alone {alone:.2f} s")

        # (2) webhooks with and without a reconcile running.
        log("(2) webhook throughput: bare, idle, during a reconcile")
        half = a.issues // 2
        keys = [f"BENCH-{i}" for i in range(half + 1, a.issues + 1)]
        emails = ["bob@example.org"] * len(keys)
        url = c.must("GET", f"/v1/integrations/{integ}/webhook-url")["url"]
        path = urllib.parse.urlparse(url).path
        runner = load.Runner()
        wl = load.Workload(path, keys, emails, work, "synclink")
        wl_b = load.Workload(path, keys, emails, work, "bare")
        runner.run(d.port, wl, a.conc, 1, pid=d.pid, metrics=False)
        rounds = []
        for rnd in range(a.rounds):
            rb = runner.run(bare.port, wl_b, a.conc, a.duration, pid=bare.pid, metrics=False, label="bare")
            ri = runner.run(d.port, wl, a.conc, a.duration, pid=d.pid, label="idle")
            # A reconcile applying `half` changed issues (unassigned, then
            # assigned again: each one a change), read from an hour back,
            # its pages spread over the load's duration.
            fake(fport, "POST", f"/__change?from=1&to={half}&unassign={rnd % 2}")
            delay = a.duration * 1200 // max(1, half // 100)
            fake(fport, "POST", f"/__delay?ms={delay}")
            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
            start_ms = int(time.time() * 1000)
            c.must("POST", f"/v1/integrations/{integ}/reconcile", {"since": since}, expect=(202,))
            rr = runner.run(d.port, wl, a.conc, a.duration, pid=d.pid, label="reconciling")
            still = c.must("GET", f"/v1/integrations/{integ}/reconcile")["running"]
            s2 = wait_run(c, integ, start_ms)
            fake(fport, "POST", "/__delay?ms=0")
            rounds.append({"bare": rb, "idle": ri, "reconciling": rr, "run_still_going_at_end": still,
                           "run": s2["last_run"]})
            log(f"    round {rnd + 1}: bare {rb['rps']:.0f}, idle {ri['rps']:.0f}, during reconcile "
                f"{rr['rps']:.0f} req/s (run still going at the end: {still}; it applied "
                f"{s2['last_run']['histories_applied']})")
        # The median round by the ratio during ÷ ratio idle.
        ranked = sorted(rounds, key=lambda r: r["reconciling"]["rps"] / r["idle"]["rps"])
        med = ranked[len(ranked) // 2]
        res["webhooks"] = {"rounds": rounds, "median": {
            k: {"rps": med[k]["rps"], "p99_ms": med[k]["lat_p99_us"] / 1000} for k in ("bare", "idle", "reconciling")},
            "during_over_idle_each_round": [r["reconciling"]["rps"] / r["idle"]["rps"] for r in rounds]}
        c.close()
    finally:
        d.stop()
        bare.stop()
        procs.stop_process(fk)
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(res, indent=1))
    print("\n".join(report.reconcile_section(res)))


if __name__ == "__main__":
    main()
