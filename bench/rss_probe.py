#!/usr/bin/env python3
"""Memory probe for synclinkd (bench/rss-notes.md): seed a database once, then
start synclinkd on fresh copies of it, drive webhook deliveries with wrk
(bench/webhook.lua) and sample VmRSS / VmHWM every 100 ms, through start-up,
the load and the shutdown (snapshot). Stdlib only; loopback only.

    bench/rss_probe.py prepare --out DIR [--groups 100000 --links-per-group 10]
    bench/rss_probe.py run --base DIR [--duration 30 --conc 32 --binary PATH
                                        --env K=V ... --toml '...' --keep]

`run` prints one JSON line: RSS at ready, after the load, the peak (and when),
the deliveries applied, data-directory growth; the samples go to
<workdir>/samples.csv."""

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import load, procs, seeding  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def release(name):
    tgt = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    return Path(tgt) / "release" / name


def prepare(a):
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    d = procs.Daemon(Path(a.binary or release("synclinkd")), out, "seeded", durability="sync")
    d.start()
    s = seeding.seed(d, release("examples/seed"), a.groups, a.links_per_group,
                     links_via_api=a.links_per_group * a.groups <= 1000)
    path, _ = seeding.webhook_path(d, s)
    d.stop()
    keys, emails = spread(s, a.driven_keys)
    (out / "seed.json").write_text(json.dumps({"path": path, "keys": keys, "emails": emails,
                                               "seed": s.to_json()}, default=str))
    print(json.dumps({"data": str(d.data), "seconds": s.seconds, "bytes": procs.dir_bytes(d.data)}))


