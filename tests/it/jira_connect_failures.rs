//! Connecting to Jira, the failures: denied and missing verifiers, unknown
//! and expired request tokens, Jira errors at each step and their retries,
//! timeouts, and bad input that never reaches Jira.

use crate::common::fake_jira::{data, FakeJira};
use crate::common::*;
use crate::jira_connect::{
    assert_pending_with_error, body, callback, check_webhook, daemon, start,
};
use serde_json::{json, Value};

#[test]
fn denied_or_missing_verifier_keeps_the_integration_pending() {
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    let d = daemon();
    let (id, token, _) = start(&d, &fake, &data("jira_pkcs1.pem"), "web");
    for q in [
        format!("oauth_token={token}&oauth_verifier=denied"),
        format!("oauth_token={token}"),
        format!("oauth_token={token}&oauth_verifier="),
    ] {
        let (status, html) = callback(&d, &q);
        assert_eq!(status, 400, "{q}: {html}");
        assert!(html.contains("Missing OAuth token verifier"), "{html}");
    }
    let r = d
        .admin()
        .post(&format!("/v1/integrations/{id}/verifier"), json!({}));
    assert_error(&r, 400, "bad_request");
    assert_eq!(r.1["error"]["message"], "Missing OAuth token verifier");
    // No access token was asked for.
    assert_eq!(fake.count("/plugins/servlet/oauth/access-token"), 0);
    // Still pending: the real verifier finishes it.
    let rt = fake.authorize(&token);
    let (status, html) = callback(
        &d,
        &format!("oauth_token={token}&oauth_verifier={}", rt.verifier),
    );
    assert_eq!(status, 200, "{html}");
}

#[test]
fn unknown_and_expired_request_tokens_get_a_400_page() {
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    let d = Daemon::start_with("[jira]\ntimeout_secs = 5\npending_ttl_secs = 1\n", &[]);
    let (status, html) = callback(&d, "oauth_token=%3Cb%3Enope%3C%2Fb%3E&oauth_verifier=v");
    assert_eq!(status, 400);
    assert!(html.contains("Unknown OAuth token"), "{html}");
    assert!(!html.contains("<b>nope"), "{html}");
    let (status, _) = callback(&d, "");
    assert_eq!(status, 400);
    let (id, token, _) = start(&d, &fake, &data("jira_pkcs1.pem"), "web");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let rt = fake.authorize(&token);
    let (status, html) = callback(
        &d,
        &format!("oauth_token={token}&oauth_verifier={}", rt.verifier),
    );
    assert_eq!(status, 400);
    assert!(html.contains("expired"), "{html}");
    assert_error(
        &d.admin().post(
            &format!("/v1/integrations/{id}/verifier"),
            json!({"verifier": rt.verifier}),
        ),
        409,
        "conflict",
    );
    assert_eq!(fake.count("/plugins/servlet/oauth/access-token"), 0);
}

#[test]
fn jira_expired_request_token_then_restart_the_handshake() {
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    let d = daemon();
    let pem = data("jira_pkcs1.pem");
    let (id, token, _) = start(&d, &fake, &pem, "oob");
    fake.state().access_token_problem = Some("token_expired".into());
    let rt = fake.authorize(&token);
    let r = d.admin().post(
        &format!("/v1/integrations/{id}/verifier"),
        json!({"verifier": rt.verifier}),
    );
    assert_error(&r, 502, "upstream");
    let msg = r.1["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Could not fetch an access token from Jira"),
        "{msg}"
    );
    assert!(msg.contains("token_expired"), "{msg}");
    assert_pending_with_error(&d, id, "token_expired");
    // Connect again for the same external id: the pending integration's
    // handshake restarts (same id, new request token).
    fake.state().access_token_problem = None;
    let (id2, token2, _) = start(&d, &fake, &pem, "oob");
    assert_eq!(id2, id);
    assert_ne!(token2, token);
    let v = d.admin().must_post(
        &format!("/v1/integrations/{id}/verifier"),
        json!({"verifier": fake.authorize(&token2).verifier}),
        200,
    );
    assert_eq!(v["status"], "active");
    assert_eq!(
        d.admin().must_get("/v1/status")["counts"]["integrations"],
        1
    );
}

