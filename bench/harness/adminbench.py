"""(d) Admin-socket rates: project creation and a 4,800-ID snowflake burst,
each next to a baseline admin call on the same socket (ratios, not bare times)."""

import time

from .admin import admin_client


def _rate(n, secs):
    return n / secs if secs > 0 else None


def projects_rate(daemon, n=500):
    """POST /v1/projects x n (sequential, keep-alive) vs POST /v1/orgs x n."""
    admin = admin_client(daemon.socket)
    out = {"n": n}
    r = admin.call("POST", "/v1/orgs", {"slug": "pbench", "name": "Project bench"})
    if r.status != 201:
        return {"available": False, "why": f"POST /v1/orgs -> {r.status}"}
    org = r.json()["id"]
    probe = admin.call("POST", "/v1/projects", {"org": org, "name": "Probe"})
    if probe.route_missing() or probe.status != 201:
        return {"available": False, "why": f"POST /v1/projects -> {probe.status} {probe.body[:120]}"}
    ids, slugs = set(), set()
    t0 = time.perf_counter()
    for i in range(n):
        j = admin.must("POST", "/v1/projects", {"org": org, "name": "Backend"})
        ids.add(j["id"])
        slugs.add(j["slug"])
    secs = time.perf_counter() - t0
    out.update(available=True, seconds=secs, per_s=_rate(n, secs),
               distinct_ids=len(ids), distinct_slugs=len(slugs),
               max_id=max(ids), snowflake_like=max(ids) > 2**32)
    # Baseline: the cheapest write on the same socket.
    t0 = time.perf_counter()
    for i in range(n):
        admin.must("POST", "/v1/orgs", {"slug": f"pbench-{i}", "name": "x"})
    base = time.perf_counter() - t0
    out.update(baseline="POST /v1/orgs", baseline_per_s=_rate(n, base),
               ratio_to_baseline=(n / secs) / (n / base) if secs and base else None)
    admin.close()
    return out


def ids_burst(daemon, n=4800):
    """POST /v1/ids x n as fast as one keep-alive connection allows; checks
    they strictly increase and reports how far ahead of the clock they went."""
    admin = admin_client(daemon.socket)
    org = admin.call("POST", "/v1/orgs", {"slug": "idbench", "name": "ID bench"}).json() or {}
    probe = admin.call("POST", "/v1/ids")
    if probe.route_missing() or probe.status not in (200, 201):
        return {"available": False, "why": f"POST /v1/ids -> {probe.status} {probe.body[:120]}"}
    ids = []
    t0 = time.perf_counter()
    wall0 = time.time()
    for _ in range(n):
        ids.append(admin.must("POST", "/v1/ids")["id"])
    secs = time.perf_counter() - t0
    increasing = all(b > a for a, b in zip(ids, ids[1:]))
    last = admin.call("GET", f"/v1/ids/{ids[-1]}").json() or {}
    first = admin.call("GET", f"/v1/ids/{ids[0]}").json() or {}
    out = {"available": True, "n": n, "seconds": secs, "per_s": _rate(n, secs),
           "strictly_increasing": increasing, "distinct": len(set(ids)),
           "first": first, "last": last}
    if "seconds" in first and "seconds" in last:
        out["id_seconds_span"] = last["seconds"] - first["seconds"]
    out["wall_span_s"] = time.time() - wall0
    t0 = time.perf_counter()
    for _ in range(n):
        admin.must("GET", f"/v1/orgs/{org.get('id', 1)}")
    base = time.perf_counter() - t0
    out.update(baseline="GET /v1/orgs/{id}", baseline_per_s=_rate(n, base),
               ratio_to_baseline=(n / secs) / (n / base) if secs and base else None)
    admin.close()
    return out
