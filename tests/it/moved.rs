//! Moved issues (SPEC section 4 step 5c): a delivery with a `Key` item
//! re-keys the links and the delivery state in the same atomic write, and
//! reconcile follows a move it reads back.

use crate::common::fake_jira::Issue;
use crate::common::*;
use serde_json::{json, Value};

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A delivery for `to` whose changelog says the issue moved from `from`
/// (as Jira writes it: the keys in `fromString` / `toString`), plus `more`
/// items.
fn moved(from: &str, to: &str, changelog_id: &str, ts: i64, more: Value) -> Value {
    let mut v = variant("issue_assigned.json", changelog_id, ts, to);
    let mut items = vec![json!({"field": "Key", "fieldtype": "jira", "from": null,
        "fromString": from, "to": null, "toString": to})];
    items.extend(more.as_array().cloned().unwrap_or_default());
    v["changelog"]["items"] = json!(items);
    v
}

fn links(d: &Daemon, group: u64) -> Vec<String> {
    d.admin()
        .must_get(&format!("/v1/groups/{group}/links"))
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["key"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_moved_issue_takes_its_links_and_ordering_along_and_survives_kill_9() {
    let mut d = Daemon::start();
    let w = setup(&d);
    let t0 = now();
    // An assignment under the old key sets its ordering state.
    let a = assignee_delivery(Some("bob@example.org"), "100", t0, "APP-1");
    assert_eq!(deliver_ok(&d, &a), "assigned");
    // The move.
    let m = moved("APP-1", "OPS-7", "101", t0 + 1_000, json!([]));
    let (s, r) = deliver(&d, &good_token(), &m);
    assert_eq!((s, r["outcome"].as_str()), (200, Some("moved")), "{r}");
    assert_eq!(r["groups"], json!([w.group]));
    let last = last_delivery(&d);
    assert_eq!(last["outcome"], "moved");
    assert_eq!(last["key"], "OPS-7");
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("APP-1 moved to OPS-7"),
        "{last}"
    );
    assert_eq!(d.wait_event("issue-moved")["from"], "APP-1");
    assert_eq!(links(&d, w.group), ["OPS-7"]);
    // Durable: the link is re-keyed after kill -9.
    d.kill9();
    d.restart();
    assert_eq!(links(&d, w.group), ["OPS-7"]);
    // Later deliveries for the new key reach the group; the old key none.
    let old = assignee_delivery(None, "102", t0 + 2_000, "APP-1");
    assert_eq!(deliver_ok(&d, &old), "no-affected-groups");
    // The ordering state moved too: older than the old key's newest → stale.
    let late = assignee_delivery(None, "99", t0 - 1_000, "OPS-7");
    assert_eq!(deliver_ok(&d, &late), "stale");
    // ... and the old key's changelog ids came along: a duplicate.
    let dup = assignee_delivery(None, "100", t0 + 3_000, "OPS-7");
    assert_eq!(deliver_ok(&d, &dup), "duplicate");
    let un = assignee_delivery(None, "103", t0 + 3_000, "OPS-7");
    assert_eq!(deliver_ok(&d, &un), "unassigned");
    assert!(assignee_of(&d, w.group).is_null());
    // The filter matches the part: ?outcome=moved.
    let list = d.admin().must_get("/v1/deliveries?outcome=moved");
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}

#[test]
fn a_move_with_an_assignee_change_is_one_write_and_joins_its_outcome() {
    let d = Daemon::start();
    let w = setup(&d);
    let m = moved(
        "APP-1",
        "OPS-7",
        "200",
        now(),
        json!([{"field": "assignee", "fieldtype": "jira", "from": null, "to": "bob"}]),
    );
    let (s, r) = deliver(&d, &good_token(), &m);
    assert_eq!(
        (s, r["outcome"].as_str()),
        (200, Some("moved+assigned")),
        "{r}"
    );
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    assert_eq!(links(&d, w.group), ["OPS-7"]);
    let list = d.admin().must_get("/v1/deliveries?outcome=assigned");
    assert_eq!(list[0]["outcome"], "moved+assigned", "{list}");
    // A move from a key nothing is linked to moves nothing.
    let m = moved("ZZZ-1", "OPS-9", "201", now(), json!([]));
    assert_eq!(deliver_ok(&d, &m), "no-affected-groups");
    // A malformed Key item is refused and changes nothing.
    let mut bad = moved("APP-1", "OPS-8", "202", now(), json!([]));
    bad["changelog"]["items"][0]["toString"] = json!("OPS 8");
    let (s, _) = deliver(&d, &good_token(), &bad);
    assert_eq!(s, 400);
    assert_eq!(links(&d, w.group), ["OPS-7"]);
}

#[test]
fn reconcile_follows_a_move_it_reads_back() {
    let (d, fake, w) = crate::identity::connected_world("[jira]\ntimeout_secs = 2\n");
    // OPS is a linked project too, so the query covers the moved issue.
    fake.state()
        .add_issue("OPS-1", Issue::new("OPS", "3", None));
    let g2 = group(&d, w.project);
    link(&d, g2, w.integration, "OPS-1");
    let t0 = now();
    {
        let mut st = fake.state();
        st.reassign("APP-1", Some("bob"), t0 - 3_000);
        st.move_issue("APP-1", "OPS-7", t0 - 2_000);
    }
    let r = d.admin().must_post(
        &format!("/v1/integrations/{}/reconcile", w.integration),
        json!({}),
        202,
    );
    let started = r["run"]["started"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let last = loop {
        let s = d
            .admin()
            .must_get(&format!("/v1/integrations/{}/reconcile", w.integration));
        if s["running"] == false && s["last_run"]["started"].as_str() >= Some(started.as_str()) {
            break s["last_run"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "{s}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(last["error"], Value::Null, "{last}");
    // The assignment (made under APP-1) and then the move.
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    assert_eq!(links(&d, w.group), ["OPS-7"]);
    let log = d.admin().must_get("/v1/deliveries?outcome=moved");
    assert_eq!(log[0]["source"], "reconcile", "{log}");
    assert_eq!(log[0]["key"], "OPS-7");
}
