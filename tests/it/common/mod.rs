//! Test harness: starts the real `synclinkd` binary on an ephemeral port with
//! a temp data directory and a real Unix socket, and talks HTTP to it.

#![allow(dead_code)]

pub mod fake_jira;
pub mod world;
pub use world::*;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_synclinkd");
pub const CTL: &str = env!("CARGO_BIN_EXE_synclinkctl");

/// The metric families SPEC section 4 asks `/metrics` to carry.
pub const SPEC_METRIC_FAMILIES: [&str; 10] = [
    "synclink_webhook_deliveries_total",
    "synclink_assignments_total",
    "synclink_deassignments_total",
    "synclink_cache_hits_total",
    "synclink_cache_misses_total",
    "synclink_cache_invalidations_total",
    "synclink_cache_entries",
    "synclink_flush_duration_seconds",
    "synclink_ids_issued_total",
    "synclink_actor_restarts_total",
];

/// Path of a file in tests/fixtures/jira/ (copied from the contract's fixtures).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jira")
        .join(name)
}

/// A fixture parsed as JSON.
pub fn fixture_json(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(name)).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

pub struct Daemon {
    pub child: Option<Child>,
    /// Holds the data dir, socket and config; kept across restarts.
    pub dir: Arc<tempfile::TempDir>,
    pub socket: PathBuf,
    pub data: PathBuf,
    pub config_path: PathBuf,
    pub addr: SocketAddr,
    pub logs: Arc<Mutex<Vec<String>>>,
    overrides: String,
    env: Vec<(String, String)>,
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

impl Daemon {
    /// Start on the defaults (durability sync) in a fresh temp dir.
    pub fn start() -> Daemon {
        Daemon::start_with("", &[])
    }

    /// Start with TOML `overrides` merged over the test base config and
    /// extra environment variables.
    pub fn start_with(overrides: &str, env: &[(&str, &str)]) -> Daemon {
        let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
        Daemon::start_in(dir, overrides, env)
    }

    /// Start in an existing dir (a restart keeps data and socket paths).
    pub fn start_in(dir: Arc<tempfile::TempDir>, overrides: &str, env: &[(&str, &str)]) -> Daemon {
        let socket = dir.path().join("admin.sock");
        let data = dir.path().join("data");
        // No start-up or periodic reconcile runs (their Jira requests would
        // mix with what a test counts) unless a test turns them on.
        let mut base: toml::Table = toml::from_str(&format!(
            "[http]\nlisten = \"127.0.0.1:0\"\n[admin]\nsocket = {:?}\n[storage]\npath = {:?}\n\
             [jira]\nreconcile_interval_secs = 0\n",
            socket.display().to_string(),
            data.display().to_string()
        ))
        .unwrap();
        let over: toml::Table = toml::from_str(overrides).expect("override TOML");
        merge(&mut base, over);
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, toml::to_string(&base).unwrap()).unwrap();
        let mut d = Daemon {
            child: None,
            dir,
            socket,
            data,
            config_path,
            addr: "127.0.0.1:0".parse().unwrap(),
            logs: Arc::new(Mutex::new(Vec::new())),
            overrides: overrides.to_string(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn synclinkd");
        let stderr = child.stderr.take().unwrap();
        let logs = self.logs.clone();
        let (tx, rx) = std::sync::mpsc::channel::<Result<SocketAddr, String>>();
        std::thread::spawn(move || {
            let mut addr = None;
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    match v["msg"].as_str() {
                        Some("http-listening") => {
                            addr = v["addr"].as_str().and_then(|a| a.parse().ok())
                        }
                        Some("ready") => {
                            if let (Some(t), Some(a)) = (tx.take(), addr) {
                                let _ = t.send(Ok(a));
                            }
                        }
                        Some("startup-failed") => {
                            if let Some(t) = tx.take() {
                                let _ = t.send(Err(line.clone()));
                            }
                        }
                        _ => {}
                    }
                }
                logs.lock().unwrap().push(line);
            }
            if let Some(t) = tx.take() {
                let _ = t.send(Err("synclinkd exited before it was ready".into()));
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(a)) => self.addr = a,
            Ok(Err(e)) => panic!("synclinkd did not start: {e}\nlogs:\n{}", self.log_text()),
            Err(_) => panic!(
                "synclinkd did not get ready in 30 s\nlogs:\n{}",
                self.log_text()
            ),
        }
        self.child = Some(child);
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// Every log line so far, joined.
    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Parsed JSON log records whose `msg` is `event`.
    pub fn events(&self, event: &str) -> Vec<Value> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["msg"] == event)
            .collect()
    }

