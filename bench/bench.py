#!/usr/bin/env python3
"""synclink benchmarks: webhook throughput and latency against a bare
actix-web handler, durable (sync) and async; 1k vs 1M links; start-up, RSS and
data size; project creation and a snowflake ID burst; the storage floor (sled
alone, per delivery) and the throughput ceiling it sets. See bench/README.md.

Stdlib only. Loopback only. Bounded in time (--max-minutes) and stops by itself."""

import argparse
import atexit
import json
import os
import signal
import subprocess
import sys
import shutil
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import adminbench, load, procs, report, seeding  # noqa: E402

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def target_dir():
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return Path(json.loads(out.stdout)["target_directory"])


def build(skip):
    if not skip:
        log("building release binaries (synclinkd, examples seed, bare_webhook, sled_floor and fake_jira_bench)")
        subprocess.run(["cargo", "build", "--release", "--bin", "synclinkd", "--example", "seed",
                        "--example", "bare_webhook", "--example", "sled_floor", "--example", "fake_jira_bench"],
                       cwd=ROOT, check=True)
    rel = target_dir() / "release"
    bins = {"synclinkd": rel / "synclinkd", "seed": rel / "examples/seed",
            "bare": rel / "examples/bare_webhook", "floor": rel / "examples/sled_floor"}
    for k, p in bins.items():
        if not p.exists():
            raise SystemExit(f"missing binary {p}: run without --skip-build")
    return bins


def build_release(examples, skip):
    """`cargo build --release` of synclinkd and these examples (unless
    `skip`); the release directory."""
    if not skip:
        log(f"building release binaries (synclinkd, {', '.join(examples)})")
        argv = ["cargo", "build", "--release", "--bin", "synclinkd"]
        for e in examples:
            argv += ["--example", e]
        subprocess.run(argv, cwd=ROOT, check=True)
    return target_dir() / "release"


def small_keys(s):
    n = s.groups * s.links_per_group
    keys = [f"{seeding.PREFIX}-{i}" for i in range(1, n + 1)]
    return keys, [s.key_email(i) for i in range(1, n + 1)]


