//! The planner's rules on an in-memory [`Reads`]: no sled, no actors, no HTTP.

use super::*;
use crate::domain::outbox::{OutboxKind, OutboxState};
use crate::domain::{Email, Millis};
use std::collections::HashMap;

/// A small world in memory.
#[derive(Default)]
struct Mem {
    /// integration -> orgs where it syncs inbound (absent: no integration)
    installs: HashMap<Id, SyncOrgs>,
    /// integration -> its Jira statuses (absent: never read)
    lists: HashMap<Id, StatusList>,
    states: HashMap<(Id, String), DeliveryState>,
    /// (integration, key) -> groups
    links: HashMap<(Id, String), Vec<Id>>,
    groups: HashMap<Id, Group>,
    projects: HashMap<Id, Project>,
    users: HashMap<Id, User>,
    /// (user, team)
    members: BTreeSet<(Id, Id)>,
    assignees: HashMap<Id, Id>,
    statuses: HashMap<Id, GroupStatus>,
    /// (integration, lower-cased Jira user) -> user
    jira_users: HashMap<(Id, String), Id>,
}

impl Reads for Mem {
    fn jira_user(&mut self, integration: Id, name: &str) -> Result<Option<Id>, Error> {
        Ok(self
            .jira_users
            .get(&(integration, name.to_ascii_lowercase()))
            .copied())
    }
    fn sync_orgs(&mut self, integration: Id) -> Result<Option<SyncOrgs>, Error> {
        Ok(self.installs.get(&integration).cloned())
    }
    fn statuses(&mut self, integration: Id) -> Result<Option<StatusList>, Error> {
        Ok(self.lists.get(&integration).cloned())
    }
    fn delivery_state(&mut self, i: Id, key: &str) -> Result<Option<DeliveryState>, Error> {
        Ok(self.states.get(&(i, key.to_string())).cloned())
    }
    fn linked(&mut self, i: Id, key: &str) -> Result<Vec<(Group, Project)>, Error> {
        let ids = self.links.get(&(i, key.to_string())).cloned();
        Ok(ids
            .unwrap_or_default()
            .into_iter()
            .filter_map(|g| {
                let g = self.groups.get(&g)?.clone();
                let p = self.projects.get(&g.project)?.clone();
                Some((g, p))
            })
            .collect())
    }
    fn group(&mut self, id: Id) -> Result<Option<Group>, Error> {
        Ok(self.groups.get(&id).cloned())
    }
    fn project(&mut self, id: Id) -> Result<Option<Project>, Error> {
        Ok(self.projects.get(&id).cloned())
    }
    fn user(&mut self, id: Id) -> Result<Option<User>, Error> {
        Ok(self.users.get(&id).cloned())
    }
    fn candidates(&mut self, email: &str) -> Result<Vec<Id>, Error> {
        let mut ids: Vec<Id> = self
            .users
            .values()
            .filter(|u| {
                u.emails
                    .iter()
                    .any(|e| e.verified && e.email.eq_ignore_ascii_case(email))
            })
            .map(|u| u.id)
            .collect();
        ids.sort();
        Ok(ids)
    }
    fn has_access(&mut self, user: Id, p: &Project) -> Result<bool, Error> {
        Ok(p.teams.iter().any(|t| self.members.contains(&(user, *t))))
    }
    fn assignee(&mut self, group: Id) -> Result<Option<Id>, Error> {
        Ok(self.assignees.get(&group).copied())
    }
    fn status(&mut self, group: Id) -> Result<GroupStatus, Error> {
        Ok(self.statuses.get(&group).copied().unwrap_or_default())
    }
    fn group_links(&mut self, group: Id) -> Result<Vec<(Id, String)>, Error> {
        Ok(self
            .links
            .iter()
            .filter(|(_, gs)| gs.contains(&group))
            .map(|((i, k), _)| (*i, k.clone()))
            .collect())
    }
}

const I: Id = 7;
const KEY: &str = "APP-1";

fn user(id: Id, emails: &[(&str, bool)]) -> User {
    User {
        id,
        name: format!("u{id}"),
        emails: emails
            .iter()
            .map(|(e, v)| Email {
                email: e.to_string(),
                verified: *v,
            })
            .collect(),
    }
}

