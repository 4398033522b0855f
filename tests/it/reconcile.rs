//! Reconcile (SPEC section 11): what Jira changed while no webhook reached
//! synclink is read back from the fake Jira's search (signatures checked,
//! issues kept with their histories) and applied through the webhook's
//! path and rules.

use crate::common::fake_jira::{FakeJira, Issue};
use crate::common::*;
use crate::identity::connected_world;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Jira answers within 2 s or not at all; no periodic or start-up run
/// (the tests' base config) unless a test asks for one.
const MANUAL: &str = "[jira]\ntimeout_secs = 2\n";

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The connected world (APP-1 linked, bob) with inbound status sync on too.
fn world(config: &str) -> (Daemon, FakeJira, World) {
    let (d, fake, w) = connected_world(config);
    d.admin().must_post(
        &format!("/v1/integrations/{}/installations", w.integration),
        json!({"org": w.org, "sync_inbound_status": true}),
        201,
    );
    (d, fake, w)
}

fn reconcile_state(d: &Daemon, integration: u64) -> Value {
    d.admin()
        .must_get(&format!("/v1/integrations/{integration}/reconcile"))
}

/// Start a manual run (202) and wait for it to end; its `last_run`.
fn run(d: &Daemon, integration: u64, body: Value) -> Value {
    let r = d.admin().must_post(
        &format!("/v1/integrations/{integration}/reconcile"),
        body,
        202,
    );
    let started = r["run"]["started"].as_str().unwrap().to_string();
    wait_run(d, integration, &started)
}

