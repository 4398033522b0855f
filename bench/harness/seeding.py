"""Seeding: through the admin API where the routes exist, in bulk through
`examples/seed` (synclink::store::Store, daemon stopped) otherwise and for the
million-link database; then checks through the admin API."""

import json
import shutil
import subprocess
from urllib.parse import urlparse

from .admin import admin_client, mint_webhook_token

SECRET = "5ec2e7" * 10 + "beef"  # 64 hex chars, like a real webhook_secret
BASE_URL = "https://jira.bench.example"
CONSUMER_KEY = "synclink-bench"
PREFIX = "BENCH"


class Seed:
    def __init__(self):
        self.via = None
        self.missing = []
        self.org = None
        self.team = None
        self.users = []
        self.emails = []
        self.projects = []
        self.integration = None
        self.external_id = None
        self.groups = 0
        self.links_per_group = 0
        self.first_group = None
        self.last_group = None
        self.seconds = {}

    def key_email(self, key_index):
        """Assignee email used for issue BENCH-<key_index> (1-based)."""
        return self.emails[(key_index - 1) % len(self.emails)]

    def to_json(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("users", "emails")}


def _base_via_api(admin, seed, users, projects):
    """Steps 1-6 through the API; returns the name of the first missing route or None."""
    r = admin.call("POST", "/v1/orgs", {"slug": "bench", "name": "Bench"})
    if r.route_missing():
        return "POST /v1/orgs"
    seed.org = _ok(r)["id"]
    for i in range(users):
        email = f"bench-user-{i}@example.org"
        r = admin.call("POST", "/v1/users", {"name": f"Bench user {i}", "emails": [{"email": email, "verified": True}]})
        if r.route_missing():
            return "POST /v1/users"
        seed.users.append(_ok(r)["id"])
        seed.emails.append(email)
    r = admin.call("POST", "/v1/teams", {"org": seed.org, "slug": "bench-team", "name": "Bench team"})
    if r.route_missing():
        return "POST /v1/teams"
    seed.team = _ok(r)["id"]
    for u in seed.users:
        r = admin.call("POST", f"/v1/teams/{seed.team}/members", {"user": u})
        if r.route_missing():
            return "POST /v1/teams/{id}/members"
        _ok(r)
    for i in range(projects):
        r = admin.call("POST", "/v1/projects", {"org": seed.org, "name": f"Bench {i}", "teams": [seed.team]})
        if r.route_missing():
            return "POST /v1/projects"
        seed.projects.append(_ok(r)["id"])
    r = admin.call("POST", "/v1/integrations/import",
                   {"base_url": BASE_URL, "consumer_key": CONSUMER_KEY, "webhook_secret": SECRET})
    if r.route_missing():
        return "POST /v1/integrations/import"
    j = _ok(r)
    seed.integration, seed.external_id = j["id"], j["external_id"]
    r = admin.call("POST", f"/v1/integrations/{seed.integration}/installations",
                   {"org": seed.org, "sync_inbound_assignee": True})
    if r.route_missing():
        return "POST /v1/integrations/{id}/installations"
    _ok(r)
    return None


def _links_via_api(admin, seed, groups, per_group):
    for g in range(groups):
        r = admin.call("POST", "/v1/groups", {"project": seed.projects[g % len(seed.projects)], "title": f"Bench group {g}"})
        if r.route_missing():
            return "POST /v1/groups"
        gid = _ok(r)["id"]
        seed.first_group = gid if seed.first_group is None else seed.first_group
        seed.last_group = gid
        for j in range(per_group):
            r = admin.call("POST", "/v1/links", {"group": gid, "integration": seed.integration,
                                                 "key": f"{PREFIX}-{g * per_group + j + 1}"})
            if r.route_missing():
                return "POST /v1/links"
            _ok(r)
    return None


def _ok(r):
    if r.status not in (200, 201, 204):
        raise RuntimeError(f"seeding failed: {r}")
    return r.json()


