use super::*;

const SEARCH: &str = include_str!("../../../tests/fixtures/jira-rest/search_updated.json");

#[test]
fn the_fixture_page_makes_one_delivery_per_assignee_or_status_history() {
    let page = parse_search(SEARCH).unwrap();
    assert_eq!((page.start_at, page.total, page.issues.len()), (0, 2, 2));
    let app1 = &page.issues[0];
    assert_eq!(
        app1.updated(),
        parse_jira_time("2025-11-28T15:44:11.000+0000")
    );
    assert!(!app1.changelog_cut());
    let cmds = app1.commands(7, 99);
    // The summary change is skipped; the assignee and the status history stay.
    assert_eq!(cmds.len(), 2);
    assert_eq!(cmds[0].changelog_id.as_deref(), Some("10172"));
    // `fields.assignee` is the same Jira user (bob): its email.
    assert_eq!(
        cmds[0].assignee,
        Some(Change::Assign("bob@example.org".into()))
    );
    assert_eq!(cmds[0].status, None);
    assert_eq!(cmds[0].timestamp, Some(1_764_344_411_000));
    assert_eq!(cmds[0].source, Source::Reconcile);
    assert_eq!((cmds[0].integration, cmds[0].received), (7, 99));
    assert_eq!(cmds[1].assignee, None);
    assert_eq!(
        cmds[1].status,
        Some(StatusChange {
            from: Some("3".into()),
            to: Some("10001".into()),
            to_done_now: None
        })
    );
    let app2 = page.issues[1].commands(7, 99);
    assert_eq!(app2.len(), 1);
    assert_eq!(app2[0].assignee, Some(Change::Unassign));
    assert_eq!(app2[0].key, "APP-2");
}

fn issue(v: serde_json::Value) -> IssueDoc {
    serde_json::from_value(v).unwrap()
}

#[test]
fn an_assignee_who_is_not_the_current_one_is_named_for_a_link_or_look_up() {
    let i = issue(serde_json::json!({
        "key": "app-5",
        "fields": {"assignee": {"name": "carol", "emailAddress": "carol@example.org"}},
        "changelog": {"histories": [
            {"id": 2, "created": "2025-11-28T15:00:00.000+0000",
             "items": [{"fieldId": "assignee", "from": null, "to": "bob"}]},
            {"id": "3", "created": "2025-11-28T16:00:00.000+0000",
             "items": [{"field": "assignee", "from": "bob", "to": "CAROL"}]}
        ]}
    }));
    let cmds = i.commands(1, 0);
    assert_eq!(cmds[0].key, "APP-5");
    assert_eq!(
        cmds[0].assignee,
        Some(Change::JiraUser {
            name: "bob".into(),
            why: None
        })
    );
    assert_eq!(cmds[0].changelog_id.as_deref(), Some("2"));
    assert_eq!(
        cmds[1].assignee,
        Some(Change::Assign("carol@example.org".into()))
    );
}

#[test]
fn histories_out_of_order_are_applied_oldest_first_and_odd_ones_skipped() {
    let i = issue(serde_json::json!({
        "key": "APP-1",
        "fields": {"assignee": null, "unknown": [1, 2]},
        "changelog": {"histories": [
            {"id": "30", "created": "2025-11-28T17:00:00.000+0000",
             "items": [{"field": "status", "from": "1", "to": "3"}]},
            {"id": "10", "created": "2025-11-28T15:00:00.000+0000",
             "items": [{"field": "assignee", "from": "bob", "to": null}], "extra": true},
            {"id": "", "created": "2025-11-28T16:00:00.000+0000",
             "items": [{"field": "assignee", "to": null}]},
            {"id": "20", "created": "2025-11-28T16:00:00.000+0000",
             "items": [{"field": "labels", "to": "x"}]}
        ]}
    }));
    let ids: Vec<_> = i
        .commands(1, 0)
        .into_iter()
        .map(|c| c.changelog_id.unwrap())
        .collect();
    assert_eq!(ids, ["10", "30"]);
}

