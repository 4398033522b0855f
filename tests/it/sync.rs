//! `sync_group_assignee_inbound` rules through the real webhook: who gets
//! assigned, which groups are touched, ordering and duplicates, and the
//! manual assign/deassign routes that share the same path.

use crate::common::*;
use serde_json::json;

#[test]
fn user_without_team_access_is_not_assigned() {
    let d = Daemon::start();
    let w = setup(&d);
    // carol has the verified email but is in no team of the project.
    let carol = user(
        &d,
        "Carol",
        json!([{"email": "carol@example.org", "verified": true}]),
    );
    let other = team(&d, w.org, "frontend");
    member(&d, other, carol);
    let v = assignee_delivery(Some("carol@example.org"), "1", 1000, "APP-1");
    assert_eq!(deliver_ok(&d, &v), "assignee-not-found");
    assert!(assignee_of(&d, w.group).is_null());
    let e = d.wait_event("assignee-not-found-inbound");
    assert_eq!(e["integration"], w.integration);
    assert_eq!(e["email"], "carol@example.org");
    assert_eq!(e["key"], "APP-1");
    let last = last_delivery(&d);
    assert_eq!(last["outcome"], "assignee-not-found");
    assert_eq!(last["groups"], json!([]));
}

#[test]
fn unverified_email_does_not_match() {
    let d = Daemon::start();
    let w = setup(&d);
    let dave = user(
        &d,
        "Dave",
        json!([{"email": "dave@example.org", "verified": false}]),
    );
    member(&d, w.team, dave);
    let v = assignee_delivery(Some("dave@example.org"), "1", 1000, "APP-1");
    assert_eq!(deliver_ok(&d, &v), "assignee-not-found");
    assert!(assignee_of(&d, w.group).is_null());
}

#[test]
fn email_matches_in_another_case() {
    let d = Daemon::start();
    let w = setup(&d);
    let v = assignee_delivery(Some("BOB@Example.ORG"), "1", 1000, "APP-1");
    assert_eq!(deliver_ok(&d, &v), "assigned");
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
}

#[test]
fn lowest_user_id_with_access_wins() {
    let d = Daemon::start();
    let w = setup(&d);
    let e = json!([{"email": "shared@example.org", "verified": true}]);
    let first = user(&d, "First", e.clone()); // no access
    let second = user(&d, "Second", e.clone());
    let third = user(&d, "Third", e);
    assert!(first < second && second < third);
    member(&d, w.team, third);
    member(&d, w.team, second);
    let v = assignee_delivery(Some("shared@example.org"), "1", 1000, "APP-1");
    assert_eq!(deliver_ok(&d, &v), "assigned");
    assert_eq!(assignee_of(&d, w.group)["user"], second);
}

