//! Projects through the admin API: save rules, slugs, errors, notification
//! settings, ID retries. (Deletes and panics: project_delete.rs.)

use crate::common::*;
use serde_json::{json, Value};

pub(crate) struct Setup {
    pub org: u64,
    pub team: u64,
    pub user: u64,
}

pub(crate) fn setup(a: &Admin) -> Setup {
    let org = a.must_post("/v1/orgs", json!({"slug": "acme", "name": "Acme"}), 201);
    let org = org["id"].as_u64().unwrap();
    let team = a.must_post(
        "/v1/teams",
        json!({"org": org, "slug": "core", "name": "Core"}),
        201,
    );
    let user = a.must_post(
        "/v1/users",
        json!({"name": "U", "emails": [{"email": "u@example.org", "verified": true}]}),
        201,
    );
    Setup {
        org,
        team: team["id"].as_u64().unwrap(),
        user: user["id"].as_u64().unwrap(),
    }
}

pub(crate) fn project(a: &Admin, org: u64, name: &str) -> Value {
    a.must_post("/v1/projects", json!({"org": org, "name": name}), 201)
}

pub(crate) fn group(a: &Admin, project: u64, title: &str) -> u64 {
    a.must_post(
        "/v1/groups",
        json!({"project": project, "title": title}),
        201,
    )["id"]
        .as_u64()
        .unwrap()
}

pub(crate) fn put_setting(a: &Admin, project: u64, user: u64, kind: &str, value: &str) -> u16 {
    a.put(
        &format!("/v1/projects/{project}/notification-settings/{user}"),
        json!({"type": kind, "value": value}),
    )
    .0
}

pub(crate) fn status_counts(a: &Admin) -> Value {
    a.must_get("/v1/status")["counts"].clone()
}

