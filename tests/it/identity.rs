//! Jira user links (SPEC section 11, identity when Jira hides emails): the
//! routes, the webhook's use of them, and their durability.

use crate::common::*;
use serde_json::{json, Value};

fn hidden(changelog_id: &str) -> Value {
    variant(
        "issue_assigned_hidden_email.json",
        changelog_id,
        chrono::Utc::now().timestamp_millis(),
        "APP-1",
    )
}

#[test]
fn routes_create_list_replace_and_delete_links_and_refuse_bad_input() {
    let d = Daemon::start();
    let w = setup(&d);
    let i = w.integration;
    let a = d.admin();
    let (s, v) = a.put(
        &format!("/v1/integrations/{i}/jira-users/Bob.Smith"),
        json!({"user": w.bob}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"integration": i, "jira_user": "Bob.Smith", "user": w.bob})
    );
    let list = a.must_get(&format!("/v1/integrations/{i}/jira-users"));
    assert_eq!(list, json!([v]));
    // Unknown integration or user: 404 naming it; nothing written.
    let r = a.put(
        &format!("/v1/integrations/{}/jira-users/x", i + 100),
        json!({"user": w.bob}),
    );
    assert_error(&r, 404, "not_found");
    let r = a.put(
        &format!("/v1/integrations/{i}/jira-users/x"),
        json!({"user": 987654}),
    );
    assert_error(&r, 404, "not_found");
    assert!(r.1["error"]["message"].as_str().unwrap().contains("987654"));
    // Bad bodies and names: 400.
    for body in [
        json!({}),
        json!({"user": "bob"}),
        json!({"user": 1, "x": 2}),
    ] {
        let r = a.put(&format!("/v1/integrations/{i}/jira-users/x"), body);
        assert_eq!(r.0, 400, "{r:?}");
    }
    let r = a.put(
        &format!("/v1/integrations/{i}/jira-users/%20bob"),
        json!({"user": w.bob}),
    );
    assert_error(&r, 400, "bad_request");
    let long = "x".repeat(256);
    let r = a.put(
        &format!("/v1/integrations/{i}/jira-users/{long}"),
        json!({"user": w.bob}),
    );
    assert_error(&r, 400, "bad_request");
    assert_eq!(
        a.must_get(&format!("/v1/integrations/{i}/jira-users"))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Names match case-insensitively: this replaces the link.
    let (s, _) = a.put(
        &format!("/v1/integrations/{i}/jira-users/bob.smith"),
        json!({"user": w.bob}),
    );
    assert_eq!(s, 200);
    let list = a.must_get(&format!("/v1/integrations/{i}/jira-users"));
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["jira_user"], "bob.smith");
    assert_eq!(
        a.delete(&format!("/v1/integrations/{i}/jira-users/BOB.SMITH"))
            .0,
        204
    );
    let r = a.delete(&format!("/v1/integrations/{i}/jira-users/bob.smith"));
    assert_error(&r, 404, "not_found");
    let r = a.get(&format!("/v1/integrations/{}/jira-users", i + 100));
    assert_error(&r, 404, "not_found");
}

#[test]
fn a_hidden_email_is_assigned_through_the_jira_user_link_once_it_exists() {
    let mut d = Daemon::start();
    let w = setup(&d);
    // No link: missing-assignee-email, naming the Jira user; not applied.
    assert_eq!(deliver_ok(&d, &hidden("500")), "missing-assignee-email");
    let e = d.wait_event("missing-assignee-email");
    assert_eq!(
        (e["key"].as_str(), e["jira_user"].as_str()),
        (Some("APP-1"), Some("bob"))
    );
    let reason = last_delivery(&d)["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("bob has no Jira user link"), "{reason}");
    assert!(assignee_of(&d, w.group).is_null());
    // The operator links the Jira account; the link survives kill -9.
    let (s, _) = d.admin().put(
        &format!("/v1/integrations/{}/jira-users/bob", w.integration),
        json!({"user": w.bob}),
    );
    assert_eq!(s, 200);
    d.kill9();
    d.restart();
    // The same delivery again (not applied before, so not a duplicate).
    assert_eq!(deliver_ok(&d, &hidden("500")), "assigned");
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    let last = last_delivery(&d);
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("Jira user bob (linked to user"),
        "{last}"
    );
    let acts = activity(&d, w.group);
    assert_eq!(acts[0]["type"], "assigned");
    assert_eq!(acts[0]["data"]["assigneeEmail"], "bob@example.org");
    // Now applied: a re-sent copy is a duplicate.
    assert_eq!(deliver_ok(&d, &hidden("500")), "duplicate");
}
