"""Machine facts and the RESULTS.md writer: ratios first, then every number."""

import json
import os
import platform
import re
import subprocess
import time
from pathlib import Path

# The goals of issue "Performance, restated" (the first benchmark issue's
# were 50% of bare, p99 10 ms, 1.5x, 150 MiB and 1 s).
TARGETS = {
    "cpu_vs_floor": 1.5,    # CPU per durable delivery / (bare request + sled floor), c=128
    "sync_vs_bare": 0.30,   # durable throughput >= 30% of the bare handler
    "p99_ms": 5.0,          # p99 at c=128 (or where throughput peaks)
    "cost_1m_vs_1k": 1.2,   # per-delivery cost, 1M links vs 1k
    "rss_mib": 120.0,
    "startup_s": 0.5,
}

# The goals of the other paths, from their issues ("Two-way sync",
# "Converge"), shown in the same report.
OUTBOUND_TARGETS = {"p99_ms": 100.0, "drain_per_s": 1000.0}
RECONCILE_TARGETS = {"pages_per_changed": 1 / 100, "run_over_alone": 2.0, "during_over_idle": 0.8,
                     "slow_page_ms": "50"}


def machine(root):
    cpu = "?"
    mem = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"

    def ver(argv):
        try:
            out = subprocess.run(argv, capture_output=True, text=True)
            return (out.stdout or out.stderr).splitlines()[0].strip()
        except (OSError, IndexError):
            return "?"

    return {"nproc": os.cpu_count(), "cpu": cpu, "memory": mem, "kernel": platform.release(),
            "loadavg_start": os.getloadavg(), "commit": git("rev-parse", "--short", "HEAD"),
            "commit_subject": git("log", "-1", "--format=%s"), "rustc": ver(["rustc", "--version"]),
            "wrk": ver(["wrk", "-v"]), "python": platform.python_version()}


_NOISE = ("inlined", "catch_unwind", "call_once", "spawn_unchecked", "backtrace", "clone3",
          "start_thread", "thread_start", "[k] ")


def perf_summary(data, txt):
    """`perf report` with children (inclusive time) by symbol into txt; returns
    the user-space lines >= 2%, without the thread-start and inlining noise."""
    try:
        out = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--children", "--percent-limit", "2",
                              "--sort", "symbol", "-g", "none"], capture_output=True, text=True, timeout=400)
        Path(txt).write_text(out.stdout)
        lines = [ln.rstrip()[:150] for ln in out.stdout.splitlines()
                 if ln.strip() and not ln.startswith("#") and not any(n in ln for n in _NOISE)]
        return lines[:45]
    except (OSError, subprocess.TimeoutExpired) as e:
        return [f"perf report failed: {e}"]


def strace_summary(path):
    """{syscall: calls} from `strace -c` output."""
    out = {}
    try:
        for line in Path(path).read_text().splitlines():
            f = line.split()
            if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
                out[f[-1]] = int(f[3])
    except (OSError, ValueError):
        pass
    return out


def _by_c(runs):
    return {r["concurrency"]: r for r in runs or []}


def _ms(us):
    return f"{us / 1000:.2f}"


def _ratio(a, b):
    return a / b if a is not None and b else None


def _fmt(x, spec=".2f"):
    return "n/a" if x is None else format(x, spec)


def _verdict(ok):
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def _outcomes(r):
    o = r.get("outcomes") or {}
    return ", ".join(f"{k} {v}" for k, v in sorted(o.items(), key=lambda kv: -kv[1])) or "-"


def _startups(lst):
    return [s["readyz_s"] for s in lst or []]


def _applied(r):
    """True when every delivery of a run answered 2xx and was applied."""
    o = r.get("outcomes")
    if r["errors"] or o is None:
        return not r["errors"] and o is None
    good = sum(o.get(k, 0) for k in ("assigned", "unassigned", "unchanged"))
    return good >= 0.99 * r["requests"]


