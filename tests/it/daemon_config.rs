//! `synclinkd --check-config` and starting on the embedded defaults.

use crate::common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn check(config: Option<&str>) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir.path()).arg("--check-config");
    if let Some(text) = config {
        let p = dir.path().join("c.toml");
        std::fs::write(&p, text).unwrap();
        cmd.arg("--config").arg(&p);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn check_config_accepts_good_files_and_names_bad_keys() {
    let (code, out) = check(None);
    assert_eq!(code, 0, "{out}");
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml.example"),
    )
    .unwrap();
    let (code, out) = check(Some(&example));
    assert_eq!(code, 0, "{out}");
    let (code, out) = check(Some("[ids]\nregion_id = 12\nuse_snowflake = false\n"));
    assert_eq!(code, 0, "{out}");

    for (text, named) in [
        (
            "[http]\nlisten = \"127.0.0.1:1\"\nbogus_key = 1\n",
            "`http.bogus_key`",
        ),
        ("[ids]\nuse_snowflak = true\n", "`ids.use_snowflak`"),
        ("[nonsense]\n", "nonsense"),
        ("[ids]\nregion_id = 4096\n", "ids.region_id"),
        ("[ids]\nversion_id = 32\n", "ids.version_id"),
        ("[ids]\nepoch = \"not a date\"\n", "ids.epoch"),
        ("[storage]\ndurability = \"maybe\"\n", "durability"),
        ("[log]\nlevel = \"loud\"\n", "level"),
        ("[ids]\nmax_retries = \"five\"\n", "max_retries"),
    ] {
        let (code, out) = check(Some(text));
        assert_eq!(code, 1, "{text}: {out}");
        assert!(out.contains(named), "{text}: expected {named} in {out}");
    }
    let out = Command::new(BIN)
        .args(["--check-config", "--config", "/nonexistent/synclink.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/synclink.toml"));
}

/// With no arguments the daemon runs on the embedded defaults in the current
/// directory. Port 8080 may be taken on a shared machine: then it must fail
/// naming that address, having used the default data directory.
#[test]
fn starts_with_no_arguments_on_embedded_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<(String, String)>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                let msg = v["msg"].as_str().unwrap_or("").to_string();
                if msg == "ready" || msg == "startup-failed" {
                    let _ = tx.send((msg, line.clone()));
                }
            }
        }
    });
    let outcome = rx.recv_timeout(Duration::from_secs(30));
    let data = dir.path().join("synclink-data");
    match outcome {
        Ok((msg, _)) if msg == "ready" => {
            assert!(data.is_dir());
            let sock = dir.path().join("synclink.sock");
            let st = Admin::new(&sock).must_get("/v1/status");
            assert_eq!(st["version"], env!("CARGO_PKG_VERSION"));
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            assert!(child.wait().unwrap().success());
        }
        Ok((_, line)) => {
            let _ = child.wait();
            assert!(line.contains("127.0.0.1:8080"), "{line}");
            assert!(data.is_dir(), "the default data dir was used");
        }
        Err(_) => {
            let _ = child.kill();
            panic!("synclinkd neither got ready nor failed");
        }
    }
}

#[test]
fn activity_retention_is_checked_and_runs_at_start() {
    let (code, out) = check(Some("[storage]\nactivity_retention_days = 40000\n"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("storage.activity_retention_days"), "{out}");
    // On: a pass at start (nothing old yet), logged with its cutoff.
    let d = Daemon::start_with("[storage]\nactivity_retention_days = 30\n", &[]);
    let w = setup(&d);
    let v = assignee_delivery(Some("bob@example.org"), "1", 1, "APP-1");
    assert_eq!(deliver_ok(&d, &v), "assigned");
    let e = d.wait_event("activities-pruned");
    assert_eq!(e["removed"], 0, "{e}");
    assert_eq!(activity(&d, w.group).len(), 1);
    // Off (the default): no pass at all.
    let d2 = Daemon::start();
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(d2.events("activities-pruned").is_empty());
    let (code, out) = check(Some("[storage]\nactivity_retention_days = -1\n"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("storage.activity_retention_days"), "{out}");
}

/// A fraction of a day works, and a short retention runs often enough
/// (a tenth of the period, at least a second apart): an activity 2.6 s old
/// is gone a few seconds later, with the pass that took it logged.
#[test]
fn a_short_retention_removes_old_activities_while_running() {
    let d = Daemon::start_with("[storage]\nactivity_retention_days = 0.00003\n", &[]);
    let w = setup(&d);
    let v = assignee_delivery(Some("bob@example.org"), "1", 1, "APP-1");
    assert_eq!(deliver_ok(&d, &v), "assigned");
    assert_eq!(activity(&d, w.group).len(), 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !activity(&d, w.group).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the activity stayed");
        std::thread::sleep(Duration::from_millis(200));
    }
    let passes = d.events("activities-pruned");
    assert!(passes.iter().any(|e| e["removed"] == 1), "{passes:?}");
}

/// `http.workers` sets the public listener's worker threads: the daemon
/// logs the number it runs with, and each worker is a thread of its own
/// (two daemons, one with two more workers than the other, differ by two
/// such threads). 0, the default, logs the automatic number.
#[test]
fn http_workers_sets_the_public_listeners_threads() {
    fn worker_threads(d: &Daemon) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", d.pid()))
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).ok())
            .filter(|comm| comm.starts_with("actix-rt|system"))
            .count()
    }
    let one = Daemon::start_with("[http]\nworkers = 1\n", &[]);
    let three = Daemon::start_with("[http]\nworkers = 3\n", &[]);
    assert_eq!(one.wait_event("http-listening")["workers"], 1);
    assert_eq!(three.wait_event("http-listening")["workers"], 3);
    one.wait_event("ready");
    three.wait_event("ready");
    for d in [&one, &three] {
        let r = d.http().get(d.url("/healthz")).send().unwrap();
        assert_eq!(r.status(), 200);
    }
    // Worker threads start as the server runs; give them a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while worker_threads(&three) != worker_threads(&one) + 2 && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(worker_threads(&three), worker_threads(&one) + 2);
    let auto = Daemon::start();
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(
        auto.wait_event("http-listening")["workers"],
        (cpus - 1).max(1)
    );
}
