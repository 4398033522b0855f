//! Admin routes for integrations (import, views, webhook URL,
//! installations) and links.

use crate::common::*;
use serde_json::json;

#[test]
fn import_validates_and_never_shows_secrets() {
    let d = Daemon::start();
    let a = d.admin();
    let base = json!({"base_url": "https://Jira.Example.org/jira/", "consumer_key": "synclink",
                      "webhook_secret": SECRET});
    let i = a.must_post("/v1/integrations/import", base.clone(), 201);
    assert_eq!(i["status"], "active");
    assert_eq!(i["provider"], "jira_server");
    assert_eq!(i["base_url"], "https://Jira.Example.org/jira");
    assert_eq!(i["external_id"], "jira.example.org:synclink");
    assert!(i.get("webhook_secret").is_none());
    assert_error(
        &a.post("/v1/integrations/import", base.clone()),
        409,
        "conflict",
    );
    // external_id given, and the 64-character cut of the default.
    let mut b = base.clone();
    b["external_id"] = json!("legacy:id");
    assert_eq!(
        a.must_post("/v1/integrations/import", b, 201)["external_id"],
        "legacy:id"
    );
    let mut b = base.clone();
    b["consumer_key"] = json!("k".repeat(200));
    let long = a.must_post("/v1/integrations/import", b, 201);
    let ext = long["external_id"].as_str().unwrap();
    assert_eq!(ext.chars().count(), 64);
    assert!(ext.starts_with("jira.example.org:kkk"));
    for (field, value) in [
        ("base_url", json!("jira.example.org")),
        ("base_url", json!("ftp://jira.example.org")),
        ("base_url", json!("")),
        ("consumer_key", json!("k".repeat(201))),
        ("consumer_key", json!("")),
        ("webhook_secret", json!("")),
        ("external_id", json!("x".repeat(65))),
        ("external_id", json!("")),
        (
            "private_key_pem",
            json!("-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----"),
        ),
        ("access_token", json!("")),
        ("verify_ssl", json!("yes")),
    ] {
        let mut b = base.clone();
        b["consumer_key"] = json!(format!("other-{field}"));
        b[field] = value;
        assert_error(&a.post("/v1/integrations/import", b), 400, "bad_request");
    }
    let mut b = base.clone();
    b.as_object_mut().unwrap().remove("webhook_secret");
    assert_error(&a.post("/v1/integrations/import", b), 400, "bad_request");
    assert_error(
        &a.post_raw("/v1/integrations/import", "{nope"),
        400,
        "bad_request",
    );
    let list = a.must_get("/v1/integrations");
    assert_eq!(list.as_array().unwrap().len(), 3);
    assert!(!list.to_string().contains(SECRET));
    let one = a.must_get(&format!("/v1/integrations/{}", id(&i)));
    assert_eq!(one["external_id"], "jira.example.org:synclink");
    assert!(!one.to_string().contains(SECRET));
    assert_error(&a.get("/v1/integrations/999999"), 404, "not_found");
}

#[test]
fn webhook_url_holds_a_token_that_verifies() {
    let d = Daemon::start_with("[http]\npublic_url = \"https://sync.example.org/\"\n", &[]);
    let i = import(&d);
    let url = d
        .admin()
        .must_get(&format!("/v1/integrations/{i}/webhook-url"));
    let url = url["url"].as_str().unwrap();
    let prefix = "https://sync.example.org/extensions/jira-server/issue-updated/";
    assert!(url.starts_with(prefix), "{url}");
    let token = &url[prefix.len()..];
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<serde_json::Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
        &v,
    )
    .unwrap();
    assert_eq!(data.claims["id"], EXT);
    assert_error(
        &d.admin().get("/v1/integrations/999999/webhook-url"),
        404,
        "not_found",
    );
}