#[test]
fn request_token_503_is_a_502_and_leaves_nothing_behind() {
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    let d = daemon();
    let pem = data("jira_pkcs1.pem");
    fake.state().fail_request_token = true;
    let r = d.admin().post("/v1/integrations", body(&fake, &pem, "web"));
    assert_error(&r, 502, "upstream");
    assert_eq!(r.1["error"]["jira_status"], 503);
    let msg = r.1["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Could not fetch a request token from Jira."),
        "{msg}"
    );
    assert!(
        msg.contains("503") && msg.contains("Jira is starting up"),
        "{msg}"
    );
    assert_eq!(
        d.admin().must_get("/v1/status")["counts"]["integrations"],
        0
    );
    assert!(d.events("jira-request-token-failed").len() == 1);
    // Jira is back: the same request now works.
    fake.state().fail_request_token = false;
    start(&d, &fake, &pem, "web");
    assert_eq!(
        d.admin().must_get("/v1/status")["counts"]["integrations"],
        1
    );
}

#[test]
fn access_token_500_is_a_502_then_the_retry_works() {
    let fake = FakeJira::start(&data("jira_pkcs8.pub.pem"));
    let mut d = daemon();
    let (id, token, _) = start(&d, &fake, &data("jira_pkcs8.pem"), "web");
    fake.state().fail_access_token = true;
    let rt = fake.authorize(&token);
    let r = d.admin().post(
        &format!("/v1/integrations/{id}/verifier"),
        json!({"verifier": rt.verifier}),
    );
    assert_error(&r, 502, "upstream");
    assert_eq!(r.1["error"]["jira_status"], 500);
    let msg = r.1["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Could not fetch an access token from Jira"),
        "{msg}"
    );
    assert!(msg.contains("database unavailable"), "{msg}");
    assert_pending_with_error(&d, id, "Could not fetch an access token from Jira");
    // Through the browser too: a page saying what failed.
    let (status, html) = callback(
        &d,
        &format!("oauth_token={token}&oauth_verifier={}", rt.verifier),
    );
    assert_eq!(status, 502);
    assert!(
        html.contains("Could not fetch an access token from Jira"),
        "{html}"
    );
    // Still pending (a webhook retry has no access token to use).
    let r = d
        .admin()
        .post(&format!("/v1/integrations/{id}/webhook"), json!({}));
    assert_error(&r, 409, "conflict");
    // The pending handshake survives a restart.
    d.stop();
    d.restart();
    fake.state().fail_access_token = false;
    let v = d.admin().must_post(
        &format!("/v1/integrations/{id}/verifier"),
        json!({"verifier": rt.verifier}),
        200,
    );
    assert_eq!(v["status"], "active");
    assert_eq!(v["last_error"], Value::Null);
}

#[test]
fn webhook_403_keeps_it_pending_then_the_webhook_retry_activates_it() {
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    let d = daemon();
    let (id, token, _) = start(&d, &fake, &data("jira_pkcs1.pem"), "web");
    fake.state().fail_webhook = true;
    let rt = fake.authorize(&token);
    let (status, html) = callback(
        &d,
        &format!("oauth_token={token}&oauth_verifier={}", rt.verifier),
    );
    assert_eq!(status, 502);
    assert!(
        html.contains("Could not create issue webhook in Jira. You do not have the permission to register webhooks."),
        "{html}"
    );
    // The access token is kept; the verifier is spent.
    let r = d
        .admin()
        .post(&format!("/v1/integrations/{id}/webhook"), json!({}));
    assert_error(&r, 502, "upstream");
    assert_eq!(r.1["error"]["jira_status"], 403);
    assert!(r.1["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Could not create issue webhook in Jira. You do not have the permission"));
    assert_pending_with_error(&d, id, "Could not create issue webhook in Jira.");
    fake.state().fail_webhook = false;
    let v = d
        .admin()
        .must_post(&format!("/v1/integrations/{id}/webhook"), json!({}), 200);
    assert_eq!(v["status"], "active");
    assert_eq!(v["last_error"], Value::Null);
    assert_eq!(v["webhook"]["status"], 201);
    check_webhook(&fake, "/rest/webhooks/1.0/webhook");
    assert_eq!(fake.state().webhooks.len(), 1);
}

