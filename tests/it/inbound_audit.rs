//! Spec-conformance checks of the inbound side, written the way a black-box
//! tester reads SPEC sections 4 and 6: exact shapes, every outcome, ordering
//! corner cases and hostile input.

use crate::common::*;
use crate::world::*;
use serde_json::{json, Value};

fn keys_of(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn group_view_and_activity_have_the_spec_shape() {
    let d = Daemon::start();
    let w = setup(&d);
    let g = d.admin().must_get(&format!("/v1/groups/{}", w.group));
    for f in ["id", "project", "title", "assignee"] {
        assert!(g.get(f).is_some(), "{f} missing in {g}");
    }
    assert_eq!(g["id"], w.group);
    assert_eq!(g["project"], w.project);
    assert_eq!(g["title"], "ZeroDivisionError");
    assert!(g["assignee"].is_null());

    let t0 = 1_764_344_411_000i64;
    let bob = Some("bob@example.org");
    assert_eq!(
        deliver_ok(&d, &assignee_delivery(bob, "1", t0, "APP-1")),
        "assigned"
    );
    let a = assignee_of(&d, w.group);
    assert_eq!(keys_of(&a), vec!["date_added", "email", "user"], "{a}");
    assert_eq!(a["user"], w.bob);
    assert_eq!(a["email"], "bob@example.org");
    assert!(a["date_added"].is_string(), "{a}");

    // Re-assigning the same user records nothing; the outcome says so.
    assert_eq!(
        deliver_ok(&d, &assignee_delivery(bob, "2", t0 + 1, "APP-1")),
        "unchanged"
    );
    assert_eq!(activity(&d, w.group).len(), 1);
    // Unassign, then unassign again: the second records nothing.
    assert_eq!(
        deliver_ok(&d, &assignee_delivery(None, "3", t0 + 2, "APP-1")),
        "unassigned"
    );
    assert!(assignee_of(&d, w.group).is_null());
    assert_eq!(
        deliver_ok(&d, &assignee_delivery(None, "4", t0 + 3, "APP-1")),
        "unchanged"
    );
    // The unchanged unassign still names the affected group.
    assert_eq!(last_delivery(&d)["groups"], json!([w.group]));
    assert_eq!(
        deliver_ok(&d, &assignee_delivery(bob, "5", t0 + 4, "APP-1")),
        "assigned"
    );

    // Oldest first, exact data.
    let acts = activity(&d, w.group);
    let kinds: Vec<&str> = acts.iter().map(|a| a["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["assigned", "unassigned", "assigned"]);
    assert_eq!(
        acts[0]["data"],
        json!({"assignee": w.bob.to_string(), "assigneeEmail": "bob@example.org",
               "assigneeType": "user"})
    );
    for a in &acts {
        assert_eq!(a["group"], w.group, "{a}");
        assert_eq!(a["project"], w.project, "{a}");
        assert!(a["user"].is_null(), "the integration acted: {a}");
        assert!(a["id"].is_u64(), "{a}");
        assert!(a["date_added"].is_string(), "{a}");
    }
    let ids: Vec<u64> = acts.iter().map(|a| a["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|p| p[0] < p[1]), "oldest first: {ids:?}");

    // Manual deassign of an unassigned group records nothing either.
    let path = format!("/v1/groups/{}/assignee", w.group);
    assert_eq!(d.admin().delete(&path).0, 200);
    assert_eq!(d.admin().delete(&path).0, 200);
    assert_eq!(activity(&d, w.group).len(), 4);
    assert_eq!(d.admin().put(&path, json!({"user": w.bob})).0, 200);
    assert_eq!(d.admin().put(&path, json!({"user": w.bob})).0, 200);
    assert_eq!(activity(&d, w.group).len(), 5);

    // Unknown groups.
    assert_error(&d.admin().get("/v1/groups/999999"), 404, "not_found");
    assert_error(
        &d.admin().get("/v1/groups/999999/activity"),
        404,
        "not_found",
    );
}

#[test]
fn duplicate_wins_over_stale_and_missing_facts_skip_their_check() {
    let d = Daemon::start();
    let w = setup(&d);
    let t0 = 1_764_344_411_000i64;
    let bob = Some("bob@example.org");
    let first = assignee_delivery(bob, "200", t0, "APP-1");
    assert_eq!(deliver_ok(&d, &first), "assigned");
    assert_eq!(
        deliver_ok(&d, &assignee_delivery(None, "201", t0 + 10, "APP-1")),
        "unassigned"
    );
    // Jira re-sends the first delivery: it is older AND already applied.
    assert_eq!(deliver_ok(&d, &first), "duplicate");
    assert!(assignee_of(&d, w.group).is_null());

    // No changelog id: no duplicate check, the stale check still applies.
    let mut no_id = assignee_delivery(bob, "x", t0 + 20, "APP-1");
    no_id["changelog"].as_object_mut().unwrap().remove("id");
    assert_eq!(deliver_ok(&d, &no_id), "assigned");
    assert_eq!(deliver_ok(&d, &no_id), "unchanged", "not a duplicate");
    let mut old_no_id = assignee_delivery(None, "x", t0 + 5, "APP-1");
    old_no_id["changelog"].as_object_mut().unwrap().remove("id");
    assert_eq!(deliver_ok(&d, &old_no_id), "stale");
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    let last = last_delivery(&d);
    assert!(last["changelog_id"].is_null(), "{last}");

    // Numeric changelog ids count the same as their string form.
    let mut num = assignee_delivery(None, "x", t0 + 30, "APP-1");
    num["changelog"]["id"] = json!(300);
    assert_eq!(deliver_ok(&d, &num), "unassigned");
    assert_eq!(last_delivery(&d)["changelog_id"], "300");
    let again = assignee_delivery(bob, "300", t0 + 40, "APP-1");
    assert_eq!(deliver_ok(&d, &again), "duplicate");
    assert!(assignee_of(&d, w.group).is_null());

    // A newer delivery whose group has no inbound sync still counts as applied.
    assert_eq!(
        deliver_ok(&d, &assignee_delivery(bob, "301", t0 + 50, "APP-9")),
        "no-affected-groups"
    );
    d.wait_event("no-affected-groups");
    link(&d, w.group, w.integration, "APP-9");
    assert_eq!(
        deliver_ok(&d, &assignee_delivery(bob, "302", t0 + 45, "APP-9")),
        "stale"
    );
    assert!(assignee_of(&d, w.group).is_null());
}

#[test]
fn every_outcome_string_is_recorded_and_counted() {
    let d = Daemon::start();
    let w = setup(&d);
    let t0 = 1_764_344_411_000i64;
    let bob = Some("bob@example.org");
    let t = good_token();
    deliver_ok(&d, &assignee_delivery(bob, "1", t0, "APP-1")); // assigned
    deliver_ok(&d, &assignee_delivery(bob, "2", t0 + 1, "APP-1")); // unchanged
    deliver_ok(&d, &assignee_delivery(None, "3", t0 + 2, "APP-1")); // unassigned
    deliver_ok(&d, &assignee_delivery(None, "3", t0 + 3, "APP-1")); // duplicate
    deliver_ok(&d, &assignee_delivery(None, "4", t0 - 1, "APP-1")); // stale
    deliver_ok(&d, &assignee_delivery(bob, "5", t0, "NOPE-1")); // no-affected-groups
    deliver_ok(
        &d,
        &assignee_delivery(Some("x@y.org"), "6", t0 + 9, "APP-1"),
    ); // assignee-not-found
    deliver_ok(&d, &fixture_json("issue_assigned_hidden_email.json")); // missing-assignee-email
    deliver_ok(&d, &fixture_json("issue_created_no_changelog.json")); // missing-changelog
    deliver_ok(&d, &fixture_json("issue_status_changed.json")); // not-an-assignee-change
    assert_eq!(deliver(&d, "nope", &json!({})).0, 400); // bad-token
    assert_eq!(deliver_bytes(&d, &t, b"nope".to_vec()).0, 400); // bad-request
    let expected = [
        "assigned",
        "unchanged",
        "unassigned",
        "duplicate",
        "stale",
        "no-affected-groups",
        "assignee-not-found",
        "missing-assignee-email",
        "missing-changelog",
        "not-an-assignee-change",
        "bad-token",
        "bad-request",
    ];
    let all = d.admin().must_get("/v1/deliveries");
    let mut got: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    got.reverse();
    assert_eq!(got, expected);
    for o in expected {
        let one = d.admin().must_get(&format!("/v1/deliveries?outcome={o}"));
        assert_eq!(one.as_array().unwrap().len(), 1, "{o}: {one}");
        let e = &one[0];
        for f in [
            "id",
            "received",
            "integration",
            "key",
            "changelog_id",
            "timestamp",
            "outcome",
            "groups",
            "reason",
        ] {
            assert!(e.get(f).is_some(), "{o}: {f} missing in {e}");
        }
        assert!(!e["reason"].as_str().unwrap().is_empty(), "{o}: {e}");
        assert_eq!(
            metric(
                &d,
                &format!("synclink_webhook_deliveries_total{{outcome=\"{o}\"}}")
            ),
            1.0,
            "{o}"
        );
    }
    // Newest first, with limit.
    let two = d.admin().must_get("/v1/deliveries?limit=2");
    assert_eq!(two[0]["outcome"], "bad-request");
    assert_eq!(two[1]["outcome"], "bad-token");
    assert_eq!(two.as_array().unwrap().len(), 2);
    // A limit as large as the log bound is allowed; beyond it is refused.
    assert_eq!(
        d.admin()
            .must_get("/v1/deliveries?limit=100000")
            .as_array()
            .unwrap()
            .len(),
        expected.len()
    );
    for bad in ["0", "-5", "100001", "99999999999999999999999", "1.5"] {
        assert_error(
            &d.admin().get(&format!("/v1/deliveries?limit={bad}")),
            400,
            "bad_request",
        );
    }
    // The group ended where the applied deliveries left it.
    assert!(assignee_of(&d, w.group).is_null());
    // Log events, exactly named.
    for ev in [
        "duplicate-delivery",
        "stale-delivery",
        "no-affected-groups",
        "assignee-not-found-inbound",
        "missing-assignee-email",
        "missing-changelog",
        "token-validation-error",
    ] {
        d.wait_event(ev);
    }
    let e = d.wait_event("assignee-not-found-inbound");
    assert_eq!(e["email"], "x@y.org", "{e}");
    assert_eq!(e["key"], "APP-1", "{e}");
    assert_eq!(e["integration"], w.integration, "{e}");
    assert_eq!(d.wait_event("missing-assignee-email")["key"], "APP-1");
}

#[test]
fn hostile_deliveries_get_a_clear_400_and_lose_nothing() {
    let d = Daemon::start();
    let w = setup(&d);
    let t = good_token();
    let bob = Some("bob@example.org");
    assert_eq!(
        deliver_ok(&d, &assignee_delivery(bob, "1", 1000, "APP-1")),
        "assigned"
    );
    let huge = "K".repeat(70_000);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            serde_json::to_vec(&assignee_delivery(None, "2", 2000, &huge)).unwrap(),
            "issue.key",
        ),
        (
            serde_json::to_vec(&assignee_delivery(None, "3", 2000, "APP 1")).unwrap(),
            "issue.key",
        ),
        (
            serde_json::to_vec(&assignee_delivery(None, "4", 2000, "APP-1/x")).unwrap(),
            "issue.key",
        ),
        (
            serde_json::to_vec(&assignee_delivery(None, &"9".repeat(300), 2000, "APP-1")).unwrap(),
            "changelog.id",
        ),
        (
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
            "not JSON",
        ),
        (vec![0xff, 0xfe, b'{', 0x80, b'}'], "not JSON"),
        (b"{\"changelog\": \"\xff\"}".to_vec(), "not JSON"),
        (b"null".to_vec(), "object"),
        (Vec::new(), "not JSON"),
    ];
    for (body, needle) in &cases {
        let (s, v) = deliver_bytes(&d, &t, body.clone());
        assert_eq!(s, 400, "{needle}: {v}");
        assert_eq!(v["error"]["code"], "bad_request", "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{needle}: {v}"
        );
    }
    let bad = d.admin().must_get("/v1/deliveries?outcome=bad-request");
    assert_eq!(bad.as_array().unwrap().len(), cases.len(), "{bad}");
    // Hostile tokens: percent-encoded garbage, a long one, an `id` claim
    // that is not a string. Each is a bad token, never a crash.
    let long_claim = token(&"x".repeat(5000), SECRET);
    let num_claim = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"id": 42}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let body = assignee_delivery(None, "6", 2500, "APP-1");
    for t in [
        "%FF%FE%00",
        "a.b.c",
        &"e".repeat(4000),
        &long_claim,
        &num_claim,
    ] {
        let (s, v) = deliver(&d, t, &body);
        assert_eq!(s, 400, "{v}");
        assert_eq!(v["error"]["code"], "bad_request", "{v}");
    }
    assert_eq!(
        d.admin()
            .must_get("/v1/deliveries?outcome=bad-token")
            .as_array()
            .unwrap()
            .len(),
        5
    );
    // The huge key never reached the log or the delivery log.
    assert!(!d.log_text().contains(&huge[..1000]));
    assert!(bad
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["key"].as_str().is_none_or(|k| k.len() <= 255)));
    // Nothing was lost: the assignee stands and sync still works.
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    assert_eq!(
        deliver_ok(&d, &assignee_delivery(None, "5", 3000, "APP-1")),
        "unassigned"
    );
    // Oversized keys elsewhere are refused too, never cut.
    let a = d.admin();
    let l = json!({"group": w.group, "integration": w.integration, "key": "K".repeat(256)});
    assert_error(&a.post("/v1/links", l), 400, "bad_request");
    assert_error(
        &a.delete(&format!(
            "/v1/groups/{}/links/{}/A%20B",
            w.group, w.integration
        )),
        400,
        "bad_request",
    );
    assert_eq!(
        a.must_get(&format!("/v1/groups/{}/links", w.group))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Odd but legal keys round-trip through the percent-encoded delete path.
    for (key, enc) in [
        ("A%B+C?D#E", "A%25B%2BC%3FD%23E"),
        ("ÜBER-1", "%C3%9CBER-1"),
    ] {
        a.must_post(
            "/v1/links",
            json!({"group": w.group, "integration": w.integration, "key": key}),
            201,
        );
        let p = format!("/v1/groups/{}/links/{}/{enc}", w.group, w.integration);
        assert_eq!(a.delete(&p).0, 204, "{key}");
        assert_error(&a.delete(&p), 404, "not_found");
    }
}

#[test]
fn bad_ids_in_paths_are_clear_4xx() {
    let d = Daemon::start();
    let w = setup(&d);
    let a = d.admin();
    for p in [
        "/v1/groups/-1",
        "/v1/groups/abc",
        "/v1/groups/99999999999999999999999",
        "/v1/groups/-1/activity",
        "/v1/groups/-1/links",
        "/v1/cache/groups/-1",
        "/v1/cache/groups/18446744073709551616",
        "/v1/integrations/-1",
        "/v1/integrations/x/webhook-url",
        "/v1/integrations/-3/installations",
    ] {
        let (s, v) = a.get(p);
        assert!(s == 400 || s == 404, "{p}: {s} {v}");
        assert!(v["error"]["code"].is_string(), "{p}: {v}");
    }
    for p in [
        "/v1/groups/18446744073709551615",
        "/v1/groups/0",
        "/v1/cache/groups/18446744073709551615",
        "/v1/integrations/0",
        "/v1/integrations/18446744073709551615/webhook-url",
    ] {
        assert_error(&a.get(p), 404, "not_found");
    }
    assert_error(
        &a.delete(&format!("/v1/groups/-1/links/{}/APP-1", w.integration)),
        400,
        "bad_request",
    );
    assert_error(
        &a.put("/v1/groups/0/assignee", json!({"user": w.bob})),
        404,
        "not_found",
    );
    assert_error(
        &a.put(
            &format!("/v1/groups/{}/assignee", w.group),
            json!({"user": -1}),
        ),
        400,
        "bad_request",
    );
    assert_error(
        &a.post(
            "/v1/links",
            json!({"group": -1, "integration": w.integration, "key": "A-1"}),
        ),
        400,
        "bad_request",
    );
    assert_error(
        &a.post(
            &format!("/v1/integrations/{}/installations", w.integration),
            json!({"org": w.org, "sync_inbound_assignee": "yes"}),
        ),
        400,
        "bad_request",
    );
}

#[test]
fn cache_group_view_and_public_endpoints() {
    let d = Daemon::start();
    let w = setup(&d);
    let c = d.admin().must_get(&format!("/v1/cache/groups/{}", w.group));
    assert_eq!(c["cached"], false);
    assert!(c["assignee"].is_null());
    deliver_ok(&d, &fixture_json("issue_assigned.json"));
    let c = d.admin().must_get(&format!("/v1/cache/groups/{}", w.group));
    assert_eq!(c["assignee"]["user"], w.bob, "{c}");
    assert_eq!(c["assignee"]["email"], "bob@example.org", "{c}");
    assert!(c["cached"].is_boolean());

    let get = |p: &str| d.http().get(d.url(p)).send().unwrap();
    assert_eq!(get("/healthz").status().as_u16(), 200);
    assert_eq!(get("/readyz").status().as_u16(), 200);
    let r = get("/metrics");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = r.text().unwrap();
    for family in [
        "synclink_webhook_deliveries_total",
        "synclink_assignments_total",
        "synclink_deassignments_total",
        "synclink_cache_hits_total",
        "synclink_cache_misses_total",
        "synclink_cache_invalidations_total",
        "synclink_cache_entries",
        "synclink_flush_duration_seconds",
        "synclink_ids_issued_total",
        "synclink_actor_restarts_total",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} missing in\n{text}"
        );
    }
    assert_eq!(metric(&d, "synclink_assignments_total"), 1.0);
}

