//! Connecting to Jira: the OAuth 1.0a RSA-SHA1 handshake against a fake
//! Jira that verifies every signature, the browser callback, the `oob`
//! verifier route, the webhook registration, and every way it can fail.

use crate::common::*;
use crate::fake_jira::{data, FakeJira, CONSUMER_KEY};
use base64::Engine;
use serde_json::{json, Value};

const CALLBACK: &str = "/extensions/jira-server/oauth/callback";
const PUBLIC_URL: &str = "http://127.0.0.1:8080";

fn daemon() -> Daemon {
    Daemon::start_with("[jira]\ntimeout_secs = 5\n", &[])
}

fn body(fake: &FakeJira, pem: &str, callback: &str) -> Value {
    json!({
        "name": "Test Jira",
        "base_url": format!("{}/", fake.base_url()),
        "consumer_key": CONSUMER_KEY,
        "private_key_pem": pem,
        "callback": callback,
    })
}

/// The `oauth_token` of an authorize URL.
fn token_of(authorize_url: &str) -> String {
    let u = url::Url::parse(authorize_url).unwrap();
    u.query_pairs()
        .find(|(k, _)| k == "oauth_token")
        .map(|(_, v)| v.into_owned())
        .expect("oauth_token in authorize_url")
}

/// GET the callback page: (status, HTML).
fn callback(d: &Daemon, query: &str) -> (u16, String) {
    let r = d
        .http()
        .get(d.url(&format!("{CALLBACK}?{query}")))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("text/html"), "content type {ct}");
    (status, r.text().unwrap())
}

/// Start a handshake; returns (integration id, request token).
fn start(d: &Daemon, fake: &FakeJira, pem: &str, cb: &str) -> (u64, String, Value) {
    let v = d.admin().must_post("/v1/integrations", body(fake, pem, cb), 201);
    assert_eq!(v["status"], "pending");
    assert_eq!(v["external_id"], format!("127.0.0.1:{CONSUMER_KEY}"));
    let url = v["authorize_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!(
            "{}/plugins/servlet/oauth/authorize?oauth_token=",
            fake.base_url()
        )),
        "{url}"
    );
    (v["id"].as_u64().unwrap(), token_of(url), v)
}

/// The registered webhook: its URL has the spec's shape and its JWT names
/// the integration's external id.
fn check_webhook(fake: &FakeJira, endpoint: &str) -> String {
    let st = fake.state();
    let (path, hook) = st.webhooks.last().expect("a webhook was registered").clone();
    assert_eq!(path, endpoint);
    assert_eq!(hook["name"], "synclink issue sync");
    assert_eq!(
        hook["events"],
        json!(["jira:issue_created", "jira:issue_updated"])
    );
    let url = hook["url"].as_str().unwrap().to_string();
    let prefix = format!("{PUBLIC_URL}/extensions/jira-server/issue-updated/");
    let jwt = url.strip_prefix(&prefix).expect("webhook URL shape");
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: Value = serde_json::from_slice(&b64.decode(parts[0]).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    assert_eq!(claims["id"], format!("127.0.0.1:{CONSUMER_KEY}"));
    url
}

/// Nothing secret in the daemon's logs or in what the admin API answered.
fn assert_no_secrets(d: &Daemon, fake: &FakeJira, pem: &str, replies: &[&Value]) {
    let logs = d.log_text();
    let st = fake.state();
    let mut secrets: Vec<String> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 20)
        .map(str::to_string)
        .collect();
    secrets.extend(st.access_tokens.keys().cloned());
    secrets.extend(st.access_tokens.values().cloned());
    secrets.extend(st.request_tokens.values().map(|r| r.secret.clone()));
    for s in &secrets {
        assert!(!logs.contains(s.as_str()), "secret {s} in the logs");
        for r in replies {
            assert!(!r.to_string().contains(s.as_str()), "secret {s} in {r}");
        }
    }
    for r in replies {
        let t = r.to_string();
        assert!(!t.contains("PRIVATE KEY"), "{t}");
        assert!(r.get("webhook_secret").is_none() && r.get("private_key").is_none());
        assert!(r.get("access_token").is_none() && r.get("access_token_secret").is_none());
    }
}