def headline(res):
    runs = res.get("runs", {})
    h = {"valid": {k: all(_applied(r) for r in rs) for k, rs in runs.items()}}
    bare, sync, asyn = (_by_c(runs.get(k)) for k in ("bare", "sync-1k", "async-1k"))
    if sync and bare:
        peak = max(sync.values(), key=lambda r: r["rps"])
        bare_peak = max(bare.values(), key=lambda r: r["rps"])
        h["peak_c"] = peak["concurrency"]
        h["sync_vs_bare_peak"] = peak["rps"] / bare_peak["rps"]
        h["sync_vs_bare_same_c"] = _ratio(peak["rps"], bare.get(peak["concurrency"], {}).get("rps"))
        h["p99_ms_at_peak"] = peak["lat_p99_us"] / 1000
        h["p50_ms_at_peak"] = peak["lat_p50_us"] / 1000
        h["server_at_peak"] = peak.get("server")
    if asyn and bare:
        ap = max(asyn.values(), key=lambda r: r["rps"])
        h["async_vs_bare_peak"] = ap["rps"] / max(r["rps"] for r in bare.values())
    small, large = _by_c(runs.get("sync-1k-b")), _by_c(runs.get("sync-1m"))
    if small and large:
        common = sorted(set(small) & set(large))
        # per-delivery cost = 1 / throughput at the same concurrency
        h["cost_ratio_by_c"] = {c: _ratio(small[c]["rps"], large[c]["rps"]) for c in common}
        h["cpu_cost_ratio_by_c"] = {c: _ratio(large[c]["cpu_ms_per_req"], small[c]["cpu_ms_per_req"]) for c in common}
        pk = h.get("peak_c", common[-1])
        h["cost_ratio_at_peak"] = h["cost_ratio_by_c"].get(pk)
        h["cpu_cost_ratio_at_peak"] = h["cpu_cost_ratio_by_c"].get(pk)
    rss = res.get("rss_1m_kib", {}).get("VmHWM")
    h["rss_mib_1m"] = rss / 1024 if rss else None
    s1m = _startups(res.get("startup_1m")) + _startups([res["startup_1m_after_runs"]] if res.get("startup_1m_after_runs") else [])
    h["startup_s_1m"] = max(s1m) if s1m else None
    h["floor"] = floor_ceiling(res)
    # CPU per durable delivery against what the bare handler and sled's own
    # writes cost per delivery, at c=128 (else the peak).
    c = 128 if 128 in sync and 128 in bare else h.get("peak_c")
    f = res.get("storage_floor")
    if f and c in sync and c in bare and sync[c].get("cpu_ms_per_req") and bare[c].get("cpu_ms_per_req"):
        d_us, b_us = sync[c]["cpu_ms_per_req"] * 1000, bare[c]["cpu_ms_per_req"] * 1000
        h["cpu_vs_floor"] = {"c": c, "delivery_us": d_us, "bare_us": b_us, "floor_us": f["raw_cpu_us_per_delivery"],
                             "ratio": d_us / (b_us + f["raw_cpu_us_per_delivery"])}
    return h


