//! Outbound sync (SPEC section 10): local changes reach Jira through the
//! durable outbox, against the fake Jira (every request's RSA-SHA1
//! signature checked; issues kept with their history).

use crate::common::fake_jira::FakeJira;
use crate::common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Fast retries for tests: 1 s at most between two tries.
const CONFIG: &str = "[jira]\ntimeout_secs = 5\noutbound_max_backoff_secs = 1\n";

struct Out {
    d: Daemon,
    fake: FakeJira,
    integration: u64,
    group: u64,
    bob: u64,
}

/// An org whose group is linked to APP-1 of a connected integration,
/// installed with outbound switches on (and inbound assignee, for echoes).
fn out_world(overrides: &str) -> Out {
    let (d, fake, w) = crate::identity::connected_world(&format!("{CONFIG}{overrides}"));
    d.admin().must_post(
        &format!("/v1/integrations/{}/installations", w.integration),
        json!({"org": w.org, "sync_outbound_assignee": true, "sync_outbound_status": true,
               "sync_inbound_assignee": true, "sync_inbound_status": true}),
        201,
    );
    Out {
        d,
        fake,
        integration: w.integration,
        group: w.group,
        bob: w.bob,
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn outbox(d: &Daemon, query: &str) -> Vec<Value> {
    d.admin()
        .must_get(&format!("/v1/outbox{query}"))
        .as_array()
        .unwrap()
        .clone()
}

fn assign(o: &Out) {
    let (s, v) = o.d.admin().put(
        &format!("/v1/groups/{}/assignee", o.group),
        json!({"user": o.bob}),
    );
    assert_eq!(s, 200, "{v}");
}

fn jira_assignee(o: &Out) -> Option<String> {
    o.fake.state().issues["APP-1"].assignee.clone()
}

fn map_statuses(o: &Out) {
    let (s, v) = o.d.admin().put(
        &format!("/v1/integrations/{}/status-mappings/APP", o.integration),
        json!({"on_resolve": "10001", "on_unresolve": "10000"}),
    );
    assert_eq!(s, 200, "{v}");
}

#[test]
fn an_assignment_here_reaches_jira_and_its_echo_changes_nothing() {
    let o = out_world("");
    assign(&o);
    wait_for("Jira's assignee", || {
        jira_assignee(&o).as_deref() == Some("bob")
    });
    let writes = o.fake.state().writes.clone();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].0, "PUT");
    assert_eq!(writes[0].1, "/rest/api/2/issue/APP-1/assignee");
    assert_eq!(writes[0].2, json!({"name": "bob"}));
    assert!(o.fake.requests().iter().all(|r| r.signed_ok));
    wait_for("the entry done", || {
        outbox(&o.d, "")
            .first()
            .is_some_and(|e| e["state"] == "done")
    });
    let e = &outbox(&o.d, "")[0];
    assert_eq!(e["kind"], "assign");
    assert_eq!(e["key"], "APP-1");
    assert_eq!(e["integration"], o.integration);
    assert_eq!(e["email"], "bob@example.org");
    assert_eq!(
        metric(
            &o.d,
            "synclink_outbound_total{kind=\"assign\",outcome=\"sent\"}"
        ),
        1.0
    );
    // Jira's webhook for that change: applying it changes nothing, records
    // nothing, and nothing is pushed back.
    let acts = activity(&o.d, o.group).len();
    let echo = assignee_delivery(
        Some("bob@example.org"),
        "90001",
        chrono::Utc::now().timestamp_millis(),
        "APP-1",
    );
    let (s, r) = deliver(&o.d, &webhook_token(&o.d, o.integration), &echo);
    assert_eq!((s, r["outcome"].as_str()), (200, Some("unchanged")), "{r}");
    assert_eq!(activity(&o.d, o.group).len(), acts);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(outbox(&o.d, "").len(), 1, "no entry from the echo");
    // Unassign reaches Jira as {"name": null}.
    let (s, _) =
        o.d.admin()
            .delete(&format!("/v1/groups/{}/assignee", o.group));
    assert_eq!(s, 200);
    wait_for("Jira unassigned", || jira_assignee(&o).is_none());
    assert_eq!(o.fake.state().writes[1].2, json!({"name": null}));
}