/// Org 1 with team 10 and project 100 (groups 1000, 1001 linked to APP-1),
/// org 2 with team 20 and project 200 (group 2000 linked to APP-1); the
/// integration syncs inbound in org 1 only. Bob (1) is in team 10.
fn world() -> Mem {
    let mut m = Mem::default();
    m.installs.insert(
        I,
        SyncOrgs {
            assignee: BTreeSet::from([1]),
            status: BTreeSet::from([1]),
            ..Default::default()
        },
    );
    for (pid, org, team) in [(100, 1, 10), (200, 2, 20)] {
        m.projects.insert(
            pid,
            Project {
                id: pid,
                org,
                slug: format!("p{pid}"),
                name: format!("P{pid}"),
                teams: vec![team],
                date_added: 0,
            },
        );
    }
    for (gid, pid) in [(1000, 100), (1001, 100), (2000, 200)] {
        m.groups.insert(
            gid,
            Group {
                id: gid,
                project: pid,
                title: "g".into(),
                date_added: 0 as Millis,
            },
        );
    }
    m.links.insert((I, KEY.into()), vec![1000, 1001, 2000]);
    m.users
        .insert(1, user(1, &[("Bob@Example.org", true), ("b@x.org", false)]));
    m.members.insert((1, 10));
    m
}

fn cmd(change: Change, id: Option<&str>, ts: Option<i64>) -> SyncCommand {
    SyncCommand {
        received: 5,
        integration: I,
        key: KEY.into(),
        changelog_id: id.map(str::to_string),
        timestamp: ts,
        assignee: Some(change),
        status: None,
        source: Source::Webhook,
        moved: None,
    }
}

fn assign(email: &str) -> Change {
    Change::Assign(email.into())
}

fn apply(m: &mut Mem, p: &Plan) {
    for op in p.ops.iter().filter(|op| op.changes_assignee()) {
        match op.assignee_after() {
            Some(u) => m.assignees.insert(op.group(), u),
            None => m.assignees.remove(&op.group()),
        };
    }
    if let Some((i, k, st)) = &p.state {
        m.states.insert((*i, k.clone()), st.clone());
    }
}

#[test]
fn assign_picks_the_lowest_candidate_with_access_in_syncing_orgs_only() {
    let mut m = world();
    // Carol (2) has the email verified too, but a lower id wins only with access.
    m.users.insert(0, user(0, &[("bob@example.org", true)]));
    m.users.insert(2, user(2, &[("bob@example.org", true)]));
    m.members.insert((2, 10));
    let p = inbound(&cmd(assign("BOB@EXAMPLE.ORG"), Some("1"), Some(10)), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Assigned);
    let d = p.delivery.as_ref().unwrap();
    // Group 2000 is in org 2, where the integration does not sync.
    assert_eq!(d.groups, vec![1000, 1001]);
    assert_eq!(
        p.ops,
        vec![
            Op::Assign {
                group: 1000,
                project: 100,
                user: 1,
                email: "Bob@Example.org".into(),
                replaces: None
            },
            Op::Assign {
                group: 1001,
                project: 100,
                user: 1,
                email: "Bob@Example.org".into(),
                replaces: None
            },
        ],
        "user 0 has no access; bob (1) is the lowest with access; his own spelling"
    );
    assert_eq!(d.reason, "APP-1 was assigned in Jira to BOB@EXAMPLE.ORG");
    assert!(p.notes.is_empty());
}

#[test]
fn assigning_the_current_assignee_again_changes_nothing() {
    let mut m = world();
    m.assignees.insert(1000, 1);
    let p = inbound(&cmd(assign("bob@example.org"), Some("1"), None), &mut m).unwrap();
    // 1001 changes, 1000 already had bob: only one op, still `assigned`.
    assert_eq!(p.ops.len(), 1);
    assert_eq!(p.ops[0].group(), 1001);
    assert_eq!(p.outcome, DeliveryOutcome::Assigned);
    apply(&mut m, &p);
    let p = inbound(&cmd(assign("bob@example.org"), Some("2"), None), &mut m).unwrap();
    assert!(p.ops.is_empty());
    assert_eq!(p.outcome, DeliveryOutcome::Unchanged);
    let d = p.delivery.unwrap();
    assert!(
        d.reason.ends_with("; the groups already matched"),
        "{}",
        d.reason
    );
    // The ordering state still moves: the delivery was applied.
    assert_eq!(p.state.unwrap().2.changelog_id.as_deref(), Some("2"));
}

#[test]
fn an_assign_replacing_someone_says_whom() {
    let mut m = world();
    m.users.insert(3, user(3, &[("carol@example.org", true)]));
    m.members.insert((3, 10));
    m.assignees.insert(1000, 1);
    let p = inbound(&cmd(assign("carol@example.org"), None, None), &mut m).unwrap();
    assert!(matches!(
        p.ops[0],
        Op::Assign {
            group: 1000,
            user: 3,
            replaces: Some(1),
            ..
        }
    ));
    assert!(matches!(
        p.ops[1],
        Op::Assign {
            group: 1001,
            replaces: None,
            ..
        }
    ));
}

