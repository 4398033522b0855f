//! Status counters across restarts: saved at a clean shutdown and loaded at
//! start (no scan), recounted after kill -9 (at open for a small database,
//! in the background after `ready` for a big one; the `recount-in-background`
//! failpoint forces the background path on a small database).

use crate::common::{create_orgs, Daemon};
use serde_json::Value;

fn status(d: &Daemon) -> Value {
    d.admin().must_get("/v1/status")
}

fn origin(d: &Daemon) -> Value {
    let opened = d.wait_event("store-opened");
    // How long the open took, for operators timing a start (docs/LOGGING.md).
    assert!(opened["open_ms"].is_u64(), "{opened}");
    opened["counts"].clone()
}

#[test]
fn counters_load_after_clean_stop_and_recount_in_background_after_kill9() {
    let mut d = Daemon::start_with("", &[("SYNCLINK_FAILPOINTS", "recount-in-background")]);
    create_orgs(&d, 0, 3);
    let st = status(&d);
    assert_eq!(st["counts"]["orgs"], 3, "{st}");
    assert_eq!(st["counting"], false, "{st}");

    // SIGTERM: the counters are saved and the next start loads them.
    assert!(d.stop().success());
    d.restart();
    assert_eq!(origin(&d), "loaded");
    let st = status(&d);
    assert_eq!(st["counts"]["orgs"], 3, "{st}");
    assert_eq!(st["counting"], false, "{st}");

    // kill -9 after more writes: nothing saved, a background recount that
    // sees the writes made since the last start.
    create_orgs(&d, 3, 2);
    d.kill9();
    d.restart();
    assert_eq!(origin(&d), "recounting");
    let st = status(&d); // waits for the (tiny) recount
    assert_eq!(st["counting"], false, "{st}");
    assert_eq!(st["counts"]["orgs"], 5, "{st}");
    assert_eq!(st["counts"]["users"], 0, "{st}");

    // A crash right after a start that loaded the counters still recounts
    // (the saved copy is removed at open).
    assert!(d.stop().success());
    d.restart();
    assert_eq!(origin(&d), "loaded");
    create_orgs(&d, 5, 1);
    d.kill9();
    d.restart();
    assert_eq!(origin(&d), "recounting");
    assert_eq!(status(&d)["counts"]["orgs"], 6);
}

#[test]
fn small_database_is_counted_at_open_after_kill9() {
    let mut d = Daemon::start();
    assert_eq!(origin(&d), "counted", "a new database");
    create_orgs(&d, 0, 2);
    d.kill9();
    d.restart();
    assert_eq!(origin(&d), "counted");
    let st = status(&d);
    assert_eq!(st["counts"]["orgs"], 2, "{st}");
    assert_eq!(st["counting"], false, "{st}");
}
