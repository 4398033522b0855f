"""HTTP/1.1 + JSON over the admin Unix socket, the public listener, and the
webhook JWT (HS256, stdlib only)."""

import base64
import hashlib
import hmac
import http.client
import json
import socket
import time


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Reply:
    def __init__(self, status, body):
        self.status = status
        self.body = body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def route_missing(self):
        """True when the daemon has no such route (work not merged yet)."""
        if self.status not in (404, 405):
            return False
        j = self.json() or {}
        msg = ((j.get("error") or {}).get("message") or "") if isinstance(j, dict) else ""
        return self.status == 405 or msg == "no such route" or not self.body

    def __repr__(self):
        return f"Reply({self.status}, {self.body[:200]!r})"


class Client:
    """A keep-alive client; reconnects when the server closed an idle connection."""

    def __init__(self, conn_factory):
        self.factory = conn_factory
        self.conn = None
        self.last = 0.0

    def call(self, method, path, body=None):
        data = None
        headers = {}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif method in ("POST", "PUT"):
            data = b""
        # actix closes idle keep-alive connections after 5 s.
        if self.conn is None or time.monotonic() - self.last > 3:
            self.close()
            self.conn = self.factory()
        try:
            self.conn.request(method, path, body=data, headers=headers)
            r = self.conn.getresponse()
            raw = r.read()
        except (ConnectionError, http.client.HTTPException, socket.timeout):
            self.close()
            raise
        self.last = time.monotonic()
        if r.getheader("Connection", "").lower() == "close":
            self.close()
        return Reply(r.status, raw.decode("utf-8", "replace"))

    def must(self, method, path, body=None, expect=(200, 201, 204)):
        r = self.call(method, path, body)
        if r.status not in expect:
            raise RuntimeError(f"{method} {path} -> {r.status} {r.body[:300]}")
        return r.json()

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
        self.conn = None


def admin_client(socket_path):
    return Client(lambda: UnixHTTPConnection(str(socket_path)))


def public_client(port):
    return Client(lambda: http.client.HTTPConnection("127.0.0.1", port, timeout=30))


def _b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def mint_webhook_token(external_id, webhook_secret):
    """HS256 JWT with claims {"id": external_id}, signed with the secret's bytes."""
    header = _b64url(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
    claims = _b64url(json.dumps({"id": external_id}, separators=(",", ":")).encode())
    signing = f"{header}.{claims}".encode()
    sig = hmac.new(webhook_secret.encode(), signing, hashlib.sha256).digest()
    return f"{header}.{claims}.{_b64url(sig)}"


def metrics_snapshot(port):
    """Parse /metrics into {series: value}; {} when unavailable."""
    try:
        r = public_client(port).call("GET", "/metrics")
    except OSError:
        return {}
    if r.status != 200:
        return {}
    out = {}
    for line in r.body.splitlines():
        if not line or line.startswith("#"):
            continue
        try:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
        except ValueError:
            continue
    return out


def metrics_delta(before, after):
    return {k: after[k] - before.get(k, 0.0) for k in after if after[k] - before.get(k, 0.0)}


def outcome_counts(delta):
    """{outcome: n} from a metrics delta."""
    pre = 'synclink_webhook_deliveries_total{outcome="'
    return {k[len(pre):-2]: int(v) for k, v in delta.items() if k.startswith(pre)}


def hist_summary(delta, name):
    """Mean (exact, from _sum/_count) and p50/p99 upper bucket bounds of a
    Prometheus histogram over a run, from a metrics delta; None when empty."""
    total = delta.get(name + "_count", 0)
    if not total:
        return None
    pre = name + '_bucket{le="'
    buckets = []
    for k, v in delta.items():
        if k.startswith(pre):
            le = k[len(pre):-2]
            buckets.append((float("inf") if le == "+Inf" else float(le), v))
    buckets.sort()
    out = {"count": int(total), "mean_s": delta.get(name + "_sum", 0.0) / total}
    for q in (0.5, 0.99):
        out[f"p{int(q * 100)}_le_s"] = next((le for le, v in buckets if v >= q * total), None)
    return out
