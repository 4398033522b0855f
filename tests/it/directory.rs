//! Organizations, users, teams, members and groups through the admin API.

use crate::common::*;
use serde_json::{json, Value};

fn is_rfc3339(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[test]
fn orgs_create_list_get_and_errors() {
    let d = Daemon::start();
    let a = d.admin();
    let org = a.must_post("/v1/orgs", json!({"slug": "acme", "name": "Acme Inc"}), 201);
    assert_eq!(org["slug"], "acme");
    assert_eq!(org["name"], "Acme Inc");
    let id = org["id"].as_u64().unwrap();
    let other = a.must_post("/v1/orgs", json!({"slug": "beta_2", "name": "Beta"}), 201);
    assert_eq!(a.must_get(&format!("/v1/orgs/{id}")), org);
    let list = a.must_get("/v1/orgs");
    assert_eq!(list, json!([org, other]));

    assert_error(
        &a.post("/v1/orgs", json!({"slug": "ACME", "name": "x"})),
        400,
        "bad_request",
    );
    assert_error(
        &a.post("/v1/orgs", json!({"slug": "acme", "name": "again"})),
        409,
        "conflict",
    );
    for bad in [
        json!({"slug": "has space", "name": "x"}),
        json!({"slug": "", "name": "x"}),
        json!({"slug": "a".repeat(51), "name": "x"}),
        json!({"slug": "ok", "name": "   "}),
        json!({"slug": 5, "name": "x"}),
        json!({"slug": "ok"}),
        json!({"name": "x"}),
        json!([]),
    ] {
        assert_error(&a.post("/v1/orgs", bad.clone()), 400, "bad_request");
    }
    assert_error(&a.post_raw("/v1/orgs", "{\"slug\": "), 400, "bad_request");
    assert_error(&a.get("/v1/orgs/999"), 404, "not_found");
    assert_error(&a.get("/v1/orgs/abc"), 400, "bad_request");
    assert_error(&a.get("/v1/no-such-thing"), 404, "not_found");
    assert_eq!(a.must_get("/v1/orgs").as_array().unwrap().len(), 2);
}

#[test]
fn users_create_get_and_errors() {
    let d = Daemon::start();
    let a = d.admin();
    let u = a.must_post(
        "/v1/users",
        json!({"name": "Bob", "emails": [
            {"email": "Bob@Example.org", "verified": true},
            {"email": "bob@old.example", "verified": false}
        ]}),
        201,
    );
    assert_eq!(u["name"], "Bob");
    assert_eq!(u["emails"][0]["email"], "Bob@Example.org");
    assert_eq!(u["emails"][1]["verified"], false);
    let id = u["id"].as_u64().unwrap();
    assert_eq!(a.must_get(&format!("/v1/users/{id}")), u);
    let bare = a.must_post("/v1/users", json!({"name": "No Mail"}), 201);
    assert_eq!(bare["emails"], json!([]));

    for bad in [
        json!({"emails": []}),
        json!({"name": ""}),
        json!({"name": "x", "emails": [{"email": "nope", "verified": true}]}),
        json!({"name": "x", "emails": [{"email": "a@b.c"}]}),
        json!({"name": "x", "emails": "a@b.c"}),
        json!({"name": 3}),
    ] {
        assert_error(&a.post("/v1/users", bad.clone()), 400, "bad_request");
    }
    assert_error(&a.get("/v1/users/999"), 404, "not_found");
    assert_error(&a.get("/v1/users/-1"), 400, "bad_request");
    let st = a.must_get("/v1/status");
    assert_eq!(st["counts"]["users"], 2);
}

#[test]
fn teams_and_members() {
    let d = Daemon::start();
    let a = d.admin();
    let org = a.must_post("/v1/orgs", json!({"slug": "o", "name": "O"}), 201)["id"].clone();
    let org2 = a.must_post("/v1/orgs", json!({"slug": "o2", "name": "O2"}), 201)["id"].clone();
    let team = a.must_post(
        "/v1/teams",
        json!({"org": org, "slug": "core", "name": "Core"}),
        201,
    );
    assert_eq!(team["org"], org);
    assert_eq!(team["slug"], "core");
    let tid = team["id"].as_u64().unwrap();
    // Same slug in another organization is fine, in the same one a conflict.
    a.must_post(
        "/v1/teams",
        json!({"org": org2, "slug": "core", "name": "Core"}),
        201,
    );
    assert_error(
        &a.post(
            "/v1/teams",
            json!({"org": org, "slug": "core", "name": "x"}),
        ),
        409,
        "conflict",
    );
    assert_error(
        &a.post("/v1/teams", json!({"org": 999, "slug": "t", "name": "x"})),
        404,
        "not_found",
    );
    for bad in [
        json!({"org": org, "slug": "Bad Slug", "name": "x"}),
        json!({"org": "o", "slug": "t", "name": "x"}),
        json!({"slug": "t", "name": "x"}),
        json!({"org": org, "slug": "t"}),
    ] {
        assert_error(&a.post("/v1/teams", bad.clone()), 400, "bad_request");
    }

    let user = a.must_post("/v1/users", json!({"name": "U"}), 201)["id"].clone();
    let uid = user.as_u64().unwrap();
    let (s, _) = a.post(&format!("/v1/teams/{tid}/members"), json!({"user": user}));
    assert_eq!(s, 204);
    // Adding again is harmless.
    let (s, _) = a.post(&format!("/v1/teams/{tid}/members"), json!({"user": user}));
    assert_eq!(s, 204);
    assert_eq!(
        a.must_get(&format!("/v1/teams/{tid}/members")),
        json!([uid])
    );
    assert_error(
        &a.post(&format!("/v1/teams/{tid}/members"), json!({"user": 999})),
        404,
        "not_found",
    );
    assert_error(
        &a.post("/v1/teams/999/members", json!({"user": user})),
        404,
        "not_found",
    );
    assert_error(
        &a.post(&format!("/v1/teams/{tid}/members"), json!({"user": "u"})),
        400,
        "bad_request",
    );
    assert_error(
        &a.post(&format!("/v1/teams/{tid}/members"), json!({})),
        400,
        "bad_request",
    );
    let (s, _) = a.delete(&format!("/v1/teams/{tid}/members/{uid}"));
    assert_eq!(s, 204);
    assert_eq!(a.must_get(&format!("/v1/teams/{tid}/members")), json!([]));
    assert_error(
        &a.delete(&format!("/v1/teams/{tid}/members/{uid}")),
        404,
        "not_found",
    );
    assert_error(
        &a.delete(&format!("/v1/teams/999/members/{uid}")),
        404,
        "not_found",
    );
}

#[test]
fn groups_create_get_activity_and_errors() {
    let d = Daemon::start();
    let a = d.admin();
    let org = a.must_post("/v1/orgs", json!({"slug": "o", "name": "O"}), 201)["id"].clone();
    let p = a.must_post("/v1/projects", json!({"org": org, "name": "P"}), 201)["id"].clone();
    let g = a.must_post(
        "/v1/groups",
        json!({"project": p, "title": "TypeError: x is undefined"}),
        201,
    );
    assert_eq!(g["project"], p);
    assert_eq!(g["title"], "TypeError: x is undefined");
    assert_eq!(g["assignee"], Value::Null);
    assert!(is_rfc3339(&g["date_added"]), "{g}");
    let gid = g["id"].as_u64().unwrap();
    assert_eq!(a.must_get(&format!("/v1/groups/{gid}")), g);
    assert_eq!(a.must_get(&format!("/v1/groups/{gid}/activity")), json!([]));
    assert_error(
        &a.post("/v1/groups", json!({"project": 999, "title": "x"})),
        404,
        "not_found",
    );
    for bad in [
        json!({"project": p, "title": ""}),
        json!({"project": p}),
        json!({"title": "x"}),
        json!({"project": "p", "title": "x"}),
    ] {
        assert_error(&a.post("/v1/groups", bad.clone()), 400, "bad_request");
    }
    assert_error(&a.post_raw("/v1/groups", "not json"), 400, "bad_request");
    assert_error(&a.get("/v1/groups/999"), 404, "not_found");
    assert_error(&a.get("/v1/groups/999/activity"), 404, "not_found");
    assert_eq!(a.must_get("/v1/status")["counts"]["groups"], 1);
}

#[test]
fn acknowledged_admin_writes_survive_kill_9() {
    let mut d = Daemon::start();
    let a = d.admin();
    let org = a.must_post("/v1/orgs", json!({"slug": "o", "name": "O"}), 201);
    let user = a.must_post("/v1/users", json!({"name": "U"}), 201);
    let team = a.must_post(
        "/v1/teams",
        json!({"org": org["id"], "slug": "t", "name": "T"}),
        201,
    );
    let tid = team["id"].as_u64().unwrap();
    let (s, _) = a.post(
        &format!("/v1/teams/{tid}/members"),
        json!({"user": user["id"]}),
    );
    assert_eq!(s, 204);
    let p = a.must_post("/v1/projects", json!({"org": org["id"], "name": "P"}), 201);
    let g = a.must_post("/v1/groups", json!({"project": p["id"], "title": "g"}), 201);
    let (s, _) = a.put(
        &format!(
            "/v1/projects/{}/notification-settings/{}",
            p["id"], user["id"]
        ),
        json!({"type": "workflow", "value": "always"}),
    );
    assert_eq!(s, 204);
    d.kill9();
    d.restart();
    let a = d.admin();
    assert_eq!(a.must_get(&format!("/v1/orgs/{}", org["id"])), org);
    assert_eq!(a.must_get(&format!("/v1/users/{}", user["id"])), user);
    assert_eq!(a.must_get(&format!("/v1/teams/{tid}")), team);
    assert_eq!(
        a.must_get(&format!("/v1/teams/{tid}/members")),
        json!([user["id"]])
    );
    assert_eq!(a.must_get(&format!("/v1/projects/{}", p["id"])), p);
    assert_eq!(a.must_get(&format!("/v1/groups/{}", g["id"])), g);
    assert_eq!(
        a.must_get(&format!("/v1/projects/{}/notification-settings", p["id"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
