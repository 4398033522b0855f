//! Operations: systemd notifications and watchdog, graceful shutdown on
//! SIGTERM/SIGINT, health and readiness, request ids in the logs, metrics.

use crate::common::*;
use serde_json::{json, Value};
use std::os::unix::net::UnixDatagram;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

/// Wait until at least `n` log records with `msg == event` showed up.
fn wait_events(d: &Daemon, event: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ev = d.events(event);
        if ev.len() >= n {
            return ev;
        }
        if Instant::now() > deadline {
            panic!(
                "only {} of {n} {event:?} records; logs:\n{}",
                ev.len(),
                d.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn exit_code(st: ExitStatus) -> Option<i32> {
    st.code()
}

/// A blocking client on the admin socket that lets the test set headers.
fn admin_client(d: &Daemon) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .unix_socket(d.socket.clone())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

#[test]
fn notifies_ready_then_watchdog_then_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut d = Daemon::start_with(
        "",
        &[
            ("NOTIFY_SOCKET", path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    let mut got: Vec<String> = Vec::new();
    let recv_until = |got: &mut Vec<String>, want: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        while !got.iter().any(|m| m == want) {
            assert!(Instant::now() < deadline, "no {want} in {got:?}");
            if let Ok(n) = sock.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                got.extend(text.lines().map(str::to_string));
            }
        }
    };
    recv_until(&mut got, "WATCHDOG=1");
    // While it runs, the daemon answers and the watchdog keeps going.
    let h = d.http().get(d.url("/readyz")).send().unwrap();
    assert_eq!(h.status().as_u16(), 200);
    assert!(d.stop().success());
    recv_until(&mut got, "STOPPING=1");
    let pos = |m: &str| got.iter().position(|x| x == m).unwrap();
    assert!(pos("READY=1") < pos("WATCHDOG=1"), "{got:?}");
    assert!(pos("WATCHDOG=1") < pos("STOPPING=1"), "{got:?}");
    assert!(got.iter().any(|m| m.starts_with("STATUS=ready")), "{got:?}");
    let wd = d.events("watchdog-enabled");
    assert_eq!(wd[0]["period_ms"], 1000, "{wd:?}");
    assert_eq!(d.events("shutdown-started")[0]["signal"], "SIGTERM");
    assert_eq!(d.events("shutdown-complete").len(), 1);
}

#[test]
fn no_watchdog_without_watchdog_usec() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut d = Daemon::start_with("", &[("NOTIFY_SOCKET", path.to_str().unwrap())]);
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).unwrap();
    let first = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(first.lines().any(|l| l == "READY=1"), "{first}");
    assert!(d.events("watchdog-enabled").is_empty());
    assert!(d.stop().success());
    let n = sock.recv(&mut buf).unwrap();
    let next = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(next.lines().any(|l| l == "STOPPING=1"), "{next}");
    assert!(!next.contains("WATCHDOG=1"), "{next}");
}

#[test]
fn sigterm_finishes_in_flight_requests_and_keeps_their_data() {
    let mut d = Daemon::start_with(
        "[log]\nlevel = \"debug\"\n",
        &[("SYNCLINK_FAILPOINTS", "http-delay")],
    );
    d.admin()
        .must_post("/v1/orgs", json!({"slug": "before", "name": "Before"}), 201);

    // Requests that are still being handled when SIGTERM arrives: each
    // waits 8 s in the request middleware before its handler runs.
    let mut threads = Vec::new();
    for i in 0..4 {
        let client = admin_client(&d);
        threads.push(std::thread::spawn(move || {
            let r = client
                .post("http://synclink/v1/orgs")
                .header("x-synclink-test-delay-ms", "8000")
                .json(&json!({"slug": format!("inflight-{i}"), "name": format!("In flight {i}")}))
                .send()
                .expect("in-flight admin request answered");
            let status = r.status().as_u16();
            (status, r.text().unwrap())
        }));
    }
    for path in ["/healthz", "/readyz"] {
        let url = d.url(path);
        threads.push(std::thread::spawn(move || {
            let r = reqwest::blocking::Client::new()
                .get(url)
                .header("x-synclink-test-delay-ms", "8000")
                .timeout(Duration::from_secs(60))
                .send()
                .expect("in-flight public request answered");
            let status = r.status().as_u16();
            (status, r.text().unwrap())
        }));
    }
    wait_events(&d, "failpoint-http-delay", 6);
    d.signal(libc::SIGTERM);
    d.wait_event("shutdown-started");
    // New connections are refused on both listeners while the in-flight
    // requests are still being handled.
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        let tcp = std::net::TcpStream::connect(d.addr).is_err();
        let uds = std::os::unix::net::UnixStream::connect(&d.socket).is_err();
        if tcp && uds {
            break;
        }
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        threads.iter().all(|t| !t.is_finished()),
        "the in-flight requests were answered before the listeners closed"
    );
    let answers: Vec<(u16, String)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for (i, (status, body)) in answers[..4].iter().enumerate() {
        assert_eq!(*status, 201, "org {i}: {body}");
        let v: Value = serde_json::from_str(body).expect("complete JSON body");
        assert_eq!(v["slug"], format!("inflight-{i}"));
    }
    assert_eq!(answers[4], (200, "ok\n".to_string()), "/healthz");
    // Handled after the shutdown started: no longer ready.
    assert_eq!(answers[5], (503, "shutting down\n".to_string()), "/readyz");
    let st = d.wait_exit(Duration::from_secs(30));
    assert_eq!(exit_code(st), Some(0), "logs:\n{}", d.log_text());
    assert_eq!(d.events("shutdown-started").len(), 1);
    assert_eq!(d.events("shutdown-complete").len(), 1);
    // The supervisor drove the shutdown order after the listeners closed:
    // the writer drained, the last group commit settled.
    let order: Vec<String> = d
        .log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["msg"].as_str().map(str::to_string))
        .filter(|m| {
            ["listeners-closed", "actors-stopping", "shutdown-complete"].contains(&m.as_str())
        })
        .collect();
    assert_eq!(
        order,
        ["listeners-closed", "actors-stopping", "shutdown-complete"]
    );
    let stopping = d.wait_event("actors-stopping");
    assert_eq!(
        (stopping["drained"].as_bool(), stopping["settled"].as_bool()),
        (Some(true), Some(true))
    );

    d.restart();
    let orgs = d.admin().must_get("/v1/orgs");
    let mut slugs: Vec<&str> = orgs
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["slug"].as_str().unwrap())
        .collect();
    slugs.sort();
    assert_eq!(
        slugs,
        [
            "before",
            "inflight-0",
            "inflight-1",
            "inflight-2",
            "inflight-3"
        ]
    );
}