def markdown(res):
    m = res["machine"]
    h = headline(res)
    T = TARGETS
    valid = h["valid"]

    def verdict(ok, *names):
        if any(not valid.get(n, True) for n in names):
            return "**invalid**: deliveries were not applied (see Validity checks)"
        return _verdict(ok)
    L = []
    L.append("# synclink benchmark results\n")
    L.append(f"Run {res['started']} → {res.get('finished', '?')} (UTC), {res.get('wall_s', 0):.0f} s wall, "
             f"commit `{m['commit']}` ({m['commit_subject']}).")
    L.append(f"Machine: {m['nproc']} cores ({m['cpu']}), {m['memory']}, Linux {m['kernel']}; {m['rustc']}; "
             f"{m['wrk']}. Load average at start {tuple(round(x, 2) for x in m['loadavg_start'])}, at end "
             f"{tuple(round(x, 2) for x in m.get('loadavg_end', (0, 0, 0)))}.")
    pa = res.get("params", {})
    L.append(f"Options: levels {pa.get('levels')}, {pa.get('duration')} s per run, {pa.get('repeat', 1)} round(s), "
             f"profile {bool(pa.get('profile'))}, large database {pa.get('large_groups')} groups × "
             f"{pa.get('large_links_per_group')} links{' (skipped)' if pa.get('skip_large') else ''}.")
    L.append("\n**The 2 cores are shared** with other engineers compiling, and the load generator (wrk) runs on "
             "the same 2 cores as the server under test, so absolute numbers move from run to run: read the "
             "**ratios** (measured back to back, bare vs synclink at each concurrency level) as the result. "
             "Rerun with `bench/run.sh`.\n")
    if res.get("aborted"):
        L.append(f"> **The run was aborted**: {res['aborted']}. The numbers below are what it measured before.\n")
    L.append("## Targets\n")
    L.append("| target | goal | measured | verdict |")
    L.append("|---|---|---|---|")
    cf = h.get("cpu_vs_floor")
    if cf:
        L.append(f"| CPU per durable delivery ÷ (bare request + sled floor of the same writes), c={cf['c']} | "
                 f"≤ {T['cpu_vs_floor']}× | {cf['ratio']:.2f}× ({cf['delivery_us']:.0f} µs ÷ ({cf['bare_us']:.1f} + "
                 f"{cf['floor_us']:.1f}) µs) | {verdict(cf['ratio'] <= T['cpu_vs_floor'], 'sync-1k')} |")
    sv = h.get("sync_vs_bare_peak")
    fc = h.get("floor")
    L.append(f"| durable (`sync`) webhook throughput vs bare actix-web handler (peak vs peak) | ≥ {T['sync_vs_bare']:.0%} | "
             f"{_fmt(sv and sv * 100, '.1f')}% (same concurrency c={h.get('peak_c')}: "
             f"{_fmt(h.get('sync_vs_bare_same_c') and h['sync_vs_bare_same_c'] * 100, '.1f')}%; the most sled's "
             f"own writes allow on this machine: {_fmt(fc and fc['ceiling'] * 100, '.0f')}%, see (e)) | "
             f"{verdict(None if sv is None else sv >= T['sync_vs_bare'], 'sync-1k')} |")
    p99 = h.get("p99_ms_at_peak")
    srv = h.get("server_at_peak") or {}
    L.append(f"| p99 latency at the concurrency where `sync` throughput peaks (c={h.get('peak_c')}) | ≤ {T['p99_ms']} ms | "
             f"{_fmt(p99)} ms (p50 {_fmt(h.get('p50_ms_at_peak'))} ms; inside the daemon: mean "
             f"{_fmt(srv.get('mean_s') and srv['mean_s'] * 1000)} ms, p99 ≤ {_fmt(srv.get('p99_le_s') and srv['p99_le_s'] * 1000, 'g')} ms) | {verdict(None if p99 is None else p99 <= T['p99_ms'], 'sync-1k')} |")
    cr = h.get("cost_ratio_at_peak")
    L.append(f"| per-delivery cost, 1M links vs 1k (1/throughput at c={h.get('peak_c')}) | ≤ {T['cost_1m_vs_1k']}× | "
             f"{_fmt(cr)}× (CPU time per delivery: {_fmt(h.get('cpu_cost_ratio_at_peak'))}×) | "
             f"{verdict(None if cr is None else cr <= T['cost_1m_vs_1k'], 'sync-1k-b', 'sync-1m')} |")
    rss = h.get("rss_mib_1m")
    L.append(f"| daemon peak RSS (VmHWM) with 1M links, after the webhook runs | ≤ {T['rss_mib']:.0f} MiB | "
             f"{_fmt(rss, '.1f')} MiB | {verdict(None if rss is None else rss <= T['rss_mib'], 'sync-1m')} |")
    st = h.get("startup_s_1m")
    L.append(f"| start-up with 1M links (spawn → `/readyz` 200; worst of: first start after bulk seeding, two restarts, a restart after the webhook runs; warm page cache) | ≤ {T['startup_s']} s | {_fmt(st, '.3f')} s | "
             f"{_verdict(None if st is None else st <= T['startup_s'])} |")
    dk = disk_headline()
    if dk:
        L.append(f"| disk per delivery in steady state, activity retention on (`bench/disk.py`: its own long run, "
                 f"{dk['when']}, commit `{dk['commit']}`, bench/results/disk.md) | bounded without anyone acting | "
                 f"{dk['late_bytes']:.0f} B per delivery once the window is full ({dk['late_bytes_off']:.0f} B "
                 f"without retention); activities kept {dk['kept_mid']:,} at half time, {dk['kept_last']:,} at the "
                 f"end; `synclink-compact.timer` gives sled's old page versions back weekly | "
                 f"{_verdict(dk['kept_last'] <= dk['kept_mid'] * 1.1)} |")
    av = h.get("async_vs_bare_peak")
    L.append(f"| `async` durability throughput vs bare (peak vs peak) | (reported) | {_fmt(av and av * 100, '.1f')}% | - |")
    L += _other_paths_targets(res)
    L.append("")
    L += _webhook_tables(res, h)
    L += _large_section(res, h)
    L += _admin_section(res)
    L += _floor_section(res, h)
    L += outbound_section(res.get("outbound"))
    L += reconcile_section(res.get("reconcile"))
    L += _validity(res)
    L += _diagnostics(res)
    analysis = Path(__file__).resolve().parent.parent / "ANALYSIS.md"
    if analysis.exists():
        L.append(analysis.read_text().rstrip() + "\n")
    L.append("## How to rerun\n")
    L.append("`bench/run.sh` (see `bench/README.md`); raw numbers of this run: `bench/results/latest.json`.\n")
    return "\n".join(L) + "\n"


def _server(r):
    """In-daemon handler time (synclink_webhook_duration_seconds): exact mean, p99 bucket bound."""
    sv = (r or {}).get("server")
    if not sv:
        return "-"
    p99 = sv.get("p99_le_s")
    return f"{sv['mean_s'] * 1000:.2f} ({'-' if p99 is None else f'{p99 * 1000:g}'})"


def _flush_ms(r):
    f = (r or {}).get("flush")
    return f" ({f['mean_s'] * 1000:.2f})" if f else ""


