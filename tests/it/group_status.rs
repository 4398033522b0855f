//! Group status (SPEC sections 3 and 6): `PUT /v1/groups/{id}/status`, its
//! activities, `synclinkctl group resolve | unresolve`, and what survives
//! a restart and a project delete.

use crate::common::*;
use serde_json::json;
use std::process::Command;

fn put_status(d: &Daemon, group: u64, status: &str) -> Reply {
    d.admin().put(
        &format!("/v1/groups/{group}/status"),
        json!({"status": status}),
    )
}

#[test]
fn resolve_and_unresolve_record_activities_once() {
    let d = Daemon::start();
    let w = setup(&d);
    let g = d.admin().must_get(&format!("/v1/groups/{}", w.group));
    assert_eq!(g["status"], "unresolved", "new groups are unresolved");
    assert!(g["resolved_at"].is_null());

    let (s, g) = put_status(&d, w.group, "resolved");
    assert_eq!(s, 200, "{g}");
    assert_eq!(g["status"], "resolved");
    let at = g["resolved_at"].as_str().unwrap().to_string();
    assert!(at.ends_with('Z'), "{at}");
    // Resolving a resolved group changes nothing and records nothing.
    let (s, again) = put_status(&d, w.group, "resolved");
    assert_eq!(s, 200);
    assert_eq!(again["resolved_at"], at.as_str());
    let (s, g) = put_status(&d, w.group, "unresolved");
    assert_eq!(s, 200);
    assert_eq!(g["status"], "unresolved");
    assert!(g["resolved_at"].is_null());

    let acts = activity(&d, w.group);
    let kinds: Vec<&str> = acts.iter().map(|a| a["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["set_resolved", "set_unresolved"]);
    for a in &acts {
        assert_eq!(a["data"], json!({"source": "admin"}), "{a}");
        assert!(a["user"].is_null());
    }
    // A manual assign says so too.
    let (s, _) = d.admin().put(
        &format!("/v1/groups/{}/assignee", w.group),
        json!({"user": w.bob}),
    );
    assert_eq!(s, 200);
    let acts = activity(&d, w.group);
    assert_eq!(acts[2]["type"], "assigned");
    assert_eq!(acts[2]["data"]["source"], "admin");
    assert!(acts[2]["data"].get("integration").is_none());
}

#[test]
fn bad_status_bodies_are_clear_400s_and_change_nothing() {
    let d = Daemon::start();
    let w = setup(&d);
    for body in [
        json!({"status": "done"}),
        json!({"status": "RESOLVED"}),
        json!({"status": 1}),
        json!({"status": null}),
        json!({}),
    ] {
        let r = d
            .admin()
            .put(&format!("/v1/groups/{}/status", w.group), body.clone());
        assert_error(&r, 400, "bad_request");
        assert!(
            r.1["error"]["message"].as_str().unwrap().contains("status"),
            "{body}: {r:?}"
        );
    }
    assert_error(&put_status(&d, 999_999, "resolved"), 404, "not_found");
    assert!(activity(&d, w.group).is_empty());
}

#[test]
fn the_status_survives_kill_9_and_goes_with_its_project() {
    let mut d = Daemon::start();
    let w = setup(&d);
    assert_eq!(put_status(&d, w.group, "resolved").0, 200);
    d.kill9();
    d.restart();
    let g = d.admin().must_get(&format!("/v1/groups/{}", w.group));
    assert_eq!(g["status"], "resolved", "acknowledged, so durable");
    let (s, del) = d.admin().delete(&format!("/v1/projects/{}", w.project));
    assert_eq!(s, 200, "{del}");
    // A new group never inherits anything.
    let p = project(&d, w.org, "Again", &[w.team]);
    let g2 = group(&d, p);
    let v = d.admin().must_get(&format!("/v1/groups/{g2}"));
    assert_eq!(v["status"], "unresolved");
}

#[test]
fn synclinkctl_resolves_and_unresolves() {
    let d = Daemon::start();
    let w = setup(&d);
    let run = |cmd: &str| {
        let o = Command::new(CTL)
            .arg("--socket")
            .arg(&d.socket)
            .args(["--json", "group", cmd, &w.group.to_string()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    assert_eq!(run("resolve")["status"], "resolved");
    assert_eq!(run("unresolve")["status"], "unresolved");
}