#[test]
fn unassign_lists_every_affected_group_and_changes_those_assigned() {
    let mut m = world();
    m.assignees.insert(1001, 1);
    m.assignees.insert(2000, 1);
    let p = inbound(&cmd(Change::Unassign, Some("1"), None), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Unassigned);
    assert_eq!(p.delivery.as_ref().unwrap().groups, vec![1000, 1001]);
    assert_eq!(
        p.ops,
        vec![Op::Deassign {
            group: 1001,
            project: 100
        }]
    );
    let (kind, data) = p.ops[0].activity(p.cause);
    assert_eq!(kind, ActivityType::Unassigned);
    let data: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(
        data,
        serde_json::json!({"integration": I, "source": "webhook"})
    );
    apply(&mut m, &p);
    let p = inbound(&cmd(Change::Unassign, Some("2"), None), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Unchanged);
    assert!(p.ops.is_empty());
}

#[test]
fn nobody_with_access_is_assignee_not_found_per_group() {
    let mut m = world();
    // A verified address nobody holds, and an unverified one bob holds.
    for email in ["nobody@example.org", "b@x.org"] {
        let p = inbound(&cmd(assign(email), None, None), &mut m).unwrap();
        assert_eq!(p.outcome, DeliveryOutcome::AssigneeNotFound, "{email}");
        assert!(p.ops.is_empty());
        assert_eq!(
            p.notes,
            vec![
                Note::AssigneeNotFound {
                    email: email.into(),
                    group: 1000
                },
                Note::AssigneeNotFound {
                    email: email.into(),
                    group: 1001
                },
            ]
        );
        assert!(
            p.state.is_some(),
            "applied: it makes older deliveries stale"
        );
    }
    // Some groups found, others not: assigned, and the reason names the rest.
    m.projects.get_mut(&100).unwrap().teams = vec![10];
    m.groups.insert(
        1002,
        Group {
            id: 1002,
            project: 101,
            title: "g".into(),
            date_added: 0,
        },
    );
    m.projects.insert(
        101,
        Project {
            id: 101,
            org: 1,
            slug: "p101".into(),
            name: "P101".into(),
            teams: vec![11],
            date_added: 0,
        },
    );
    m.links.get_mut(&(I, KEY.into())).unwrap().push(1002);
    let p = inbound(&cmd(assign("bob@example.org"), None, None), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Assigned);
    let reason = p.delivery.unwrap().reason;
    assert!(reason.contains("groups [1002]"), "{reason}");
}

#[test]
fn no_affected_groups_when_not_installed_or_linked_elsewhere() {
    let mut m = world();
    m.installs.insert(I, SyncOrgs::default());
    let p = inbound(&cmd(Change::Unassign, Some("1"), Some(1)), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::NoAffectedGroups);
    assert_eq!(p.notes, vec![Note::NoAffectedGroups]);
    assert!(p.state.is_some(), "applied");
    let mut m = world();
    m.links.clear();
    let p = inbound(&cmd(assign("bob@example.org"), None, None), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::NoAffectedGroups);
}

#[test]
fn an_integration_that_is_gone_is_a_bad_reference() {
    let mut m = world();
    m.installs.clear();
    let e = inbound(&cmd(Change::Unassign, None, None), &mut m).unwrap_err();
    assert_eq!(
        e,
        Error::BadRequest(format!("integration {I} no longer exists"))
    );
}

#[test]
fn duplicates_by_last_or_recent_changelog_id() {
    let mut m = world();
    let p = inbound(
        &cmd(assign("bob@example.org"), Some("10"), Some(100)),
        &mut m,
    )
    .unwrap();
    apply(&mut m, &p);
    let p = inbound(&cmd(Change::Unassign, Some("11"), Some(200)), &mut m).unwrap();
    apply(&mut m, &p);
    for (id, ts) in [("11", Some(300)), ("10", Some(400)), ("10", None)] {
        let p = inbound(&cmd(Change::Unassign, Some(id), ts), &mut m).unwrap();
        assert_eq!(p.outcome, DeliveryOutcome::Duplicate, "{id}");
        assert_eq!(
            p.notes,
            vec![Note::Duplicate {
                changelog_id: id.into()
            }]
        );
        assert!(p.ops.is_empty() && p.state.is_none(), "no effect");
    }
}