#[test]
fn create_list_get_with_slug_rules() {
    let d = Daemon::start();
    let a = d.admin();
    let s = setup(&a);
    let p = a.must_post(
        "/v1/projects",
        json!({"org": s.org, "name": "My Backend", "teams": [s.team]}),
        201,
    );
    assert_eq!(p["slug"], "my-backend");
    assert_eq!(p["name"], "My Backend");
    assert_eq!(p["org"], s.org);
    assert_eq!(p["teams"], json!([s.team]));
    let id = p["id"].as_u64().unwrap();
    assert!(id > 1 << 48, "a snowflake ID (version 1): {id}");
    assert!(id < 1 << 53, "fits in 53 bits: {id}");
    let date = p["date_added"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(date).is_ok(), "{date}");
    assert_eq!(a.must_get(&format!("/v1/projects/{id}")), p);

    // Taken (case-insensitively): a `-xx` suffix.
    let p2 = project(&a, s.org, "MY BACKEND");
    let slug2 = p2["slug"].as_str().unwrap();
    assert!(slug2.starts_with("my-backend-"), "{slug2}");
    assert_eq!(slug2.len(), "my-backend-".len() + 2);
    assert!(p2["id"].as_u64().unwrap() > id);
    // Spec examples, transliteration, reserved words, digits, length.
    assert_eq!(project(&a, s.org, "f o o")["slug"], "f-o-o");
    assert_eq!(project(&a, s.org, "_foo_")["slug"], "foo");
    assert_eq!(project(&a, s.org, "Café Crème")["slug"], "cafe-creme");
    for reserved in ["Settings", "api keys", "!!!"] {
        let slug = project(&a, s.org, reserved)["slug"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(slug.len(), 12, "{reserved} -> {slug}");
        assert!(slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    }
    let digits = project(&a, s.org, "2024")["slug"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(digits.starts_with("2024-") && digits.len() == 7, "{digits}");
    let long = project(&a, s.org, &"x".repeat(80))["slug"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(long, "x".repeat(50));
    let long2 = project(&a, s.org, &"x".repeat(80))["slug"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(long2.len(), 50);
    assert!(
        long2.starts_with(&format!("{}-", "x".repeat(47))),
        "{long2}"
    );

    // Explicit slugs.
    let e = a.must_post(
        "/v1/projects",
        json!({"org": s.org, "name": "Web", "slug": "web_app-1"}),
        201,
    );
    assert_eq!(e["slug"], "web_app-1");
    assert_eq!(e["teams"], json!([]));
    assert_error(
        &a.post(
            "/v1/projects",
            json!({"org": s.org, "name": "W2", "slug": "web_app-1"}),
        ),
        409,
        "conflict",
    );
    assert_error(
        &a.post(
            "/v1/projects",
            json!({"org": s.org, "name": "W3", "slug": "my-backend"}),
        ),
        409,
        "conflict",
    );
    // Another organization may reuse a slug.
    let org2 = a.must_post("/v1/orgs", json!({"slug": "other", "name": "O"}), 201)["id"]
        .as_u64()
        .unwrap();
    assert_eq!(project(&a, org2, "My Backend")["slug"], "my-backend");

    let list = a.must_get(&format!("/v1/projects?org={}", s.org));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 12);
    assert!(list.iter().all(|p| p["org"] == s.org));
    assert_eq!(list[0], p);
    let all = a.must_get("/v1/projects");
    assert_eq!(all.as_array().unwrap().len(), 13);
    assert_eq!(status_counts(&a)["projects"], 13);
}

#[test]
fn project_errors_write_nothing() {
    let d = Daemon::start();
    let a = d.admin();
    let s = setup(&a);
    let org2 = a.must_post("/v1/orgs", json!({"slug": "o2", "name": "O2"}), 201)["id"]
        .as_u64()
        .unwrap();
    let foreign = a.must_post(
        "/v1/teams",
        json!({"org": org2, "slug": "t", "name": "T"}),
        201,
    )["id"]
        .as_u64()
        .unwrap();
    assert_error(
        &a.post_raw("/v1/projects", "{\"org\": 1,"),
        400,
        "bad_request",
    );
    for bad in [
        json!({"name": "x"}),
        json!({"org": s.org}),
        json!({"org": "acme", "name": "x"}),
        json!({"org": s.org, "name": 7}),
        json!({"org": s.org, "name": ""}),
        json!({"org": s.org, "name": "x", "teams": "core"}),
        json!({"org": s.org, "name": "x", "teams": [foreign]}),
        json!({"org": s.org, "name": "x", "slug": "Upper"}),
        json!({"org": s.org, "name": "x", "slug": "has space"}),
        json!({"org": s.org, "name": "x", "slug": "12345"}),
        json!({"org": s.org, "name": "x", "slug": "settings"}),
        json!({"org": s.org, "name": "x", "slug": ""}),
        json!({"org": s.org, "name": "x", "slug": "s".repeat(51)}),
        json!({"org": s.org, "name": "x", "slug": 5}),
    ] {
        assert_error(&a.post("/v1/projects", bad.clone()), 400, "bad_request");
    }
    // An unknown referenced id is 404 whether it is the org or a team.
    for unknown in [
        json!({"org": 999, "name": "x"}),
        json!({"org": s.org, "name": "x", "teams": [999]}),
        json!({"org": s.org, "name": "x", "teams": [s.team, 999]}),
    ] {
        assert_error(&a.post("/v1/projects", unknown), 404, "not_found");
    }
    assert_eq!(a.must_get("/v1/projects"), json!([]));
    assert_error(&a.get("/v1/projects?org=999"), 404, "not_found");
    assert_error(&a.get("/v1/projects?org=abc"), 400, "bad_request");
    assert_error(&a.get("/v1/projects/999"), 404, "not_found");
    assert_error(&a.get("/v1/projects/abc"), 400, "bad_request");
    assert_error(&a.delete("/v1/projects/999"), 404, "not_found");
    assert_eq!(status_counts(&a)["projects"], 0);
    let _ = s.user;
}

#[test]
fn notification_settings() {
    let d = Daemon::start();
    let a = d.admin();
    let s = setup(&a);
    let p = project(&a, s.org, "P")["id"].as_u64().unwrap();
    assert_eq!(put_setting(&a, p, s.user, "workflow", "always"), 204);
    assert_eq!(put_setting(&a, p, s.user, "deploy", "never"), 204);
    // Same type again replaces the value.
    assert_eq!(put_setting(&a, p, s.user, "workflow", "never"), 204);
    let list = a.must_get(&format!("/v1/projects/{p}/notification-settings"));
    assert_eq!(
        list,
        json!([
            {"project": p, "user": s.user, "type": "deploy", "value": "never"},
            {"project": p, "user": s.user, "type": "workflow", "value": "never"},
        ])
    );
    let path = format!("/v1/projects/{p}/notification-settings/{}", s.user);
    assert_error(
        &a.put(
            &format!("/v1/projects/{p}/notification-settings/999"),
            json!({"type": "t", "value": "v"}),
        ),
        404,
        "not_found",
    );
    assert_error(
        &a.put(
            &format!("/v1/projects/999/notification-settings/{}", s.user),
            json!({"type": "t", "value": "v"}),
        ),
        404,
        "not_found",
    );
    // Numbers and booleans (the reference system's enum values) keep their type.
    let (s2, _) = a.put(&path, json!({"type": 40, "value": 20}));
    assert_eq!(s2, 204);
    assert_eq!(put_setting(&a, p, s.user, "alerts", "true"), 204);
    let (s2, _) = a.put(&path, json!({"type": "email", "value": true}));
    assert_eq!(s2, 204);
    let list = a.must_get(&format!("/v1/projects/{p}/notification-settings"));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 5, "{list:?}");
    assert!(list.contains(&json!({"project": p, "user": s.user, "type": 40, "value": 20})));
    assert!(
        list.contains(&json!({"project": p, "user": s.user, "type": "alerts", "value": "true"}))
    );
    assert!(list.contains(&json!({"project": p, "user": s.user, "type": "email", "value": true})));
    for bad in [
        json!({"type": "t"}),
        json!({"value": "v"}),
        json!({"type": "", "value": "v"}),
        json!({"type": "t", "value": null}),
        json!({"type": "t", "value": [1]}),
        json!({"type": {"a": 1}, "value": "v"}),
        json!({"type": "t", "value": "a\u{1}b"}),
    ] {
        assert_error(&a.put(&path, bad.clone()), 400, "bad_request");
    }
    assert_error(
        &a.get("/v1/projects/999/notification-settings"),
        404,
        "not_found",
    );
    assert_eq!(status_counts(&a)["notification_settings"], 5);
}

#[test]
fn id_collisions_are_retried_then_409() {
    let d = Daemon::start_with("", &[("SYNCLINK_FAILPOINTS", "project-id-collision")]);
    let a = d.admin();
    let s = setup(&a);
    let r = a.post("/v1/projects", json!({"org": s.org, "name": "P"}));
    assert_error(&r, 409, "conflict");
    assert_eq!(
        r.1["error"]["message"],
        "Max allowed ID retry reached. Please try again in a second"
    );
    assert_eq!(a.must_get("/v1/projects"), json!([]));
}

#[test]
fn sequential_ids_when_snowflake_is_off() {
    let d = Daemon::start_with("[ids]\nuse_snowflake = false\n", &[]);
    let a = d.admin();
    let s = setup(&a);
    let ids: Vec<u64> = (0..3)
        .map(|i| project(&a, s.org, &format!("p{i}"))["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 2, 3]);
}
