//! The admin API contract as a black-box tester reads SPEC section 6: routes,
//! methods, status codes, error codes, bad input of every kind (and that it
//! writes nothing), `GET /v1/status`, the delete answer with every count.

use crate::common::world;
use crate::common::*;
use serde_json::{json, Value};

/// A raw request on the admin socket: any method, content type and body.
fn raw(d: &Daemon, method: &str, path: &str, ctype: Option<&str>, body: Vec<u8>) -> Reply {
    let c = reqwest::blocking::Client::builder()
        .unix_socket(d.socket.as_path())
        .build()
        .unwrap();
    let mut rb = c.request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        format!("http://synclink{path}"),
    );
    if let Some(t) = ctype {
        rb = rb.header("content-type", t);
    }
    let r = rb.body(body).send().unwrap();
    let s = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    (s, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn unknown_routes_are_404_and_wrong_methods_405_both_json() {
    let d = Daemon::start();
    for path in [
        "/",
        "/v1",
        "/v2/orgs",
        "/v1/org",
        "/v1/orgs/1/nope",
        "/v1/ids/1/2",
    ] {
        assert_error(&raw(&d, "GET", path, None, vec![]), 404, "not_found");
    }
    for (method, path) in [
        ("PUT", "/v1/orgs"),
        ("DELETE", "/v1/orgs"),
        ("POST", "/v1/status"),
        ("DELETE", "/v1/users/1"),
        ("GET", "/v1/teams/1/members/2"),
        ("PATCH", "/v1/projects/1"),
        ("POST", "/v1/projects/1"),
        ("GET", "/v1/ids"),
        ("DELETE", "/v1/groups/1/activity"),
        ("POST", "/v1/projects/1/notification-settings/2"),
    ] {
        assert_error(
            &raw(&d, method, path, None, vec![]),
            405,
            "method_not_allowed",
        );
    }
    // A trailing slash is the same route.
    assert_eq!(d.admin().get("/v1/orgs/").0, 200);
}

#[test]
fn bodies_are_json_whatever_the_content_type_and_bounded() {
    let d = Daemon::start_with("[http]\nmax_body_bytes = 4096\n", &[]);
    let a = d.admin();
    let body = br#"{"slug": "acme", "name": "Acme"}"#.to_vec();
    // curl -d sends application/x-www-form-urlencoded; no header at all also works.
    let (s, org) = raw(
        &d,
        "POST",
        "/v1/orgs",
        Some("application/x-www-form-urlencoded"),
        body,
    );
    assert_eq!(s, 201, "{org}");
    assert_eq!(org["slug"], "acme");
    let (s, _) = raw(
        &d,
        "POST",
        "/v1/orgs",
        None,
        br#"{"slug": "b", "name": "B"}"#.to_vec(),
    );
    assert_eq!(s, 201);
    for (ctype, body) in [
        (Some("text/plain"), "slug=c&name=C"),
        (Some("application/json"), ""),
        (
            Some("application/json"),
            "{\"slug\": \"c\", \"name\": \"C\"",
        ),
        (None, "not json"),
    ] {
        assert_error(
            &raw(&d, "POST", "/v1/orgs", ctype, body.as_bytes().to_vec()),
            400,
            "bad_request",
        );
    }
    let big = json!({"slug": "big", "name": "x".repeat(5000)}).to_string();
    assert_error(
        &raw(
            &d,
            "POST",
            "/v1/orgs",
            Some("application/json"),
            big.into_bytes(),
        ),
        413,
        "payload_too_large",
    );
    assert_eq!(a.must_get("/v1/orgs").as_array().unwrap().len(), 2);
    assert_eq!(a.must_get("/v1/status")["counts"]["orgs"], 2);
}

#[test]
fn wrong_types_negative_and_float_ids_empty_and_huge_names_are_400() {
    let d = Daemon::start();
    let a = d.admin();
    let org = world::org(&d, "acme");
    let team = world::team(&d, org, "core");
    let user = world::user(&d, "U", json!([]));
    let project = world::project(&d, org, "P", &[team]);
    let huge = "n".repeat(100_000);
    let members = format!("/v1/teams/{team}/members");
    let cases: Vec<(&str, Value)> = vec![
        ("/v1/orgs", json!({"slug": "x", "name": huge})),
        ("/v1/orgs", json!({"slug": "x", "name": ""})),
        ("/v1/orgs", json!({"slug": "x", "name": null})),
        ("/v1/orgs", json!("x")),
        ("/v1/users", json!({"name": huge})),
        (
            "/v1/users",
            json!({"name": "x", "emails": [{"email": 5, "verified": true}]}),
        ),
        (
            "/v1/users",
            json!({"name": "x", "emails": [{"email": "a@b.c", "verified": "yes"}]}),
        ),
        ("/v1/teams", json!({"org": -1, "slug": "t", "name": "T"})),
        ("/v1/teams", json!({"org": 1.5, "slug": "t", "name": "T"})),
        ("/v1/teams", json!({"org": org, "slug": "t", "name": huge})),
        ("/v1/projects", json!({"org": -1, "name": "x"})),
        ("/v1/projects", json!({"org": 1.5, "name": "x"})),
        ("/v1/projects", json!({"org": "1", "name": "x"})),
        ("/v1/projects", json!({"org": org, "name": huge})),
        ("/v1/projects", json!({"org": org, "name": "   "})),
        (
            "/v1/projects",
            json!({"org": org, "name": "x", "teams": [-1]}),
        ),
        (
            "/v1/projects",
            json!({"org": org, "name": "x", "teams": [1.5]}),
        ),
        ("/v1/groups", json!({"project": -1, "title": "t"})),
        ("/v1/groups", json!({"project": project, "title": ""})),
        ("/v1/groups", json!({"project": project})),
        ("/v1/groups", json!({"project": project, "title": huge})),
        (&members, json!({"user": -1})),
        (&members, json!({"user": 1.5})),
        (&members, json!({"user": null})),
    ];
    for (path, body) in &cases {
        let r = a.post(path, body.clone());
        assert_error(&r, 400, "bad_request");
    }
    // Ids in paths: negative, float, text, beyond u64.
    for path in [
        "/v1/users/-1",
        "/v1/users/1.5",
        "/v1/projects/abc",
        "/v1/groups/99999999999999999999999",
        "/v1/teams/-3/members",
    ] {
        let (s, v) = if path.ends_with("members") {
            a.post(path, json!({"user": user}))
        } else {
            a.get(path)
        };
        assert_error(&(s, v), 400, "bad_request");
    }
    let c = a.must_get("/v1/status")["counts"].clone();
    assert_eq!(
        (c["orgs"].clone(), c["users"].clone(), c["teams"].clone()),
        (json!(1), json!(1), json!(1))
    );
    assert_eq!(
        (c["projects"].clone(), c["groups"].clone()),
        (json!(1), json!(0))
    );
    assert_eq!(a.must_get(&format!("/v1/teams/{team}/members")), json!([]));
}

/// A reference to an id that does not exist is 404 `not_found`, in a path or
/// in a body alike (docs/DESIGN.md); a reference that exists but does not fit
/// (a team of another organization) is 400.
#[test]
fn unknown_references_are_404_everywhere() {
    let d = Daemon::start();
    let a = d.admin();
    let org = world::org(&d, "acme");
    let team = world::team(&d, org, "core");
    let user = world::user(&d, "U", json!([]));
    let project = world::project(&d, org, "P", &[team]);
    for (path, body) in [
        (
            "/v1/teams".to_string(),
            json!({"org": 999, "slug": "t", "name": "T"}),
        ),
        ("/v1/projects".into(), json!({"org": 999, "name": "x"})),
        (
            "/v1/projects".into(),
            json!({"org": org, "name": "x", "teams": [999]}),
        ),
        ("/v1/groups".into(), json!({"project": 999, "title": "t"})),
        (format!("/v1/teams/{team}/members"), json!({"user": 999})),
        ("/v1/teams/999/members".into(), json!({"user": user})),
    ] {
        assert_error(&a.post(&path, body), 404, "not_found");
    }
    for path in [
        "/v1/orgs/999",
        "/v1/users/999",
        "/v1/teams/999",
        "/v1/projects/999",
        "/v1/groups/999",
        "/v1/groups/999/activity",
        "/v1/projects/999/notification-settings",
        "/v1/projects?org=999",
    ] {
        assert_error(&a.get(path), 404, "not_found");
    }
    assert_error(
        &a.put(
            &format!("/v1/projects/{project}/notification-settings/999"),
            json!({"type": "workflow", "value": "always"}),
        ),
        404,
        "not_found",
    );
    assert_error(
        &a.delete(&format!("/v1/teams/{team}/members/{user}")),
        404,
        "not_found",
    );
    let org2 = world::org(&d, "other");
    let foreign = world::team(&d, org2, "core");
    assert_error(
        &a.post(
            "/v1/projects",
            json!({"org": org, "name": "x", "teams": [foreign]}),
        ),
        400,
        "bad_request",
    );
    assert_eq!(a.must_get("/v1/status")["counts"]["projects"], 1);
}

#[test]
fn status_reports_version_uptime_counts_and_actor_health() {
    let mut d = Daemon::start();
    let w = world::setup(&d);
    let a = d.admin();
    let (s, v) = a.put(
        &format!("/v1/groups/{}/assignee", w.group),
        json!({"user": w.bob}),
    );
    assert_eq!(s, 200, "{v}");
    let st = a.must_get("/v1/status");
    assert_eq!(st["version"], env!("CARGO_PKG_VERSION"));
    assert!(st["uptime_secs"].is_u64(), "{st}");
    assert_eq!(st["uptime"], st["uptime_secs"]);
    let actors = st["actors"].as_array().unwrap();
    for name in ["supervisor", "ids", "cache", "project", "sync", "webhook"] {
        assert!(
            actors
                .iter()
                .any(|x| x["actor"] == name && x["alive"] == true),
            "{name}: {st}"
        );
    }
    let want = json!({"orgs": 1, "users": 1, "teams": 1, "projects": 1, "groups": 1,
        "links": 1, "assignees": 1, "activities": 1, "notification_settings": 0,
        "pending_project_deletes": 0, "integrations": 1, "installations": 1});
    assert_eq!(st["counts"], want);
    // The counters are rebuilt from the database at start (even after kill -9:
    // every acknowledged admin write is durable).
    d.kill9();
    d.restart();
    assert_eq!(d.admin().must_get("/v1/status")["counts"], want);
}

#[test]
fn delete_answers_every_count_then_404s_and_status_follows() {
    let d = Daemon::start();
    let w = world::setup(&d);
    let a = d.admin();
    let g2 = world::group(&d, w.project);
    world::link(&d, g2, w.integration, "APP-2");
    world::link(&d, g2, w.integration, "APP-3");
    for g in [w.group, g2] {
        let path = format!("/v1/groups/{g}/assignee");
        assert_eq!(a.put(&path, json!({"user": w.bob})).0, 200);
    }
    assert_eq!(a.delete(&format!("/v1/groups/{g2}/assignee")).0, 200);
    let (s, _) = a.put(
        &format!("/v1/projects/{}/notification-settings/{}", w.project, w.bob),
        json!({"type": "workflow", "value": "always"}),
    );
    assert_eq!(s, 204);
    let kept = world::project(&d, w.org, "Kept", &[w.team]);
    let kept_group = world::group(&d, kept);

    let (s, body) = a.delete(&format!("/v1/projects/{}", w.project));
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body,
        json!({"deleted": {"groups": 2, "links": 3, "assignees": 1, "activities": 3,
                           "notification_settings": 1}})
    );
    assert_error(
        &a.get(&format!("/v1/projects/{}", w.project)),
        404,
        "not_found",
    );
    for g in [w.group, g2] {
        assert_error(&a.get(&format!("/v1/groups/{g}")), 404, "not_found");
        assert_error(
            &a.get(&format!("/v1/groups/{g}/activity")),
            404,
            "not_found",
        );
    }
    let list = a.must_get(&format!("/v1/projects?org={}", w.org));
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], kept);
    let c = a.must_get("/v1/status")["counts"].clone();
    assert_eq!(c["projects"], 1);
    assert_eq!(c["groups"], 1);
    assert_eq!(c["links"], 0);
    assert_eq!(c["assignees"], 0);
    assert_eq!(c["activities"], 0);
    assert_eq!(c["notification_settings"], 0);
    a.must_get(&format!("/v1/groups/{kept_group}"));
}