#[test]
fn older_timestamps_are_stale_equal_ones_are_not() {
    let mut m = world();
    let p = inbound(
        &cmd(assign("bob@example.org"), Some("1"), Some(100)),
        &mut m,
    )
    .unwrap();
    apply(&mut m, &p);
    let p = inbound(&cmd(Change::Unassign, Some("2"), Some(99)), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Stale);
    assert_eq!(
        p.notes,
        vec![Note::Stale {
            timestamp: 99,
            newest: 100
        }]
    );
    assert!(p.ops.is_empty() && p.state.is_none());
    let p = inbound(&cmd(Change::Unassign, Some("3"), Some(100)), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Unassigned);
    // Without a timestamp the stale check is skipped, and the newest stays.
    apply(&mut m, &p);
    let p = inbound(&cmd(assign("bob@example.org"), Some("4"), None), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Assigned);
    assert_eq!(p.state.as_ref().unwrap().2.timestamp, Some(100));
}

#[test]
fn the_state_keeps_the_newest_timestamp_and_a_bounded_id_list() {
    let mut m = world();
    for n in 0..(RECENT_CHANGELOG_IDS as i64 + 8) {
        let c = cmd(Change::Unassign, Some(&n.to_string()), Some(n));
        let p = inbound(&c, &mut m).unwrap();
        apply(&mut m, &p);
    }
    let st = m.states.get(&(I, KEY.to_string())).unwrap();
    assert_eq!(st.timestamp, Some(RECENT_CHANGELOG_IDS as i64 + 7));
    assert_eq!(st.recent_changelog_ids.iter().count(), RECENT_CHANGELOG_IDS);
    assert!(!st.recent_changelog_ids.contains("0"), "the oldest went");
}

#[test]
fn assigned_activity_data_has_the_reference_shape() {
    let op = Op::Assign {
        group: 1,
        project: 2,
        user: 42,
        email: "Bob@Example.org".into(),
        replaces: None,
    };
    let (kind, data) = op.activity(Cause::Jira {
        integration: 3,
        source: Source::Webhook,
    });
    assert_eq!(kind, ActivityType::Assigned);
    let v: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"assignee": "42", "assigneeEmail": "Bob@Example.org",
                           "assigneeType": "user", "integration": 3, "source": "webhook"})
    );
    // Through the admin API: `source: admin`, no integration.
    let (_, data) = op.activity(Cause::Admin);
    let v: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(v["source"], "admin");
    assert!(v.get("integration").is_none());
}

#[test]
fn manual_assign_follows_the_same_rules() {
    let mut m = world();
    assert_eq!(
        manual(9, Some(1), &mut m).unwrap_err(),
        Error::NotFound("group 9".into())
    );
    assert_eq!(
        manual(1000, Some(9), &mut m).unwrap_err(),
        Error::NotFound("user 9".into())
    );
    m.users
        .insert(3, user(3, &[("c@x.org", false), ("c@y.org", false)]));
    let e = manual(1000, Some(3), &mut m).unwrap_err();
    assert!(
        matches!(e, Error::BadRequest(ref s) if s.contains("no access")),
        "{e}"
    );
    m.members.insert((3, 10));
    // No verified address: the first is shown.
    let p = manual(1000, Some(3), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Assigned);
    assert!(matches!(&p.ops[0], Op::Assign { email, .. } if email == "c@x.org"));
    assert!(p.delivery.is_none() && p.state.is_none());
    apply(&mut m, &p);
    assert_eq!(
        manual(1000, Some(3), &mut m).unwrap().outcome,
        DeliveryOutcome::Unchanged
    );
    let p = manual(1000, None, &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Unassigned);
    apply(&mut m, &p);
    let p = manual(1000, None, &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Unchanged);
    assert!(p.ops.is_empty());
}

#[test]
fn display_email_prefers_a_verified_address() {
    let u = user(1, &[("a@x.org", false), ("B@x.org", true)]);
    assert_eq!(display_email(&u), Some("B@x.org"));
    assert_eq!(verified_spelling(&u, "b@X.ORG"), Some("B@x.org"));
    assert_eq!(verified_spelling(&u, "a@x.org"), None, "not verified");
    // ASCII case folding only: the Kelvin sign is not a K.
    let k = user(2, &[("kate@x.org", true)]);
    assert_eq!(verified_spelling(&k, "\u{212A}ate@x.org"), None);
    assert_eq!(display_email(&user(3, &[])), None);
}