#[test]
fn a_webhook_change_is_never_pushed_back_to_its_own_integration() {
    let o = out_world("");
    let v = assignee_delivery(Some("bob@example.org"), "1", 1000, "APP-1");
    let (s, r) = deliver(&o.d, &webhook_token(&o.d, o.integration), &v);
    assert_eq!((s, r["outcome"].as_str()), (200, Some("assigned")), "{r}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(outbox(&o.d, "").is_empty());
    assert!(o.fake.state().writes.is_empty());
}

#[test]
fn resolving_here_moves_the_issue_by_its_mapping() {
    let o = out_world("");
    map_statuses(&o);
    let (s, _) = o.d.admin().put(
        &format!("/v1/groups/{}/status", o.group),
        json!({"status": "resolved"}),
    );
    assert_eq!(s, 200);
    wait_for("Jira's status", || {
        o.fake.state().issues["APP-1"].status == "10001"
    });
    let w = o.fake.state().writes.clone();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].1, "/rest/api/2/issue/APP-1/transitions");
    assert_eq!(w[0].2["transition"]["id"], "31");
    // Unresolve: back to 10000 ("To Do", transition 11).
    o.d.admin().put(
        &format!("/v1/groups/{}/status", o.group),
        json!({"status": "unresolved"}),
    );
    wait_for("Jira's status back", || {
        o.fake.state().issues["APP-1"].status == "10000"
    });
    // Already there: done with no write.
    o.fake.state().issues.get_mut("APP-1").unwrap().status = "10001".into();
    o.d.admin().put(
        &format!("/v1/groups/{}/status", o.group),
        json!({"status": "resolved"}),
    );
    wait_for("three entries done", || {
        let l = outbox(&o.d, "?state=done");
        l.len() == 3
    });
    assert_eq!(o.fake.state().writes.len(), 2, "no third write");
}

#[test]
fn entries_that_cannot_work_are_dead_with_the_spec_messages() {
    let o = out_world("");
    // No status mapping for APP.
    o.d.admin().put(
        &format!("/v1/groups/{}/status", o.group),
        json!({"status": "resolved"}),
    );
    wait_for("dead (no mapping)", || {
        outbox(&o.d, "?state=dead").len() == 1
    });
    assert_eq!(
        outbox(&o.d, "?state=dead")[0]["last_error"],
        "No status mapping for Jira project APP"
    );
    o.d.wait_event("outbound-dead");
    // No Jira user with that email.
    o.fake.state().users.retain(|(n, _)| n != "bob");
    assign(&o);
    wait_for("dead (no user)", || outbox(&o.d, "?state=dead").len() == 2);
    assert_eq!(
        outbox(&o.d, "?state=dead")[0]["last_error"],
        "No Jira user with email bob@example.org can be assigned APP-1"
    );
    o.d.wait_event("assignee-not-found-outbound");
    // No transition leads to the target status.
    map_statuses(&o);
    o.d.admin().put(
        &format!("/v1/integrations/{}/status-mappings/APP", o.integration),
        json!({"on_resolve": "10001", "on_unresolve": "6"}),
    );
    o.fake.state().issues.get_mut("APP-1").unwrap().status = "10001".into();
    o.d.admin().put(
        &format!("/v1/groups/{}/status", o.group),
        json!({"status": "unresolved"}),
    );
    wait_for("dead (no transition)", || {
        outbox(&o.d, "?state=dead").len() == 3
    });
    assert_eq!(
        outbox(&o.d, "?state=dead")[0]["last_error"],
        "No transition of APP-1 leads to status 6"
    );
    // Another 4xx: dead with Jira's message.
    o.fake
        .state()
        .users
        .push(("bob".into(), "bob@example.org".into()));
    o.fake.state().issues.remove("APP-1");
    o.d.admin()
        .delete(&format!("/v1/groups/{}/assignee", o.group));
    wait_for("dead (404)", || outbox(&o.d, "?state=dead").len() == 4);
    assert!(outbox(&o.d, "?state=dead")[0]["last_error"]
        .as_str()
        .unwrap()
        .contains("Issue Does Not Exist"));
    assert!(o.fake.state().writes.is_empty());
}