#[test]
fn imported_short_webhook_secret_is_kept_and_verifies() {
    let d = Daemon::start();
    let w = setup(&d);
    // The system being replaced chose the secret: any non-blank one is taken.
    let i = d.admin().must_post(
        "/v1/integrations/import",
        json!({"base_url": "https://old.example.org", "consumer_key": "legacy",
               "webhook_secret": "secret"}),
        201,
    );
    assert_eq!(i["status"], "active");
    assert_eq!(i["external_id"], "old.example.org:legacy");
    let other = id(&i);
    install(&d, other, w.org, true);
    link(&d, w.group, other, "OLD-1");
    let t = token("old.example.org:legacy", "secret");
    let (s, v) = deliver(
        &d,
        &t,
        &assignee_delivery(Some("bob@example.org"), "1", 1000, "OLD-1"),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["outcome"], "assigned");
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    // The webhook URL the daemon hands out carries a token that works too.
    let url = d
        .admin()
        .must_get(&format!("/v1/integrations/{other}/webhook-url"))["url"]
        .as_str()
        .unwrap()
        .to_string();
    let t2 = url.rsplit('/').next().unwrap();
    let (s, v) = deliver(&d, t2, &assignee_delivery(None, "2", 2000, "OLD-1"));
    assert_eq!((s, v["outcome"].as_str()), (200, Some("unassigned")), "{v}");
    for blank in ["", "   "] {
        assert_error(
            &d.admin().post(
                "/v1/integrations/import",
                json!({"base_url": "https://b.example.org", "consumer_key": "k",
                       "webhook_secret": blank}),
            ),
            400,
            "bad_request",
        );
    }
}