def _tool(seed_bin, *args):
    out = subprocess.run([str(seed_bin), *map(str, args)], capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"seed {args[0]} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def _base_via_tool(seed_bin, daemon, seed, users, projects):
    j = _tool(seed_bin, "base", "--data", daemon.data, "--users", users, "--projects", projects,
              "--secret", SECRET, "--base-url", BASE_URL, "--consumer-key", CONSUMER_KEY)
    seed.org, seed.team, seed.users, seed.emails = j["org"], j["team"], j["users"], j["emails"]
    seed.projects = j["projects"]
    seed.integration = j["integration"]["id"]
    seed.external_id = j["integration"]["external_id"]
    seed.seconds["base_tool"] = j["seconds"]


def seed(daemon, seed_bin, groups, per_group, users=8, projects=4, links_via_api=True):
    """Seed a fresh daemon (running on return). The base (org, users, team,
    projects, integration, installation) goes through the API when its routes
    exist; the groups and links too when `links_via_api`, else through the
    seed tool with the daemon stopped."""
    import time
    s = Seed()
    s.groups, s.links_per_group = groups, per_group
    admin = admin_client(daemon.socket)
    t0 = time.monotonic()
    missing = _base_via_api(admin, s, users, projects)
    s.seconds["base_api"] = time.monotonic() - t0
    if missing is None and links_via_api:
        t0 = time.monotonic()
        missing = _links_via_api(admin, s, groups, per_group)
        s.seconds["links_api"] = time.monotonic() - t0
        if missing is None:
            s.via = "admin API"
            admin.close()
            daemon.startups = []
            return s
    admin.close()
    daemon.stop()
    if missing is not None:
        # Start again from an empty database, all through the store.
        s.missing.append(missing)
        shutil.rmtree(daemon.data, ignore_errors=True)
        s.__init__()
        s.missing.append(missing)
        s.groups, s.links_per_group = groups, per_group
        _base_via_tool(seed_bin, daemon, s, users, projects)
        s.via = f"seed tool (store API); admin route missing: {missing}"
    else:
        s.via = "admin API (base) + seed tool (groups and links)"
    j = _tool(seed_bin, "links", "--data", daemon.data, "--integration", s.integration,
              "--projects", ",".join(map(str, s.projects)), "--groups", groups,
              "--links-per-group", per_group, "--prefix", PREFIX)
    s.seconds["links_tool"] = j["seconds"]
    if "close_seconds" in j:  # included in links_tool: close + snapshot reopen
        s.seconds["links_tool_close"] = j["close_seconds"]
    s.first_group, s.last_group = j["first_group"], j["last_group"]
    daemon.startups = []  # start-up times count from the seeded database on
    daemon.start()
    return s


def webhook_path(daemon, s):
    """The webhook path: from GET /v1/integrations/{id}/webhook-url when the
    route exists, else minted here (same JWT rule)."""
    admin = admin_client(daemon.socket)
    r = admin.call("GET", f"/v1/integrations/{s.integration}/webhook-url")
    admin.close()
    if r.status == 200 and r.json() and r.json().get("url"):
        return urlparse(r.json()["url"]).path, "GET /v1/integrations/{id}/webhook-url"
    token = mint_webhook_token(s.external_id, SECRET)
    return f"/extensions/jira-server/issue-updated/{token}", f"minted by the harness (webhook-url: {r.status})"


def verify(daemon, s, sample_groups):
    """Check the seeded data through the admin API. Returns a list of findings
    (empty when all is well) and the status counts."""
    admin = admin_client(daemon.socket)
    problems = []
    st = admin.call("GET", "/v1/status")
    counts = (st.json() or {}).get("counts", {}) if st.status == 200 else {}
    want = s.groups * s.links_per_group
    if counts.get("links") is not None and counts["links"] != want:
        problems.append(f"status says {counts['links']} links, expected {want}")
    if counts.get("groups") is not None and counts["groups"] != s.groups:
        problems.append(f"status says {counts['groups']} groups, expected {s.groups}")
    for g in sample_groups:
        r = admin.call("GET", f"/v1/groups/{g}")
        if r.status != 200:
            problems.append(f"GET /v1/groups/{g} -> {r.status}")
        r = admin.call("GET", f"/v1/groups/{g}/links")
        if r.route_missing():
            continue
        if r.status != 200 or len(r.json() or []) != s.links_per_group:
            problems.append(f"GET /v1/groups/{g}/links -> {r.status} {r.body[:120]}")
    r = admin.call("GET", f"/v1/integrations/{s.integration}")
    if r.status == 200:
        body = r.body
        if SECRET in body:
            problems.append("GET /v1/integrations/{id} returned the webhook secret")
    admin.close()
    return problems, counts


def jira_world(admin, fake_port):
    """For the runs against examples/fake_jira_bench: an org whose team holds
    bob (bob@example.org, verified), a project of that team, and an
    integration imported with an access token whose base URL is the fake.
    Returns (org, user, project, integration)."""
    from pathlib import Path
    org = admin.must("POST", "/v1/orgs", {"slug": "bench", "name": "Bench"})["id"]
    team = admin.must("POST", "/v1/teams", {"org": org, "slug": "core", "name": "Core"})["id"]
    user = admin.must("POST", "/v1/users", {"name": "Bob", "emails": [{"email": "bob@example.org",
                                                                       "verified": True}]})["id"]
    admin.must("POST", f"/v1/teams/{team}/members", {"user": user})
    project = admin.must("POST", "/v1/projects", {"org": org, "name": "Bench", "teams": [team]})["id"]
    pem = (Path(__file__).resolve().parents[2] / "tests/data/jira_pkcs1.pem").read_text()
    integ = admin.must("POST", "/v1/integrations/import", {
        "base_url": f"http://127.0.0.1:{fake_port}", "consumer_key": "bench", "webhook_secret": "s" * 32,
        "private_key_pem": pem, "access_token": "bench-token", "access_token_secret": "x"})["id"]
    return org, user, project, integ