    /// Wait (up to 5 s) until a log record with `msg == event` shows up.
    pub fn wait_event(&self, event: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(v) = self.events(event).pop() {
                return v;
            }
            if Instant::now() > deadline {
                panic!("no {event:?} log record; logs:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Send a signal to the daemon.
    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// SIGTERM and wait for exit (up to 30 s).
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit(Duration::from_secs(30))
    }

    /// kill -9: no flush, no cleanup.
    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
        self.wait_exit(Duration::from_secs(10));
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("synclinkd did not exit in {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Start again on the same data dir, socket and config.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the daemon first");
        self.logs.lock().unwrap().clear();
        self.spawn();
    }

    /// Admin API client over the Unix socket.
    pub fn admin(&self) -> Admin {
        Admin::new(&self.socket)
    }

    /// URL on the public listener.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The `/metrics` page as text.
    pub fn metrics_text(&self) -> String {
        let r = self
            .http()
            .get(self.url("/metrics"))
            .send()
            .expect("GET /metrics");
        assert_eq!(r.status().as_u16(), 200, "GET /metrics");
        r.text().expect("metrics text")
    }

    /// Blocking client for the public listener.
    pub fn http(&self) -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Admin API client: JSON over HTTP/1.1 on the Unix socket.
pub struct Admin {
    client: reqwest::blocking::Client,
}

/// Status and JSON body (Null when the body is empty or not JSON).
pub type Reply = (u16, Value);

impl Admin {
    pub fn new(socket: &Path) -> Admin {
        Admin {
            client: reqwest::blocking::Client::builder()
                .unix_socket(socket)
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    fn send(&self, rb: reqwest::blocking::RequestBuilder) -> Reply {
        let r = rb.send().expect("admin request");
        let status = r.status().as_u16();
        let text = r.text().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn url(path: &str) -> String {
        format!("http://synclink{path}")
    }

    pub fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(Self::url(path)))
    }
    pub fn delete(&self, path: &str) -> Reply {
        self.send(self.client.delete(Self::url(path)))
    }
    pub fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.client.post(Self::url(path)).json(&body))
    }
    pub fn put(&self, path: &str, body: Value) -> Reply {
        self.send(self.client.put(Self::url(path)).json(&body))
    }
    /// POST a raw body (for malformed-JSON tests).
    pub fn post_raw(&self, path: &str, body: &str) -> Reply {
        self.send(
            self.client
                .post(Self::url(path))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
    }

    /// POST expecting `status`; returns the body.
    pub fn must_post(&self, path: &str, body: Value, status: u16) -> Value {
        let (s, v) = self.post(path, body.clone());
        assert_eq!(s, status, "POST {path} {body} -> {s} {v}");
        v
    }

    /// GET expecting 200; returns the body.
    pub fn must_get(&self, path: &str) -> Value {
        let (s, v) = self.get(path);
        assert_eq!(s, 200, "GET {path} -> {s} {v}");
        v
    }
}

/// Assert an admin error reply: status and `error.code`.
/// Create organizations `o{from}` .. `o{from + n - 1}` through the admin API.
pub fn create_orgs(d: &Daemon, from: usize, n: usize) {
    let a = d.admin();
    for i in from..from + n {
        a.must_post(
            "/v1/orgs",
            serde_json::json!({"slug": format!("o{i}"), "name": format!("Org {i}")}),
            201,
        );
    }
}

pub fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.0, status, "reply {:?}", reply);
    assert_eq!(reply.1["error"]["code"], code, "reply {:?}", reply);
    assert!(
        reply.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error without message: {:?}",
        reply
    );
}