def _webhook_tables(res, h):
    runs = res.get("runs", {})
    bare, sync, asyn = (_by_c(runs.get(k)) for k in ("bare", "sync-1k", "async-1k"))
    L = ["## (a, b) Webhook deliveries: synclinkd vs a bare actix-web handler (1k links)\n",
         f"Each delivery is a {res.get('body_bytes', '?')}-byte Jira `issue_updated` body (from the shared fixtures) "
         "changing the assignee, alternating assign / unassign per issue key over 1,000 keys, each linked to its "
         "own group (so every delivery flips one group), with unique increasing `changelog.id` and `timestamp`. "
         f"wrk, {res['params']['duration']} s per run after {res['params']['warmup']} s of warm-up, "
         f"{res['params'].get('repeat', 1)} round(s) over the levels, the best round per level shown (all rounds are in "
         "`results/latest.json`); "
         "ratios are synclink ÷ bare at the same concurrency.\n",
         "| c | bare req/s | sync req/s | sync/bare | async req/s | async/bare | bare p50/p99 ms | sync p50/p99 ms | async p50/p99 ms | sync in-daemon mean ms (p99 ≤) | sync CPU ms/delivery | sync deliveries/flush (mean flush ms) |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in sorted(set(bare) | set(sync) | set(asyn)):
        b, s, a = bare.get(c), sync.get(c), asyn.get(c)

        def rps(r):
            return f"{r['rps']:.0f}" if r else "-"

        def lat(r):
            return f"{_ms(r['lat_p50_us'])} / {_ms(r['lat_p99_us'])}" if r else "-"
        per_flush = (s["requests"] / s["flushes"]) if s and s.get("flushes") else None
        L.append(f"| {c} | {rps(b)} | {rps(s)} | {_fmt(_ratio(s and s['rps'], b and b['rps']))} | {rps(a)} | "
                 f"{_fmt(_ratio(a and a['rps'], b and b['rps']))} | {lat(b)} | {lat(s)} | {lat(a)} | "
                 f"{_server(s)} | {_fmt(s and s['cpu_ms_per_req'], '.3f')} | {_fmt(per_flush, '.1f')}"
                 f"{_flush_ms(s)} |")
    L.append("\nOutcomes counted by synclinkd (`synclink_webhook_deliveries_total` deltas), per run:\n")
    for name, rs in (("sync-1k", sync), ("async-1k", asyn)):
        for c, r in sorted(rs.items()):
            L.append(f"- {name} c={c}: {_outcomes(r)}; HTTP errors {r['errors']} (non-2xx {r['errors_status']}, "
                     f"timeouts {r['errors_timeout']}); 503 overload {r.get('overloaded', 0)}")
    L.append("")
    return L


def _large_section(res, h):
    runs = res.get("runs", {})
    small, large = _by_c(runs.get("sync-1k-b")), _by_c(runs.get("sync-1m"))
    if not large:
        return ["## (c) 1M links\n", "Not run.\n"]
    seed = res.get("seed_sync_1m", {})
    L = ["## (c) 1k vs 1M links (`sync`)\n",
         f"The large database: {seed.get('groups')} groups × {seed.get('links_per_group')} links = "
         f"{(seed.get('groups') or 0) * (seed.get('links_per_group') or 0):,} links, seeded via {seed.get('via')} "
         f"in {seed.get('seconds')} s, then checked through the admin API "
         f"({'ok' if not seed.get('verify_problems') else seed.get('verify_problems')}; status counts {seed.get('counts')}). "
         "Both daemons are driven over 1,000 issue keys spread evenly over their key space, back to back "
         "(each driven key is the only driven key of its group, so a delivery flips one group in both).\n",
         "| c | 1k req/s | 1M req/s | cost 1M/1k (throughput) | CPU ms/delivery 1k | 1M | cost 1M/1k (CPU) | 1k p50/p99 ms | 1M p50/p99 ms |",
         "|---|---|---|---|---|---|---|---|---|"]
    for c in sorted(set(small) & set(large)):
        s, g = small[c], large[c]
        L.append(f"| {c} | {s['rps']:.0f} | {g['rps']:.0f} | {_fmt(_ratio(s['rps'], g['rps']))} | "
                 f"{_fmt(s['cpu_ms_per_req'], '.3f')} | {_fmt(g['cpu_ms_per_req'], '.3f')} | "
                 f"{_fmt(_ratio(g['cpu_ms_per_req'], s['cpu_ms_per_req']))} | "
                 f"{_ms(s['lat_p50_us'])} / {_ms(s['lat_p99_us'])} | {_ms(g['lat_p50_us'])} / {_ms(g['lat_p99_us'])} |")
    mib = 1024 * 1024
    r1k, r1m = res.get("rss_1k_kib", {}), res.get("rss_1m_kib", {})
    L.append("")
    L.append("| | 1k links | 1M links |")
    L.append("|---|---|---|")
    s1k_, s1m_ = res.get("rss_1k_start_kib", {}), res.get("rss_1m_start_kib", {})
    L.append(f"| RSS right after start (VmRSS) | {_fmt(s1k_.get('VmRSS') and s1k_['VmRSS'] / 1024, '.1f')} MiB | "
             f"{_fmt(s1m_.get('VmRSS') and s1m_['VmRSS'] / 1024, '.1f')} MiB |")
    L.append(f"| peak RSS (VmHWM) after all its webhook runs | {_fmt(r1k.get('VmHWM') and r1k['VmHWM'] / 1024, '.1f')} MiB | "
             f"{_fmt(r1m.get('VmHWM') and r1m['VmHWM'] / 1024, '.1f')} MiB |")
    n1k = sum(r["requests"] for k in ("sync-1k", "sync-1k-b") for r in res.get("all_runs", {}).get(k, []))
    n1m = sum(r["requests"] for r in res.get("all_runs", {}).get("sync-1m", []))
    L.append(f"| deliveries it had applied by then (measured runs) | {n1k:,} | {n1m:,} |")
    L.append(f"| data directory after the runs | {_fmt(res.get('data_bytes_1k') and res['data_bytes_1k'] / mib, '.1f')} MiB | "
             f"{_fmt(res.get('data_bytes_1m') and res['data_bytes_1m'] / mib, '.1f')} MiB (after seeding: "
             f"{_fmt(res.get('data_bytes_1m_before') and res['data_bytes_1m_before'] / mib, '.1f')} MiB) |")
    s1k, s1m = _startups(res.get("startup_1k")), _startups(res.get("startup_1m"))
    logged = [s.get("ready_log_ms") for s in res.get("startup_1m") or []]
    opened = [s.get("open_log_ms") for s in res.get("startup_1m") or []]
    L.append(f"| start-up, spawn → `/readyz` 200 (each start) | {', '.join(f'{x:.3f}' for x in s1k)} s | "
             f"{', '.join(f'{x:.3f}' for x in s1m)} s (`ready` record `startup_ms`: {logged}; "
             f"of which the store's open, `store-opened` `open_ms`: {opened}) |")
    a1k, a1m = res.get("startup_1k_after_runs") or {}, res.get("startup_1m_after_runs") or {}
    L.append(f"| start-up again after all its webhook runs | {_fmt(a1k.get('readyz_s'), '.3f')} s | "
             f"{_fmt(a1m.get('readyz_s'), '.3f')} s |")
    L.append("")
    return L


def _admin_section(res):
    L = ["## (d) Admin socket: project creation and snowflake IDs\n"]
    p, i = res.get("projects") or {}, res.get("ids") or {}
    if p.get("available"):
        L.append(f"- `POST /v1/projects` × {p['n']} (sequential, one keep-alive connection): {p['per_s']:.0f}/s, "
                 f"{_fmt(p.get('ratio_to_baseline'))}× the rate of `{p['baseline']}` ({p['baseline_per_s']:.0f}/s); "
                 f"{p['distinct_ids']} distinct ids, {p['distinct_slugs']} distinct slugs (all named `Backend`), "
                 f"snowflake-sized ids: {p['snowflake_like']}.")
    else:
        L.append(f"- project creation: not measured ({p.get('why', 'not run')}).")
    if i.get("available"):
        L.append(f"- `POST /v1/ids` × {i['n']}: {i['per_s']:.0f}/s ({i['seconds']:.2f} s), {_fmt(i.get('ratio_to_baseline'))}× "
                 f"the rate of `{i['baseline']}`; strictly increasing: {i['strictly_increasing']}, distinct: "
                 f"{i['distinct']}; the IDs' `seconds` field spans {i.get('id_seconds_span', '?')} s while the burst "
                 f"took {i.get('wall_span_s', 0):.2f} s of wall time (16 IDs per second per region, so 4,800 IDs need "
                 "300 s of ID space: the generator's limit of running 300 s ahead of the clock).")
    else:
        L.append(f"- snowflake burst: not measured ({i.get('why', 'not run')}).")
    L.append("")
    return L


def floor_ceiling(res):
    """The highest `sync`/bare ratio this machine allows if synclinkd did
    nothing but sled's writes on top of the bare handler's work: the bare run
    at its peak keeps the cores busy, so its CPU per request, all processes
    (wrk and the kernel included), is cores / throughput; a delivery adds at
    least sled's floor to that."""
    f, bare = res.get("storage_floor"), _by_c(res.get("runs", {}).get("bare"))
    if not f or not bare:
        return None
    peak = max(r["rps"] for r in bare.values())
    per_req_us = res["machine"]["nproc"] * 1e6 / peak
    floor = f["raw_cpu_us_per_delivery"]
    return {"bare_all_in_us": per_req_us, "raw_us": floor, "store_us": f["store_cpu_us_per_delivery"],
            "ceiling": per_req_us / (per_req_us + floor),
            "ceiling_store": per_req_us / (per_req_us + f["store_cpu_us_per_delivery"])}


def _floor_section(res, h):
    f, c = res.get("storage_floor"), h.get("floor")
    if not f or not c:
        return ["## (e) Storage floor\n", "Not run.\n"]
    sz = f.get("record_sizes_by_tag", {})
    return ["## (e) Storage floor: what sled alone costs per delivery\n",
            f"`examples/sled_floor` ({f['deliveries']:,} deliveries over {f['groups']:,} groups, {f['batch']} per "
            "atomic write, each write followed by a durable flush; CPU of the whole process, sled's threads "
            "included; no HTTP, no parsing, no planning reads):\n",
            "| write path | CPU µs per delivery | wall µs per delivery |",
            "|---|---|---|",
            f"| bare sled: assignee insert/remove + activity append + delivery-state overwrite (values of "
            f"{', '.join(str(x) for x in f['raw_value_sizes'])} bytes, as synclink stores them, measured from the second row's data) | "
            f"{f['raw_cpu_us_per_delivery']:.1f} | {f['raw_wall_us_per_delivery']:.1f} |",
            f"| synclink's `Store::apply_sync_batch` (the same, plus the delivery-log chunk of "
            f"~{sz.get('l', 0):,} bytes per {f['batch']} deliveries and its read of each group's assignee) | "
            f"{f['store_cpu_us_per_delivery']:.1f} | {f['store_wall_us_per_delivery']:.1f} |",
            "",
            f"**The CPU budget.** At its peak the bare handler keeps both cores busy, so a request costs the machine "
            f"{c['bare_all_in_us']:.1f} µs of CPU in all (server, wrk and kernel). A durable delivery costs at least "
            f"that plus sled's floor, so even a synclinkd that did nothing but sled's three writes could reach at most "
            f"**{c['ceiling']:.0%}** of bare ({c['ceiling_store']:.0%} with synclink's own write path), against the "
            f"{TARGETS['sync_vs_bare']:.0%} target.\n"]


def disk_headline(path=None):
    """The steady-state disk numbers of the last `bench/disk.py` run (its
    own long run, kept in bench/results/disk.json), or None."""
    results = Path(__file__).resolve().parent.parent / "results"
    path = Path(path) if path else results / "disk.json"
    if not path.exists():
        return None
    d = json.loads(path.read_text())
    runs = d["runs"] if isinstance(d, dict) else d
    when, commit = (d.get("started", "?")[:10], d.get("commit", "?")) if isinstance(d, dict) else ("?", "?")
    if not isinstance(d, dict):  # written before the JSON carried them: the report's header has them
        md = results / "disk.md"
        found = re.search(r"(\d{4}-\d{2}-\d{2}), commit (\w+)", md.read_text()) if md.exists() else None
        if found:
            when, commit = found.groups()
    late, kept = {}, {}
    for r in runs:
        sl = r["slices"]
        last, mid = sl[-1], sl[len(sl) // 2]
        late[r["name"]] = (last["bytes"] - mid["bytes"]) / max(1, last["deliveries"] - mid["deliveries"])
        kept[r["name"]] = (mid["activities"], last["activities"])
    if "retention" not in late or "no-retention" not in late:
        return None
    return {"when": when, "commit": commit, "late_bytes": late["retention"], "late_bytes_off": late["no-retention"],
            "kept_mid": kept["retention"][0], "kept_last": kept["retention"][1]}


def _other_paths_targets(res):
    """Target rows of the outbound and reconcile paths ((f) and (g) below)."""
    L = []
    o, r = res.get("outbound"), res.get("reconcile")
    if o and o.get("latency_ms"):
        T = OUTBOUND_TARGETS
        p99, dr = o["latency_ms"]["p99"], (o.get("drain") or {}).get("pushes_per_s")
        L.append(f"| outbound (issue \"Two-way sync\"): admin change answered → Jira receives the PUT, p99, see (f) | "
                 f"≤ {T['p99_ms']:.0f} ms | {p99:.1f} ms | {_verdict(p99 <= T['p99_ms'])} |")
        L.append(f"| outbound: drain of the entries that waited while Jira was down, see (f) | ≥ {T['drain_per_s']:,.0f} "
                 f"pushes/s | {_fmt(dr, '.0f')} pushes/s | {_verdict(None if dr is None else dr >= T['drain_per_s'])} |")
    if r and r.get("convergence"):
        T = RECONCILE_TARGETS
        changed = r["params"]["changed"]
        slow = r["convergence"].get(T["slow_page_ms"])
        pages = max(cv["search_pages"] for cv in r["convergence"].values())
        L.append(f"| reconcile (issue \"Converge\"): search pages for {changed:,} changed issues, see (g) | "
                 f"≤ {-(-changed // 100)} | {pages} | {_verdict(pages <= -(-changed // 100))} |")
        if slow:
            L.append(f"| reconcile: run time ÷ the time Jira needs to serve the same pages ({T['slow_page_ms']} ms a "
                     f"page), see (g) | ≤ {T['run_over_alone']}× | {slow['run_over_alone']:.2f}× | "
                     f"{_verdict(slow['run_over_alone'] <= T['run_over_alone'])} |")
        w = r.get("webhooks", {}).get("median")
        if w:
            x = (w["reconciling"]["rps"] / w["bare"]["rps"]) / (w["idle"]["rps"] / w["bare"]["rps"])
            L.append(f"| reconcile: webhook throughput ratio to bare during a run ÷ idle, see (g) | "
                     f"≥ {T['during_over_idle']}× | {x:.3f}× | {_verdict(x >= T['during_over_idle'])} |")
    return L


def outbound_section(o):
    """(f): bench/outbound.py's measurements (also what that script prints)."""
    if not o or not o.get("latency_ms"):
        return ["## (f) Outbound: local changes pushed to Jira\n",
                "Not run in this report (`bench/outbound.py`, or `bench/run.sh` without `--skip-outbound`).\n"]
    T = OUTBOUND_TARGETS
    lat, dr, pa = o["latency_ms"], o.get("drain") or {}, o.get("params", {})
    return ["## (f) Outbound: local changes pushed to Jira\n",
            f"`bench/outbound.py` ({pa.get('groups', '?'):,} groups × {pa.get('links', '?')} linked issues of one "
            "imported integration; `examples/fake_jira_bench` as Jira: answers at once, does not verify "
            "signatures; `jira.outbound_max_in_flight` = 4, the default; backoff capped at 1 s so that waiting "
            "entries are tried soon after Jira is back). Started " + str(o.get("started", "?")) + ".\n",
            "| measure | value | goal |",
            "|---|---|---|",
            f"| admin answer → Jira receives the PUT, p50 | {lat['p50']:.1f} ms | |",
            f"| same, p99 ({lat['n']} changes one after another) | {lat['p99']:.1f} ms | ≤ {T['p99_ms']:.0f} ms |",
            f"| entries waiting while Jira is down (503) | {o.get('waiting_entries')} | |",
            f"| VmRSS idle → with them waiting | {o['rss_idle_kib'].get('VmRSS')} → "
            f"{o['rss_waiting_kib'].get('VmRSS')} KiB | |",
            f"| drain once Jira is back: pushes per second | {dr.get('pushes_per_s', 0):.0f} ({dr.get('pushes')} in "
            f"{dr.get('span_s', 0):.2f} s) | ≥ {T['drain_per_s']:,.0f} |",
            ""]


def reconcile_section(r):
    """(g): bench/reconcile.py's measurements (also what that script prints)."""
    if not r or not r.get("convergence"):
        return ["## (g) Reconcile: reading back what Jira changed while synclinkd was down\n",
                "Not run in this report (`bench/reconcile.py`, or `bench/run.sh` without `--skip-reconcile`).\n"]
    T = RECONCILE_TARGETS
    pa = r["params"]
    changed = pa["changed"]
    L = ["## (g) Reconcile: reading back what Jira changed while synclinkd was down\n",
         f"`bench/reconcile.py`: {pa['issues']:,} groups, each linked to its own issue of one integration connected "
         f"to `examples/fake_jira_bench` (serves search pages from memory, does not verify signatures). A first run "
         f"sets the cursor; synclinkd stops; {changed:,} issues change in the fake; synclinkd starts and its "
         f"start-up run reads them back. Started {r.get('started', '?')}.\n",
         f"| fake Jira | histories applied | search pages (goal ≤ {-(-changed // 100)}) | run (started → finished) | "
         f"the fake serving the same pages alone | run ÷ alone (goal ≤ {T['run_over_alone']}× with "
         f"{T['slow_page_ms']} ms pages) | process spawn → converged |",
         "|---|---|---|---|---|---|---|"]
    for page_ms, cv in r["convergence"].items():
        L.append(f"| pages take {page_ms} ms | {cv['histories_applied']} of {changed} | {cv['search_pages']} | "
                 f"{cv['run_s']:.2f} s | {cv['pages_alone_s']:.2f} s | {cv['run_over_alone']:.2f}× | "
                 f"{cv['spawn_to_converged_s']:.2f} s |")
    w = r.get("webhooks", {})
    m = w.get("median")
    if m:
        idle = m["idle"]["rps"] / m["bare"]["rps"]
        during = m["reconciling"]["rps"] / m["bare"]["rps"]
        each = ", ".join(f"{x:.3f}" for x in w.get("during_over_idle_each_round", []))
        L += ["",
              f"Webhooks while a reconcile applies {pa['issues'] // 2:,} changed issues ({pa['conc']} connections, "
              f"{pa['duration']} s, the median of {pa['rounds']} rounds):\n",
              "| webhooks | req/s | ratio to bare | p99 |",
              "|---|---|---|---|",
              f"| bare actix-web handler | {m['bare']['rps']:.0f} | | |",
              f"| synclinkd idle | {m['idle']['rps']:.0f} | {idle:.1%} | {m['idle']['p99_ms']:.1f} ms |",
              f"| synclinkd during a reconcile | {m['reconciling']['rps']:.0f} | {during:.1%} | "
              f"{m['reconciling']['p99_ms']:.1f} ms |",
              "",
              f"Ratio during ÷ ratio idle: **{during / idle:.3f}** (goal ≥ {T['during_over_idle']}; each round: {each})."]
    L.append("")
    return L


def _diagnostics(res):
    d = res.get("diagnostics")
    if not d:
        return []
    L = ["## Profile of synclinkd (`sync`, 1k links, c=32; extra runs, not in the tables)\n"]
    th, tr = d.get("threads") or [], d.get("threads_run") or {}
    if th and tr.get("requests"):
        total = sum(x["cpu_s"] for x in th)
        n = tr["requests"]
        L.append(f"CPU time by thread over a plain 6 s run ({tr['rps']:.0f} req/s, {n} deliveries, "
                 f"{total * 1000 / n:.3f} ms of CPU per delivery in all; threads named `synclinkd` are the "
                 "main thread and the SyncArbiter actors, which actix leaves unnamed):\n")
        groups = {}
        for x in th:
            g = groups.setdefault(re.sub(r"-\d+$", "-N", x["comm"]), [0, 0.0])
            g[0] += 1
            g[1] += x["cpu_s"]
        L.append("| thread name | threads | CPU s | share of the daemon's CPU | µs per delivery |")
        L.append("|---|---|---|---|---|")
        for comm, (k, cpu) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
            L.append(f"| `{comm.replace('|', '&#124;')}` | {k} | {cpu:.2f} | {cpu / total:.0%} | {cpu * 1e6 / n:.0f} |")
        top = th[0]
        L.append(f"\nBusiest single thread: `{top['comm']}` (tid {top['tid']}{', main' if top['main'] else ''}), "
                 f"on CPU {top['busy']:.0%} of the run, {top['cpu_s'] * 1e6 / n:.0f} µs per delivery.\n")
    st, sr = d.get("strace") or {}, d.get("strace_run") or {}
    sa, sar = d.get("strace_async") or {}, d.get("strace_async_run") or {}
    if st and sr.get("requests"):
        n, na = sr["requests"], sar.get("requests") or 0  # strace covered ~5 of each run's 6 s
        L.append(f"`strace -f -c` for 5 s of a 6 s run at c=32, for `sync` ({n} deliveries answered, "
                 f"{sr.get('flushes', '?')} flushes) and `async` ({na} answered, {sar.get('flushes', '?')} flushes); "
                 "strace slows everything, so only the proportions mean something. Calls per answered delivery "
                 "(deliveries × 5/6 for the 5 s window):\n")
        L.append("| syscall | `sync` calls | per delivery | `async` calls | per delivery |")
        L.append("|---|---|---|---|---|")
        for k, v in sorted(st.items(), key=lambda kv: -kv[1])[:10]:
            va = sa.get(k)
            pa = f"{va / (na * 5 / 6):.2f}" if va is not None and na else "-"
            L.append(f"| {k} | {v} | {v / (n * 5 / 6):.2f} | {va if va is not None else '-'} | {pa} |")
        L.append("")
    if d.get("perf"):
        pr = d.get("perf_run") or {}
        L.append(f"`perf record --call-graph dwarf` for 5 s ({pr.get('rps', 0):.0f} req/s under perf): inclusive "
                 "time by symbol, ≥ 2% (full report: `bench/results/perf-report.txt`).\n")
        L.append("```")
        L += d["perf"]
        L.append("```\n")
    return L


def _validity(res):
    L = ["## Validity checks\n"]
    for k in ("seed_sync_1k", "seed_async_1k", "seed_sync_1m"):
        s = res.get(k)
        if s:
            L.append(f"- {k}: seeded via {s.get('via')}; webhook path via {s.get('webhook_path_via', '-')}; "
                     f"admin API checks: {s.get('verify_problems') or 'ok'}.")
    for name, ev in (res.get("log_events") or {}).items():
        L.append(f"- {name} log events: {ev}")
    bad = []
    for name, rs in res.get("runs", {}).items():
        for r in rs:
            if not _applied(r):
                bad.append(f"{name} c={r['concurrency']}: {r['errors']} HTTP errors, outcomes {_outcomes(r)}")
    if bad:
        L.append("- **Runs where deliveries were not all applied** (their numbers do not measure the sync path):")
        L += [f"  - {b}" for b in bad]
    else:
        L.append("- Every synclink delivery of every run answered 2xx and was applied (assigned / unassigned / unchanged).")
    L.append("")
    return L


def now():
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