#[test]
fn failures_are_retried_with_backoff_and_retry_after_is_honoured() {
    let o = out_world("");
    o.fake
        .state()
        .rest_failures
        .extend([(503, None), (429, Some(2))]);
    let t = Instant::now();
    assign(&o);
    wait_for("Jira's assignee", || {
        jira_assignee(&o).as_deref() == Some("bob")
    });
    // 503, then ~1 s, 429 with Retry-After: 2, then ≥ 2 s more.
    assert!(t.elapsed() >= Duration::from_secs(2), "{:?}", t.elapsed());
    let failed = o.d.events("outbound-failed");
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[0]["try"], 1);
    assert!(
        failed[1]["next_try_secs"].as_f64().unwrap() >= 2.0,
        "{}",
        failed[1]
    );
    wait_for("done", || {
        outbox(&o.d, "")
            .first()
            .is_some_and(|e| e["state"] == "done")
    });
    assert_eq!(outbox(&o.d, "")[0]["attempts"], 3);
}

#[test]
fn refused_credentials_keep_entries_waiting_and_say_so() {
    let o = out_world("");
    o.fake.state().rest_down = Some(401);
    assign(&o);
    wait_for("a failed try", || !o.d.events("outbound-failed").is_empty());
    std::thread::sleep(Duration::from_millis(1500));
    let e = &outbox(&o.d, "")[0];
    assert_eq!(e["state"], "pending", "never dead on 401 alone: {e}");
    let i =
        o.d.admin()
            .must_get(&format!("/v1/integrations/{}", o.integration));
    assert!(i["last_error"].as_str().unwrap().contains("401"), "{i}");
    assert!(metric(&o.d, "synclink_outbox_pending") >= 1.0);
    // Fixed credentials; the retry route tries now.
    o.fake.state().rest_down = None;
    let id = e["id"].as_u64().unwrap();
    let (s, r) =
        o.d.admin()
            .post(&format!("/v1/outbox/{id}/retry"), json!({}));
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["state"], "pending");
    wait_for("Jira's assignee", || {
        jira_assignee(&o).as_deref() == Some("bob")
    });
    // The refusal is over: the integration's last_error is cleared.
    wait_for("last_error cleared", || {
        o.d.admin()
            .must_get(&format!("/v1/integrations/{}", o.integration))["last_error"]
            .is_null()
    });
}