#[test]
fn a_manual_status_change_records_only_a_change() {
    let mut m = world();
    assert_eq!(
        manual_status(9, GroupStatus::Resolved, &mut m).unwrap_err(),
        Error::NotFound("group 9".into())
    );
    let p = manual_status(1000, GroupStatus::Unresolved, &mut m).unwrap();
    assert_eq!(
        p.outcome,
        DeliveryOutcome::Unchanged,
        "new groups are unresolved"
    );
    assert!(p.ops.is_empty());
    let p = manual_status(1000, GroupStatus::Resolved, &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Resolved);
    assert_eq!(
        p.ops,
        vec![Op::SetStatus {
            group: 1000,
            project: 100,
            status: GroupStatus::Resolved
        }]
    );
    let (kind, data) = p.ops[0].activity(p.cause);
    assert_eq!(kind, ActivityType::SetResolved);
    assert_eq!(data, r#"{"source":"admin"}"#);
    m.statuses.insert(1000, GroupStatus::Resolved);
    let p = manual_status(1000, GroupStatus::Resolved, &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Unchanged);
    let p = manual_status(1000, GroupStatus::Unresolved, &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Unresolved);
    assert_eq!(p.ops[0].activity(p.cause).0, ActivityType::SetUnresolved);
}

/// A status-only delivery from `from` to `to` (`done_now`: the category
/// the delivery gives for `to`).
fn status_cmd(from: &str, to: &str, done_now: Option<bool>, id: &str, ts: i64) -> SyncCommand {
    SyncCommand {
        received: 5,
        integration: I,
        key: KEY.into(),
        changelog_id: Some(id.into()),
        timestamp: Some(ts),
        assignee: None,
        status: Some(StatusChange {
            from: Some(from.into()),
            to: Some(to.into()),
            to_done_now: done_now,
        }),
        source: Source::Webhook,
        moved: None,
    }
}

fn list(done: &[&str], open: &[&str]) -> StatusList {
    let s = |id: &&str, category: &str| crate::domain::JiraStatus {
        id: id.to_string(),
        name: id.to_string(),
        category: category.into(),
    };
    StatusList {
        statuses: done
            .iter()
            .map(|i| s(i, "done"))
            .chain(open.iter().map(|i| s(i, "new")))
            .collect(),
        read_at: 0,
    }
}

fn apply_status(m: &mut Mem, p: &Plan) {
    for op in &p.ops {
        if let Op::SetStatus { group, status, .. } = op {
            m.statuses.insert(*group, *status);
        }
    }
    apply(m, p);
}

#[test]
fn entering_a_done_status_resolves_the_unresolved_groups() {
    let mut m = world();
    m.statuses.insert(1001, GroupStatus::Resolved);
    let p = inbound(&status_cmd("3", "10001", Some(true), "1", 10), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Resolved);
    assert_eq!(
        p.ops,
        vec![Op::SetStatus {
            group: 1000,
            project: 100,
            status: GroupStatus::Resolved
        }],
        "1001 is resolved already; 2000 is in an org without inbound status"
    );
    let (kind, data) = p.ops[0].activity(p.cause);
    assert_eq!(kind, ActivityType::SetResolved);
    assert_eq!(data, format!(r#"{{"integration":{I},"source":"webhook"}}"#));
    let st = p.state.as_ref().unwrap().2.clone();
    assert_eq!((st.timestamp, st.status_timestamp), (None, Some(10)));
}

#[test]
fn leaving_a_done_status_unresolves_and_open_to_open_changes_nothing() {
    let mut m = world();
    m.lists.insert(I, list(&["10001"], &["1", "3", "4"]));
    m.statuses.insert(1000, GroupStatus::Resolved);
    m.statuses.insert(1001, GroupStatus::Resolved);
    // Done → Reopened: from the list (no category in the delivery).
    let p = inbound(&status_cmd("10001", "4", None, "1", 10), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Unresolved);
    assert_eq!(p.ops.len(), 2);
    apply_status(&mut m, &p);
    // Resolved here, but Jira moves between two open statuses: untouched.
    m.statuses.insert(1000, GroupStatus::Resolved);
    let p = inbound(&status_cmd("1", "3", None, "2", 20), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Unchanged);
    assert!(p.ops.is_empty());
    assert_eq!(p.state.unwrap().2.status_timestamp, Some(20), "applied");
}

#[test]
fn without_a_status_list_from_is_done_when_the_group_is_resolved_here() {
    let mut m = world();
    m.statuses.insert(1000, GroupStatus::Resolved);
    // Reopened (category new) while resolved here: unresolve 1000 only.
    let p = inbound(&status_cmd("10001", "4", Some(false), "1", 10), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Unresolved);
    assert_eq!(p.ops.len(), 1);
    assert_eq!(p.ops[0].group(), 1000);
    // Neither the delivery nor a list tells whether `to` is done.
    let p = inbound(&status_cmd("1", "5", None, "2", 20), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Unchanged);
    let reason = p.delivery.unwrap().reason;
    assert!(reason.contains("cannot tell whether status 5"), "{reason}");
    assert!(reason.contains("never read"), "{reason}");
}

#[test]
fn the_stale_rule_is_per_field() {
    let mut m = world();
    // A status change at t=100 applied...
    let p = inbound(&status_cmd("3", "10001", Some(true), "1", 100), &mut m).unwrap();
    apply_status(&mut m, &p);
    // ...does not make an older, late assignee change stale,
    let p = inbound(&cmd(assign("bob@example.org"), Some("2"), Some(50)), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Assigned);
    apply_status(&mut m, &p);
    // ...while an older status change is.
    let p = inbound(&status_cmd("10001", "4", Some(false), "3", 60), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Stale);
    assert!(p.ops.is_empty() && p.state.is_none());
    // And the other way round: a newer assignee change leaves the status's
    // own watermark alone.
    let st = m.states.get(&(I, KEY.to_string())).unwrap();
    assert_eq!((st.timestamp, st.status_timestamp), (Some(50), Some(100)));
}

#[test]
fn a_delivery_with_both_parts_joins_its_effects() {
    let mut m = world();
    let mut c = status_cmd("3", "10001", Some(true), "1", 10);
    c.assignee = Some(assign("bob@example.org"));
    let p = inbound(&c, &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::AssignedResolved);
    assert_eq!(p.outcome.as_str(), "assigned+resolved");
    assert_eq!(p.ops.len(), 4, "two assigns, two resolves, one write");
    assert!(p.outcome.has_part(DeliveryOutcome::Resolved));
    apply_status(&mut m, &p);
    let st = m.states.get(&(I, KEY.to_string())).unwrap();
    assert_eq!((st.timestamp, st.status_timestamp), (Some(10), Some(10)));
    // Only the assignee changes now; the status part is unchanged and adds
    // nothing to the outcome.
    let mut c = status_cmd("3", "10001", Some(true), "2", 20);
    c.assignee = Some(Change::Unassign);
    let p = inbound(&c, &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Unassigned);
    // A stale part beside an effect adds nothing, and the reason says why.
    let mut c = status_cmd("10001", "4", Some(false), "3", 30);
    c.assignee = Some(assign("bob@example.org"));
    m.states.get_mut(&(I, KEY.to_string())).unwrap().timestamp = Some(40);
    let p = inbound(&c, &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Unresolved);
    let reason = p.delivery.unwrap().reason;
    assert!(reason.contains("assignee change is older"), "{reason}");
}

#[test]
fn a_hidden_email_beside_a_status_change_applies_the_status_only() {
    let mut m = world();
    let mut c = status_cmd("3", "10001", Some(true), "7", 10);
    c.assignee = Some(Change::NoEmail);
    let p = inbound(&c, &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Resolved);
    let st = p.state.as_ref().unwrap().2.clone();
    // The status's ordering moves; the changelog id is not recorded (the
    // assignee part can still be applied by a re-sent delivery).
    assert_eq!(st.status_timestamp, Some(10));
    assert_eq!(st.timestamp, None);
    assert!(st.changelog_id.is_none() && !st.recent_changelog_ids.contains("7"));
    assert!(p.delivery.unwrap().reason.contains("no visible email"));
}

#[test]
fn no_org_with_inbound_status_is_no_affected_groups_for_the_status() {
    let mut m = world();
    m.installs.get_mut(&I).unwrap().status.clear();
    let p = inbound(&status_cmd("3", "10001", Some(true), "1", 10), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::NoAffectedGroups);
    let reason = p.delivery.unwrap().reason;
    assert!(reason.contains("sync_inbound_status"), "{reason}");
}

/// The world, with integration 8 also linked to group 1000 (as `OPS-5`) and
/// outbound switches set per integration.
fn outbound_world(assignee_out: &[Id], status_out: &[Id]) -> Mem {
    let mut m = world();
    m.links.insert((8, "OPS-5".into()), vec![1000]);
    m.installs.insert(8, SyncOrgs::default());
    for i in [I, 8] {
        let o = m.installs.get_mut(&i).unwrap();
        if assignee_out.contains(&i) {
            o.outbound_assignee.insert(1);
        }
        if status_out.contains(&i) {
            o.outbound_status.insert(1);
        }
    }
    m
}

#[test]
fn manual_changes_go_out_to_every_linked_integration_that_syncs_outbound() {
    let mut m = outbound_world(&[I, 8], &[8]);
    let p = manual(1000, Some(1), &mut m).unwrap();
    let mut to: Vec<(Id, &str, OutboxKind)> = p
        .outbox
        .iter()
        .map(|e| (e.integration, e.key.as_str(), e.kind))
        .collect();
    to.sort();
    assert_eq!(
        to,
        vec![
            (I, "APP-1", OutboxKind::Assign),
            (8, "OPS-5", OutboxKind::Assign)
        ]
    );
    assert!(p
        .outbox
        .iter()
        .all(|e| e.email.as_deref() == Some("Bob@Example.org")
            && e.user == Some(1)
            && e.group == 1000
            && e.state == OutboxState::Pending));
    // Status: only integration 8 syncs it outbound.
    let p = manual_status(1000, GroupStatus::Resolved, &mut m).unwrap();
    assert_eq!(p.outbox.len(), 1);
    assert_eq!(
        (p.outbox[0].integration, p.outbox[0].kind),
        (8, OutboxKind::Resolve)
    );
    // Nothing changed, nothing pushed.
    apply_status(&mut m, &p);
    assert!(manual_status(1000, GroupStatus::Resolved, &mut m)
        .unwrap()
        .outbox
        .is_empty());
    let p = manual_status(1000, GroupStatus::Unresolved, &mut m).unwrap();
    assert_eq!(p.outbox[0].kind, OutboxKind::Unresolve);
}

#[test]
fn a_change_from_jira_is_never_pushed_back_to_the_same_integration() {
    let mut m = outbound_world(&[I, 8], &[I, 8]);
    let mut c = status_cmd("3", "10001", Some(true), "1", 10);
    c.assignee = Some(Change::Unassign);
    m.assignees.insert(1000, 1);
    let p = inbound(&c, &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::UnassignedResolved);
    // Integration I caused it: only integration 8 (linked to 1000) follows.
    let mut to: Vec<(Id, OutboxKind)> = p.outbox.iter().map(|e| (e.integration, e.kind)).collect();
    to.sort();
    assert_eq!(
        to,
        vec![(8, OutboxKind::Unassign), (8, OutboxKind::Resolve)]
    );
    // Without the switches, nothing goes out.
    let mut m = outbound_world(&[], &[]);
    let p = inbound(&status_cmd("3", "10001", Some(true), "1", 10), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Resolved);
    assert!(p.outbox.is_empty());
}

/// Plan a delivery (changelog 1, timestamp 10) whose assignee hides the
/// email but names the Jira account `name`.
fn jira_user_delivery(m: &mut Mem, name: &str) -> Plan {
    let change = Change::JiraUser {
        name: name.into(),
        why: None,
    };
    inbound(&cmd(change, Some("1"), Some(10)), m).unwrap()
}

#[test]
fn a_hidden_email_with_a_linked_jira_user_assigns_that_user() {
    let mut m = world();
    m.jira_users.insert((I, "bsmith".into()), 1);
    let p = jira_user_delivery(&mut m, "BSmith");
    assert_eq!(p.outcome, DeliveryOutcome::Assigned);
    // Group 2000 is in org 2, where the integration does not sync.
    assert_eq!(p.delivery.as_ref().unwrap().groups, vec![1000, 1001]);
    assert!(p.ops.iter().all(|op| op.assignee_after() == Some(1)));
    let Op::Assign { email, .. } = &p.ops[0] else {
        panic!("{:?}", p.ops)
    };
    assert_eq!(email, "Bob@Example.org", "the user's first verified email");
    let reason = &p.delivery.as_ref().unwrap().reason;
    assert!(
        reason.contains("Jira user BSmith (linked to user 1)"),
        "{reason}"
    );
    // Applied: the changelog id and the timestamp are recorded.
    let st = &p.state.as_ref().unwrap().2;
    assert_eq!(
        (st.changelog_id.as_deref(), st.timestamp),
        (Some("1"), Some(10))
    );
}

#[test]
fn a_linked_jira_user_without_access_is_assignee_not_found() {
    let mut m = world();
    m.users.insert(3, user(3, &[("c@example.org", true)]));
    m.jira_users.insert((I, "carol".into()), 3);
    let p = jira_user_delivery(&mut m, "carol");
    assert_eq!(p.outcome, DeliveryOutcome::AssigneeNotFound);
    assert!(p.ops.is_empty());
    assert_eq!(
        p.notes,
        vec![
            Note::AssigneeNotFound {
                email: "c@example.org".into(),
                group: 1000
            },
            Note::AssigneeNotFound {
                email: "c@example.org".into(),
                group: 1001
            }
        ]
    );
}

#[test]
fn a_hidden_email_with_an_unlinked_jira_user_is_not_applied() {
    let mut m = world();
    let p = jira_user_delivery(&mut m, "nobody");
    assert_eq!(p.outcome, DeliveryOutcome::MissingAssigneeEmail);
    assert!(p.ops.is_empty());
    assert_eq!(
        p.notes,
        vec![Note::Unlinked {
            jira_user: "nobody".into(),
            why: None
        }]
    );
    let reason = &p.delivery.as_ref().unwrap().reason;
    assert!(reason.contains("nobody has no Jira user link"), "{reason}");
    // Not applied: a re-sent delivery, once the link exists, still applies.
    let st = &p.state.as_ref().unwrap().2;
    assert!(st.changelog_id.is_none() && st.timestamp.is_none());
    apply(&mut m, &p);
    m.jira_users.insert((I, "nobody".into()), 1);
    let p = jira_user_delivery(&mut m, "nobody");
    assert_eq!(p.outcome, DeliveryOutcome::Assigned);
}

/// APP-1's links and delivery state, as if the issue is now OPS-7.
fn moved_cmd(change: Option<Change>, id: &str, ts: i64) -> SyncCommand {
    SyncCommand {
        key: "OPS-7".into(),
        assignee: change,
        moved: Some(KEY.into()),
        ..cmd(Change::Unassign, Some(id), Some(ts))
    }
}

#[test]
fn a_move_takes_the_links_and_the_delivery_state_to_the_new_key_first() {
    let mut m = world();
    m.states.insert(
        (I, KEY.into()),
        DeliveryState {
            timestamp: Some(50),
            changelog_id: Some("40".into()),
            recent_changelog_ids: ["40"].into_iter().collect(),
            status_timestamp: Some(60),
        },
    );
    // Only the move.
    let p = inbound(&moved_cmd(None, "41", 70), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Moved);
    assert_eq!(p.moved, Some((I, KEY.to_string(), "OPS-7".to_string())));
    assert!(p.ops.is_empty());
    let d = p.delivery.unwrap();
    assert_eq!(d.groups, [1000, 1001, 2000]);
    assert!(d.reason.contains("APP-1 moved to OPS-7"), "{}", d.reason);
    assert!(p.notes.contains(&Note::Moved {
        from: KEY.into(),
        groups: vec![1000, 1001, 2000]
    }));
    // The old key's state, now the new key's, with this delivery in it.
    let (i, k, st) = p.state.unwrap();
    assert_eq!((i, k.as_str()), (I, "OPS-7"));
    assert_eq!((st.timestamp, st.status_timestamp), (Some(50), Some(60)));
    assert!(st.recent_changelog_ids.contains("40") && st.recent_changelog_ids.contains("41"));
    // A move with an assignee change: the moved links' groups are assigned.
    let p = inbound(
        &moved_cmd(Some(Change::Assign("bob@example.org".into())), "42", 80),
        &mut world(),
    )
    .unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::MovedAssigned);
    assert_eq!(p.outcome.as_str(), "moved+assigned");
    assert_eq!(p.ops.len(), 2, "{:?}", p.ops);
    // An older assignee change beside the move: stale, the move still happens.
    let p = inbound(
        &moved_cmd(Some(Change::Assign("bob@example.org".into())), "43", 10),
        &mut m,
    )
    .unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Moved);
    assert!(p.ops.is_empty());
    assert!(p.moved.is_some());
}

#[test]
fn a_move_of_nothing_or_a_duplicate_moves_nothing() {
    // Nothing is linked to the old key, and it has no state.
    let mut m = world();
    m.links.clear();
    let p = inbound(&moved_cmd(None, "41", 70), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::NoAffectedGroups);
    assert_eq!(p.moved, None);
    assert!(p
        .delivery
        .unwrap()
        .reason
        .contains("nothing here is linked to APP-1"));
    // A duplicate (its changelog id already applied to the old key).
    let mut m = world();
    m.states.insert(
        (I, KEY.into()),
        DeliveryState {
            changelog_id: Some("41".into()),
            recent_changelog_ids: ["41"].into_iter().collect(),
            ..Default::default()
        },
    );
    let p = inbound(&moved_cmd(None, "41", 70), &mut m).unwrap();
    assert_eq!(p.outcome, DeliveryOutcome::Duplicate);
    assert_eq!(p.moved, None);
}

#[test]
fn moved_outcomes_join_in_the_fixed_order_and_match_by_part() {
    use DeliveryOutcome::*;
    assert_eq!(
        DeliveryOutcome::moved(AssignedResolved).as_str(),
        "moved+assigned+resolved"
    );
    assert_eq!(DeliveryOutcome::moved(Stale), Moved);
    assert!(MovedUnassignedUnresolved.has_part(Unresolved));
    assert!(MovedAssigned.has_part(Moved));
    assert!(!MovedAssigned.has_part(Resolved));
    for o in DeliveryOutcome::ALL {
        assert_eq!(DeliveryOutcome::parse(o.as_str()), Some(o));
    }
}
