//! The delivery log, durability (kill -9) and secrets in logs.

use crate::common::*;
use serde_json::json;

#[test]
fn delivery_log_filters_newest_first_and_rejects_bad_filters() {
    let d = Daemon::start();
    let w = setup(&d);
    let g2 = group(&d, w.project);
    link(&d, g2, w.integration, "APP-2");
    deliver_ok(&d, &fixture_json("issue_assigned.json")); // APP-1 assigned
    deliver_ok(&d, &other_field_delivery()); // APP-1 not-an-assignee-change
    deliver_ok(&d, &assignee_delivery(None, "5", 10, "APP-2")); // APP-2 unchanged
    deliver(&d, "garbage", &fixture_json("issue_assigned.json")); // bad-token
    let a = d.admin();
    let all = a.must_get("/v1/deliveries");
    let outcomes: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        vec![
            "bad-token",
            "unchanged",
            "not-an-assignee-change",
            "assigned"
        ]
    );
    let ids: Vec<u64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|p| p[0] > p[1]), "newest first: {ids:?}");
    assert!(all[0]["integration"].is_null());
    assert!(all[0]["reason"].as_str().unwrap().contains("token"));
    let app2 = a.must_get("/v1/deliveries?key=APP-2");
    assert_eq!(app2.as_array().unwrap().len(), 1);
    assert_eq!(app2[0]["outcome"], "unchanged");
    let by_int = a.must_get(&format!("/v1/deliveries?integration={}", w.integration));
    assert_eq!(by_int.as_array().unwrap().len(), 3);
    let one = a.must_get(&format!(
        "/v1/deliveries?integration={}&key=APP-1&outcome=assigned&limit=5",
        w.integration
    ));
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(one[0]["groups"], json!([w.group]));
    assert_eq!(
        a.must_get("/v1/deliveries?limit=2")
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        a.must_get("/v1/deliveries?integration=&key=&outcome=&limit=")
            .as_array()
            .unwrap()
            .len(),
        4
    );
    for bad in [
        "/v1/deliveries?integration=abc",
        "/v1/deliveries?outcome=nope",
        "/v1/deliveries?limit=0",
        "/v1/deliveries?limit=-1",
        "/v1/deliveries?limit=many",
        "/v1/deliveries?limit=1000000",
        "/v1/deliveries?colour=red",
    ] {
        assert_error(&a.get(bad), 400, "bad_request");
    }
}

#[test]
fn delivery_log_keeps_only_the_newest_entries() {
    let mut d = Daemon::start_with("[storage]\ndelivery_log_max = 5\n", &[]);
    let _w = setup(&d);
    for i in 0..8 {
        let v = assignee_delivery(None, &format!("{i}"), i, &format!("K-{i}"));
        assert_eq!(deliver_ok(&d, &v), "no-affected-groups");
    }
    let all = d.admin().must_get("/v1/deliveries?limit=100");
    let keys: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, vec!["K-7", "K-6", "K-5", "K-4", "K-3"]);
    // The bound holds across a restart too.
    assert!(d.stop().success());
    d.restart();
    deliver_ok(&d, &assignee_delivery(None, "x", 100, "K-8"));
    let all = d.admin().must_get("/v1/deliveries?limit=100");
    let keys: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, vec!["K-8", "K-7", "K-6", "K-5", "K-4"]);
}

#[test]
fn acknowledged_changes_survive_kill_9() {
    let mut d = Daemon::start_with("[storage]\ndurability = \"sync\"\n", &[]);
    let w = setup(&d);
    let mut groups = Vec::new();
    for i in 0..6 {
        let g = group(&d, w.project);
        link(&d, g, w.integration, &format!("DUR-{i}"));
        groups.push(g);
    }
    // Deliver concurrently, so several share a flush.
    let token = good_token();
    let url = |_: usize| d.url(&format!("/extensions/jira-server/issue-updated/{token}"));
    let mut handles = Vec::new();
    for i in 0..groups.len() {
        let body = serde_json::to_vec(&assignee_delivery(
            Some("bob@example.org"),
            &format!("{i}"),
            1000 + i as i64,
            &format!("DUR-{i}"),
        ))
        .unwrap();
        let u = url(i);
        handles.push(std::thread::spawn(move || {
            let r = reqwest::blocking::Client::new()
                .post(u)
                .body(body)
                .send()
                .unwrap();
            (r.status().as_u16(), r.text().unwrap())
        }));
    }
    for h in handles {
        let (s, b) = h.join().unwrap();
        assert_eq!(s, 200, "{b}");
        assert!(b.contains("\"assigned\""), "{b}");
    }
    d.kill9();
    d.restart();
    for g in &groups {
        assert_eq!(
            assignee_of(&d, *g)["user"],
            w.bob,
            "group {g} lost its assignee"
        );
        assert_eq!(activity(&d, *g).len(), 1);
    }
    let log = d.admin().must_get("/v1/deliveries?outcome=assigned");
    assert_eq!(log.as_array().unwrap().len(), groups.len());
    // The delivery state survived too: replays are duplicates.
    let again = assignee_delivery(Some("bob@example.org"), "0", 1000, "DUR-0");
    assert_eq!(deliver_ok(&d, &again), "duplicate");
    assert!(metric(&d, "synclink_flush_duration_seconds_count") >= 1.0);
}