def spread(s, count):
    n = s.groups * s.links_per_group
    stride = max(1, n // count)
    idx = [1 + i * stride for i in range(count) if 1 + i * stride <= n]
    return [f"{seeding.PREFIX}-{i}" for i in idx], [s.key_email(i) for i in idx]


class Sampler(threading.Thread):
    def __init__(self, pid, period=0.1):
        super().__init__(daemon=True)
        self.pid, self.period, self.samples, self.stop_flag = pid, period, [], False
        self.t0 = time.monotonic()
        self.phase = "start"

    def run(self):
        while not self.stop_flag:
            st = procs.proc_status(self.pid)
            if not st:
                break
            self.samples.append((time.monotonic() - self.t0, self.phase, st.get("VmRSS", 0), st.get("VmHWM", 0)))
            time.sleep(self.period)


def run(a):
    base = Path(a.base)
    meta = json.loads((base / "seed.json").read_text())
    work = Path(a.workdir or tempfile.mkdtemp(prefix="rss-probe-", dir=a.tmp))
    toml = a.toml.replace("\\n", "\n") + ("\n" if a.toml else "")
    d = procs.Daemon(Path(a.binary or release("synclinkd")), work, "d", durability=a.durability,
                     extra_toml=toml, workers=a.workers)
    shutil.copytree(base / "seeded" / "data", d.data)
    env = dict(os.environ)
    for kv in a.env:
        k, v = kv.split("=", 1)
        env[k] = v
    orig_spawn = procs.spawn
    procs.spawn = lambda argv, log_path, env_=None: orig_spawn(argv, log_path, env=env)
    data0 = procs.dir_bytes(d.data)
    d.start()
    smp = Sampler(d.pid)
    smp.start()
    time.sleep(0.5)
    at_ready = procs.proc_status(d.pid)
    smp.phase = "load"
    wl = load.Workload(meta["path"], meta["keys"], meta["emails"], work, "probe")
    runner = load.Runner()
    applied, runs = 0, []
    t_load = time.monotonic()
    while time.monotonic() - t_load < a.duration:
        r = runner.run(d.port, wl, a.conc, min(a.chunk, max(1, int(a.duration - (time.monotonic() - t_load)))),
                       pid=d.pid, metrics=True)
        n = sum(v for k, v in r["outcomes"].items() if k in ("assigned", "unassigned", "unchanged"))
        applied += n
        runs.append({"rps": round(r["rps"]), "cpu_ms": r["cpu_ms_per_req"], "applied": n,
                     "rss": procs.proc_status(d.pid), "errors": r["errors"], "outcomes": r["outcomes"]})
    smp.phase = "idle"
    after_load = procs.proc_status(d.pid)
    time.sleep(a.idle)
    after_idle = procs.proc_status(d.pid)
    smp.phase = "stop"
    data1 = procs.dir_bytes(d.data)
    t_stop = time.monotonic()
    if a.kill9:  # what is live at the end of the load (heaptrack: "leaked")
        d.proc.kill()
        d.proc.wait()
        procs._children.remove(d.proc)
        d.proc = None
    else:
        d.stop()
    stop_s = time.monotonic() - t_stop
    smp.stop_flag = True
    smp.join()
    with open(work / "samples.csv", "w") as f:
        f.write("t,phase,rss_kib,hwm_kib\n")
        for t, ph, rss, hwm in smp.samples:
            f.write(f"{t:.2f},{ph},{rss},{hwm}\n")
    peak = max(smp.samples, key=lambda x: x[2]) if smp.samples else None
    hwm_by_phase = {}
    for t, ph, rss, hwm in smp.samples:
        hwm_by_phase[ph] = max(hwm_by_phase.get(ph, 0), rss)
    cpu = [x["cpu_ms"] for x in runs if x["cpu_ms"]]
    out = {
        "label": a.label, "conc": a.conc, "applied": applied,
        "rss_ready_mib": at_ready.get("VmRSS", 0) / 1024,
        "rss_after_load_mib": after_load.get("VmRSS", 0) / 1024,
        "rss_after_idle_mib": after_idle.get("VmRSS", 0) / 1024,
        "hwm_after_load_mib": after_load.get("VmHWM", 0) / 1024,
        "hwm_final_mib": smp.samples[-1][3] / 1024 if smp.samples else None,
        "peak_rss_sampled_mib": peak[2] / 1024 if peak else None,
        "peak_at_s": peak[0] if peak else None, "peak_phase": peak[1] if peak else None,
        "max_rss_by_phase_mib": {k: round(v / 1024, 1) for k, v in hwm_by_phase.items()},
        "data_growth_mib": (data1 - data0) / 2**20,
        "bytes_per_delivery": (data1 - data0) / applied if applied else None,
        "stop_s": round(stop_s, 2),
        "cpu_ms_per_delivery": round(sum(cpu) / len(cpu), 4) if cpu else None,
        "rps": [x["rps"] for x in runs],
        "errors": sum(x["errors"] for x in runs),
        "workdir": str(work),
    }
    print(json.dumps(out))
    if not a.keep and not a.workdir:
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--out", required=True)
    p.add_argument("--groups", type=int, default=100_000)
    p.add_argument("--links-per-group", type=int, default=10)
    p.add_argument("--driven-keys", type=int, default=1000)
    p.add_argument("--binary")
    r = sub.add_parser("run")
    r.add_argument("--base", required=True)
    r.add_argument("--binary")
    r.add_argument("--duration", type=float, default=30)
    r.add_argument("--chunk", type=int, default=10, help="seconds per wrk run")
    r.add_argument("--conc", type=int, default=32)
    r.add_argument("--idle", type=float, default=1.0)
    r.add_argument("--durability", default="sync")
    r.add_argument("--env", action="append", default=[])
    r.add_argument("--workers", type=int, default=None, help="http.workers (default: the daemon's)")
    r.add_argument("--toml", default="", help="appended to [storage] (use \\n between lines)")
    r.add_argument("--label", default="")
    r.add_argument("--workdir")
    r.add_argument("--tmp", default=None)
    r.add_argument("--keep", action="store_true")
    r.add_argument("--kill9", action="store_true", help="end with SIGKILL instead of SIGTERM")
    a = ap.parse_args()
    prepare(a) if a.cmd == "prepare" else run(a)


if __name__ == "__main__":
    main()