#[test]
fn only_organizations_with_inbound_sync_are_touched() {
    let d = Daemon::start();
    let w = setup(&d);
    // Org B: installed with sync off. Org C: not installed. Both link APP-1.
    let mut others = Vec::new();
    for slug in ["beta", "gamma"] {
        let o = org(&d, slug);
        let t = team(&d, o, "team");
        member(&d, t, w.bob);
        let p = project(&d, o, "Proj", &[t]);
        let g = group(&d, p);
        link(&d, g, w.integration, "APP-1");
        others.push((o, g));
    }
    install(&d, w.integration, others[0].0, false);
    assert_eq!(
        deliver_ok(&d, &fixture_json("issue_assigned.json")),
        "assigned"
    );
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    assert!(assignee_of(&d, others[0].1).is_null());
    assert!(assignee_of(&d, others[1].1).is_null());
    assert_eq!(last_delivery(&d)["groups"], json!([w.group]));
    // Turning sync on for B (PUT semantics on repeat) brings it in.
    install(&d, w.integration, others[0].0, true);
    let v = assignee_delivery(None, "2", 1764344411001, "APP-1");
    assert_eq!(deliver_ok(&d, &v), "unassigned");
    let v = assignee_delivery(Some("bob@example.org"), "3", 1764344411002, "APP-1");
    assert_eq!(deliver_ok(&d, &v), "assigned");
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    assert_eq!(assignee_of(&d, others[0].1)["user"], w.bob);
    assert!(assignee_of(&d, others[1].1).is_null());
    let mut groups: Vec<u64> = last_delivery(&d)["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_u64().unwrap())
        .collect();
    groups.sort();
    assert_eq!(groups, vec![w.group, others[0].1]);
}

#[test]
fn installation_with_sync_off_has_no_affected_groups() {
    let d = Daemon::start();
    let w = setup(&d);
    install(&d, w.integration, w.org, false);
    assert_eq!(
        deliver_ok(&d, &fixture_json("issue_assigned.json")),
        "no-affected-groups"
    );
    d.wait_event("no-affected-groups");
    assert!(assignee_of(&d, w.group).is_null());
    // An unlinked key has none either.
    install(&d, w.integration, w.org, true);
    let v = assignee_delivery(Some("bob@example.org"), "9", 1, "APP-999");
    assert_eq!(deliver_ok(&d, &v), "no-affected-groups");
    assert!(assignee_of(&d, w.group).is_null());
}

#[test]
fn duplicates_and_stale_deliveries_have_no_effect() {
    let d = Daemon::start();
    let w = setup(&d);
    let t0 = 1_764_344_411_000i64;
    assert_eq!(
        deliver_ok(
            &d,
            &assignee_delivery(Some("bob@example.org"), "100", t0, "APP-1")
        ),
        "assigned"
    );
    // The same changelog id again: duplicate, even with another body.
    assert_eq!(
        deliver_ok(&d, &assignee_delivery(None, "100", t0 + 50, "APP-1")),
        "duplicate"
    );
    d.wait_event("duplicate-delivery");
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    // Older than the newest applied: stale.
    assert_eq!(
        deliver_ok(&d, &assignee_delivery(None, "99", t0 - 1000, "APP-1")),
        "stale"
    );
    d.wait_event("stale-delivery");
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    // A newer delivery whose assignee matches nobody still counts as applied.
    assert_eq!(
        deliver_ok(
            &d,
            &assignee_delivery(Some("nobody@example.org"), "101", t0 + 2000, "APP-1")
        ),
        "assignee-not-found"
    );
    assert_eq!(
        deliver_ok(&d, &assignee_delivery(None, "102", t0 + 1000, "APP-1")),
        "stale"
    );
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    // Without timestamp the stale check is skipped; the duplicate check is not.
    let mut v = assignee_delivery(None, "103", 0, "APP-1");
    v.as_object_mut().unwrap().remove("timestamp");
    assert_eq!(deliver_ok(&d, &v), "unassigned");
    assert_eq!(deliver_ok(&d, &v), "duplicate");
    // Ordering is per key: an old delivery for another key is not stale.
    let g2 = group(&d, w.project);
    link(&d, g2, w.integration, "APP-2");
    assert_eq!(
        deliver_ok(
            &d,
            &assignee_delivery(Some("bob@example.org"), "100", 5, "APP-2")
        ),
        "assigned"
    );
    assert_eq!(assignee_of(&d, g2)["user"], w.bob);
    assert_eq!(activity(&d, w.group).len(), 2);
    let stale = d.admin().must_get("/v1/deliveries?outcome=stale");
    assert_eq!(stale.as_array().unwrap().len(), 2);
    let dup = d
        .admin()
        .must_get("/v1/deliveries?outcome=duplicate&key=APP-1");
    assert_eq!(dup.as_array().unwrap().len(), 2);
}

#[test]
fn manual_assign_and_deassign_follow_the_sync_rules() {
    let d = Daemon::start();
    let w = setup(&d);
    let a = d.admin();
    let path = format!("/v1/groups/{}/assignee", w.group);
    let (s, v) = a.put(&path, json!({"user": w.bob}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["assignee"]["user"], w.bob);
    assert_eq!(a.put(&path, json!({"user": w.bob})).0, 200);
    let acts = activity(&d, w.group);
    assert_eq!(
        acts.len(),
        1,
        "assigning the same user again records nothing"
    );
    assert_eq!(acts[0]["data"]["assignee"], w.bob.to_string());
    assert_eq!(acts[0]["data"]["assigneeEmail"], "bob@example.org");
    // A user without access to the project: 400. Unknown user / group: 404.
    let eve = user(
        &d,
        "Eve",
        json!([{"email": "eve@example.org", "verified": true}]),
    );
    assert_error(&a.put(&path, json!({"user": eve})), 400, "bad_request");
    assert_error(&a.put(&path, json!({"user": 999_999})), 404, "not_found");
    assert_error(
        &a.put("/v1/groups/999999/assignee", json!({"user": w.bob})),
        404,
        "not_found",
    );
    assert_error(&a.put(&path, json!({"nobody": 1})), 400, "bad_request");
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    let (s, v) = a.delete(&path);
    assert_eq!(s, 200, "{v}");
    assert!(v["assignee"].is_null());
    assert_eq!(a.delete(&path).0, 200);
    let acts = activity(&d, w.group);
    assert_eq!(acts.len(), 2);
    assert_eq!(acts[1]["type"], "unassigned");
    assert_error(&a.delete("/v1/groups/999999/assignee"), 404, "not_found");
}

#[test]
fn concurrent_out_of_order_deliveries_converge_on_the_newest() {
    let d = Daemon::start();
    let w = setup(&d);
    let keys = 6usize;
    let mut groups = Vec::new();
    for k in 0..keys {
        let g = group(&d, w.project);
        link(&d, g, w.integration, &format!("CC-{k}"));
        groups.push(g);
    }
    // Deliveries with unique timestamps, sent by several threads in a
    // scrambled order: the newest per key must win, whatever arrives last.
    let per_thread = 12usize;
    let threads = 6usize;
    let mut plan: Vec<(usize, i64, bool)> = Vec::new();
    for t in 0..threads {
        for i in 0..per_thread {
            let n = t * per_thread + i;
            let ts = 1_000 + ((n * 7919) % 997) as i64 * 10 + n as i64 % 10;
            plan.push((n % keys, ts, (n * 31) % 3 != 0));
        }
    }
    let url = d.url(&format!(
        "/extensions/jira-server/issue-updated/{}",
        good_token()
    ));
    let handles: Vec<_> = plan
        .chunks(per_thread)
        .map(|chunk| {
            let chunk = chunk.to_vec();
            let url = url.clone();
            std::thread::spawn(move || {
                let c = reqwest::blocking::Client::new();
                for (k, ts, assign) in chunk {
                    let email = assign.then_some("bob@example.org");
                    let body =
                        assignee_delivery(email, &format!("{k}-{ts}"), ts, &format!("CC-{k}"));
                    let r = c.post(&url).json(&body).send().unwrap();
                    assert_eq!(r.status().as_u16(), 200);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    for (k, g) in groups.iter().enumerate() {
        let newest = plan
            .iter()
            .filter(|(kk, _, _)| *kk == k)
            .max_by_key(|(_, ts, _)| *ts)
            .unwrap();
        let a = assignee_of(&d, *g);
        if newest.2 {
            assert_eq!(a["user"], w.bob, "key {k}");
        } else {
            assert!(a.is_null(), "key {k}: {a}");
        }
    }
    let total = d.admin().must_get("/v1/deliveries?limit=1000");
    assert_eq!(total.as_array().unwrap().len(), plan.len());
}
