"""Load generation with wrk (+ bench/webhook.lua): webhook bodies built from
the shared Jira fixtures, unique changelog ids, increasing timestamps."""

import json
import re
import subprocess
import time
from pathlib import Path

from . import procs

BENCH_DIR = Path(__file__).resolve().parent.parent
LUA = BENCH_DIR / "webhook.lua"

# Sentinels replaced by per-request values in webhook.lua.
_FIELDS = {"ts": "__SL_TS__", "clid": "__SL_CLID__", "key": "__SL_KEY__", "email": "__SL_EMAIL__"}


def _fixture_dir():
    cand = BENCH_DIR.parent / "tests/fixtures/jira"
    return cand if cand.is_dir() else None


def _fallback_body(assign):
    """A delivery shaped like the fixtures, when they are not at hand."""
    assignee = {"name": "bench", "emailAddress": "x", "displayName": "Bench", "active": True}
    return {
        "timestamp": 0,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_assigned",
        "user": {"name": "admin", "emailAddress": "admin@example.org", "displayName": "Jira Admin"},
        "issue": {"id": "10042", "key": "APP-1", "fields": {"summary": "bench", "assignee": assignee if assign else None}},
        "changelog": {"id": "1", "items": [{"field": "assignee", "fieldtype": "jira", "from": "a", "to": "b"}]},
    }


def body_templates(status=False):
    """(assign, unassign) templates: {"parts": [...], "fields": [...]} and the
    size in bytes of a rendered body. With `status`, each delivery also moves
    the issue's status: an assign into a done status (10001), an unassign out
    of it (to 3), so that both parts have an effect every time."""
    fx = _fixture_dir()
    bodies = []
    for name, assign in (("issue_assigned.json", True), ("issue_unassigned.json", False)):
        if fx is not None and (fx / name).exists():
            b = json.loads((fx / name).read_text())
        else:
            b = _fallback_body(assign)
        b["timestamp"] = _FIELDS["ts"]
        b["issue"]["key"] = _FIELDS["key"]
        b["changelog"]["id"] = _FIELDS["clid"]
        if assign:
            b["issue"]["fields"]["assignee"]["emailAddress"] = _FIELDS["email"]
        else:
            b["issue"]["fields"]["assignee"] = None
        if status:
            frm, to, cat = ("3", "10001", "done") if assign else ("10001", "3", "indeterminate")
            b["changelog"]["items"].append({"field": "status", "fieldtype": "jira", "fieldId": "status",
                                            "from": frm, "fromString": "x", "to": to, "toString": "y"})
            b["issue"]["fields"]["status"] = {"id": to, "name": "y", "statusCategory": {"key": cat}}
        text = json.dumps(b, separators=(",", ":"))
        text = text.replace('"%s"' % _FIELDS["ts"], _FIELDS["ts"])  # a number
        bodies.append(_split(text))
    return bodies


def _split(text):
    pat = re.compile("|".join(re.escape(s) for s in _FIELDS.values()))
    rev = {v: k for k, v in _FIELDS.items()}
    parts, fields, pos = [], [], 0
    for m in pat.finditer(text):
        parts.append(text[pos:m.start()])
        fields.append(rev[m.group(0)])
        pos = m.end()
    parts.append(text[pos:])
    return {"parts": parts, "fields": fields}


def sample_body(t):
    """A rendered body, for its size."""
    vals = {"ts": "1764344411000", "clid": "1000000000123", "key": "BENCH-123",
            "email": "bench-user-1@example.org"}
    out = []
    for part, field in zip(t["parts"], t["fields"]):
        out += [part, vals[field]]
    return "".join(out + [t["parts"][-1]])


def _lua_str(s):
    level = 1
    while ("]" + "=" * level + "]") in s:
        level += 1
    eq = "=" * level
    return f"[{eq}[{s}]{eq}]"


def _lua_table(t):
    parts = ", ".join(_lua_str(p) for p in t["parts"])
    fields = ", ".join(_lua_str(f) for f in t["fields"])
    return "{ parts = { %s }, fields = { %s } }" % (parts, fields)