#[test]
fn newer_changes_replace_waiting_ones() {
    let o = out_world("");
    o.fake.state().rest_down = Some(503);
    // Bob, then unassigned, then bob again, each arriving while the one
    // before waits for its next try (not in flight): one entry of the
    // assignee field is left, the newest, its tries counted afresh.
    let waiting = |kind: &str| {
        let p = outbox(&o.d, "?state=pending");
        p.len() == 1 && p[0]["kind"] == kind && p[0]["attempts"].as_u64() >= Some(1)
    };
    assign(&o);
    wait_for("bob waiting", || waiting("assign"));
    o.d.admin()
        .delete(&format!("/v1/groups/{}/assignee", o.group));
    wait_for("the unassign replaced it", || waiting("unassign"));
    assign(&o);
    wait_for("bob replaced it", || waiting("assign"));
    o.fake.state().rest_down = None;
    wait_for("Jira's assignee", || {
        jira_assignee(&o).as_deref() == Some("bob")
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        o.fake.state().writes.len(),
        1,
        "only the newest state is pushed"
    );
}

#[test]
fn a_committed_change_reaches_jira_once_across_kill_9() {
    let mut o = out_world("");
    o.fake.state().rest_down = Some(503);
    assign(&o);
    wait_for("a failed try", || !o.d.events("outbound-failed").is_empty());
    o.d.kill9();
    o.fake.state().rest_down = None;
    o.d.restart();
    wait_for("Jira's assignee", || {
        jira_assignee(&o).as_deref() == Some("bob")
    });
    std::thread::sleep(Duration::from_millis(500));
    let w = o.fake.state().writes.clone();
    assert_eq!(w.len(), 1, "exactly once: {w:?}");
}

#[test]
fn outbox_routes_list_retry_and_drop() {
    let o = out_world("");
    // Dead: no mapping.
    o.d.admin().put(
        &format!("/v1/groups/{}/status", o.group),
        json!({"status": "resolved"}),
    );
    wait_for("dead", || outbox(&o.d, "?state=dead").len() == 1);
    let id = outbox(&o.d, "")[0]["id"].as_u64().unwrap();
    assert_eq!(
        outbox(&o.d, &format!("?integration={}", o.integration)).len(),
        1
    );
    assert!(outbox(&o.d, "?integration=999").is_empty());
    for q in ["?state=bogus", "?limit=0", "?integration=x"] {
        assert_error(
            &o.d.admin().get(&format!("/v1/outbox{q}")),
            400,
            "bad_request",
        );
    }
    // With a mapping now, retrying the dead entry pushes it.
    map_statuses(&o);
    let (s, r) =
        o.d.admin()
            .post(&format!("/v1/outbox/{id}/retry"), json!({}));
    assert_eq!(s, 200, "{r}");
    wait_for("Jira's status", || {
        o.fake.state().issues["APP-1"].status == "10001"
    });
    // Drop: 204, then 404.
    assert_eq!(o.d.admin().delete(&format!("/v1/outbox/{id}")).0, 204);
    assert!(outbox(&o.d, "").is_empty());
    assert_error(
        &o.d.admin().delete(&format!("/v1/outbox/{id}")),
        404,
        "not_found",
    );
    assert_error(
        &o.d.admin().post("/v1/outbox/999/retry", json!({})),
        404,
        "not_found",
    );
}

#[test]
fn an_entry_still_failing_after_the_give_up_time_is_dead() {
    let o = out_world("outbound_give_up_secs = 1\n");
    o.fake.state().rest_down = Some(503);
    assign(&o);
    wait_for("dead after giving up", || {
        outbox(&o.d, "?state=dead").len() == 1
    });
    let e = &outbox(&o.d, "")[0];
    assert!(
        e["last_error"]
            .as_str()
            .unwrap()
            .starts_with("still failing after 1 s"),
        "{e}"
    );
    assert!(e["attempts"].as_u64().unwrap() >= 2, "{e}");
    o.d.wait_event("outbound-dead");
    assert!(o.fake.state().writes.is_empty());
    assert_eq!(metric(&o.d, "synclink_outbox_pending"), 0.0);
}

#[test]
fn at_most_max_in_flight_requests_per_integration() {
    use crate::common::fake_jira::Issue;
    let o = out_world("outbound_max_in_flight = 2\n");
    // Six groups, each on its own issue: six keys that could all go at once.
    let project = o.d.admin().must_get(&format!("/v1/groups/{}", o.group))["project"]
        .as_u64()
        .unwrap();
    let mut groups = vec![];
    for n in 2..=7 {
        let key = format!("APP-{n}");
        o.fake
            .state()
            .issues
            .insert(key.clone(), Issue::new("APP", "3", None));
        let g = group(&o.d, project);
        link(&o.d, g, o.integration, &key);
        groups.push(g);
    }
    o.fake.state().rest_delay = Some(Duration::from_millis(150));
    o.fake.state().rest_most = 0;
    for g in &groups {
        let (s, _) =
            o.d.admin()
                .put(&format!("/v1/groups/{g}/assignee"), json!({"user": o.bob}));
        assert_eq!(s, 200);
    }
    wait_for("six pushes", || o.fake.state().writes.len() == 6);
    let most = o.fake.state().rest_most;
    assert_eq!(most, 2, "at most 2 requests in flight, and 2 were used");
}

#[test]
fn the_oldest_pending_age_grows_while_an_entry_waits_and_sent_is_logged_at_debug() {
    let o = out_world("[log]\nlevel = \"debug\"\n");
    // Jira asks for 30 s: the entry waits with nothing changing in the outbox.
    o.fake.state().rest_failures.extend([(429, Some(30))]);
    let before = jira_assignee(&o);
    assign(&o);
    o.d.wait_event("outbound-failed");
    wait_for("the wait shown by the gauge", || {
        metric(&o.d, "synclink_outbox_oldest_pending_seconds") >= 2.0
    });
    assert_eq!(metric(&o.d, "synclink_outbox_pending"), 1.0);
    assert_eq!(jira_assignee(&o), before, "still waiting out Retry-After");
    assert!(o.fake.state().writes.is_empty());
    // Tried now on the retry route: sent, logged at debug, nothing waits.
    let id = outbox(&o.d, "")[0]["id"].as_u64().unwrap();
    let (s, r) =
        o.d.admin()
            .post(&format!("/v1/outbox/{id}/retry"), json!({}));
    assert_eq!(s, 200, "{r}");
    let sent = o.d.wait_event("outbound-sent");
    assert_eq!(sent["entry"], id);
    assert_eq!(sent["integration"], o.integration);
    assert_eq!(jira_assignee(&o).as_deref(), Some("bob"));
    wait_for("the gauges back to 0", || {
        metric(&o.d, "synclink_outbox_pending") == 0.0
            && metric(&o.d, "synclink_outbox_oldest_pending_seconds") == 0.0
    });
}

#[test]
fn a_jira_user_link_names_the_jira_account_without_a_look_up() {
    let o = out_world("");
    // Jira knows this account by a name no email search would find.
    o.fake
        .state()
        .users
        .push(("b.smith".into(), "someone-else@example.org".into()));
    let (s, v) = o.d.admin().put(
        &format!("/v1/integrations/{}/jira-users/b.smith", o.integration),
        json!({"user": o.bob}),
    );
    assert_eq!(s, 200, "{v}");
    assign(&o);
    wait_for("Jira's assignee", || {
        jira_assignee(&o).as_deref() == Some("b.smith")
    });
    assert_eq!(o.fake.count("/rest/api/2/user/assignable/search"), 0);
    let writes = o.fake.state().writes.clone();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].2, json!({"name": "b.smith"}));
    assert!(o.fake.requests().iter().all(|r| r.signed_ok));
}

#[test]
fn an_answer_cut_off_midway_is_tried_again_not_dead() {
    // Jira takes the PUT, sends the head of its answer, then stalls past
    // jira.timeout_secs (5 s): a timeout, so the entry is tried again.
    let o = out_world("");
    o.fake.state().stall_body = Some("/rest/api/2/issue/APP-1/assignee".into());
    assign(&o);
    wait_for("a failed try", || !o.d.events("outbound-failed").is_empty());
    let failed = &o.d.events("outbound-failed")[0];
    assert!(
        failed["error"].as_str().unwrap().contains("timed out"),
        "{failed}"
    );
    wait_for("done", || {
        outbox(&o.d, "")
            .first()
            .is_some_and(|e| e["state"] == "done")
    });
    assert!(o.d.events("outbound-dead").is_empty());
    assert_eq!(outbox(&o.d, "")[0]["attempts"], 2);
    assert_eq!(jira_assignee(&o).as_deref(), Some("bob"));
}
