//! Concurrent deliveries are applied in batches (many per transaction):
//! whatever the batching, the result is that of applying them one at a
//! time in the order the delivery log records them.

use crate::common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Replay the delivery log (oldest first) with the ordering rules, and
/// check each recorded outcome; returns the expected assignee per key.
fn replay(log: &[Value]) -> BTreeMap<String, bool> {
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut newest: BTreeMap<String, i64> = BTreeMap::new();
    let mut assigned: BTreeMap<String, bool> = BTreeMap::new();
    for e in log.iter().rev() {
        let key = e["key"].as_str().unwrap().to_string();
        let cl = e["changelog_id"].as_str().unwrap().to_string();
        let ts = e["timestamp"].as_i64().unwrap();
        // Changelog ids are "<key>-<i>"; even i assigns, odd i unassigns.
        let i: i64 = cl.rsplit('-').next().unwrap().parse().unwrap();
        let assign = i % 2 == 0;
        let ids = seen.entry(key.clone()).or_default();
        let want = if ids.contains(&cl) {
            "duplicate"
        } else if newest.get(&key).is_some_and(|n| ts < *n) {
            "stale"
        } else {
            ids.insert(cl);
            newest.insert(key.clone(), ts.max(*newest.get(&key).unwrap_or(&ts)));
            let was = assigned.insert(key.clone(), assign).unwrap_or(false);
            match (assign, was) {
                (true, false) => "assigned",
                (false, true) => "unassigned",
                _ => "unchanged",
            }
        };
        assert_eq!(e["outcome"], want, "{e}");
    }
    assigned
}

#[test]
fn concurrent_deliveries_equal_one_at_a_time_in_log_order() {
    let d = Daemon::start();
    let w = setup(&d);
    let mut groups = BTreeMap::from([("APP-1".to_string(), w.group)]);
    for k in ["APP-2", "APP-3"] {
        let g = group(&d, w.project);
        link(&d, g, w.integration, k);
        groups.insert(k.to_string(), g);
    }
    // Per key: 10 changelog ids, each sent twice (a duplicate), alternating
    // assign / unassign, timestamps out of order (some become stale).
    let mut bodies = Vec::new();
    for k in groups.keys() {
        for i in 0..10i64 {
            let email = (i % 2 == 0).then_some("bob@example.org");
            let ts = 1000 + (i * 7) % 10;
            let body = assignee_delivery(email, &format!("{k}-{i}"), ts, k);
            bodies.push(body.clone());
            bodies.push(body);
        }
    }
    let url = d.url(&format!(
        "/extensions/jira-server/issue-updated/{}",
        good_token()
    ));
    let handles: Vec<_> = bodies
        .into_iter()
        .map(|b| {
            let u = url.clone();
            let b = serde_json::to_vec(&b).unwrap();
            std::thread::spawn(move || {
                reqwest::blocking::Client::new()
                    .post(u)
                    .body(b)
                    .send()
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let n = handles.len();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    let log = d.admin().must_get("/v1/deliveries?limit=1000");
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), n);
    let expected = replay(log);
    for (k, g) in &groups {
        let a = assignee_of(&d, *g);
        assert_eq!(!a.is_null(), expected[k], "{k}: {a}");
        // One activity per real change.
        let changes = log
            .iter()
            .filter(|e| e["key"] == k.as_str())
            .filter(|e| e["outcome"] == "assigned" || e["outcome"] == "unassigned")
            .count();
        assert_eq!(activity(&d, *g).len(), changes, "{k}");
    }
    // Each body was sent twice: the first copy applied makes the second a
    // duplicate; a stale first copy makes the second stale too.
    let dups = log.iter().filter(|e| e["outcome"] == "duplicate").count();
    let stale = log.iter().filter(|e| e["outcome"] == "stale").count();
    assert_eq!(dups * 2 + stale, n, "{dups} duplicates, {stale} stale");
}
