//! Clean shutdown after many writes reopens the database once so that sled
//! writes its snapshot then, not at the next start (store::snapshot). The
//! `snapshot-at-shutdown` failpoint makes the reopen unconditional (the
//! daemon does it only after 64 MiB of writes). Either way the counters
//! saved at shutdown are loaded at the next start, with no recount.

use crate::common::{create_orgs, Daemon};
use serde_json::{json, Value};

fn write_some(d: &Daemon, from: usize, n: usize) {
    create_orgs(d, from, n);
    let a = d.admin();
    for i in from..from + n {
        a.must_post(
            "/v1/users",
            json!({"name": format!("User {i}"), "emails": [{"email": format!("u{i}@example.org"), "verified": true}]}),
            201,
        );
    }
}

fn newest_snapshot(dir: &std::path::Path) -> Option<u64> {
    synclink::store::snapshot::newest_snapshot_lsn(dir)
}

fn stop_and_restart(d: &mut Daemon) -> (Value, Value) {
    assert!(d.stop().success());
    let snap = d.wait_event("store-snapshot");
    // The snapshot record comes before the final one.
    let text = d.log_text();
    let at = |m: &str| text.find(&format!("\"msg\":\"{m}\"")).unwrap_or(usize::MAX);
    assert!(at("store-snapshot") < at("shutdown-complete"), "{text}");
    d.restart();
    let opened = d.wait_event("store-opened");
    (snap, opened)
}

fn check_counts(d: &Daemon, orgs: usize) {
    let st = d.admin().must_get("/v1/status");
    assert_eq!(st["counting"], false, "{st}");
    assert_eq!(st["counts"]["orgs"], orgs, "{st}");
    assert_eq!(st["counts"]["users"], orgs, "{st}");
    let list = d.admin().must_get("/v1/orgs");
    assert_eq!(list.as_array().map(|a| a.len()), Some(orgs), "{list}");
}

fn snapshot_then_restart_without_recount(durability: &str) {
    let mut d = Daemon::start_with(
        &format!("[storage]\ndurability = \"{durability}\"\n"),
        &[("SYNCLINK_FAILPOINTS", "snapshot-at-shutdown")],
    );
    write_some(&d, 0, 20);
    let before = newest_snapshot(&d.data);
    let (snap, opened) = stop_and_restart(&mut d);
    // Every actor and thread let go of the store, so it could be reopened.
    assert_eq!(snap["outcome"], "written", "{snap}");
    let after = newest_snapshot(&d.data);
    assert!(after > before, "{before:?} -> {after:?}");
    assert_eq!(opened["counts"], "loaded", "{opened}");
    check_counts(&d, 20);

    // And again: more writes, another clean stop.
    write_some(&d, 20, 5);
    let (snap, opened) = stop_and_restart(&mut d);
    assert_eq!(snap["outcome"], "written", "{snap}");
    assert_eq!(opened["counts"], "loaded", "{opened}");
    check_counts(&d, 25);
}

#[test]
fn sigterm_snapshots_and_restart_loads_counters_sync() {
    snapshot_then_restart_without_recount("sync");
}

#[test]
fn sigterm_snapshots_and_restart_loads_counters_async() {
    snapshot_then_restart_without_recount("async");
}

#[test]
fn short_lived_daemon_skips_the_reopen() {
    let mut d = Daemon::start();
    write_some(&d, 0, 3);
    let (snap, opened) = stop_and_restart(&mut d);
    assert_eq!(snap["outcome"], "skipped", "{snap}");
    assert!(snap["written_mib"].as_u64().is_some(), "{snap}");
    assert_eq!(opened["counts"], "loaded", "{opened}");
    check_counts(&d, 3);
}

#[test]
fn second_sigterm_during_the_snapshot_exits_at_once_and_loses_nothing() {
    use std::os::unix::process::ExitStatusExt;
    let mut d = Daemon::start_with(
        "",
        &[("SYNCLINK_FAILPOINTS", "snapshot-at-shutdown,snapshot-slow")],
    );
    write_some(&d, 0, 4);
    d.signal(libc::SIGTERM);
    d.wait_event("listeners-closed");
    // Most likely inside the (slowed) snapshot step by now; wherever it
    // is, a second signal ends the process with 128 + SIGTERM.
    std::thread::sleep(std::time::Duration::from_millis(300));
    d.signal(libc::SIGTERM);
    let st = d.wait_exit(std::time::Duration::from_secs(30));
    assert_eq!(
        st.code(),
        Some(128 + libc::SIGTERM),
        "{st:?} {:?}",
        st.signal()
    );
    d.restart();
    check_counts(&d, 4);
}
