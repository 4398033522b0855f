//! Status inbound (SPEC section 10): real-shaped Jira deliveries resolve
//! and unresolve the linked groups of organizations installed with
//! `sync_inbound_status`, in the same atomic write as an assignee change,
//! with the per-field stale rule.

use crate::common::*;
use serde_json::json;

/// The world of `setup`, with inbound status sync switched on too.
fn status_world(d: &Daemon) -> World {
    let w = setup(d);
    d.admin().must_post(
        &format!("/v1/integrations/{}/installations", w.integration),
        json!({"org": w.org, "sync_inbound_status": true}),
        201,
    );
    w
}

fn status_of(d: &Daemon, group: u64) -> serde_json::Value {
    d.admin().must_get(&format!("/v1/groups/{group}"))["status"].clone()
}

#[test]
fn resolved_and_reopened_in_jira_follow_here() {
    let d = Daemon::start();
    let w = status_world(&d);
    // In Progress -> Done (category done in the delivery).
    let r = deliver_ok(&d, &fixture_json("issue_resolved.json"));
    assert_eq!(r, "resolved");
    assert_eq!(status_of(&d, w.group), "resolved");
    let g = d.admin().must_get(&format!("/v1/groups/{}", w.group));
    assert!(g["resolved_at"].is_string());
    let acts = activity(&d, w.group);
    assert_eq!(acts.last().unwrap()["type"], "set_resolved");
    assert_eq!(
        acts.last().unwrap()["data"],
        json!({"integration": w.integration, "source": "webhook"})
    );
    // The echo (the same change again, a new changelog id) records nothing.
    let mut echo = fixture_json("issue_resolved.json");
    echo["changelog"]["id"] = json!("10190");
    assert_eq!(deliver_ok(&d, &echo), "unchanged");
    assert_eq!(activity(&d, w.group).len(), acts.len());
    // Done -> Reopened: unresolved.
    assert_eq!(
        deliver_ok(&d, &fixture_json("issue_reopened.json")),
        "unresolved"
    );
    assert_eq!(status_of(&d, w.group), "unresolved");
    let last = last_delivery(&d);
    assert_eq!(last["outcome"], "unresolved");
    assert_eq!(last["groups"], json!([w.group]));
    // The delivery-log filter matches on the outcome.
    let one = d.admin().must_get("/v1/deliveries?outcome=resolved");
    assert_eq!(one.as_array().unwrap().len(), 1);
}

#[test]
fn without_the_switch_a_status_change_reaches_no_group() {
    let d = Daemon::start();
    let w = setup(&d);
    assert_eq!(
        deliver_ok(&d, &fixture_json("issue_resolved.json")),
        "no-affected-groups"
    );
    assert_eq!(status_of(&d, w.group), "unresolved");
    let reason = last_delivery(&d)["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("sync_inbound_status"), "{reason}");
}

#[test]
fn assignee_and_status_in_one_delivery_are_one_write_and_one_outcome() {
    let d = Daemon::start();
    let w = status_world(&d);
    // To Do -> Done with bob as the new assignee.
    let mut v = fixture_json("issue_assigned_and_status.json");
    v["issue"]["fields"]["status"]["statusCategory"]["key"] = json!("done");
    let (s, body) = deliver(&d, &good_token(), &v);
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["outcome"], "assigned+resolved");
    assert_eq!(body["groups"], json!([w.group]));
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    assert_eq!(status_of(&d, w.group), "resolved");
    let kinds: Vec<String> = activity(&d, w.group)
        .iter()
        .map(|a| a["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["assigned", "set_resolved"]);
    // The delivery log's outcome filter matches any part.
    for part in ["assigned", "resolved"] {
        let l = d
            .admin()
            .must_get(&format!("/v1/deliveries?outcome={part}"));
        assert_eq!(l.as_array().unwrap().len(), 1, "{part}");
    }
}

#[test]
fn the_stale_rule_is_per_field_end_to_end() {
    let d = Daemon::start();
    let w = status_world(&d);
    // A newer status change (t=2000) applied first...
    let mut resolved = fixture_json("issue_resolved.json");
    resolved["timestamp"] = json!(2000);
    assert_eq!(deliver_ok(&d, &resolved), "resolved");
    // ...does not make an older, late assignee change stale.
    let late = assignee_delivery(Some("bob@example.org"), "500", 1000, "APP-1");
    assert_eq!(deliver_ok(&d, &late), "assigned");
    // An older status change is stale.
    let mut reopened = fixture_json("issue_reopened.json");
    reopened["timestamp"] = json!(1500);
    assert_eq!(deliver_ok(&d, &reopened), "stale");
    assert_eq!(status_of(&d, w.group), "resolved");
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
}

#[test]
fn a_hidden_email_beside_a_status_change_still_moves_the_status() {
    let d = Daemon::start();
    let w = status_world(&d);
    let mut v = fixture_json("issue_assigned_hidden_email.json");
    let status = fixture_json("issue_resolved.json");
    v["issue"]["fields"]["status"] = status["issue"]["fields"]["status"].clone();
    let items = v["changelog"]["items"].as_array().unwrap().clone();
    let mut all = items;
    all.push(status["changelog"]["items"][1].clone());
    v["changelog"]["items"] = json!(all);
    assert_eq!(deliver_ok(&d, &v), "resolved");
    d.wait_event("missing-assignee-email");
    assert_eq!(status_of(&d, w.group), "resolved");
    assert!(assignee_of(&d, w.group).is_null());
    let reason = last_delivery(&d)["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("no visible email"), "{reason}");
    // Its changelog id was not recorded: the same delivery re-sent with an
    // email is applied, not a duplicate.
    let mut again = v.clone();
    again["issue"]["fields"]["assignee"]["emailAddress"] = json!("bob@example.org");
    let out = deliver_ok(&d, &again);
    assert_eq!(out, "assigned", "{}", last_delivery(&d));
}