/// An answer that never ends (a broken proxy, a hostile server at Jira's
/// address) is refused once it passes 8 MiB: the daemon stays up, nothing
/// is buffered whole, and the retry works.
#[test]
fn an_endless_answer_is_refused_not_buffered() {
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    let d = daemon();
    let (id, token, _) = start(&d, &fake, &data("jira_pkcs1.pem"), "oob");
    fake.state().endless_body = Some("/rest/api/2/serverInfo".into());
    let r = d.admin().post(
        &format!("/v1/integrations/{id}/verifier"),
        json!({"verifier": fake.authorize(&token).verifier}),
    );
    assert_error(&r, 502, "upstream");
    let msg = r.1["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("Could not create issue webhook in Jira. Could not read the Jira version: the answer is larger than 8388608 bytes"),
        "{msg}"
    );
    assert_eq!(r.1["error"]["jira_status"], 200);
    assert_pending_with_error(&d, id, "Could not read the Jira version");
    assert_eq!(fake.state().webhooks.len(), 0);
    // The same daemon, the next answer whole: registered.
    let v = d
        .admin()
        .must_post(&format!("/v1/integrations/{id}/webhook"), json!({}), 200);
    assert_eq!(v["status"], "active");
    check_webhook(&fake, "/rest/webhooks/1.0/webhook");
}

#[test]
fn jira_10_gets_its_new_webhook_endpoint() {
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    fake.state().version = vec![10, 3, 1];
    let d = daemon();
    let (id, token, _) = start(&d, &fake, &data("jira_pkcs1.pem"), "oob");
    let v = d.admin().must_post(
        &format!("/v1/integrations/{id}/verifier"),
        json!({"verifier": fake.authorize(&token).verifier}),
        200,
    );
    assert_eq!(v["webhook"]["endpoint"], "/rest/jira-webhook/1.0/webhooks");
    check_webhook(&fake, "/rest/jira-webhook/1.0/webhooks");
    assert_eq!(fake.count("/rest/webhooks/1.0/webhook"), 0);
}

#[test]
fn bad_input_is_a_400_and_nothing_reaches_jira() {
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    let d = daemon();
    let pem = data("jira_pkcs1.pem");
    let a = d.admin();
    let good = body(&fake, &pem, "web");
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    let truncated: String = pem.lines().take(4).collect::<Vec<_>>().join("\n");
    for (b, needle) in [
        (
            with("private_key_pem", json!("not a key")),
            "private_key_pem",
        ),
        (with("private_key_pem", json!(truncated)), "private_key_pem"),
        (
            with("private_key_pem", json!(data("jira_pkcs1.pub.pem"))),
            "private_key_pem",
        ),
        (with("base_url", json!("jira.example.org")), "base_url"),
        (
            with("base_url", json!("ftp://jira.example.org")),
            "base_url",
        ),
        (with("base_url", json!("")), "base_url"),
        (with("consumer_key", json!("k".repeat(201))), "consumer_key"),
        (with("consumer_key", json!("")), "consumer_key"),
        (with("callback", json!("mail")), "callback"),
        (with("verify_ssl", json!("yes")), ""),
        (
            json!({"base_url": fake.base_url(), "consumer_key": "k"}),
            "private_key_pem",
        ),
    ] {
        let r = a.post("/v1/integrations", b.clone());
        assert_error(&r, 400, "bad_request");
        let msg = r.1["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{msg}");
        assert!(!msg.contains("MII"), "the error quotes the key: {msg}");
    }
    assert_error(&a.post_raw("/v1/integrations", "{nope"), 400, "bad_request");
    assert_error(
        &a.post("/v1/integrations/abc/verifier", json!({"verifier": "v"})),
        400,
        "bad_request",
    );
    assert_error(
        &a.post("/v1/integrations/999/verifier", json!({"verifier": "v"})),
        404,
        "not_found",
    );
    assert_error(
        &a.post("/v1/integrations/999/webhook", json!({})),
        404,
        "not_found",
    );
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    assert_eq!(a.must_get("/v1/status")["counts"]["integrations"], 0);
}

#[test]
fn jira_timeout_is_honoured() {
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    fake.state().request_token_delay = Some(std::time::Duration::from_secs(4));
    let d = Daemon::start_with("[jira]\ntimeout_secs = 1\n", &[]);
    let r = d.admin().post(
        "/v1/integrations",
        body(&fake, &data("jira_pkcs1.pem"), "web"),
    );
    assert_error(&r, 502, "upstream");
    assert_eq!(r.1["error"]["jira_status"], Value::Null);
    let msg = r.1["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Could not fetch a request token from Jira."),
        "{msg}"
    );
    assert!(msg.contains("timed out"), "{msg}");
    assert_eq!(
        d.admin().must_get("/v1/status")["counts"]["integrations"],
        0
    );
}