fn wait_run(d: &Daemon, integration: u64, started: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = reconcile_state(d, integration);
        let last = s["last_run"]["started"].as_str().unwrap_or_default();
        if s["running"] == false && last >= started && !last.is_empty() {
            return s["last_run"].clone();
        }
        assert!(Instant::now() < deadline, "the run did not end: {s}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn group_status(d: &Daemon, group: u64) -> String {
    d.admin().must_get(&format!("/v1/groups/{group}"))["status"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `n` more issues APP-{from}.., each linked to a group of its own.
fn linked_issues(d: &Daemon, fake: &FakeJira, w: &World, from: u64, n: u64) -> Vec<(String, u64)> {
    (from..from + n)
        .map(|i| {
            let key = format!("APP-{i}");
            fake.state().add_issue(&key, Issue::new("APP", "3", None));
            let g = group(d, w.project);
            link(d, g, w.integration, &key);
            (key, g)
        })
        .collect()
}

#[test]
fn after_downtime_every_linked_group_converges_without_a_webhook() {
    // The default interval (300 s): a run starts right after start-up.
    let (mut d, fake, w) = world("[jira]\ntimeout_secs = 2\nreconcile_interval_secs = 300\n");
    fake.state()
        .add_issue("APP-2", Issue::new("APP", "3", None));
    let g2 = group(&d, w.project);
    link(&d, g2, w.integration, "APP-2");
    // Never reconciled yet (the start-up run came before the connection).
    assert_eq!(d.stop().code(), Some(0));
    // While synclinkd is down, Jira changes: no webhook reaches it.
    let t0 = now();
    {
        let mut st = fake.state();
        st.reassign("APP-1", Some("bob"), t0 - 5_000);
        st.set_status("APP-2", "10001", t0 - 4_000);
    }
    d.restart();
    wait_until("convergence", || {
        assignee_of(&d, w.group)["user"] == w.bob && group_status(&d, g2) == "resolved"
    });
    let e = d.wait_event("reconcile-finished");
    assert_eq!(e["integration"], w.integration);
    assert!(e["histories_applied"].as_u64().unwrap() >= 2, "{e}");
    assert!(d.events("reconcile-started").len() == 1);
    // Recorded as reconcile's, in the delivery log and the activity.
    let log = d.admin().must_get("/v1/deliveries?key=APP-1&limit=1");
    assert_eq!(
        (log[0]["source"].as_str(), log[0]["outcome"].as_str()),
        (Some("reconcile"), Some("assigned")),
        "{log}"
    );
    let acts = activity(&d, w.group);
    let last = acts.last().unwrap();
    assert_eq!(last["type"], "assigned");
    assert_eq!(last["data"]["source"], "reconcile");
    assert_eq!(last["data"]["integration"], w.integration);
    let acts2 = activity(&d, g2);
    assert_eq!(acts2.last().unwrap()["type"], "set_resolved");
    let s = reconcile_state(&d, w.integration);
    assert!(s["cursor"].is_string(), "{s}");
    assert_eq!(s["last_run"]["error"], Value::Null);
    // Every search was OAuth-signed and asked what SPEC section 11 says.
    assert!(fake
        .requests()
        .iter()
        .filter(|r| r.path == "/rest/api/2/search")
        .all(|r| r.signed_ok));
    let jql = fake.state().searches.last().unwrap().0.clone();
    assert!(
        jql.starts_with("project in (\"APP\") AND updated >= \"-")
            && jql.ends_with("m\" ORDER BY updated ASC"),
        "{jql}"
    );
    // A late webhook for an older change is stale: the newer one stays.
    let token = webhook_token(&d, w.integration);
    let old = assignee_delivery(None, "999", t0 - 10_000, "APP-1");
    assert_eq!(deliver(&d, &token, &old).1["outcome"], "stale");
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    // And the webhook Jira sent late for the change reconcile applied is a
    // duplicate (same changelog id).
    let id = fake.state().issues["APP-1"].history.last().unwrap().id;
    let dup = assignee_delivery(
        Some("bob@example.org"),
        &id.to_string(),
        t0 - 5_000,
        "APP-1",
    );
    assert_eq!(deliver(&d, &token, &dup).1["outcome"], "duplicate");
}

#[test]
fn manual_runs_answer_202_refuse_overlap_and_bad_input_and_never_block_webhooks() {
    let (d, fake, w) = world(MANUAL);
    let i = w.integration;
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(fake.count("/rest/api/2/search"), 0, "interval 0: no runs");
    let a = d.admin();
    assert_error(
        &a.post(
            &format!("/v1/integrations/{}/reconcile", i + 100),
            json!({}),
        ),
        404,
        "not_found",
    );
    assert_error(
        &a.get(&format!("/v1/integrations/{}/reconcile", i + 100)),
        404,
        "not_found",
    );
    for body in [
        json!({"since": "yesterday"}),
        json!({"since": 5}),
        json!({"since": "2999-01-01T00:00:00Z"}),
        json!({"from": "2025-01-01T00:00:00Z"}),
        json!([]),
    ] {
        let r = a.post(&format!("/v1/integrations/{i}/reconcile"), body);
        assert_error(&r, 400, "bad_request");
    }
    // Never run: no cursor, no last run.
    let s = reconcile_state(&d, i);
    assert_eq!(
        s,
        json!({"cursor": null, "running": false, "run": null,
               "progress": {"issues_read": 0, "issues_total": 0}, "last_run": null})
    );
    // A slow Jira: the run is going on; a second one is refused.
    fake.state().reassign("APP-1", None, now() - 1_000);
    fake.state().rest_delay = Some(Duration::from_millis(1500));
    let r = a.must_post(&format!("/v1/integrations/{i}/reconcile"), json!({}), 202);
    assert_eq!(r["run"]["manual"], true);
    assert_eq!(r["run"]["integration"], i);
    let r2 = a.post(&format!("/v1/integrations/{i}/reconcile"), json!({}));
    assert_error(&r2, 409, "conflict");
    assert_eq!(reconcile_state(&d, i)["running"], true);
    // Meanwhile a webhook goes through at once.
    let token = webhook_token(&d, i);
    let t = Instant::now();
    let v = assignee_delivery(Some("bob@example.org"), "50", now() - 500, "APP-1");
    assert_eq!(deliver(&d, &token, &v).1["outcome"], "assigned");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    let last = wait_run(&d, i, r["run"]["started"].as_str().unwrap());
    assert_eq!(last["error"], Value::Null, "{last}");
    // The webhook's assign is newer than the unassign read back: that one
    // is stale.
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    assert_eq!(last["outcomes"]["stale"], 1, "{last}");
    assert_eq!(last["histories_applied"], 0);
}

#[test]
fn odd_paging_applies_every_history_once_and_a_rerun_applies_nothing() {
    let (d, fake, w) = world(MANUAL);
    let issues = linked_issues(&d, &fake, &w, 100, 230);
    let t0 = now() - 60_000;
    {
        let mut st = fake.state();
        for (n, (key, _)) in issues.iter().enumerate() {
            st.reassign(key, Some("bob"), t0 + n as i64 * 10);
        }
        st.search_repeat_last = true;
        st.search_total_drift = 3;
    }
    let last = run(&d, w.integration, json!({}));
    assert_eq!(last["error"], Value::Null, "{last}");
    assert_eq!(last["histories_applied"], 230, "{last}");
    for (_, g) in &issues {
        let acts = activity(&d, *g);
        assert_eq!(acts.len(), 1, "group {g}: {acts:?}");
        assert_eq!(acts[0]["data"]["source"], "reconcile");
    }
    // Pages of 100 (and APP-1, unchanged in the window, is not read).
    let searches = fake.state().searches.clone();
    assert!(searches.len() <= 3, "{searches:?}");
    assert!(searches.iter().all(|s| s.2 == 100), "{searches:?}");
    let logged = |d: &Daemon| {
        d.admin()
            .must_get("/v1/deliveries?limit=10000")
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["source"] == "reconcile")
            .count()
    };
    assert_eq!(logged(&d), 230);
    // Read again from the same time: everything is a duplicate, nothing is
    // applied, and duplicates are not written to the delivery log.
    let since = chrono::DateTime::from_timestamp_millis(t0 - 1_000)
        .unwrap()
        .to_rfc3339();
    let again = run(&d, w.integration, json!({ "since": since }));
    assert_eq!(again["histories_applied"], 0, "{again}");
    assert_eq!(again["outcomes"]["duplicate"], 230, "{again}");
    assert_eq!(logged(&d), 230);
}

#[test]
fn a_changelog_cut_short_is_read_whole() {
    let (d, fake, w) = world(MANUAL);
    let t0 = now();
    {
        let mut st = fake.state();
        st.set_status("APP-1", "10001", t0 - 3_000);
        st.reassign("APP-1", Some("bob"), t0 - 2_000);
        st.changelog_cut = Some(1);
    }
    let last = run(&d, w.integration, json!({}));
    assert_eq!(last["error"], Value::Null, "{last}");
    assert_eq!(last["histories_applied"], 2, "{last}");
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    assert_eq!(group_status(&d, w.group), "resolved");
    assert_eq!(fake.state().issue_reads, ["APP-1"]);
}

#[test]
fn a_failed_run_keeps_the_cursor_and_says_why() {
    let (d, fake, w) = world(MANUAL);
    let i = w.integration;
    fake.state().reassign("APP-1", Some("bob"), now() - 1_000);
    let first = run(&d, i, json!({}));
    assert_eq!(first["error"], Value::Null, "{first}");
    let cursor = reconcile_state(&d, i)["cursor"].clone();
    assert!(cursor.is_string());
    // Jira failing: the run fails, the cursor stays.
    fake.state().rest_down = Some(503);
    let failed = run(&d, i, json!({}));
    let why = failed["error"].as_str().unwrap();
    assert!(why.contains("503"), "{why}");
    assert_eq!(reconcile_state(&d, i)["cursor"], cursor);
    let e = d.wait_event("reconcile-failed");
    assert!(e["error"].as_str().unwrap().contains("503"), "{e}");
    // Jira refusing the credentials also sets the integration's last_error.
    fake.state().rest_down = Some(401);
    let refused = run(&d, i, json!({}));
    assert!(
        refused["error"].as_str().unwrap().contains("401"),
        "{refused}"
    );
    let integ = d.admin().must_get(&format!("/v1/integrations/{i}"));
    assert!(
        integ["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("401"),
        "{integ}"
    );
    assert_eq!(reconcile_state(&d, i)["cursor"], cursor);
}

#[test]
fn kill_9_mid_run_resumes_from_the_cursor_and_applies_nothing_twice() {
    let (mut d, fake, w) = world(MANUAL);
    let issues = linked_issues(&d, &fake, &w, 100, 300);
    let t0 = now() - 60_000;
    {
        let mut st = fake.state();
        for (n, (key, _)) in issues.iter().enumerate() {
            st.reassign(key, Some("bob"), t0 + n as i64 * 10);
        }
        st.rest_delay = Some(Duration::from_millis(600));
        // Jira caps pages below the 100 asked for: paging goes on by its size.
        st.search_page_max = 50;
    }
    d.admin().must_post(
        &format!("/v1/integrations/{}/reconcile", w.integration),
        json!({}),
        202,
    );
    // Once the first page is durable, kill -9.
    wait_until("the first page's cursor", || {
        reconcile_state(&d, w.integration)["cursor"].is_string()
    });
    d.kill9();
    fake.state().rest_delay = None;
    d.restart();
    let last = run(&d, w.integration, json!({}));
    assert_eq!(last["error"], Value::Null, "{last}");
    for (_, g) in &issues {
        let acts = activity(&d, *g);
        assert_eq!(acts.len(), 1, "group {g}: {acts:?}");
        assert_eq!(assignee_of(&d, *g)["user"], w.bob);
    }
}

#[test]
fn sigterm_during_a_run_exits_in_time_and_the_next_start_resumes() {
    let (mut d, fake, w) = world("[jira]\ntimeout_secs = 30\n[http]\nshutdown_timeout_secs = 3\n");
    fake.state().reassign("APP-1", Some("bob"), now() - 1_000);
    fake.state().rest_delay = Some(Duration::from_secs(20));
    d.admin().must_post(
        &format!("/v1/integrations/{}/reconcile", w.integration),
        json!({}),
        202,
    );
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    d.signal(libc::SIGTERM);
    let st = d.wait_exit(Duration::from_secs(10));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(st.code(), Some(0));
    fake.state().rest_delay = None;
    d.restart();
    assert_eq!(reconcile_state(&d, w.integration)["running"], false);
    run(&d, w.integration, json!({}));
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
}

/// `synclinkctl integration reconcile ID --wait` (not on a terminal).
fn reconcile_wait(d: &Daemon, integration: u64) -> std::process::Output {
    std::process::Command::new(CTL)
        .arg("--socket")
        .arg(&d.socket)
        .args([
            "integration",
            "reconcile",
            &integration.to_string(),
            "--wait",
        ])
        .output()
        .unwrap()
}

#[test]
fn synclinkctl_waits_for_the_run_and_prints_what_it_did() {
    let (d, fake, w) = world(MANUAL);
    fake.state().reassign("APP-1", Some("bob"), now() - 1_000);
    let o = reconcile_wait(&d, w.integration);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out} {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("1 histories applied") && out.contains("assigned 1"),
        "{out}"
    );
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    // A failed run: exit 1, and the reason.
    fake.state().rest_down = Some(503);
    let o = reconcile_wait(&d, w.integration);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("503"));
}

#[test]
fn periodic_runs_pick_up_what_jira_changed_since_the_last_one() {
    let (d, fake, w) = world("[jira]\ntimeout_secs = 2\nreconcile_interval_secs = 1\n");
    wait_until("a first periodic run", || {
        reconcile_state(&d, w.integration)["last_run"].is_object()
    });
    fake.state().reassign("APP-1", Some("bob"), now());
    wait_until("the next run's assign", || {
        assignee_of(&d, w.group)["user"] == w.bob
    });
    assert!(d.events("reconcile-started").len() >= 2);
    assert!(d
        .events("reconcile-started")
        .iter()
        .all(|e| e["manual"] == false));
}

#[test]
fn more_than_50_linked_projects_are_split_over_queries() {
    let (d, fake, w) = world(MANUAL);
    let mut groups = Vec::new();
    for p in 0..51 {
        let key = format!("P{p:02}-1");
        fake.state()
            .add_issue(&key, Issue::new(&format!("P{p:02}"), "3", None));
        let g = group(&d, w.project);
        link(&d, g, w.integration, &key);
        groups.push(g);
    }
    {
        let mut st = fake.state();
        st.reassign("P00-1", Some("bob"), now() - 2_000);
        st.reassign("P50-1", Some("bob"), now() - 1_000);
    }
    let last = run(&d, w.integration, json!({}));
    assert_eq!(last["error"], Value::Null, "{last}");
    assert_eq!(assignee_of(&d, groups[0])["user"], w.bob);
    assert_eq!(assignee_of(&d, groups[50])["user"], w.bob);
    let jqls: Vec<String> = fake.state().searches.iter().map(|s| s.0.clone()).collect();
    assert_eq!(jqls.len(), 2, "{jqls:?}");
    let keys = |j: &str| j.matches('"').count() / 2 - 1;
    // APP plus P00..P50: 52 keys, 50 in the first query.
    assert_eq!((keys(&jqls[0]), keys(&jqls[1])), (50, 2), "{jqls:?}");
    assert!(reconcile_state(&d, w.integration)["cursor"].is_string());
}

#[test]
fn a_project_jira_no_longer_knows_is_left_out_of_the_query() {
    let (d, fake, w) = world(MANUAL);
    // A link into a project deleted in Jira since.
    let g = group(&d, w.project);
    link(&d, g, w.integration, "OLD-7");
    fake.state().reassign("APP-1", Some("bob"), now() - 1_000);
    let last = run(&d, w.integration, json!({}));
    assert_eq!(last["error"], Value::Null, "{last}");
    assert_eq!(assignee_of(&d, w.group)["user"], w.bob);
    let e = d.wait_event("reconcile-project-unknown");
    assert_eq!(e["projects"], "OLD", "{e}");
    let jqls: Vec<String> = fake.state().searches.iter().map(|s| s.0.clone()).collect();
    assert!(jqls[0].contains("\"OLD\""), "{jqls:?}");
    assert!(!jqls.last().unwrap().contains("OLD"), "{jqls:?}");
    // Every project unknown: the run fails and says why; the cursor stays.
    let cursor = reconcile_state(&d, w.integration)["cursor"].clone();
    fake.state().projects.clear();
    let failed = run(&d, w.integration, json!({}));
    let why = failed["error"].as_str().unwrap_or_default();
    assert!(
        why.contains("does not exist for the field 'project'"),
        "{failed}"
    );
    assert_eq!(reconcile_state(&d, w.integration)["cursor"], cursor);
}