#[test]
fn sigint_also_shuts_down_gracefully() {
    let mut d = Daemon::start();
    d.admin()
        .must_post("/v1/orgs", json!({"slug": "kept", "name": "Kept"}), 201);
    d.signal(libc::SIGINT);
    let st = d.wait_exit(Duration::from_secs(30));
    assert_eq!(exit_code(st), Some(0));
    assert_eq!(d.events("shutdown-started")[0]["signal"], "SIGINT");
    d.restart();
    assert_eq!(d.admin().must_get("/v1/orgs")[0]["slug"], "kept");
}

#[test]
fn a_second_signal_forces_exit_during_a_slow_shutdown() {
    // The failpoint makes the shutdown wait 60 s after the listeners closed.
    let mut d = Daemon::start_with("", &[("SYNCLINK_FAILPOINTS", "slow-shutdown")]);
    d.signal(libc::SIGTERM);
    d.wait_event("listeners-closed");
    d.signal(libc::SIGINT);
    let st = d.wait_exit(Duration::from_secs(20));
    assert_eq!(exit_code(st), Some(128 + libc::SIGINT), "{st:?}");
    assert!(d.events("shutdown-complete").is_empty());
    let forced = d.wait_event("shutdown-forced");
    assert_eq!(forced["signal"], "SIGINT");
    assert_eq!(forced["level"], "critical");
}

