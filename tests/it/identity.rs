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

/// Jira answers within 2 s or not at all.
const QUICK_JIRA: &str = "[jira]\ntimeout_secs = 2\n";

/// A daemon started with `config`, and a group linked to APP-1 of an
/// integration connected to the fake Jira (which knows bob,
/// bob@example.org), installed with inbound assignee sync.
pub fn connected_world(config: &str) -> (Daemon, crate::common::fake_jira::FakeJira, World) {
    use crate::common::fake_jira::{data, FakeJira};
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    let d = Daemon::start_with(config, &[]);
    let integration = crate::statuses::connected(&d, &fake);
    let w = world_with(&d, integration);
    (d, fake, w)
}

#[test]
fn without_a_link_the_hidden_email_is_looked_up_in_jira_and_cached() {
    let (d, fake, w) = connected_world(QUICK_JIRA);
    let token = webhook_token(&d, w.integration);
    let (s, r) = deliver(&d, &token, &hidden("600"));
    assert_eq!((s, r["outcome"].as_str()), (200, Some("assigned")), "{r}");
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    let asked: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/rest/api/2/user")
        .collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(asked[0].signed_ok, "the look-up is OAuth-signed");
    // Unassigned, then the hidden email again: the email comes from the cache.
    let un = assignee_delivery(None, "601", chrono::Utc::now().timestamp_millis(), "APP-1");
    assert_eq!(deliver(&d, &token, &un).1["outcome"], "unassigned");
    let (_, r) = deliver(&d, &token, &hidden("602"));
    assert_eq!(r["outcome"], "assigned", "{r}");
    assert_eq!(
        fake.count("/rest/api/2/user"),
        1,
        "cached for cache.ttl_secs"
    );
}

#[test]
fn jira_failing_or_not_knowing_the_user_is_missing_assignee_email_with_the_reason() {
    let (d, fake, w) = connected_world(QUICK_JIRA);
    let token = webhook_token(&d, w.integration);
    fake.state().rest_down = Some(503);
    let (s, r) = deliver(&d, &token, &hidden("700"));
    assert_eq!(
        (s, r["outcome"].as_str()),
        (200, Some("missing-assignee-email")),
        "{r}"
    );
    let reason = last_delivery(&d)["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains("look-up failed") && reason.contains("503"),
        "{reason}"
    );
    let e = d.wait_event("missing-assignee-email");
    assert!(e["reason"].as_str().unwrap().contains("503"), "{e}");
    // Not applied: once Jira answers, the same delivery re-sent is applied.
    fake.state().rest_down = None;
    assert_eq!(deliver(&d, &token, &hidden("700")).1["outcome"], "assigned");
    // A Jira account Jira does not know.
    let mut v = hidden("701");
    v["issue"]["fields"]["assignee"]["name"] = json!("ghost");
    let (_, r) = deliver(&d, &token, &v);
    assert_eq!(r["outcome"], "missing-assignee-email", "{r}");
    let reason = last_delivery(&d)["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("Jira shows no email"), "{reason}");
}

#[test]
fn a_stalled_look_up_holds_up_only_its_own_delivery() {
    let (d, fake, w) = connected_world(QUICK_JIRA);
    let token = webhook_token(&d, w.integration);
    fake.state().rest_delay = Some(std::time::Duration::from_secs(10));
    let (d2, token2) = (d.http(), token.clone());
    let url = d.url(&format!("/extensions/jira-server/issue-updated/{token2}"));
    // Newer than the delivery sent meanwhile, so it is not judged stale.
    let mut late = hidden("800");
    late["timestamp"] = json!(chrono::Utc::now().timestamp_millis() + 60_000);
    let stalled = std::thread::spawn(move || {
        let t = std::time::Instant::now();
        let r = d2.post(url).json(&late).send().unwrap();
        (r.status().as_u16(), t.elapsed())
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Meanwhile a delivery with a visible email goes through at once.
    let t = std::time::Instant::now();
    let v = assignee_delivery(
        Some("bob@example.org"),
        "801",
        chrono::Utc::now().timestamp_millis(),
        "APP-1",
    );
    let (s, r) = deliver(&d, &token, &v);
    assert_eq!((s, r["outcome"].as_str()), (200, Some("assigned")), "{r}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        t.elapsed()
    );
    // The stalled one ends at jira.timeout_secs (2 s), not Jira's 10 s.
    let (s, took) = stalled.join().unwrap();
    assert_eq!(s, 200);
    assert!(took < std::time::Duration::from_secs(6), "{took:?}");
    let reason = d.admin().must_get("/v1/deliveries?key=APP-1&limit=1")[0]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("look-up failed"), "{reason}");
}