#[test]
fn a_changelog_cut_short_is_noticed() {
    let cut = issue(serde_json::json!({"key": "A-1", "changelog": {
        "startAt": 0, "maxResults": 1, "total": 3, "histories": [{"id": "1", "items": []}]}}));
    assert!(cut.changelog_cut());
    let whole = issue(serde_json::json!({"key": "A-1", "changelog": {
        "startAt": 0, "maxResults": 1, "total": 1, "histories": [{"id": "1", "items": []}]}}));
    assert!(!whole.changelog_cut());
    assert!(parse_search("<html>").is_err());
    assert!(parse_search(r#"{"issues": [{"key": 5}]}"#).is_err());
}

#[test]
fn the_jql_quotes_its_keys_and_counts_whole_minutes() {
    assert_eq!(
        jql(&["APP".into(), "O\"P".into()], 7),
        r#"project in ("APP", "O\"P") AND updated >= "-7m" ORDER BY updated ASC"#
    );
    assert_eq!(minutes_back(0, 60_000), 1);
    assert_eq!(minutes_back(0, 60_001), 2);
    assert_eq!(minutes_back(10, 10), 1);
    assert_eq!(minutes_back(5_000, 0), 1);
}

#[test]
fn a_run_starts_at_since_or_the_cursor_or_the_first_lookback_less_the_overlap() {
    let now = 10_000_000;
    assert_eq!(run_from(Some(123), Some(9_000_000), now, 120, 86_400), 123);
    assert_eq!(run_from(None, Some(9_000_000), now, 120, 86_400), 8_880_000);
    assert_eq!(
        run_from(None, None, now, 120, 3_600),
        now - 3_600_000 - 120_000
    );
}

#[test]
fn the_cursor_of_a_split_run_is_its_least_progress() {
    assert_eq!(least_progress(&[Some(5), Some(3), Some(9)]), Some(3));
    assert_eq!(least_progress(&[Some(5), None]), None);
    assert_eq!(least_progress(&[]), None);
}

#[test]
fn project_keys_come_before_the_last_dash() {
    assert_eq!(project_of("APP-12"), Some("APP"));
    assert_eq!(project_of("MY-APP-3"), Some("MY-APP"));
    assert_eq!(project_of("APP"), None);
    assert_eq!(project_of("-1"), None);
    assert_eq!(project_of("APP-"), None);
}

#[test]
fn histories_before_a_move_apply_to_the_key_they_were_made_under() {
    let i = issue(serde_json::json!({
        "key": "OPS-7",
        "fields": {"assignee": {"name": "bob", "emailAddress": "bob@example.org"}},
        "changelog": {"histories": [
            {"id": "1", "created": "2025-11-28T15:00:00.000+0000",
             "items": [{"field": "assignee", "to": "bob"}]},
            {"id": "2", "created": "2025-11-28T15:01:00.000+0000",
             "items": [{"field": "Key", "fromString": "app-1", "toString": "OPS-7"},
                       {"field": "project", "fromString": "App", "toString": "Ops"}]},
            {"id": "3", "created": "2025-11-28T15:02:00.000+0000",
             "items": [{"field": "status", "from": "1", "to": "3"}]}
        ]}
    }));
    assert_eq!(i.keys(), ["OPS-7", "APP-1"]);
    let cmds = i.commands(1, 0);
    let seen: Vec<_> = cmds
        .iter()
        .map(|c| (c.key.as_str(), c.moved.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [("APP-1", None), ("OPS-7", Some("APP-1")), ("OPS-7", None)]
    );
}

#[test]
fn projects_jira_does_not_know_are_read_from_its_message() {
    let m = "The value 'OLD' does not exist for the field 'project'.; \
             The value 'GONE-2' does not exist for the field 'project'. (Jira answered HTTP 400)";
    assert_eq!(unknown_projects(m), ["OLD", "GONE-2"]);
    assert!(unknown_projects("Error in the JQL Query").is_empty());
    assert!(unknown_projects("The value 'X' does not").is_empty());
}
