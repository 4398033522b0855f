//! Cascading project delete and ProjectActor panic safety through the real
//! daemon: counts, 404 at once, a crash part-way resumed at startup, a panic
//! part-way finished by the rebuilt actor, a panicking save contained.

use crate::common::*;
use crate::projects::{group, project, put_setting, setup, status_counts};
use serde_json::json;
use std::time::Duration;

/// A raw admin request that tolerates the daemon dying mid-request.
fn try_delete(socket: &std::path::Path, path: &str) -> Result<u16, String> {
    let c = reqwest::blocking::Client::builder()
        .unix_socket(socket)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    c.delete(format!("http://synclink{path}"))
        .send()
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

#[test]
fn delete_cascades_and_answers_counts() {
    let d = Daemon::start();
    let a = d.admin();
    let s = setup(&a);
    let doomed = a.must_post(
        "/v1/projects",
        json!({"org": s.org, "name": "Doomed", "teams": [s.team]}),
        201,
    );
    let pid = doomed["id"].as_u64().unwrap();
    let kept = project(&a, s.org, "Kept")["id"].as_u64().unwrap();
    let gs: Vec<u64> = (0..3).map(|i| group(&a, pid, &format!("g{i}"))).collect();
    let kept_group = group(&a, kept, "k");
    assert_eq!(put_setting(&a, pid, s.user, "workflow", "always"), 204);
    assert_eq!(put_setting(&a, kept, s.user, "workflow", "always"), 204);

    let (st, body) = a.delete(&format!("/v1/projects/{pid}"));
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        body,
        json!({"deleted": {"groups": 3, "links": 0, "assignees": 0, "activities": 0,
                           "notification_settings": 1}})
    );
    assert_error(&a.get(&format!("/v1/projects/{pid}")), 404, "not_found");
    assert_error(&a.delete(&format!("/v1/projects/{pid}")), 404, "not_found");
    for g in &gs {
        assert_error(&a.get(&format!("/v1/groups/{g}")), 404, "not_found");
    }
    assert_error(
        &a.get(&format!("/v1/projects/{pid}/notification-settings")),
        404,
        "not_found",
    );
    assert_error(
        &a.post("/v1/groups", json!({"project": pid, "title": "late"})),
        404,
        "not_found",
    );
    let c = status_counts(&a);
    assert_eq!(c["projects"], 1);
    assert_eq!(c["groups"], 1);
    assert_eq!(c["notification_settings"], 1);
    assert_eq!(c["pending_project_deletes"], 0);
    a.must_get(&format!("/v1/groups/{kept_group}"));
    let list = a.must_get(&format!("/v1/projects?org={}", s.org));
    assert_eq!(list.as_array().unwrap().len(), 1);
    // The slug is free again.
    assert_eq!(project(&a, s.org, "Doomed")["slug"], "doomed");
    d.wait_event("project-deleted");
}

#[test]
fn a_crash_during_delete_is_resumed_at_startup() {
    let mut d = Daemon::start_with("", &[("SYNCLINK_FAILPOINTS", "project-delete-crash")]);
    let a = d.admin();
    let s = setup(&a);
    let pid = a.must_post(
        "/v1/projects",
        json!({"org": s.org, "name": "Doomed", "teams": [s.team]}),
        201,
    )["id"]
        .as_u64()
        .unwrap();
    let kept = project(&a, s.org, "Kept")["id"].as_u64().unwrap();
    let gs: Vec<u64> = (0..3).map(|i| group(&a, pid, &format!("g{i}"))).collect();
    let kept_group = group(&a, kept, "k");
    assert_eq!(put_setting(&a, pid, s.user, "workflow", "always"), 204);
    assert_eq!(put_setting(&a, pid, s.user, "deploy", "never"), 204);

    let r = try_delete(&d.socket, &format!("/v1/projects/{pid}"));
    assert!(!matches!(r, Ok(200)), "the delete should not finish: {r:?}");
    let exit = d.wait_exit(Duration::from_secs(20));
    assert!(!exit.success(), "the failpoint aborts the daemon: {exit:?}");

    // Restart in the same directory without the failpoint.
    let d2 = Daemon::start_in(d.dir.clone(), "", &[]);
    let resumed = d2.wait_event("project-delete-resumed");
    assert_eq!(resumed["project"], pid);
    // One group went before the crash, the other two at resume.
    assert_eq!(resumed["groups"], 2, "{resumed}");
    let a = d2.admin();
    assert_error(&a.get(&format!("/v1/projects/{pid}")), 404, "not_found");
    for g in &gs {
        assert_error(&a.get(&format!("/v1/groups/{g}")), 404, "not_found");
    }
    a.must_get(&format!("/v1/groups/{kept_group}"));
    let c = status_counts(&a);
    assert_eq!(c["projects"], 1, "{c}");
    assert_eq!(c["groups"], 1, "{c}");
    assert_eq!(c["notification_settings"], 0, "{c}");
    assert_eq!(c["pending_project_deletes"], 0, "{c}");
    let list = a.must_get(&format!("/v1/projects?org={}", s.org));
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(project(&a, s.org, "Doomed")["slug"], "doomed");
}

#[test]
fn a_panic_in_the_project_actor_is_contained() {
    let d = Daemon::start_with("", &[("SYNCLINK_FAILPOINTS", "project-panic")]);
    let a = d.admin();
    let s = setup(&a);
    let (st, body) = a.post("/v1/projects", json!({"org": s.org, "name": "panic-now"}));
    assert!((500..600).contains(&st), "{st} {body}");
    assert!(body["error"]["code"].is_string(), "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    d.wait_event("actor-panic");
    let p = project(&a, s.org, "After");
    assert_eq!(p["slug"], "after");
    let st = a.must_get("/v1/status");
    for actor in st["actors"].as_array().unwrap() {
        assert_eq!(actor["alive"], true, "{actor}");
    }
    let metrics = d.metrics_text();
    assert!(
        metrics
            .lines()
            .any(|l| l == "synclink_actor_restarts_total{actor=\"project\"} 1"),
        "{metrics}"
    );
    assert_eq!(a.must_get("/v1/projects").as_array().unwrap().len(), 1);
}

#[test]
fn a_panic_during_delete_is_finished_by_the_rebuilt_actor() {
    let d = Daemon::start_with("", &[("SYNCLINK_FAILPOINTS", "project-delete-panic")]);
    let a = d.admin();
    let s = setup(&a);
    let pid = project(&a, s.org, "Doomed")["id"].as_u64().unwrap();
    let gs: Vec<u64> = (0..3).map(|i| group(&a, pid, &format!("g{i}"))).collect();
    let (st, body) = a.delete(&format!("/v1/projects/{pid}"));
    assert_eq!(st, 500, "{body}");
    assert_eq!(body["error"]["code"], "internal");
    // The project is gone for the API at once.
    assert_error(&a.get(&format!("/v1/projects/{pid}")), 404, "not_found");
    // The rebuilt actor finished the delete before handling this request.
    assert_error(&a.delete(&format!("/v1/projects/{pid}")), 404, "not_found");
    let resumed = d.wait_event("project-delete-resumed");
    assert_eq!(resumed["groups"], 2, "{resumed}");
    for g in &gs {
        assert_error(&a.get(&format!("/v1/groups/{g}")), 404, "not_found");
    }
    let c = status_counts(&a);
    assert_eq!(c["groups"], 0, "{c}");
    assert_eq!(c["projects"], 0, "{c}");
    assert_eq!(c["pending_project_deletes"], 0, "{c}");
    assert_eq!(project(&a, s.org, "Doomed")["slug"], "doomed");
}