#[test]
fn ids_post_answers_a_json_number_that_decodes() {
    let d = Daemon::start();
    let a = d.admin();
    let (s, v) = a.post("/v1/ids", json!({}));
    assert_eq!(s, 200, "{v}");
    let id = v["id"].as_u64().expect("id is a JSON number");
    // No body at all is fine too.
    let (s, v2) = raw(&d, "POST", "/v1/ids", None, vec![]);
    assert_eq!(s, 200);
    assert!(v2["id"].as_u64().unwrap() > id);
    let dec = a.must_get(&format!("/v1/ids/{id}"));
    assert_eq!(dec["id"], id);
    assert_eq!(dec["version"], 1);
    assert_eq!(dec["region"], 0);
    for k in ["seconds", "sequence"] {
        assert!(dec[k].is_u64(), "{dec}");
    }
    assert!(chrono::DateTime::parse_from_rfc3339(dec["timestamp"].as_str().unwrap()).is_ok());
}

#[test]
fn ids_follow_the_configured_epoch_region_and_version() {
    let d = Daemon::start_with(
        "[ids]\nepoch = \"2025-01-01T00:00:00Z\"\nregion_id = 4095\nversion_id = 31\n",
        &[],
    );
    let a = d.admin();
    let id = a.must_post("/v1/ids", json!({}), 200)["id"]
        .as_u64()
        .unwrap();
    assert!(id < 1 << 53);
    // 31 = 11111 reversed is 11111.
    assert_eq!(id >> 48, 0b11111);
    let dec = a.must_get(&format!("/v1/ids/{id}"));
    assert_eq!(dec["version"], 31);
    assert_eq!(dec["region"], 4095);
    let epoch = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap();
    let ts = chrono::DateTime::parse_from_rfc3339(dec["timestamp"].as_str().unwrap()).unwrap();
    assert_eq!((ts - epoch).num_seconds(), dec["seconds"].as_i64().unwrap());
    let now = chrono::Utc::now().fixed_offset();
    assert!((ts - now).num_seconds().abs() < 3_600, "{dec}");
}

