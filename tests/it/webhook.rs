//! The Jira webhook end to end: tokens, payload shapes, outcomes, limits.

use crate::common::*;
use serde_json::{json, Value};

#[test]
fn bad_tokens_are_refused_logged_and_recorded() {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let d = Daemon::start();
    let w = setup(&d);
    let body = fixture_json("issue_assigned.json");
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &json!({"id": EXT}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let no_id = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": EXT}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let cases: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("garbage", "not-a-jwt".into()),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(r#"{"alg":"none","typ":"JWT"}"#),
                b64(&format!(r#"{{"id":"{EXT}"}}"#))
            ),
        ),
        ("hs512", hs512),
        ("bad signature", token(EXT, "some-other-secret-entirely")),
        ("no id claim", no_id),
        ("unknown integration", token("jira.other.org:nope", SECRET)),
    ];
    for (what, t) in &cases {
        let (s, v) = deliver(&d, t, &body);
        assert_eq!(s, 400, "{what}: {v}");
        assert_eq!(v["error"]["code"], "bad_request", "{what}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("token"),
            "{what}: {v}"
        );
    }
    // One warning per delivery, with a reason and without the token.
    let mut events = Vec::new();
    for _ in 0..50 {
        events = d.events("token-validation-error");
        if events.len() >= cases.len() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(events.len(), cases.len(), "{}", d.log_text());
    for e in &events {
        assert_eq!(e["level"], "warning", "{e}");
        assert!(e["reason"].as_str().is_some_and(|r| !r.is_empty()), "{e}");
    }
    let log = d.log_text();
    for (what, t) in &cases {
        if t.len() > 8 {
            assert!(!log.contains(t.as_str()), "{what}: token in the log");
        }
    }
    // Nothing changed, and each delivery is in the log as bad-token.
    assert!(assignee_of(&d, w.group).is_null());
    let log = d.admin().must_get("/v1/deliveries?outcome=bad-token");
    assert_eq!(log.as_array().unwrap().len(), cases.len(), "{log}");
    // The token is checked before the body is read: a refused delivery's
    // body is never buffered, so its entry names no issue.
    assert!(
        log.as_array().unwrap().iter().all(|e| e["key"].is_null()),
        "{log}"
    );
    // The bad signature was resolved to the integration before it failed.
    assert!(log
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["integration"] == w.integration));
    assert_eq!(
        metric(
            &d,
            "synclink_webhook_deliveries_total{outcome=\"bad-token\"}"
        ),
        cases.len() as f64
    );
}

#[test]
fn missing_changelog_is_accepted_and_changes_nothing() {
    let d = Daemon::start();
    let w = setup(&d);
    assert_eq!(
        deliver_ok(&d, &fixture_json("issue_created_no_changelog.json")),
        "missing-changelog"
    );
    let e = d.wait_event("missing-changelog");
    assert_eq!(e["key"], "APP-1");
    assert!(e["request_id"].as_str().is_some(), "{e}");
    assert!(assignee_of(&d, w.group).is_null());
    let last = last_delivery(&d);
    assert_eq!(last["outcome"], "missing-changelog");
    assert_eq!(last["key"], "APP-1");
    assert_eq!(last["integration"], w.integration);
    // A null or empty changelog is the same.
    let mut v = fixture_json("issue_assigned.json");
    v["changelog"] = Value::Null;
    assert_eq!(deliver_ok(&d, &v), "missing-changelog");
    v["changelog"] = json!({});
    assert_eq!(deliver_ok(&d, &v), "missing-changelog");
    assert!(assignee_of(&d, w.group).is_null());
}

#[test]
fn assigned_fixture_assigns_the_group_with_activity() {
    let d = Daemon::start();
    let w = setup(&d);
    assert_eq!(
        deliver_ok(&d, &fixture_json("issue_assigned.json")),
        "assigned"
    );
    let a = assignee_of(&d, w.group);
    assert_eq!(a["user"], w.bob);
    assert_eq!(a["email"], "bob@example.org");
    let acts = activity(&d, w.group);
    assert_eq!(acts.len(), 1);
    assert_eq!(acts[0]["type"], "assigned");
    assert_eq!(
        acts[0]["data"],
        json!({"assignee": w.bob.to_string(), "assigneeEmail": "bob@example.org",
               "assigneeType": "user", "integration": w.integration, "source": "webhook"})
    );
    let last = last_delivery(&d);
    assert_eq!(last["outcome"], "assigned");
    assert_eq!(last["groups"], json!([w.group]));
    assert_eq!(last["changelog_id"], "10172");
    assert_eq!(last["key"], "APP-1");
    assert_eq!(last["timestamp"], 1764344411000i64, "{last}");
    assert!(
        last["jira_time"]
            .as_str()
            .unwrap()
            .starts_with("2025-11-28T"),
        "{last}"
    );
    assert!(last["received"].is_string());
    assert_eq!(metric(&d, "synclink_assignments_total"), 1.0);
    assert_eq!(
        metric(
            &d,
            "synclink_webhook_deliveries_total{outcome=\"assigned\"}"
        ),
        1.0
    );
    // The same assignee again (a new changelog) records nothing.
    let again = variant("issue_assigned.json", "20000", 1764344411001, "APP-1");
    assert_eq!(deliver_ok(&d, &again), "unchanged");
    assert_eq!(activity(&d, w.group).len(), 1);
}