class Workload:
    """Issue keys (each with its assignee email) and the webhook path."""

    def __init__(self, path, keys, emails, workdir, name, status=False):
        self.path = path
        self.keys = keys
        self.emails = emails
        self.workdir = Path(workdir)
        self.name = name
        self.assign, self.unassign = body_templates(status)
        self.runs = 0
        # Deliveries each key has had, mod 2: the next run goes on alternating.
        self.phase = [0] * len(keys)

    def advance(self, threads, made):
        """Account for a run whose thread t made made[t] requests (key i of
        thread t's share gets floor(n/m) or one more)."""
        for t, n in enumerate(made):
            share = list(range(t, len(self.keys), threads))
            m = len(share)
            for j, i in enumerate(share):
                count = n // m + (1 if j < n % m else 0)
                self.phase[i] = (self.phase[i] + count) % 2

    def params_file(self, threads, base_ts, base_cl):
        p = self.workdir / f"params-{self.name}-{self.runs}.lua"
        lines = [
            "P = {}",
            f"P.path = {_lua_str(self.path)}",
            f"P.threads = {threads}",
            f"P.base_ts = {base_ts}",
            f"P.base_cl = {base_cl}",
            "P.phase = { " + ", ".join(map(str, self.phase)) + " }",
            "P.keys = { " + ", ".join(_lua_str(k) for k in self.keys) + " }",
            "P.emails = { " + ", ".join(_lua_str(e) for e in self.emails) + " }",
            f"P.assign = {_lua_table(self.assign)}",
            f"P.unassign = {_lua_table(self.unassign)}",
        ]
        p.write_text("\n".join(lines) + "\n")
        return p


class Runner:
    """Runs wrk against one server; every run gets a fresh timestamp and
    changelog-id range above the previous run's, so nothing is stale."""

    def __init__(self, wrk="wrk"):
        self.wrk = wrk
        self.seq = 0
        # The first timestamp of the next run (ms). Each request of a run
        # steps its thread's timestamp by 1 ms, so a run's timestamps run
        # ahead of the clock by its requests per thread; the next run starts
        # above them or at the clock, whichever is later. (Until 2026-12-07
        # each run started 10^10 ms, ~115 days, above the last: every
        # delivery was then "more than a day ahead" to the daemon, logged
        # `bad-timestamp` and was ordered without its timestamp.)
        self.next_ts = int(time.time() * 1000)

    def run(self, port, workload, conc, duration, pid=None, metrics=True, label=""):
        from .admin import hist_summary, metrics_delta, metrics_snapshot, outcome_counts

        self.seq += 1
        threads = max(1, min(2, conc))
        base_ts = max(self.next_ts, int(time.time() * 1000))
        base_cl = self.seq * 1_000_000_000_000
        params = workload.params_file(threads, base_ts, base_cl)
        workload.runs += 1
        url = f"http://127.0.0.1:{port}"
        before = metrics_snapshot(port) if metrics else {}
        cpu0 = procs.cpu_seconds(pid) if pid else 0.0
        argv = [self.wrk, "-t", str(threads), "-c", str(conc), "-d", f"{duration}s",
                "--timeout", "10s", "-s", str(LUA), url, "--", str(params)]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
        cpu1 = procs.cpu_seconds(pid) if pid else 0.0
        after = metrics_snapshot(port) if metrics else {}
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk gave no result: {out.stdout[-500:]} {out.stderr[-500:]}")
        r = json.loads(line[len("BENCHJSON "):])
        made = r.pop("made")
        workload.advance(threads, made)
        self.next_ts = base_ts + max(made, default=0) + 2
        secs = r["duration_us"] / 1e6
        r.update({
            "label": label,
            "concurrency": conc,
            "threads": threads,
            "rps": r["requests"] / secs if secs else 0.0,
            "cpu_s": cpu1 - cpu0,
            "cpu_ms_per_req": (cpu1 - cpu0) * 1000 / r["requests"] if r["requests"] else None,
            "errors": r["errors_connect"] + r["errors_read"] + r["errors_write"]
            + r["errors_status"] + r["errors_timeout"],
        })
        if metrics:
            d = metrics_delta(before, after)
            r["outcomes"] = outcome_counts(d)
            r["flushes"] = int(d.get("synclink_flush_duration_seconds_count", 0))
            r["overloaded"] = int(d.get("synclink_webhook_overloaded_total", 0))
            r["server"] = hist_summary(d, "synclink_webhook_duration_seconds")
            r["flush"] = hist_summary(d, "synclink_flush_duration_seconds")
        return r