/// SPEC 7: a delete invalidates the cache of every deleted group and drops
/// the delivery state of their issues (a later project linked to the same
/// issue is not blocked by the old project's "already applied").
#[test]
fn delete_invalidates_the_cache_and_the_delivery_state() {
    let d = Daemon::start();
    let w = world::setup(&d);
    let a = d.admin();
    let delivery =
        world::assignee_delivery(Some("bob@example.org"), "9001", 1_700_000_000_000, "APP-1");
    assert_eq!(world::deliver_ok(&d, &delivery), "assigned");
    let cache = format!("/v1/cache/groups/{}", w.group);
    a.must_get(&cache);
    let c = a.must_get(&cache);
    assert_eq!(
        (c["cached"].clone(), c["assignee"]["user"].clone()),
        (json!(true), json!(w.bob))
    );

    let before = a.must_get("/v1/cache")["invalidations"].as_u64().unwrap();
    assert_eq!(a.delete(&format!("/v1/projects/{}", w.project)).0, 200);
    let after = a.must_get("/v1/cache")["invalidations"].as_u64().unwrap();
    assert!(
        after > before,
        "the delete invalidated the group: {before} -> {after}"
    );
    assert_error(&a.get(&cache), 404, "not_found");

    // A new project linked to the same issue: the same delivery applies again.
    let p2 = world::project(&d, w.org, "Again", &[w.team]);
    let g2 = world::group(&d, p2);
    world::link(&d, g2, w.integration, "APP-1");
    assert_eq!(world::deliver_ok(&d, &delivery), "assigned");
    assert_eq!(world::assignee_of(&d, g2)["user"], w.bob);
}