#[test]
fn token_exp_is_optional_but_an_expired_one_is_refused() {
    let d = Daemon::start();
    let w = setup(&d);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let signed = |claims: Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    let expired = signed(json!({"id": EXT, "exp": now - 3600}));
    let (s, v) = deliver(
        &d,
        &expired,
        &assignee_delivery(Some("bob@example.org"), "1", 1000, "APP-1"),
    );
    assert_eq!(s, 400, "{v}");
    let e = d.wait_event("token-validation-error");
    assert!(e["reason"].as_str().unwrap().contains("expired"), "{e}");
    assert!(!d.log_text().contains(&expired));
    assert_eq!(last_delivery(&d)["outcome"], "bad-token");
    assert!(assignee_of(&d, w.group).is_null());
    // Without exp (what Jira holds) and with a future exp: accepted.
    let future = signed(json!({"id": EXT, "exp": now + 3600}));
    let (s, v) = deliver(
        &d,
        &future,
        &assignee_delivery(Some("bob@example.org"), "2", 2000, "APP-1"),
    );
    assert_eq!((s, v["outcome"].as_str()), (200, Some("assigned")), "{v}");
    assert_eq!(
        deliver_ok(&d, &assignee_delivery(None, "3", 3000, "APP-1")),
        "unassigned"
    );
}
