//! Spec-conformance checks of the inbound side, written the way a black-box
//! tester reads SPEC sections 4 and 6: exact shapes, every outcome, ordering
//! corner cases and hostile input.

use crate::common::*;
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
               "assigneeType": "user", "integration": w.integration, "source": "webhook"})
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
    deliver_ok(&d, &other_field_delivery()); // not-an-assignee-change
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
    for family in SPEC_METRIC_FAMILIES {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} missing in\n{text}"
        );
    }
    assert_eq!(metric(&d, "synclink_assignments_total"), 1.0);
}