#[test]
fn pkcs1_key_connects_through_the_browser_callback() {
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    let d = daemon();
    let pem = data("jira_pkcs1.pem");
    let (id, token, created) = start(&d, &fake, &pem, "web");
    let rt = fake.authorize(&token);
    assert_eq!(rt.callback, format!("{PUBLIC_URL}{CALLBACK}"));
    let (status, html) = callback(&d, &format!("oauth_token={token}&oauth_verifier={}", rt.verifier));
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("connection active"), "{html}");
    // Every request reached Jira signed, and verified.
    let seen = fake.requests();
    assert_eq!(
        seen.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
        [
            "/plugins/servlet/oauth/request-token",
            "/plugins/servlet/oauth/access-token",
            "/rest/api/2/serverInfo",
            "/rest/webhooks/1.0/webhook"
        ]
    );
    assert!(seen.iter().all(|r| r.signed_ok));
    assert_eq!(seen[1].oauth["oauth_token"], token);
    assert_eq!(seen[1].oauth["oauth_verifier"], rt.verifier);
    let at = fake.state().access_tokens.keys().next().unwrap().clone();
    assert_eq!(seen[3].oauth["oauth_token"], at);
    check_webhook(&fake, "/rest/webhooks/1.0/webhook");
    // Active: the handshake is over, the callback link is spent.
    assert_error(
        &d.admin().post(&format!("/v1/integrations/{id}/verifier"), json!({"verifier": "x"})),
        409,
        "conflict",
    );
    let (status, _) = callback(&d, &format!("oauth_token={token}&oauth_verifier={}", rt.verifier));
    assert_eq!(status, 400);
    // Registering again works and answers the active integration.
    let again = d
        .admin()
        .must_post(&format!("/v1/integrations/{id}/webhook"), json!({}), 200);
    assert_eq!(again["status"], "active");
    assert_eq!(again["last_error"], Value::Null);
    assert_eq!(again["webhook"]["endpoint"], "/rest/webhooks/1.0/webhook");
    assert_eq!(again["webhook"]["status"], 201);
    assert_eq!(fake.state().webhooks.len(), 2);
    assert_eq!(d.wait_event("jira-connected")["integration"], id);
    assert_no_secrets(&d, &fake, &pem, &[&created, &again]);
}

#[test]
fn pkcs8_key_connects_out_of_band_with_the_verifier_route() {
    let fake = FakeJira::start(&data("jira_pkcs8.pub.pem"));
    let d = daemon();
    let pem = data("jira_pkcs8.pem");
    let (id, token, created) = start(&d, &fake, &pem, "oob");
    let rt = fake.authorize(&token);
    assert_eq!(rt.callback, "oob");
    let v = d.admin().must_post(
        &format!("/v1/integrations/{id}/verifier"),
        json!({"verifier": rt.verifier}),
        200,
    );
    assert_eq!(v["id"], id);
    assert_eq!(v["status"], "active");
    assert_eq!(v["has_access_token"], true);
    assert_eq!(v["webhook"]["endpoint"], "/rest/webhooks/1.0/webhook");
    assert!(v["webhook"]["jira_webhook"].as_str().unwrap().starts_with("http://jira.test/"));
    assert!(fake.requests().iter().all(|r| r.signed_ok));
    check_webhook(&fake, "/rest/webhooks/1.0/webhook");
    assert_no_secrets(&d, &fake, &pem, &[&created, &v]);
    // A second connect for an active integration is a conflict, sent nowhere.
    let before = fake.requests().len();
    assert_error(
        &d.admin().post("/v1/integrations", body(&fake, &pem, "oob")),
        409,
        "conflict",
    );
    assert_eq!(fake.requests().len(), before);
}

#[test]
fn a_key_jira_does_not_know_is_refused_by_the_fake() {
    // The fake trusts the PKCS#1 key; sign with the PKCS#8 one.
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    let d = daemon();
    let r = d
        .admin()
        .post("/v1/integrations", body(&fake, &data("jira_pkcs8.pem"), "web"));
    assert_error(&r, 502, "upstream");
    assert_eq!(r.1["error"]["jira_status"], 401);
    assert!(r.1["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Could not fetch a request token from Jira."));
    assert_eq!(fake.requests().len(), 1);
    assert!(!fake.requests()[0].signed_ok);
    assert_eq!(d.admin().must_get("/v1/status")["counts"]["integrations"], 0);
}

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
    let (status, html) = callback(&d, &format!("oauth_token={token}&oauth_verifier={}", rt.verifier));
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
    let (status, html) = callback(&d, &format!("oauth_token={token}&oauth_verifier={}", rt.verifier));
    assert_eq!(status, 400);
    assert!(html.contains("expired"), "{html}");
    assert_error(
        &d.admin().post(&format!("/v1/integrations/{id}/verifier"), json!({"verifier": rt.verifier})),
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
    assert!(msg.starts_with("Could not fetch an access token from Jira"), "{msg}");
    assert!(msg.contains("token_expired"), "{msg}");
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
    assert_eq!(d.admin().must_get("/v1/status")["counts"]["integrations"], 1);
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
    assert!(msg.starts_with("Could not fetch a request token from Jira."), "{msg}");
    assert!(msg.contains("503") && msg.contains("Jira is starting up"), "{msg}");
    assert_eq!(d.admin().must_get("/v1/status")["counts"]["integrations"], 0);
    assert!(d.events("jira-request-token-failed").len() == 1);
    // Jira is back: the same request now works.
    fake.state().fail_request_token = false;
    start(&d, &fake, &pem, "web");
    assert_eq!(d.admin().must_get("/v1/status")["counts"]["integrations"], 1);
}

