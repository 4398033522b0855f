//! Hostile and unusual input on the inbound side (SPEC sections 4 and 6):
//! oversized or odd keys, bodies that are not JSON, bad tokens, bad ids in
//! paths, imported secrets. Every bad input gets a clear 4xx and loses nothing.

use crate::common::*;
use serde_json::json;

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