#[test]
fn installations_have_put_semantics_and_check_references() {
    let d = Daemon::start();
    let a = d.admin();
    let i = import(&d);
    let o = org(&d, "acme");
    let path = format!("/v1/integrations/{i}/installations");
    let r = a.must_post(
        &path,
        json!({"org": o, "sync_inbound_assignee": false}),
        201,
    );
    assert_eq!(r["sync_inbound_assignee"], false);
    a.must_post(&path, json!({"org": o, "sync_inbound_assignee": true}), 201);
    let list = a.must_get(&path);
    assert_eq!(
        list,
        json!([{"org": o, "integration": i, "sync_inbound_assignee": true,
                "sync_outbound_assignee": false, "sync_inbound_status": false,
                "sync_outbound_status": false}])
    );
    // An omitted switch keeps its value; each can be set on its own.
    let r = a.must_post(
        &path,
        json!({"org": o, "sync_inbound_status": true, "sync_outbound_status": true}),
        201,
    );
    assert_eq!(
        (
            &r["sync_inbound_assignee"],
            &r["sync_outbound_assignee"],
            &r["sync_inbound_status"],
            &r["sync_outbound_status"]
        ),
        (&json!(true), &json!(false), &json!(true), &json!(true))
    );
    let r = a.must_post(
        &path,
        json!({"org": o, "sync_outbound_assignee": true}),
        201,
    );
    assert_eq!(r["sync_outbound_assignee"], true);
    assert_eq!(r["sync_inbound_status"], true, "kept");
    // A new installation with nothing given has every switch off.
    let o2 = org(&d, "other");
    let r = a.must_post(&path, json!({"org": o2}), 201);
    for k in [
        "sync_inbound_assignee",
        "sync_outbound_assignee",
        "sync_inbound_status",
        "sync_outbound_status",
    ] {
        assert_eq!(r[k], false, "{k}");
    }
    assert_eq!(a.must_get(&path).as_array().unwrap().len(), 2);
    // A switch that is not a boolean is a clear 400.
    assert_error(
        &a.post(&path, json!({"org": o, "sync_inbound_status": "yes"})),
        400,
        "bad_request",
    );
    assert_error(
        &a.post(&path, json!({"org": 999999, "sync_inbound_assignee": true})),
        404,
        "not_found",
    );
    assert_error(
        &a.post(
            "/v1/integrations/999999/installations",
            json!({"org": o, "sync_inbound_assignee": true}),
        ),
        404,
        "not_found",
    );
    // Every switch is optional now (SPEC section 6): nothing given keeps all.
    let kept = a.must_post(&path, json!({"org": o}), 201);
    assert_eq!(kept["sync_inbound_status"], true);
    assert_error(&a.post(&path, json!({})), 400, "bad_request");
}

#[test]
fn links_create_list_conflict_and_delete() {
    let d = Daemon::start();
    let w = setup(&d);
    let a = d.admin();
    let path = format!("/v1/groups/{}/links", w.group);
    assert_eq!(
        a.must_get(&path),
        json!([{"group": w.group, "integration": w.integration, "key": "APP-1"}])
    );
    let l = json!({"group": w.group, "integration": w.integration, "key": "APP-1"});
    assert_error(&a.post("/v1/links", l), 409, "conflict");
    for (body, status, code) in [
        (
            json!({"group": 999999, "integration": w.integration, "key": "X-1"}),
            404,
            "not_found",
        ),
        (
            json!({"group": w.group, "integration": 999999, "key": "X-1"}),
            404,
            "not_found",
        ),
        (
            json!({"group": w.group, "integration": w.integration, "key": ""}),
            400,
            "bad_request",
        ),
        (
            json!({"group": w.group, "integration": w.integration, "key": "A B"}),
            400,
            "bad_request",
        ),
        (
            json!({"group": w.group, "integration": w.integration}),
            400,
            "bad_request",
        ),
    ] {
        assert_error(&a.post("/v1/links", body), status, code);
    }
    a.must_post(
        "/v1/links",
        json!({"group": w.group, "integration": w.integration, "key": "APP-2"}),
        201,
    );
    assert_eq!(a.must_get(&path).as_array().unwrap().len(), 2);
    let (s, _) = a.delete(&format!("{path}/{}/APP-1", w.integration));
    assert_eq!(s, 204);
    assert_error(
        &a.delete(&format!("{path}/{}/APP-1", w.integration)),
        404,
        "not_found",
    );
    assert_error(&a.get("/v1/groups/999999/links"), 404, "not_found");
    // The unlinked key no longer syncs.
    assert_eq!(
        deliver_ok(&d, &fixture_json("issue_assigned.json")),
        "no-affected-groups"
    );
}

#[test]
fn integration_installation_and_link_survive_kill_9() {
    let mut d = Daemon::start();
    let w = setup(&d);
    d.kill9();
    d.restart();
    let a = d.admin();
    let i = a.must_get(&format!("/v1/integrations/{}", w.integration));
    assert_eq!(i["external_id"], EXT);
    assert_eq!(
        a.must_get(&format!("/v1/integrations/{}/installations", w.integration))[0]
            ["sync_inbound_assignee"],
        true
    );
    assert_eq!(
        a.must_get(&format!("/v1/groups/{}/links", w.group))[0]["key"],
        "APP-1"
    );
    // And the webhook still resolves the imported secret.
    assert_eq!(
        deliver_ok(&d, &fixture_json("issue_assigned.json")),
        "assigned"
    );
}