#[test]
fn health_readiness_and_request_ids() {
    let d = Daemon::start_with("[log]\nlevel = \"debug\"\n", &[]);
    let http = d.http();
    let ready = http.get(d.url("/readyz")).send().unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let ready_id = ready.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(ready.text().unwrap(), "ready\n");

    // A webhook delivery with a made-up token, then a health check, then an
    // admin call: three requests, three fresh ids, no token in any record.
    let secret = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6InNlY3JldC10b2tlbiJ9.c2VjcmV0LXNpZ25hdHVyZQ";
    let hook = http
        .post(d.url(&format!(
            "/extensions/jira-server/issue-updated/{secret}?x=1"
        )))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    let hook_id = hook.headers()["x-request-id"].to_str().unwrap().to_string();
    let hook_status = hook.status().as_u16();
    let health = http.get(d.url("/healthz")).send().unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let health_id = health.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let status = admin_client(&d)
        .get("http://synclink/v1/status")
        .send()
        .unwrap();
    assert_eq!(status.status().as_u16(), 200);
    let admin_id = status.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let ids = [&ready_id, &hook_id, &health_id, &admin_id];
    for (i, a) in ids.iter().enumerate() {
        assert_eq!(a.len(), 16, "{a}");
        for b in &ids[i + 1..] {
            assert_ne!(a, b, "request ids repeat");
        }
    }

    let records = wait_events(&d, "http-request", 4);
    let lines: Vec<String> = d.logs.lock().unwrap().clone();
    let text = lines.join("\n");
    assert!(!text.contains(secret), "the webhook token was logged");
    assert!(
        !text.contains("c2VjcmV0LXNpZ25hdHVyZQ"),
        "token part logged"
    );
    for line in &lines {
        assert!(
            line.matches("\"request_id\"").count() <= 1,
            "a record carries two request ids: {line}"
        );
    }
    let by_id = |id: &str| -> Vec<Value> {
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["request_id"] == id)
            .collect()
    };
    let one = |id: &str| -> Value {
        let mine: Vec<Value> = records
            .iter()
            .filter(|r| r["request_id"] == id)
            .cloned()
            .collect();
        assert_eq!(mine.len(), 1, "http-request records for {id}: {mine:?}");
        mine[0].clone()
    };
    let r = one(&hook_id);
    assert_eq!(r["method"], "POST");
    assert_eq!(r["path"], "/extensions/jira-server/issue-updated/{token}");
    assert_eq!(r["status"], hook_status);
    assert_eq!(r["listener"], "public");
    assert!(r["duration_ms"].as_f64().is_some());
    assert_eq!(r["level"], "info");
    let r = one(&health_id);
    assert_eq!(
        (r["path"].as_str(), r["status"].as_u64()),
        (Some("/healthz"), Some(200))
    );
    assert_eq!(r["level"], "debug", "probes log at debug");
    let r = one(&admin_id);
    assert_eq!(
        (r["path"].as_str(), r["listener"].as_str()),
        (Some("/v1/status"), Some("admin"))
    );
    // Nothing from one request carries into the next one's records.
    for v in by_id(&health_id) {
        assert_ne!(v["path"], "/extensions/jira-server/issue-updated/{token}");
        assert_ne!(v["request_id"], hook_id);
    }
    for v in by_id(&hook_id) {
        assert_ne!(v["path"], "/healthz", "{v}");
    }
    // Every record has msg, level and an RFC 3339 ts.
    for line in &lines {
        let v: Value = serde_json::from_str(line).expect("one JSON object per line");
        assert!(v["msg"].as_str().is_some_and(|m| !m.is_empty()), "{line}");
        assert!(
            ["critical", "error", "warning", "info", "debug", "trace"]
                .contains(&v["level"].as_str().unwrap_or("")),
            "{line}"
        );
        let ts = v["ts"].as_str().unwrap_or("");
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{line}");
    }
}

