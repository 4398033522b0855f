//! `synclinkctl` against the real daemon.

use crate::common::*;
use serde_json::Value;
use std::process::{Command, Output};

fn ctl(d: &Daemon, args: &[&str]) -> Output {
    Command::new(CTL)
        .arg("--socket")
        .arg(&d.socket)
        .args(args)
        .output()
        .expect("run synclinkctl")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn tables_json_and_errors() {
    let d = Daemon::start();
    let o = ctl(&d, &["org", "create", "--slug", "acme", "Acme Inc"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("acme"), "{}", stdout(&o));

    let o = ctl(&d, &["org", "list"]);
    assert!(o.status.success());
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("SLUG"),
        "{out}"
    );
    assert!(
        lines[1].contains("acme") && lines[1].contains("Acme Inc"),
        "{out}"
    );

    let o = ctl(&d, &["--json", "org", "list"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("--json prints JSON");
    assert_eq!(v[0]["slug"], "acme");

    // The server's message and a non-zero exit on error.
    let o = ctl(&d, &["org", "create", "--slug", "acme", "Again"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("conflict") && err.contains("409") && err.contains("acme"),
        "{err}"
    );

    let o = ctl(&d, &["user", "get", "4242"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not found"), "{}", stderr(&o));

    // Users with verified and unverified emails.
    let o = ctl(
        &d,
        &[
            "--json",
            "user",
            "create",
            "Bob",
            "--email",
            "bob@example.org",
            "--unverified-email",
            "b@x.org",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["emails"][0]["verified"], true);
    assert_eq!(v["emails"][1]["verified"], false);

    // Usage errors exit 2 without calling the daemon.
    let o = ctl(&d, &["org", "create"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn unreachable_socket_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(CTL)
        .arg("--socket")
        .arg(dir.path().join("nope.sock"))
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert!(
        err.contains("cannot reach synclinkd") && err.contains("nope.sock"),
        "{err}"
    );
}