/// Throw-away 1024-bit test keys (never used anywhere else).
const TEST_KEY_PKCS1: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIICXQIBAAKBgQCcO3iP1RZ3fGfpO/Ta1UwG/uV/a1rsz5NdjsRLVfyAY91x4xLl\n7glTMAkwqh2W6gVyt+1raCO2RGCAOXpY2Gq4/TDU39EfFAuPhFh0JgsAo6b2kyQU\nwR22z2mIPO0kpseBuuAiTiG+dceRWRxRH3gYrNWFZkXhxxKk7wa33BG7UQIDAQAB\nAoGAIHdPV3xtncjxgwtdl7gpg26m3HK/w2RjeFa5vfoRbdDS7N7GR5fOwkXCMyW2\n3mylUzCbmu1aNn9BGoRXQ209x/5cuv7zrKwKTB/FsVepBKYQuUZeZLJ1we+8WOec\nYnfD/NXWWaNQb7NtnQSmEqqKgE6RRwVeSAZKNnd2jEKT7K0CQQDK+ozg+AS98qeW\nhaGZ+3+fAuSXqBCurPGoEPwCCwg64IXAwFMDwl+/svnOlQ1MwDvwA0O/mNkmNQy9\nKDRw/aNfAkEAxQrtkVwzvJ5ALk01lVIibb+LovSeMY9ryD7Dwge5Dmo3LEWaI13n\nS3TYKUUEdvwBVaaivuGQjzqzs4hQdN5PTwJBAIT6BgdwlPK4IRDctRVDDcXnyEiO\nw3ccOCkqD19rSNYBt76igQBKfB4Dq+KqBY+NtPa1vNGt2j1Mre7SgyCvGjMCQQCw\n8x1hWrHDg0IT0pZ6ICZ29HsLvi2KSEf8rhDSYGkZvt0JTwAbHqsloiq09RwLVkhE\niL7COIK/fXH/mjzWlwYVAkBWkz3iBAeCVfZDbuEpHzRWXDFIpD0puQx19fxXIxd0\nuMtfmyEJZHoXWVe03pC1k6P5paBdIY+K8PE9Tp//Iz7g\n-----END RSA PRIVATE KEY-----";
const TEST_KEY_PKCS8: &str = "-----BEGIN PRIVATE KEY-----\nMIICdwIBADANBgkqhkiG9w0BAQEFAASCAmEwggJdAgEAAoGBAJw7eI/VFnd8Z+k7\n9NrVTAb+5X9rWuzPk12OxEtV/IBj3XHjEuXuCVMwCTCqHZbqBXK37WtoI7ZEYIA5\neljYarj9MNTf0R8UC4+EWHQmCwCjpvaTJBTBHbbPaYg87SSmx4G64CJOIb51x5FZ\nHFEfeBis1YVmReHHEqTvBrfcEbtRAgMBAAECgYAgd09XfG2dyPGDC12XuCmDbqbc\ncr/DZGN4Vrm9+hFt0NLs3sZHl87CRcIzJbbebKVTMJua7Vo2f0EahFdDbT3H/ly6\n/vOsrApMH8WxV6kEphC5Rl5ksnXB77xY55xid8P81dZZo1Bvs22dBKYSqoqATpFH\nBV5IBko2d3aMQpPsrQJBAMr6jOD4BL3yp5aFoZn7f58C5JeoEK6s8agQ/AILCDrg\nhcDAUwPCX7+y+c6VDUzAO/ADQ7+Y2SY1DL0oNHD9o18CQQDFCu2RXDO8nkAuTTWV\nUiJtv4ui9J4xj2vIPsPCB7kOajcsRZojXedLdNgpRQR2/AFVpqK+4ZCPOrOziFB0\n3k9PAkEAhPoGB3CU8rghENy1FUMNxefISI7Ddxw4KSoPX2tI1gG3vqKBAEp8HgOr\n4qoFj4209rW80a3aPUyt7tKDIK8aMwJBALDzHWFascODQhPSlnogJnb0ewu+LYpI\nR/yuENJgaRm+3QlPABseqyWiKrT1HAtWSESIvsI4gr99cf+aPNaXBhUCQFaTPeIE\nB4JV9kNu4SkfNFZcMUikPSm5DHX1/FcjF3S4y1+bIQlkehdZV7TekLWTo/mloF0h\nj4rw8T1On/8jPuA=\n-----END PRIVATE KEY-----";

#[test]
fn import_accepts_pkcs1_and_pkcs8_keys_without_showing_them() {
    let d = Daemon::start();
    for (i, pem) in [TEST_KEY_PKCS1, TEST_KEY_PKCS8].iter().enumerate() {
        let r = d.admin().must_post(
            "/v1/integrations/import",
            json!({"base_url": "https://jira.example.org", "consumer_key": format!("k{i}"),
                   "webhook_secret": SECRET, "private_key_pem": pem,
                   "access_token": "tok", "access_token_secret": "tok-secret"}),
            201,
        );
        assert_eq!(r["has_access_token"], true);
        assert!(!r.to_string().contains("PRIVATE KEY"));
        assert!(!r.to_string().contains("tok-secret"));
    }
    assert!(!d.log_text().contains("PRIVATE KEY"));
}