#[test]
fn access_token_500_is_a_502_then_the_retry_works() {
    let fake = FakeJira::start(&data("jira_pkcs8.pub.pem"));
    let d = daemon();
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
    assert!(msg.starts_with("Could not fetch an access token from Jira"), "{msg}");
    assert!(msg.contains("database unavailable"), "{msg}");
    // Through the browser too: a page saying what failed.
    let (status, html) = callback(&d, &format!("oauth_token={token}&oauth_verifier={}", rt.verifier));
    assert_eq!(status, 502);
    assert!(html.contains("Could not fetch an access token from Jira"), "{html}");
    // Still pending (a webhook retry has no access token to use).
    let r = d.admin().post(&format!("/v1/integrations/{id}/webhook"), json!({}));
    assert_error(&r, 409, "conflict");
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
    let (status, html) = callback(&d, &format!("oauth_token={token}&oauth_verifier={}", rt.verifier));
    assert_eq!(status, 502);
    assert!(
        html.contains("Could not create issue webhook in Jira. You do not have the permission to register webhooks."),
        "{html}"
    );
    // The access token is kept; the verifier is spent.
    let r = d.admin().post(&format!("/v1/integrations/{id}/webhook"), json!({}));
    assert_error(&r, 502, "upstream");
    assert_eq!(r.1["error"]["jira_status"], 403);
    assert!(r.1["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Could not create issue webhook in Jira. You do not have the permission"));
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
        (with("private_key_pem", json!("not a key")), "private_key_pem"),
        (with("private_key_pem", json!(truncated)), "private_key_pem"),
        (
            with("private_key_pem", json!(data("jira_pkcs1.pub.pem"))),
            "private_key_pem",
        ),
        (with("base_url", json!("jira.example.org")), "base_url"),
        (with("base_url", json!("ftp://jira.example.org")), "base_url"),
        (with("base_url", json!("")), "base_url"),
        (with("consumer_key", json!("k".repeat(201))), "consumer_key"),
        (with("consumer_key", json!("")), "consumer_key"),
        (with("callback", json!("mail")), "callback"),
        (with("verify_ssl", json!("yes")), ""),
        (json!({"base_url": fake.base_url(), "consumer_key": "k"}), "private_key_pem"),
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
    assert_error(&a.post("/v1/integrations/999/webhook", json!({})), 404, "not_found");
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    assert_eq!(a.must_get("/v1/status")["counts"]["integrations"], 0);
}

#[test]
fn jira_timeout_is_honoured() {
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    fake.state().request_token_delay = Some(std::time::Duration::from_secs(4));
    let d = Daemon::start_with("[jira]\ntimeout_secs = 1\n", &[]);
    let r = d
        .admin()
        .post("/v1/integrations", body(&fake, &data("jira_pkcs1.pem"), "web"));
    assert_error(&r, 502, "upstream");
    assert_eq!(r.1["error"]["jira_status"], Value::Null);
    let msg = r.1["error"]["message"].as_str().unwrap();
    assert!(msg.starts_with("Could not fetch a request token from Jira."), "{msg}");
    assert!(msg.contains("timed out"), "{msg}");
    assert_eq!(d.admin().must_get("/v1/status")["counts"]["integrations"], 0);
}

#[test]
#[ignore = "needs the webhook receiver (issue 3)"]
fn the_registered_webhook_url_is_accepted() {
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    let d = daemon();
    let (id, token, _) = start(&d, &fake, &data("jira_pkcs1.pem"), "oob");
    d.admin().must_post(
        &format!("/v1/integrations/{id}/verifier"),
        json!({"verifier": fake.authorize(&token).verifier}),
        200,
    );
    let url = check_webhook(&fake, "/rest/webhooks/1.0/webhook");
    let path = url.strip_prefix(PUBLIC_URL).unwrap();
    let r = d
        .http()
        .post(d.url(path))
        .header("content-type", "application/json")
        .body(std::fs::read_to_string(fixture("issue_status_changed.json")).unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // A token signed with another secret is refused.
    let mut forged = path.to_string();
    forged.pop();
    forged.push('x');
    let r = d
        .http()
        .post(d.url(&forged))
        .header("content-type", "application/json")
        .body(std::fs::read_to_string(fixture("issue_status_changed.json")).unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}
