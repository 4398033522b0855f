//! An integration's Jira statuses and its status mappings (SPEC section 10),
//! against the fake Jira (every request's RSA-SHA1 signature checked).

use crate::common::fake_jira::{data, FakeJira};
use crate::common::*;
use crate::jira_connect::{daemon, start};
use serde_json::json;

/// A daemon with an integration connected to `fake` (active, webhook
/// registered, statuses read once on activation). Returns its id.
pub fn connected(d: &Daemon, fake: &FakeJira) -> u64 {
    let (id, token, _) = start(d, fake, &data("jira_pkcs1.pem"), "oob");
    let verifier = fake.state().request_tokens[&token].verifier.clone();
    let i = d.admin().must_post(
        &format!("/v1/integrations/{id}/verifier"),
        json!({ "verifier": verifier }),
        200,
    );
    assert_eq!(i["status"], "active", "{i}");
    id
}

#[test]
fn statuses_are_read_when_active_and_on_refresh() {
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    let d = daemon();
    let id = connected(&d, &fake);
    // Read once when the integration became active.
    assert_eq!(fake.count("/rest/api/2/status"), 1);
    assert!(fake
        .requests()
        .iter()
        .filter(|r| r.path == "/rest/api/2/status")
        .all(|r| r.signed_ok));
    let list = d
        .admin()
        .must_get(&format!("/v1/integrations/{id}/statuses"));
    let list = list.as_array().unwrap();
    assert!(list.len() >= 5, "{list:?}");
    let done: Vec<&str> = list
        .iter()
        .filter(|s| s["category"] == "done")
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(!done.is_empty(), "{list:?}");
    d.wait_event("jira-statuses-read");
    // Jira's list changes; a refresh reads it again.
    fake.state().statuses = json!([
        {"id": "1", "name": "Open", "statusCategory": {"key": "new"}},
        {"id": "77", "name": "Shipped", "statusCategory": {"key": "done"}}
    ]);
    let r = d.admin().must_post(
        &format!("/v1/integrations/{id}/statuses/refresh"),
        json!({}),
        200,
    );
    assert_eq!(
        r,
        json!([
            {"id": "1", "name": "Open", "category": "new"},
            {"id": "77", "name": "Shipped", "category": "done"}
        ])
    );
    assert_eq!(fake.count("/rest/api/2/status"), 2);
}

#[test]
fn a_failing_jira_is_a_502_and_keeps_the_old_list() {
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    let d = daemon();
    let id = connected(&d, &fake);
    let before = d
        .admin()
        .must_get(&format!("/v1/integrations/{id}/statuses"));
    fake.state().fail_statuses = Some(500);
    let r = d.admin().post(
        &format!("/v1/integrations/{id}/statuses/refresh"),
        json!({}),
    );
    assert_error(&r, 502, "upstream");
    assert_eq!(r.1["error"]["jira_status"], 500);
    assert!(r.1["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Could not read the statuses in Jira"));
    d.wait_event("jira-statuses-failed");
    assert_eq!(
        d.admin()
            .must_get(&format!("/v1/integrations/{id}/statuses")),
        before
    );
    // 401: the integration's last_error says so.
    fake.state().fail_statuses = Some(401);
    let r = d.admin().post(
        &format!("/v1/integrations/{id}/statuses/refresh"),
        json!({}),
    );
    assert_error(&r, 502, "upstream");
    let i = d.admin().must_get(&format!("/v1/integrations/{id}"));
    assert!(i["last_error"].as_str().unwrap().contains("401"), "{i}");
}

#[test]
fn status_routes_need_an_existing_connected_integration() {
    let d = Daemon::start();
    assert_error(
        &d.admin().get("/v1/integrations/999/statuses"),
        404,
        "not_found",
    );
    assert_error(
        &d.admin()
            .post("/v1/integrations/999/statuses/refresh", json!({})),
        404,
        "not_found",
    );
    // An imported integration has no access token: nothing to read with.
    let i = import(&d);
    assert_eq!(
        d.admin()
            .must_get(&format!("/v1/integrations/{i}/statuses")),
        json!([])
    );
    assert_error(
        &d.admin()
            .post(&format!("/v1/integrations/{i}/statuses/refresh"), json!({})),
        409,
        "conflict",
    );
}

#[test]
fn mappings_are_checked_against_jira_and_kept() {
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    let d = daemon();
    let id = connected(&d, &fake);
    let a = d.admin();
    let path = |p: &str| format!("/v1/integrations/{id}/status-mappings/{p}");
    // Status ids as strings, or numbers.
    let (s, m) = a.put(
        &path("app"),
        json!({"on_resolve": "10001", "on_unresolve": 1}),
    );
    assert_eq!(s, 200, "{m}");
    assert_eq!(
        m,
        json!({"integration": id, "jira_project": "APP", "on_resolve": "10001",
               "on_unresolve": "1"})
    );
    let (s, _) = a.put(
        &path("TES"),
        json!({"on_resolve": "6", "on_unresolve": "4"}),
    );
    assert_eq!(s, 200);
    let list = a.must_get(&format!("/v1/integrations/{id}/status-mappings"));
    let keys: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["jira_project"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["APP", "TES"]);
    // Replaced on a second PUT.
    a.put(
        &path("APP"),
        json!({"on_resolve": "6", "on_unresolve": "1"}),
    );
    let list = a.must_get(&format!("/v1/integrations/{id}/status-mappings"));
    assert_eq!(list[0]["on_resolve"], "6");
    // Bad input: each a 400 naming what is wrong, nothing stored.
    let cases = [
        (
            path("APP"),
            json!({"on_resolve": "999", "on_unresolve": "1"}),
            "999",
        ),
        (path("APP"), json!({"on_resolve": "6"}), "on_unresolve"),
        (
            path("APP"),
            json!({"on_resolve": true, "on_unresolve": "1"}),
            "on_resolve",
        ),
        (
            path("NOPE"),
            json!({"on_resolve": "6", "on_unresolve": "1"}),
            "unknown Jira project NOPE",
        ),
    ];
    for (p, body, needle) in cases {
        let r = a.put(&p, body.clone());
        assert_error(&r, 400, "bad_request");
        assert!(
            r.1["error"]["message"].as_str().unwrap().contains(needle),
            "{body}: {r:?}"
        );
    }
    assert_eq!(
        a.must_get(&format!("/v1/integrations/{id}/status-mappings"))
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Delete, in any case; a second delete is 404.
    assert_eq!(a.delete(&path("tes")).0, 204);
    assert_error(&a.delete(&path("TES")), 404, "not_found");
    assert_eq!(
        a.must_get(&format!("/v1/integrations/{id}/status-mappings"))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Every request to Jira was signed.
    assert!(fake.requests().iter().all(|r| r.signed_ok));
}
