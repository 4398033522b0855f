"""Processes under test: synclinkd (release) and the bare actix-web baseline.
Every process started here is tracked and stopped by pid at exit."""

import atexit
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

_children = []


def _cleanup():
    for p in list(_children):
        stop_process(p, timeout=5)


atexit.register(_cleanup)


def stop_process(p, timeout=30):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in _children:
        _children.remove(p)
    return p.returncode


def spawn(argv, log_path, env=None):
    log = open(log_path, "ab")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
    log.close()
    _children.append(p)
    return p


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, proc, timeout=120.0):
    """Poll GET /readyz every 2 ms; returns seconds until the first 200."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before it was ready")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/readyz")
            r = c.getresponse()
            r.read()
            c.close()
            if r.status == 200:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.002)
    raise RuntimeError(f"not ready within {timeout} s")


def proc_status(pid):
    """VmHWM / VmRSS in KiB from /proc/<pid>/status."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmHWM:", "VmRSS:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def cpu_seconds(pid):
    """user + system CPU seconds of a process (all threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def thread_cpu(pid):
    """{tid: (comm, CPU seconds)} for every thread of a process."""
    out = {}
    tck = os.sysconf("SC_CLK_TCK")
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for t in tids:
        try:
            st = Path(f"/proc/{pid}/task/{t}/stat").read_text()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        f = st.rsplit(")", 1)[1].split()
        out[int(t)] = (comm, (int(f[11]) + int(f[12])) / tck)
    return out


def dir_bytes(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def fake_jira(release_dir, workdir):
    """examples/fake_jira_bench on a free loopback port: (process, port)."""
    port = free_port()
    p = spawn([str(Path(release_dir) / "examples/fake_jira_bench"), f"127.0.0.1:{port}"],
              Path(workdir) / "fake.log")
    time.sleep(0.5)
    return p, port


class Daemon:
    """synclinkd with its own temp dir, port and admin socket."""

    def __init__(self, binary, workdir, name, durability="sync", extra_toml="", workers=None):
        self.binary = binary
        self.dir = Path(workdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.data = self.dir / "data"
        self.socket = self.dir / "admin.sock"
        self.log_path = self.dir / "synclinkd.log"
        self.port = free_port()
        self.config = self.dir / "config.toml"
        self.config.write_text(
            "[http]\n"
            f'listen = "127.0.0.1:{self.port}"\n'
            f'public_url = "http://127.0.0.1:{self.port}"\n'
            + (f"workers = {workers}\n" if workers else "")
            + "[admin]\n"
            f'socket = "{self.socket}"\n'
            "[storage]\n"
            f'path = "{self.data}"\n'
            f'durability = "{durability}"\n' + extra_toml
        )
        self.proc = None
        self.startups = []

    def start(self):
        """Spawn and wait for /readyz; returns (seconds to /readyz, startup_ms
        from the `ready` log record or None)."""
        mark = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.proc = spawn([str(self.binary), "--config", str(self.config)], self.log_path)
        secs = wait_ready(self.port, self.proc)
        logged, opened = None, None
        deadline = time.monotonic() + 2
        while logged is None and time.monotonic() < deadline:
            logged, opened = self._ready_record(mark)
            if logged is None:
                time.sleep(0.01)
        self.startups.append({"readyz_s": secs, "ready_log_ms": logged, "open_log_ms": opened})
        return secs, logged

    def _ready_record(self, offset):
        """(`ready` startup_ms, `store-opened` open_ms) logged since `offset`."""
        opened = None
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("msg") == "store-opened":
                    opened = rec.get("open_ms")
                if rec.get("msg") == "ready":
                    return rec.get("startup_ms"), opened
        return None, opened

    def stop(self):
        if self.proc is not None:
            rc = stop_process(self.proc)
            self.proc = None
            return rc
        return None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def log_events(self, names):
        """Count log records by msg for the given names."""
        counts = {n: 0 for n in names}
        if not self.log_path.exists():
            return counts
        with open(self.log_path, "rb") as f:
            for line in f:
                m = re.search(rb'"msg":"([^"]+)"', line)
                if m and m.group(1).decode() in counts:
                    counts[m.group(1).decode()] += 1
        return counts


class Bare:
    """examples/bare_webhook: accepts the same request and answers 200."""

    def __init__(self, binary, workdir, workers=None):
        self.port = free_port()
        self.log_path = Path(workdir) / "bare_webhook.log"
        argv = [str(binary), f"127.0.0.1:{self.port}"]
        if workers:
            argv += ["--workers", str(workers)]
        self.proc = spawn(argv, self.log_path)
        wait_ready(self.port, self.proc)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        stop_process(self.proc)
