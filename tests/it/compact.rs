//! `synclinkd --compact` (docs/OPERATIONS.md, "Disk"): with the daemon
//! stopped it copies the database into a fresh directory, keeps the old one,
//! and the daemon carries on where it was.

use crate::common::*;
use std::process::Command;

fn compact(d: &Daemon) -> std::process::Output {
    Command::new(BIN)
        .arg("--compact")
        .arg("--config")
        .arg(&d.config_path)
        .output()
        .expect("run synclinkd --compact")
}

#[test]
fn compaction_keeps_the_state_and_the_daemon_carries_on() {
    let mut d = Daemon::start();
    let w = setup(&d);
    for i in 0..40 {
        let email = (i % 2 == 0).then_some("bob@example.org");
        let body = assignee_delivery(
            email,
            &format!("{}", 1000 + i),
            1_700_000_000_000 + i,
            "APP-1",
        );
        let want = if email.is_some() {
            "assigned"
        } else {
            "unassigned"
        };
        assert_eq!(deliver_ok(&d, &body), want);
    }
    let acts = activity(&d, w.group);
    assert_eq!(acts.len(), 40);
    let deliveries = d.admin().must_get("/v1/deliveries?limit=100");
    let status = d.admin().must_get("/v1/status");
    assert_eq!(status["counts"]["activities"], 40);

    // Refused while the daemon runs, and nothing changes.
    let busy = compact(&d);
    assert_eq!(busy.status.code(), Some(1), "{busy:?}");
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("stop synclinkd first"),
        "{busy:?}"
    );
    assert!(!d.dir.path().join("data.compacting").exists());

    assert!(d.stop().success());
    let out = compact(&d);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("compacted") && said.contains("pre-compact"),
        "{said}"
    );
    let kept: Vec<_> = std::fs::read_dir(d.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("data.pre-compact-")
        })
        .collect();
    assert_eq!(kept.len(), 1, "the old data directory is kept");

    d.restart();
    assert_eq!(activity(&d, w.group), acts, "activities unchanged");
    assert_eq!(d.admin().must_get("/v1/deliveries?limit=100"), deliveries);
    assert_eq!(
        d.admin().must_get("/v1/status")["counts"],
        status["counts"],
        "counts unchanged"
    );
    // New writes get ids above the old ones and land after them.
    let body = assignee_delivery(Some("bob@example.org"), "2000", 1_700_000_001_000, "APP-1");
    assert_eq!(deliver_ok(&d, &body), "assigned");
    let now = activity(&d, w.group);
    assert_eq!(now.len(), 41);
    assert_eq!(&now[..40], &acts[..]);
    let last_old = acts
        .iter()
        .map(|a| a["id"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(now[40]["id"].as_u64().unwrap() > last_old);
    let newest = last_delivery(&d);
    assert!(newest["id"].as_u64().unwrap() > deliveries[0]["id"].as_u64().unwrap());

    // What synclink-compact.service runs once the daemon is up again: the
    // old copy goes (found from storage.path), the daemon's data stays.
    let remove = || {
        Command::new(BIN)
            .arg("--remove-compacted")
            .arg("--config")
            .arg(&d.config_path)
            .output()
            .expect("run synclinkd --remove-compacted")
    };
    let out = remove();
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("removed") && said.contains("data.pre-compact-"),
        "{said}"
    );
    assert!(!kept[0].path().exists(), "the old copy is gone");
    assert_eq!(
        activity(&d, w.group).len(),
        41,
        "the running daemon's data stays"
    );
    let again = remove();
    assert!(again.status.success(), "{again:?}");
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("no old data directory"),
        "{again:?}"
    );
}

#[test]
fn compaction_without_a_database_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let data = dir.path().join("nothing-here");
    std::fs::write(
        &config,
        format!("[storage]\npath = {:?}\n", data.display().to_string()),
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("--compact")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not found"),
        "{out:?}"
    );
    assert!(!data.exists());
}
