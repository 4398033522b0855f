//! The ownership cache: read-through, invalidated before a change is
//! acknowledged, stats and metrics.

use crate::common::*;
use serde_json::json;

fn cached(d: &Daemon, group: u64) -> serde_json::Value {
    d.admin().must_get(&format!("/v1/cache/groups/{group}"))
}

#[test]
fn cache_is_never_stale_after_a_change() {
    let d = Daemon::start();
    let w = setup(&d);
    let c = cached(&d, w.group);
    assert_eq!(c["cached"], false);
    assert!(c["assignee"].is_null());
    let c = cached(&d, w.group);
    assert_eq!(c["cached"], true, "second read is a hit");
    assert!(c["assignee"].is_null());

    // Inbound assign: the next read sees bob, at once.
    assert_eq!(
        deliver_ok(&d, &fixture_json("issue_assigned.json")),
        "assigned"
    );
    let c = cached(&d, w.group);
    assert_eq!(c["assignee"]["user"], w.bob, "{c}");
    assert_eq!(c["cached"], false, "the change invalidated the entry");
    assert_eq!(cached(&d, w.group)["cached"], true);

    // Inbound unassign.
    assert_eq!(
        deliver_ok(&d, &fixture_json("issue_unassigned.json")),
        "unassigned"
    );
    assert!(cached(&d, w.group)["assignee"].is_null());

    // Manual assign and deassign go the same way.
    let path = format!("/v1/groups/{}/assignee", w.group);
    assert_eq!(d.admin().put(&path, json!({"user": w.bob})).0, 200);
    assert_eq!(cached(&d, w.group)["assignee"]["user"], w.bob);
    assert_eq!(d.admin().delete(&path).0, 200);
    assert!(cached(&d, w.group)["assignee"].is_null());

    // Many changes in a row, each read right after its answer.
    for i in 0..10i64 {
        let email = if i % 2 == 0 {
            Some("bob@example.org")
        } else {
            None
        };
        let v = assignee_delivery(email, &format!("c{i}"), 1_764_344_500_000 + i, "APP-1");
        deliver_ok(&d, &v);
        let a = cached(&d, w.group)["assignee"].clone();
        if email.is_some() {
            assert_eq!(a["user"], w.bob, "round {i}");
        } else {
            assert!(a.is_null(), "round {i}: {a}");
        }
    }

    let s = d.admin().must_get("/v1/cache");
    assert!(s["hits"].as_u64().unwrap() >= 2, "{s}");
    assert!(s["misses"].as_u64().unwrap() >= 3, "{s}");
    assert!(s["invalidations"].as_u64().unwrap() >= 4, "{s}");
    assert_eq!(s["entries"], 1, "{s}");
    assert_eq!(s["max_entries"], 100000);
    assert_eq!(s["ttl_secs"], 86400);
    assert_eq!(s["negative_ttl_secs"], 60);
    assert!(metric(&d, "synclink_cache_hits_total") >= 2.0);
    assert!(metric(&d, "synclink_cache_invalidations_total") >= 4.0);
    assert_eq!(metric(&d, "synclink_cache_entries"), 1.0);
}

#[test]
fn cache_lookup_of_unknown_group_is_404_and_bound_holds() {
    let d = Daemon::start_with("[cache]\nmax_entries = 3\n", &[]);
    let w = setup(&d);
    assert_error(&d.admin().get("/v1/cache/groups/999999"), 404, "not_found");
    assert_error(&d.admin().get("/v1/cache/groups/abc"), 400, "bad_request");
    let mut groups = vec![w.group];
    for _ in 0..9 {
        groups.push(group(&d, w.project));
    }
    for g in &groups {
        cached(&d, *g);
    }
    let s = d.admin().must_get("/v1/cache");
    assert!(s["entries"].as_u64().unwrap() <= 3, "{s}");
    assert_eq!(s["max_entries"], 3);
}
