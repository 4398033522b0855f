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

/// The README tour, through synclinkctl, with a fixture delivery.
#[test]
fn the_readme_tour_works() {
    let d = Daemon::start();
    let json = |args: &[&str]| -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let o = ctl(&d, &a);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap_or(Value::Null)
    };
    let org = json(&["org", "create", "--slug", "acme", "Acme"]);
    let org_id = org["id"].to_string();
    let user = json(&["user", "create", "Bob", "--email", "bob@example.org"]);
    let user_id = user["id"].to_string();
    let team = json(&[
        "team", "create", "--org", &org_id, "--slug", "backend", "Backend",
    ]);
    let team_id = team["id"].to_string();
    json(&["team", "add-member", &team_id, &user_id]);
    let project = json(&[
        "project",
        "create",
        "--org",
        &org_id,
        "--team",
        &team_id,
        "Billing Service",
    ]);
    assert_eq!(project["slug"], "billing-service");
    let project_id = project["id"].to_string();
    let group = json(&[
        "group",
        "create",
        "--project",
        &project_id,
        "ZeroDivisionError",
    ]);
    let group_id = group["id"].to_string();
    let integ = json(&[
        "integration",
        "import",
        "--base-url",
        "https://jira.example.org/",
        "--consumer-key",
        "synclink",
        "--webhook-secret",
        "tour-secret-0123456789abcdef",
    ]);
    assert_eq!(integ["base_url"], "https://jira.example.org");
    let integ_id = integ["id"].to_string();
    json(&[
        "integration",
        "install",
        &integ_id,
        "--org",
        &org_id,
        "--sync-inbound-assignee",
        "true",
    ]);
    json(&[
        "link",
        "create",
        "--group",
        &group_id,
        "--integration",
        &integ_id,
        "APP-1",
    ]);
    let url = json(&["integration", "webhook-url", &integ_id])["url"]
        .as_str()
        .unwrap()
        .to_string();
    let path = url.splitn(4, '/').nth(3).unwrap();
    let r = d
        .http()
        .post(d.url(&format!("/{path}")))
        .header("content-type", "application/json")
        .body(std::fs::read_to_string(fixture("issue_assigned.json")).unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let g = json(&["group", "get", &group_id]);
    assert_eq!(g["assignee"]["user"].to_string(), user_id);
    assert_eq!(g["assignee"]["email"], "bob@example.org");

    // Human tables for the activity and the delivery log.
    let o = ctl(&d, &["group", "activity", &group_id]);
    let out = stdout(&o);
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|l| l.contains("assigned") && l.contains("bob@example.org")),
        "{out}"
    );
    let o = ctl(&d, &["deliveries", "--key", "APP-1"]);
    let out = stdout(&o);
    assert!(
        out.contains("OUTCOME") && out.contains("assigned") && out.contains("APP-1"),
        "{out}"
    );
    let o = ctl(&d, &["deliveries", "--outcome", "nonsense"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));

    // Manual deassign, cache, ids, project delete.
    json(&["group", "deassign", &group_id]);
    assert_eq!(json(&["group", "get", &group_id])["assignee"], Value::Null);
    let c = json(&["cache", "group", &group_id]);
    assert_eq!(c["assignee"], Value::Null);
    let id = json(&["id", "new"])["id"].as_u64().unwrap();
    let dec = json(&["id", "decode", &id.to_string()]);
    assert_eq!(dec["id"].as_u64(), Some(id));
    let del = json(&["project", "delete", &project_id]);
    assert_eq!(del["deleted"]["groups"], 1);
    let o = ctl(&d, &["group", "get", &group_id]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn outbox_commands_list_and_report_errors() {
    let d = Daemon::start();
    let o = ctl(&d, &["--json", "outbox"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        serde_json::from_slice::<Value>(&o.stdout).unwrap(),
        serde_json::json!([])
    );
    let o = ctl(&d, &["outbox", "--state", "dead", "--limit", "5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("ID"), "{}", stdout(&o));
    let o = ctl(&d, &["outbox", "--state", "bogus"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("state"), "{}", stderr(&o));
    for cmd in [["outbox", "retry", "999"], ["outbox", "drop", "999"]] {
        let o = ctl(&d, &cmd);
        assert_eq!(o.status.code(), Some(1), "{cmd:?}");
        assert!(stderr(&o).contains("not found"), "{cmd:?}: {}", stderr(&o));
    }
}

#[test]
fn integration_commands_manage_statuses_mappings_and_jira_users() {
    use crate::common::fake_jira::{data, FakeJira};
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    let d = crate::jira_connect::daemon();
    let id = crate::statuses::connected(&d, &fake).to_string();
    let bob = user(
        &d,
        "Bob",
        serde_json::json!([{"email": "bob@example.org", "verified": true}]),
    )
    .to_string();
    let json = |args: &[&str]| -> Value {
        let o = ctl(&d, &[&["--json"], args].concat());
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    // Statuses as read from Jira, and read again on --refresh.
    let before = fake.count("/rest/api/2/status");
    let listed = json(&["integration", "statuses", &id]);
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == "10001"));
    assert_eq!(json(&["integration", "statuses", &id, "--refresh"]), listed);
    assert_eq!(fake.count("/rest/api/2/status"), before + 1);
    let o = ctl(&d, &["integration", "statuses", &id]);
    assert!(stdout(&o).starts_with("ID"), "{}", stdout(&o));
    // Mappings: set, list, refused for a status Jira does not have, removed.
    let m = json(&[
        "integration",
        "map-status",
        &id,
        "app",
        "--on-resolve",
        "10001",
        "--on-unresolve",
        "10000",
    ]);
    assert_eq!(m["jira_project"], "APP");
    assert_eq!(
        json(&["integration", "mappings", &id])[0]["on_resolve"],
        "10001"
    );
    let o = ctl(
        &d,
        &[
            "integration",
            "map-status",
            &id,
            "APP",
            "--on-resolve",
            "424242",
            "--on-unresolve",
            "10000",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("424242"), "{}", stderr(&o));
    let o = ctl(&d, &["integration", "unmap-status", &id, "APP"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        json(&["integration", "mappings", &id]),
        serde_json::json!([])
    );
    // Jira user links.
    let l = json(&[
        "integration",
        "link-jira-user",
        &id,
        "b.smith",
        "--user",
        &bob,
    ]);
    assert_eq!(l["jira_user"], "b.smith");
    let o = ctl(&d, &["integration", "jira-users", &id]);
    assert!(stdout(&o).contains("b.smith"), "{}", stdout(&o));
    let o = ctl(&d, &["integration", "unlink-jira-user", &id, "b.smith"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        json(&["integration", "jira-users", &id]),
        serde_json::json!([])
    );
    let o = ctl(&d, &["integration", "unlink-jira-user", &id, "b.smith"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not found"), "{}", stderr(&o));
}

#[test]
fn the_socket_comes_from_the_flag_the_environment_or_the_working_directory() {
    let d = Daemon::start();
    let run = |dir: &std::path::Path, env: Option<&std::path::Path>, args: &[&str]| {
        let mut c = Command::new(CTL);
        c.current_dir(dir).env_remove("SYNCLINK_SOCKET").args(args);
        if let Some(e) = env {
            c.env("SYNCLINK_SOCKET", e);
        }
        c.output().expect("run synclinkctl")
    };
    let empty = tempfile::tempdir().unwrap();
    // SYNCLINK_SOCKET, with no --socket.
    let o = run(empty.path(), Some(&d.socket), &["status"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // --socket wins over the environment.
    let o = run(
        empty.path(),
        Some(&d.socket),
        &["--socket", "/nonexistent.sock", "status"],
    );
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("/nonexistent.sock"), "{}", stderr(&o));
    // Neither: /run/synclink/synclink.sock when it exists (a packaged
    // daemon on this machine), else ./synclink.sock.
    if !std::path::Path::new("/run/synclink/synclink.sock").exists() {
        let o = run(empty.path(), None, &["status"]);
        assert_eq!(o.status.code(), Some(3));
        assert!(stderr(&o).contains("./synclink.sock"), "{}", stderr(&o));
        std::os::unix::fs::symlink(&d.socket, empty.path().join("synclink.sock")).unwrap();
        let o = run(empty.path(), None, &["status"]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
}