#[test]
fn assigned_and_status_fixture_with_numeric_changelog_id() {
    let d = Daemon::start();
    let w = setup(&d);
    assert_eq!(
        deliver_ok(&d, &fixture_json("issue_assigned_and_status.json")),
        "assigned"
    );
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    assert_eq!(last_delivery(&d)["changelog_id"], "10176");
}

#[test]
fn hidden_email_is_logged_and_changes_nothing() {
    let d = Daemon::start();
    let w = setup(&d);
    assert_eq!(
        deliver_ok(&d, &fixture_json("issue_assigned_hidden_email.json")),
        "missing-assignee-email"
    );
    let e = d.wait_event("missing-assignee-email");
    assert_eq!(e["key"], "APP-1");
    assert_eq!(e["level"], "info");
    assert!(assignee_of(&d, w.group).is_null());
    assert_eq!(last_delivery(&d)["outcome"], "missing-assignee-email");
}

#[test]
fn unassigned_fixture_deassigns() {
    let d = Daemon::start();
    let w = setup(&d);
    assert_eq!(
        deliver_ok(&d, &fixture_json("issue_assigned.json")),
        "assigned"
    );
    assert_eq!(
        deliver_ok(&d, &fixture_json("issue_unassigned.json")),
        "unassigned"
    );
    assert!(assignee_of(&d, w.group).is_null());
    let acts = activity(&d, w.group);
    assert_eq!(acts.len(), 2);
    assert_eq!(acts[1]["type"], "unassigned");
    assert_eq!(last_delivery(&d)["groups"], json!([w.group]));
    assert_eq!(metric(&d, "synclink_deassignments_total"), 1.0);
    // Unassigning an unassigned group records nothing.
    let again = variant("issue_unassigned.json", "20001", 1764344471001, "APP-1");
    assert_eq!(deliver_ok(&d, &again), "unchanged");
    assert_eq!(activity(&d, w.group).len(), 2);
}

#[test]
fn a_change_of_another_field_is_not_an_assignee_change() {
    let d = Daemon::start();
    let w = setup(&d);
    assert_eq!(
        deliver_ok(&d, &other_field_delivery()),
        "not-an-assignee-change"
    );
    assert!(assignee_of(&d, w.group).is_null());
    let last = last_delivery(&d);
    assert_eq!(last["outcome"], "not-an-assignee-change");
    assert_eq!(last["changelog_id"], "10175");
}

#[test]
fn malformed_deliveries_get_400_naming_the_problem() {
    let d = Daemon::start();
    let w = setup(&d);
    let t = good_token();
    let mut no_key = fixture_json("issue_assigned.json");
    no_key["issue"].as_object_mut().unwrap().remove("key");
    let mut no_items = fixture_json("issue_assigned.json");
    no_items["changelog"]
        .as_object_mut()
        .unwrap()
        .remove("items");
    let mut bad_item = fixture_json("issue_assigned.json");
    bad_item["changelog"]["items"] = json!(["assignee"]);
    for (body, needle) in [
        (no_key, "issue.key"),
        (no_items, "changelog.items"),
        (bad_item, "changelog.items[0]"),
    ] {
        let (s, v) = deliver(&d, &t, &body);
        assert_eq!(s, 400, "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{needle}: {v}"
        );
    }
    let (s, v) = deliver_bytes(&d, &t, b"{\"changelog\": ".to_vec());
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("not JSON"),
        "{v}"
    );
    assert!(assignee_of(&d, w.group).is_null());
    let bad = d.admin().must_get("/v1/deliveries?outcome=bad-request");
    assert_eq!(bad.as_array().unwrap().len(), 4, "{bad}");
    assert!(bad[0]["reason"].as_str().unwrap().contains("not JSON"));
    // Still healthy, and a good delivery still works.
    assert_eq!(
        deliver_ok(&d, &fixture_json("issue_assigned.json")),
        "assigned"
    );
}

#[test]
fn oversized_bodies_get_413_also_when_chunked() {
    let d = Daemon::start_with("[http]\nmax_body_bytes = 4096\n", &[]);
    let w = setup(&d);
    let mut big = fixture_json("issue_assigned.json");
    big["padding"] = json!("x".repeat(10_000));
    let bytes = serde_json::to_vec(&big).unwrap();
    let (s, v) = deliver_bytes(&d, &good_token(), bytes.clone());
    assert_eq!(s, 413, "{v}");
    // Chunked: no Content-Length, the limit holds while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(1000).map(|c| Ok(c.to_vec())).collect();
    let r = d
        .http()
        .post(d.url(&format!(
            "/extensions/jira-server/issue-updated/{}",
            good_token()
        )))
        .body(reqwest::blocking::Body::new(ChunkReader(
            chunks.into_iter(),
        )))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    assert!(assignee_of(&d, w.group).is_null());
    let bad = d.admin().must_get("/v1/deliveries?outcome=bad-request");
    assert_eq!(bad.as_array().unwrap().len(), 2, "{bad}");
    // A body within the limit still works.
    assert_eq!(
        deliver_ok(&d, &fixture_json("issue_assigned.json")),
        "assigned"
    );
}