/// Strict check of the text exposition format, line by line: `# HELP`,
/// `# TYPE` before the samples of a family, `name{label="v",...} value`.
fn check_exposition(text: &str) -> Vec<String> {
    let mut typed: Vec<(String, String)> = Vec::new();
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let (name, kind) = (it.next().unwrap(), it.next().unwrap_or(""));
            assert!(name_ok(name), "{line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            typed.push((name.to_string(), kind.to_string()));
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "{line}"
        );
        let name = match series.split_once('{') {
            Some((n, labels)) => {
                let labels = labels.strip_suffix('}').expect("labels closed");
                for pair in labels.split(',').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').expect("label=value");
                    assert!(name_ok(k), "{line}");
                    assert!(v.starts_with('"') && v.ends_with('"'), "{line}");
                }
                n
            }
            None => series,
        };
        let family = typed.last().map(|(n, _)| n.as_str()).unwrap_or("");
        assert!(
            name == family
                || ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name == format!("{family}{s}")),
            "sample {name} outside its family {family}"
        );
    }
    typed.into_iter().map(|(n, _)| n).collect()
}

#[test]
fn metrics_parse_and_cover_the_spec() {
    let d = Daemon::start();
    let r = d.http().get(d.url("/metrics")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let ctype = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let text = r.text().unwrap();
    let families = check_exposition(&text);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let has = |name: &str| scrape.samples.iter().any(|s| s.metric == name);
    for name in SPEC_METRIC_FAMILIES {
        assert!(has(name), "{name} missing from /metrics:\n{text}");
        assert!(families.iter().any(|f| f == name), "no # TYPE for {name}");
    }
    let flush = scrape
        .samples
        .iter()
        .find(|s| s.metric == "synclink_flush_duration_seconds")
        .unwrap();
    assert!(
        matches!(flush.value, prometheus_parse::Value::Histogram(_)),
        "flush latency is a histogram"
    );
    let outcomes: Vec<&str> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "synclink_webhook_deliveries_total")
        .filter_map(|s| s.labels.get("outcome"))
        .collect();
    for o in [
        "assigned",
        "unassigned",
        "unchanged",
        "duplicate",
        "stale",
        "no-affected-groups",
        "assignee-not-found",
        "missing-assignee-email",
        "missing-changelog",
        "not-an-assignee-change",
        "bad-token",
        "bad-request",
        "failed",
    ] {
        assert!(outcomes.contains(&o), "outcome {o} missing: {outcomes:?}");
    }
    let actors: Vec<&str> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "synclink_actor_restarts_total")
        .filter_map(|s| s.labels.get("actor"))
        .collect();
    for a in ["ids", "cache", "project", "sync", "webhook", "jira"] {
        assert!(actors.contains(&a), "actor {a} missing: {actors:?}");
    }

    // The request log counts every answered request, by listener and status.
    d.admin().must_get("/v1/status");
    let text = d.metrics_text();
    check_exposition(&text);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let count = |listener: &str, status: &str| {
        scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == "synclink_http_requests_total"
                    && s.labels.get("listener") == Some(listener)
                    && s.labels.get("status") == Some(status)
            })
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) => v,
                _ => panic!("not a counter"),
            })
    };
    assert_eq!(
        count("public", "200"),
        Some(1.0),
        "the first /metrics scrape"
    );
    assert_eq!(count("admin", "200"), Some(1.0), "GET /v1/status");
    assert!(scrape
        .samples
        .iter()
        .any(|s| s.metric == "synclink_http_request_duration_seconds"));

    let off = Daemon::start_with("[http]\nmetrics = false\n", &[]);
    let r = off.http().get(off.url("/metrics")).send().unwrap();
    assert_eq!(r.status().as_u16(), 404);
    // Health still answers when metrics are off.
    let h = off.http().get(off.url("/healthz")).send().unwrap();
    assert_eq!(h.status().as_u16(), 200);
}