def spread_keys(s, count):
    """`count` issue keys spread evenly over the whole key space."""
    n = s.groups * s.links_per_group
    stride = max(1, n // count)
    idx = [1 + i * stride for i in range(count) if 1 + i * stride <= n]
    return [f"{seeding.PREFIX}-{i}" for i in idx], [s.key_email(i) for i in idx]


def restart_startups(d, times):
    for _ in range(times):
        d.stop()
        d.start()
    return d.startups


class Target:
    def __init__(self, name, port, pid, workload, metrics):
        self.name, self.port, self.pid, self.workload, self.metrics = name, port, pid, workload, metrics


def scratch_dir(prefix):
    """A fresh temp directory, removed when the script exits (a run's sled
    data takes gigabytes); SYNCLINK_BENCH_KEEP=1 keeps it for a look."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    if not os.environ.get("SYNCLINK_BENCH_KEEP"):
        atexit.register(shutil.rmtree, work, True)
    else:
        log(f"keeping {work} (SYNCLINK_BENCH_KEEP)")
    return work


def drive(runner, targets, levels, duration, warmup, res, repeat, alternate=False):
    """For each concurrency level, run every target back to back (so the
    ratios compare runs close in time on a shared machine); `repeat` rounds.
    res["runs"][name] keeps, per level, the round with the best throughput
    (the one least disturbed by other work on the machine); res["all_runs"]
    keeps every round. `alternate`: every other round runs the targets after
    the first in reverse order, so none is always measured last."""
    for rnd in range(repeat):
        for c in levels:
            order = targets[:1] + targets[1:][::-1] if alternate and rnd % 2 else targets
            for t in order:
                if warmup:
                    runner.run(t.port, t.workload, c, warmup, pid=t.pid, metrics=False)
                r = runner.run(t.port, t.workload, c, duration, pid=t.pid, metrics=t.metrics, label=t.name)
                r["round"] = rnd + 1
                res["all_runs"].setdefault(t.name, []).append(r)
                log(f"{t.name:>10} c={c:<4} {r['rps']:9.0f} req/s  p50 {r['lat_p50_us'] / 1000:7.2f} ms  "
                    f"p99 {r['lat_p99_us'] / 1000:7.2f} ms  errors {r['errors']}  {r.get('outcomes', '')}")
    for t in targets:
        best = {}
        for r in res["all_runs"][t.name]:
            c = r["concurrency"]
            if c not in best or r["rps"] > best[c]["rps"]:
                best[c] = r
        res["runs"][t.name] = [best[c] for c in sorted(best)]


def diagnose(runner, t, conc, out_dir, async_target=None):
    """Extra runs (not in the tables) under `perf record` and `strace -c`:
    where synclinkd's time goes, and its syscalls per delivery."""
    out = {}
    # CPU time per thread over a plain run (no tracer): where the cost is.
    before = procs.thread_cpu(t.pid)
    r = runner.run(t.port, t.workload, conc, 6, pid=t.pid, metrics=t.metrics, label=t.name + "-threads")
    after = procs.thread_cpu(t.pid)
    secs = r["duration_us"] / 1e6
    threads = []
    for tid, (comm, cpu) in after.items():
        d = cpu - before.get(tid, (comm, 0.0))[1]
        if d > 0:
            threads.append({"tid": tid, "comm": comm, "cpu_s": d, "busy": d / secs if secs else None,
                            "main": tid == t.pid})
    out["threads_run"] = r
    out["threads"] = sorted(threads, key=lambda x: -x["cpu_s"])
    data = out_dir / "perf.data"
    if shutil.which("perf"):
        p = subprocess.Popen(["perf", "record", "-F", "499", "--call-graph", "dwarf,16384", "-o", str(data),
                              "-p", str(t.pid), "--", "sleep", "5"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        r = runner.run(t.port, t.workload, conc, 6, pid=t.pid, metrics=t.metrics, label=t.name + "-perf")
        p.wait(timeout=120)
        out["perf_run"] = r
        out["perf"] = report.perf_summary(data, out_dir / "perf-report.txt")
    if shutil.which("strace"):
        trace = out_dir / "strace.txt"
        p = subprocess.Popen(["timeout", "-s", "INT", "5", "strace", "-f", "-c", "-o", str(trace),
                              "-p", str(t.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        r = runner.run(t.port, t.workload, conc, 6, pid=t.pid, metrics=t.metrics, label=t.name + "-strace")
        p.wait(timeout=60)
        out["strace_run"] = r
        out["strace"] = report.strace_summary(trace)
        if async_target is not None:
            # The same with durability = "async" (a flush every 200 ms): what
            # is left is the cost of the write path itself.
            p = subprocess.Popen(["timeout", "-s", "INT", "5", "strace", "-f", "-c", "-o", str(trace),
                                  "-p", str(async_target.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            r = runner.run(async_target.port, async_target.workload, conc, 6, pid=async_target.pid,
                           metrics=True, label=async_target.name + "-strace")
            p.wait(timeout=60)
            out["strace_async_run"] = r
            out["strace_async"] = report.strace_summary(trace)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="short smoke run: 2 s runs, 100k links")
    ap.add_argument("--duration", type=int, default=8, help="seconds per measured run")
    ap.add_argument("--warmup", type=int, default=1, help="seconds of warm-up before each run")
    ap.add_argument("--repeat", type=int, default=2, help="rounds over the levels; the best round per level counts")
    ap.add_argument("--levels", default="1,8,32,128", help="wrk concurrency levels")
    ap.add_argument("--small-groups", type=int, default=1000, help="groups of the 1k-link databases")
    ap.add_argument("--small-links-per-group", type=int, default=1)
    ap.add_argument("--large-groups", type=int, default=100_000, help="groups of the 1M-link database")
    ap.add_argument("--large-links-per-group", type=int, default=10)
    ap.add_argument("--driven-keys", type=int, default=1000, help="issue keys the load cycles over")
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--skip-large", action="store_true", help="skip (c), the 1M-link database")
    ap.add_argument("--profile", action="store_true",
                    help="extra runs of synclinkd (sync, 1k, c=32) under perf record and strace -c")
    ap.add_argument("--skip-outbound", action="store_true", help="skip (f), bench/outbound.py")
    ap.add_argument("--skip-reconcile", action="store_true", help="skip (g), bench/reconcile.py")
    ap.add_argument("--max-minutes", type=float, default=20)
    ap.add_argument("--out", default=str(BENCH / "RESULTS.md"))
    ap.add_argument("--json", default=str(BENCH / "results/latest.json"))
    ap.add_argument("--workdir", default=None, help="default: a fresh temp dir, removed at the end")
    ap.add_argument("--report-only", action="store_true",
                    help="only rewrite --out from the results in --json (e.g. after editing ANALYSIS.md)")
    a = ap.parse_args()
    if a.report_only:
        Path(a.out).write_text(report.markdown(json.loads(Path(a.json).read_text())))
        log(f"wrote {a.out} from {a.json}")
        return
    if a.quick:
        a.duration, a.warmup, a.large_groups, a.repeat = 2, 1, 10_000, 1
    levels = [int(x) for x in a.levels.split(",")]

    def on_alarm(*_):
        raise TimeoutError(f"benchmark exceeded {a.max_minutes} minutes")
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(a.max_minutes * 60))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    res = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": report.machine(ROOT),
           "params": vars(a), "runs": {}, "all_runs": {}, "notes": []}
    t_start = time.monotonic()
    bins = build(a.skip_build)
    res["build_s"] = time.monotonic() - t_start
    work = Path(a.workdir or tempfile.mkdtemp(prefix="synclink-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    runner = load.Runner()
    daemons = []
    try:
        # (a) + (b): bare handler, synclinkd sync and async, 1k links each.
        bare = procs.Bare(bins["bare"], work)
        small = {}
        for mode in ("sync", "async"):
            d = procs.Daemon(bins["synclinkd"], work, f"{mode}-1k", durability=mode)
            daemons.append(d)
            d.start()
            log(f"seeding {mode}-1k: {a.small_groups} groups x {a.small_links_per_group} links")
            s = seeding.seed(d, bins["seed"], a.small_groups, a.small_links_per_group)
            problems, counts = seeding.verify(d, s, [s.first_group, s.last_group])
            path, path_via = seeding.webhook_path(d, s)
            small[mode] = (d, s)
            res[f"seed_{mode}_1k"] = {**s.to_json(), "verify_problems": problems, "counts": counts,
                                      "webhook_path_via": path_via}
            log(f"  via {s.via}; checks: {problems or 'ok'}")
        ds, ss = small["sync"]
        da, sa = small["async"]
        res["startup_1k"] = restart_startups(ds, 2)
        res["rss_1k_start_kib"] = procs.proc_status(ds.pid)
        keys, emails = small_keys(ss)
        wl_s = load.Workload(seeding.webhook_path(ds, ss)[0], keys, emails, work, "sync1k")
        wl_a = load.Workload(seeding.webhook_path(da, sa)[0], keys, emails, work, "async1k")
        wl_b = load.Workload(wl_s.path, keys, emails, work, "bare")
        res["body_bytes"] = len(load.sample_body(wl_s.assign))
        targets = [Target("bare", bare.port, bare.pid, wl_b, False),
                   Target("sync-1k", ds.port, ds.pid, wl_s, True),
                   Target("async-1k", da.port, da.pid, wl_a, True)]
        log(f"(a,b) webhook runs: levels {levels}, {a.duration} s each")
        drive(runner, targets, levels, a.duration, a.warmup, res, a.repeat)
        bare.stop()
        res["rss_1k_kib"] = procs.proc_status(ds.pid)
        if a.profile:
            log("profiling synclinkd (sync, 1k, c=32): perf record, strace -c; async: strace -c")
            (BENCH / "results").mkdir(exist_ok=True)
            res["diagnostics"] = diagnose(runner, targets[1], 32, BENCH / "results", async_target=targets[2])
        da.stop()

        # (c): the same against a million links (100k groups x 10).
        if not a.skip_large:
            dl = procs.Daemon(bins["synclinkd"], work, "sync-1m", durability="sync")
            daemons.append(dl)
            dl.start()
            n = a.large_groups * a.large_links_per_group
            log(f"seeding sync-1m: {a.large_groups} groups x {a.large_links_per_group} links = {n}")
            sl = seeding.seed(dl, bins["seed"], a.large_groups, a.large_links_per_group, links_via_api=False)
            sample = [sl.first_group, (sl.first_group + sl.last_group) // 2, sl.last_group]
            problems, counts = seeding.verify(dl, sl, sample)
            res["seed_sync_1m"] = {**sl.to_json(), "verify_problems": problems, "counts": counts}
            log(f"  seeded in {sl.seconds}; checks: {problems or 'ok'}")
            res["startup_1m"] = restart_startups(dl, 2)
            res["rss_1m_start_kib"] = procs.proc_status(dl.pid)
            res["data_bytes_1m_before"] = procs.dir_bytes(dl.data)
            k2, e2 = spread_keys(sl, a.driven_keys)
            path_l, res["seed_sync_1m"]["webhook_path_via"] = seeding.webhook_path(dl, sl)
            wl_l = load.Workload(path_l, k2, e2, work, "sync1m")
            k1, e1 = spread_keys(ss, a.driven_keys)
            wl_s2 = load.Workload(wl_s.path, k1, e1, work, "sync1k-b")
            targets = [Target("sync-1k-b", ds.port, ds.pid, wl_s2, True),
                       Target("sync-1m", dl.port, dl.pid, wl_l, True)]
            log("(c) 1k vs 1M links")
            drive(runner, targets, levels, a.duration, a.warmup, res, a.repeat)
            res["rss_1m_kib"] = procs.proc_status(dl.pid)
            res["rss_1k_kib"] = procs.proc_status(ds.pid)
            res["data_bytes_1m"] = procs.dir_bytes(dl.data)
            # sled 0.34 writes its snapshot only when it opens: the next start
            # replays everything written since the last one.
            res["startup_1m_after_runs"] = restart_startups(dl, 1)[-1]
            dl.stop()
        res["data_bytes_1k"] = procs.dir_bytes(ds.data)
        res["startup_1k_after_runs"] = restart_startups(ds, 1)[-1]

        # (d): project creation and snowflake IDs through the admin socket, each
        # on a fresh daemon (projects use snowflake IDs too, and the burst
        # needs the whole 300 s of ID space ahead of the clock).
        log("(d) project creation and 4,800-ID burst")
        for name, fn in (("ids", adminbench.ids_burst), ("projects", adminbench.projects_rate)):
            dd = procs.Daemon(bins["synclinkd"], work, f"admin-{name}", durability="sync")
            daemons.append(dd)
            dd.start()
            res[name] = fn(dd)
            dd.stop()
        log(f"  projects: {res['projects'].get('per_s') or res['projects'].get('why')}; "
            f"ids: {res['ids'].get('per_s') or res['ids'].get('why')}")
        ds.stop()

        # (e): what sled alone costs per delivery (no HTTP, no parsing, no
        # planning reads), for the CPU budget in the report.
        log("(e) storage floor: sled_floor")
        out = subprocess.run([str(bins["floor"]), "--deliveries", "100000"],
                             capture_output=True, text=True, check=True, timeout=600)
        res["storage_floor"] = json.loads(out.stdout.strip().splitlines()[-1])
        log(f"  {res['storage_floor']}")
        # (f), (g): the outbound and reconcile paths, each by its own script
        # (own daemons and fake Jira), into the same report.
        for key, script, skip in (("outbound", "outbound.py", a.skip_outbound),
                                  ("reconcile", "reconcile.py", a.skip_reconcile)):
            if skip:
                continue
            log(f"({'f' if key == 'outbound' else 'g'}) {key}: bench/{script}")
            out_json = work / f"{key}.json"
            subprocess.run([sys.executable, str(BENCH / script), "--skip-build", "--json", str(out_json)],
                           check=True, timeout=900, stdout=subprocess.DEVNULL)
            res[key] = json.loads(out_json.read_text())
        res["log_events"] = {d.name: d.log_events(["actor-panic", "sync-failed", "token-validation-error",
                                                   "stale-delivery", "duplicate-delivery",
                                                   "bad-timestamp"]) for d in daemons}
    except BaseException as e:  # record what we have, then re-raise
        res["aborted"] = f"{type(e).__name__}: {e}"
        log(f"aborted: {res['aborted']}")
        raise
    finally:
        signal.alarm(0)
        for d in daemons:
            d.stop()
        res["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        res["wall_s"] = time.monotonic() - t_start
        res["machine"]["loadavg_end"] = os.getloadavg()
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(res, indent=1, default=str))
        Path(a.out).write_text(report.markdown(res))
        log(f"wrote {a.out} and {a.json} ({res['wall_s']:.0f} s)")
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
