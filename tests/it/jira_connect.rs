//! Connecting to Jira: the OAuth 1.0a RSA-SHA1 handshake against a fake
//! Jira that verifies every signature, the browser callback, the `oob`
//! verifier route, the webhook registration, and every way it can fail.

use crate::common::fake_jira::{data, FakeJira, CONSUMER_KEY};
use crate::common::*;
use base64::Engine;
use serde_json::{json, Value};

pub const CALLBACK: &str = "/extensions/jira-server/oauth/callback";
pub const PUBLIC_URL: &str = "http://127.0.0.1:8080";

pub fn daemon() -> Daemon {
    Daemon::start_with("[jira]\ntimeout_secs = 5\n", &[])
}

pub fn body(fake: &FakeJira, pem: &str, callback: &str) -> Value {
    json!({
        "name": "Test Jira",
        "base_url": format!("{}/", fake.base_url()),
        "consumer_key": CONSUMER_KEY,
        "private_key_pem": pem,
        "callback": callback,
    })
}

/// The `oauth_token` of an authorize URL.
pub fn token_of(authorize_url: &str) -> String {
    let u = url::Url::parse(authorize_url).unwrap();
    u.query_pairs()
        .find(|(k, _)| k == "oauth_token")
        .map(|(_, v)| v.into_owned())
        .expect("oauth_token in authorize_url")
}

/// GET the callback page: (status, HTML).
pub fn callback(d: &Daemon, query: &str) -> (u16, String) {
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
pub fn start(d: &Daemon, fake: &FakeJira, pem: &str, cb: &str) -> (u64, String, Value) {
    let v = d
        .admin()
        .must_post("/v1/integrations", body(fake, pem, cb), 201);
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
pub fn check_webhook(fake: &FakeJira, endpoint: &str) -> String {
    let st = fake.state();
    let (path, hook) = st
        .webhooks
        .last()
        .expect("a webhook was registered")
        .clone();
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

/// The stored integration through `GET /v1/integrations/{id}`.
pub fn stored(d: &Daemon, id: u64) -> Value {
    d.admin().must_get(&format!("/v1/integrations/{id}"))
}

/// Pending with `last_error` containing `needle`.
pub fn assert_pending_with_error(d: &Daemon, id: u64, needle: &str) {
    let v = stored(d, id);
    assert_eq!(v["status"], "pending", "{v}");
    let e = v["last_error"].as_str().unwrap_or_default();
    assert!(e.contains(needle), "last_error {e:?} lacks {needle:?}");
}

/// Nothing secret in the daemon's logs or in what the admin API answered.
pub fn assert_no_secrets(d: &Daemon, fake: &FakeJira, pem: &str, replies: &[&Value]) {
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
    let (status, html) = callback(
        &d,
        &format!("oauth_token={token}&oauth_verifier={}", rt.verifier),
    );
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
            "/rest/webhooks/1.0/webhook",
            // Active: its Jira statuses are read (SPEC section 10).
            "/rest/api/2/status"
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
        &d.admin().post(
            &format!("/v1/integrations/{id}/verifier"),
            json!({"verifier": "x"}),
        ),
        409,
        "conflict",
    );
    let (status, _) = callback(
        &d,
        &format!("oauth_token={token}&oauth_verifier={}", rt.verifier),
    );
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
    assert!(v["webhook"]["jira_webhook"]
        .as_str()
        .unwrap()
        .starts_with("http://jira.test/"));
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
    let r = d.admin().post(
        "/v1/integrations",
        body(&fake, &data("jira_pkcs8.pem"), "web"),
    );
    assert_error(&r, 502, "upstream");
    assert_eq!(r.1["error"]["jira_status"], 401);
    assert!(r.1["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Could not fetch a request token from Jira."));
    assert_eq!(fake.requests().len(), 1);
    assert!(!fake.requests()[0].signed_ok);
    assert_eq!(
        d.admin().must_get("/v1/status")["counts"]["integrations"],
        0
    );
}

#[test]
fn two_finishes_of_one_handshake_do_not_overwrite_each_other() {
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    fake.state().access_token_delay = Some(std::time::Duration::from_millis(500));
    let d = daemon();
    let (id, token, _) = start(&d, &fake, &data("jira_pkcs1.pem"), "web");
    let verifier = fake.authorize(&token).verifier;
    let query = format!("oauth_token={token}&oauth_verifier={verifier}");
    let (page, admin) = std::thread::scope(|s| {
        let page = s.spawn(|| callback(&d, &query));
        let admin = s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            d.admin().post(
                &format!("/v1/integrations/{id}/verifier"),
                json!({"verifier": verifier}),
            )
        });
        (page.join().unwrap(), admin.join().unwrap())
    });
    let oks = [page.0 == 200, admin.0 == 200];
    assert_eq!(oks.iter().filter(|o| **o).count(), 1, "{page:?} {admin:?}");
    if admin.0 != 200 {
        assert_error(&admin, 409, "conflict");
    }
    // Exactly one exchange and one webhook; the integration ends active.
    assert_eq!(fake.count("/plugins/servlet/oauth/access-token"), 1);
    assert_eq!(fake.state().webhooks.len(), 1);
    let v = d
        .admin()
        .must_post(&format!("/v1/integrations/{id}/webhook"), json!({}), 200);
    assert_eq!(v["status"], "active");
}

#[test]
fn a_panic_in_the_jira_actor_is_caught_and_the_actor_restarted() {
    let fake = FakeJira::start(&data("jira_pkcs1.pub.pem"));
    let d = Daemon::start_with(
        "[jira]\ntimeout_secs = 5\n",
        &[("SYNCLINK_FAILPOINTS", "jira-connect-panic")],
    );
    let mut b = body(&fake, &data("jira_pkcs1.pem"), "oob");
    b["name"] = json!("panic-please");
    let r = d.admin().post("/v1/integrations", b);
    assert_eq!(r.0, 500, "{r:?}");
    assert_eq!(r.1["error"]["code"], "internal");
    assert_eq!(d.wait_event("actor-panic")["actor"], "jira");
    // Restarted: the next request is served.
    start(&d, &fake, &data("jira_pkcs1.pem"), "oob");
    let st = d.admin().must_get("/v1/status");
    assert!(st["actors"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["alive"] == true));
    let metrics = d.metrics_text();
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("jira") && l.contains("restart") && l.ends_with(" 1")),
        "{metrics}"
    );
}

#[test]
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
    let forged_jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"id": format!("127.0.0.1:{CONSUMER_KEY}")}),
        &jsonwebtoken::EncodingKey::from_secret(b"not the webhook secret"),
    )
    .unwrap();
    let forged = format!("/extensions/jira-server/issue-updated/{forged_jwt}");
    let r = d
        .http()
        .post(d.url(&forged))
        .header("content-type", "application/json")
        .body(std::fs::read_to_string(fixture("issue_status_changed.json")).unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}