/// A `Read` over chunks, so reqwest sends the body chunked.
struct ChunkReader(std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>);

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.next() {
            Some(Ok(c)) => {
                let n = c.len().min(buf.len());
                buf[..n].copy_from_slice(&c[..n]);
                Ok(n)
            }
            Some(Err(e)) => Err(e),
            None => Ok(0),
        }
    }
}

#[test]
fn overload_answers_503_with_retry_after() {
    let d = Daemon::start_with(
        "[http]\nmax_inflight = 1\n",
        &[("SYNCLINK_FAILPOINTS", "sync-slow")],
    );
    let _w = setup(&d);
    let url = d.url(&format!(
        "/extensions/jira-server/issue-updated/{}",
        good_token()
    ));
    let body = serde_json::to_vec(&fixture_json("issue_assigned.json")).unwrap();
    let (u2, b2) = (url.clone(), body.clone());
    let held = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .post(u2)
            .body(b2)
            .send()
            .unwrap()
            .status()
            .as_u16()
    });
    d.wait_event("failpoint");
    let r = d.http().post(url).body(body).send().unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(
        r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(held.join().unwrap(), 200);
    assert_eq!(metric(&d, "synclink_webhook_overloaded_total"), 1.0);
    d.wait_event("overloaded");
}

/// The body's checks run on the HTTP worker's own thread, outside any
/// actor: a panic there is contained all the same (503, `actor-panic` with
/// actor `webhook`, counted), and the worker goes on serving deliveries.
#[test]
fn a_crash_while_checking_a_body_answers_503_and_the_next_delivery_works() {
    let d = Daemon::start_with("", &[("SYNCLINK_FAILPOINTS", "webhook-panic")]);
    let w = setup(&d);
    let mut v = fixture_json("issue_assigned.json");
    v["issue"]["fields"]["summary"] = "PANIC-ME".into();
    let (s, body) = deliver(&d, &good_token(), &v);
    assert_eq!(s, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    assert_eq!(d.wait_event("actor-panic")["actor"], "webhook");
    assert!(assignee_of(&d, w.group).is_null());
    let restarts = metric(&d, "synclink_actor_restarts_total{actor=\"webhook\"}");
    assert_eq!(restarts, 1.0);
    // The same worker, the same delivery without the marker: applied.
    let (s, body) = deliver(&d, &good_token(), &fixture_json("issue_assigned.json"));
    assert_eq!(
        (s, body["outcome"].as_str()),
        (200, Some("assigned")),
        "{body}"
    );
}

#[test]
fn a_crash_inside_sync_answers_503_and_is_recorded() {
    let d = Daemon::start_with("", &[("SYNCLINK_FAILPOINTS", "sync-panic")]);
    let w = setup(&d);
    let (s, v) = deliver(&d, &good_token(), &fixture_json("issue_assigned.json"));
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["error"]["code"], "unavailable");
    d.wait_event("actor-panic");
    d.wait_event("sync-failed");
    assert!(assignee_of(&d, w.group).is_null());
    // The rebuilt SyncActor recorded the failure and still answers.
    let last = last_delivery(&d);
    assert_eq!(last["outcome"], "failed", "{last}");
    assert_eq!(last["key"], "APP-1");
    assert_eq!(
        deliver_ok(&d, &other_field_delivery()),
        "not-an-assignee-change"
    );
}

#[test]
fn webhook_paths_and_methods_route_as_before() {
    let d = Daemon::start();
    let w = setup(&d);
    let body = fixture_json("issue_assigned.json").to_string();
    let base = "/extensions/jira-server/issue-updated";
    let post = |path: &str| {
        d.http()
            .post(d.url(path))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .unwrap()
    };
    // No token segment, or an empty one: a clear 400 about the token.
    for path in [base.to_string(), format!("{base}/")] {
        let r = post(&path);
        assert_eq!(r.status().as_u16(), 400, "{path}");
        let v: Value = r.json().unwrap();
        assert!(
            v["error"]["message"].as_str().unwrap().contains("token"),
            "{path}: {v}"
        );
    }
    // Deeper paths and look-alike prefixes are not the webhook.
    for path in [
        format!("{base}/{}/extra", token(EXT, SECRET)),
        format!("{base}x/{}", token(EXT, SECRET)),
    ] {
        assert_eq!(post(&path).status().as_u16(), 404, "{path}");
    }
    // Another method on the webhook: 405 naming POST.
    let r = d.http().get(d.url(&format!("{base}/abc"))).send().unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["allow"], "POST");
    // And the real thing still assigns.
    let (s, v) = deliver(
        &d,
        &token(EXT, SECRET),
        &fixture_json("issue_assigned.json"),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["outcome"], "assigned", "{v}");
    assert!(d.admin().get(&format!("/v1/groups/{}", w.group)).1["assignee"].is_object());
}