#[test]
fn a_hung_actor_stops_the_watchdog_pings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_nonblocking(true).unwrap();
    // The supervisor never answers a ping (failpoint), with a watchdog every 100 ms.
    let mut d = Daemon::start_with(
        "",
        &[
            ("NOTIFY_SOCKET", path.to_str().unwrap()),
            ("WATCHDOG_USEC", "200000"),
            ("SYNCLINK_FAILPOINTS", "hang-supervisor"),
        ],
    );
    let withheld = wait_events(&d, "watchdog-withheld", 3);
    assert!(withheld[0]["reason"].as_str().is_some());
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        got.extend(
            String::from_utf8_lossy(&buf[..n])
                .lines()
                .map(str::to_string),
        );
    }
    assert!(got.iter().any(|m| m == "READY=1"), "{got:?}");
    assert!(!got.iter().any(|m| m == "WATCHDOG=1"), "{got:?}");
    let h = d.http().get(d.url("/healthz")).send().unwrap();
    assert_eq!(h.status().as_u16(), 503);
    assert!(d.stop().success());
}

#[test]
fn under_journald_each_line_carries_its_priority() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[http]\nlisten = \"127.0.0.1:0\"\n[admin]\nsocket = {:?}\n[storage]\npath = {:?}\n",
            dir.path().join("admin.sock").display().to_string(),
            dir.path().join("data").display().to_string()
        ),
    )
    .unwrap();
    // Standard error is a file standing in for the journal stream: systemd
    // names it in JOURNAL_STREAM as "device:inode".
    let log_path = dir.path().join("journal");
    let file = std::fs::File::create(&log_path).unwrap();
    let meta = file.metadata().unwrap();
    let mut child = std::process::Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log_path)
        .unwrap()
        .contains("\"msg\":\"ready\"")
    {
        assert!(Instant::now() < deadline, "not ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&log_path).unwrap();
    for line in text.lines() {
        let (prio, json) = line.split_at(3);
        let v: Value = serde_json::from_str(json).unwrap_or_else(|_| panic!("{line}"));
        let want = match v["level"].as_str().unwrap() {
            "critical" => "<2>",
            "error" => "<3>",
            "warning" => "<4>",
            "info" => "<6>",
            _ => "<7>",
        };
        assert_eq!(prio, want, "{line}");
    }
    assert!(text.contains("<6>{\"msg\":\"shutdown-complete\""), "{text}");
}

/// A delivered webhook (2xx) logs its `http-request` record at debug: the
/// delivery log already has it, and a line per delivery at Jira's rate would
/// flood the journal. A refused one (4xx) still logs at info.
#[test]
fn delivered_webhooks_log_their_request_at_debug_refused_ones_at_info() {
    let d = Daemon::start_with("[log]\nlevel = \"debug\"\n", &[]);
    crate::common::world::setup(&d);
    let post = |token: &str, body: &Value| {
        let r = d
            .http()
            .post(d.url(&format!("/extensions/jira-server/issue-updated/{token}")))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).unwrap())
            .send()
            .unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        (r.status().as_u16(), id)
    };
    let body = crate::common::world::assignee_delivery(Some("bob@example.org"), "1", 10, "APP-1");
    let (ok_status, ok_id) = post(&crate::common::world::good_token(), &body);
    assert_eq!(ok_status, 200);
    let bad = crate::common::world::token("jira.example.org:nope", "wrong");
    let (bad_status, bad_id) = post(&bad, &body);
    assert_eq!(bad_status, 400);
    // The records are written by the logging thread: wait for both.
    let level_of = |id: &str| -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mine: Vec<Value> = d
                .events("http-request")
                .into_iter()
                .filter(|r| r["request_id"] == id)
                .map(|r| r["level"].clone())
                .collect();
            if !mine.is_empty() || Instant::now() > deadline {
                return mine;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert_eq!(level_of(&ok_id), vec![json!("debug")]);
    assert_eq!(level_of(&bad_id), vec![json!("info")]);
}