#[test]
fn secrets_and_tokens_never_reach_the_log_or_the_api() {
    let d = Daemon::start_with("[log]\nlevel = \"trace\"\n", &[]);
    let access_token = "at-7c1d0e5b9a334f1e";
    let access_secret = "ats-5f0b8e2d4c6a4917b3";
    let w = setup(&d);
    let imported = d.admin().must_post(
        "/v1/integrations/import",
        json!({"base_url": "https://jira2.example.org", "consumer_key": "ck2",
               "webhook_secret": "second-webhook-secret-123456",
               "access_token": access_token, "access_token_secret": access_secret}),
        201,
    );
    let good = good_token();
    deliver_ok(&d, &fixture_json("issue_assigned.json"));
    deliver_ok(&d, &fixture_json("issue_assigned_hidden_email.json"));
    deliver(
        &d,
        &token(EXT, "wrong-secret-000"),
        &fixture_json("issue_assigned.json"),
    );
    let mut bad = fixture_json("issue_assigned.json");
    bad["changelog"]["items"] = json!(3);
    deliver(&d, &good, &bad);
    let url = d
        .admin()
        .must_get(&format!("/v1/integrations/{}/webhook-url", w.integration));
    assert!(url["url"].as_str().unwrap().ends_with(&good));
    // The API views carry no secrets.
    let api = [
        d.admin().must_get("/v1/integrations").to_string(),
        d.admin()
            .must_get(&format!("/v1/integrations/{}", w.integration))
            .to_string(),
        imported.to_string(),
        d.admin().must_get("/v1/deliveries").to_string(),
    ]
    .join("\n");
    let log = d.log_text();
    for secret in [
        SECRET,
        good.as_str(),
        access_token,
        access_secret,
        "second-webhook-secret-123456",
    ] {
        assert!(!log.contains(secret), "secret {secret} in the daemon log");
        assert!(!api.contains(secret), "secret {secret} in the admin API");
    }
    assert!(!log.is_empty() && d.events("token-validation-error").len() == 1);
}

#[test]
fn concurrent_deliveries_share_flushes() {
    // Each flush is slowed down, so deliveries pile up behind it: a group
    // commit settles them together instead of one fsync each.
    let d = Daemon::start_with("", &[("SYNCLINK_FAILPOINTS", "flush-slow")]);
    let w = setup(&d);
    let before = metric(&d, "synclink_flush_duration_seconds_count");
    let n = 12;
    let url = d.url(&format!(
        "/extensions/jira-server/issue-updated/{}",
        good_token()
    ));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let body = serde_json::to_vec(&assignee_delivery(
                if i % 2 == 0 {
                    Some("bob@example.org")
                } else {
                    None
                },
                &format!("gc-{i}"),
                0,
                &format!("GC-{i}"),
            ))
            .unwrap();
            let u = url.clone();
            std::thread::spawn(move || {
                reqwest::blocking::Client::new()
                    .post(u)
                    .body(body)
                    .send()
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    let flushes = metric(&d, "synclink_flush_duration_seconds_count") - before;
    assert!(flushes >= 1.0);
    assert!(flushes < n as f64, "{flushes} flushes for {n} deliveries");
    assert!(assignee_of(&d, w.group).is_null());
}

#[test]
fn async_durability_answers_and_flushes_in_the_background() {
    let mut d = Daemon::start_with(
        "[storage]\ndurability = \"async\"\nflush_interval_ms = 20\n",
        &[],
    );
    let w = setup(&d);
    assert_eq!(
        deliver_ok(&d, &fixture_json("issue_assigned.json")),
        "assigned"
    );
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    // The periodic flush runs on its own (no request waits for it).
    let mut flushed = 0.0;
    for _ in 0..100 {
        flushed = metric(&d, "synclink_flush_duration_seconds_count");
        if flushed >= 1.0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(flushed >= 1.0);
    // async promises nothing about a crash right after the answer; a clean
    // stop flushes everything.
    assert!(d.stop().success());
    d.restart();
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
}
