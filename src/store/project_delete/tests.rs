//! Tests of [`super`] (`src/store/project_delete.rs`).

use super::*;
use crate::domain::{
    Activity, ActivityType, Assignee, DeliveryState, GroupState, Link, NotificationSetting,
};
use crate::store::encode;

struct World {
    s: Store,
    org: Id,
    team: Id,
    user: Id,
}

fn world() -> World {
    let s = Store::temporary().unwrap();
    let org = s.create_org("o", "O").unwrap().id;
    let team = s.create_team(org, "t", "T").unwrap().id;
    let user = s.create_user("u", &[]).unwrap().id;
    World { s, org, team, user }
}

fn project(w: &World, id: Id, slug: &str) {
    w.s.insert_project(&Project {
        id,
        org: w.org,
        slug: slug.into(),
        name: slug.into(),
        teams: vec![w.team],
        date_added: 0,
    })
    .unwrap();
}

/// A group with two links, an assignee and `acts` activities.
fn full_group(w: &World, project: Id, keys_: &[&str], acts: usize) -> Id {
    let g = w.s.create_group(project, "g", 0).unwrap().id;
    for k in keys_ {
        w.s.create_link(&Link {
            group: g,
            integration: 9,
            key: k.to_string(),
        })
        .unwrap();
        w.s.t
            .delivery_state
            .insert(
                delivery_state_key(9, k),
                encode("delivery state", &DeliveryState::default()).unwrap(),
            )
            .unwrap();
    }
    let a = Assignee {
        group: g,
        project,
        user: w.user,
        date_added: 0,
    };
    let state = GroupState {
        assignee: Some(a),
        ..Default::default()
    };
    w.s.t
        .group_states
        .insert(keys::id(g), encode("group state", &state).unwrap())
        .unwrap();
    // All of a group's activities in one record (as one sync write keeps them).
    let set: Vec<Activity> = (0..acts)
        .map(|i| Activity {
            id: i as Id + 1,
            group: g,
            project,
            kind: ActivityType::Assigned,
            user: None,
            data: "{}".into(),
            date_added: 0,
        })
        .collect();
    if !set.is_empty() {
        w.s.t
            .activities
            .insert(keys::pair(g, 1), encode("activities", &set).unwrap())
            .unwrap();
    }
    g
}

#[test]
fn cascade_removes_everything_and_counts_it() {
    let w = world();
    project(&w, 100, "doomed");
    project(&w, 200, "kept");
    let g1 = full_group(&w, 100, &["APP-1", "APP-2"], 3);
    let g2 = full_group(&w, 100, &["APP-3"], 1);
    // A group of another project shares APP-2: its delivery state stays.
    let other = full_group(&w, 200, &["APP-2"], 1);
    for (p, kind) in [(100, "mail"), (100, "slack"), (200, "mail")] {
        w.s.put_notification_setting(&NotificationSetting {
            project: p,
            user: w.user,
            kind: kind.into(),
            value: "1".into(),
        })
        .unwrap();
    }

    assert_eq!(w.s.begin_project_delete(100).unwrap().slug, "doomed");
    assert!(w.s.get_project(100).unwrap().is_none(), "404 at once");
    assert!(w.s.get_group(g1).unwrap().is_none());
    assert!(matches!(
        w.s.begin_project_delete(100),
        Err(StoreError::NotFound(_))
    ));
    let (counts, deleted) = w.s.run_project_delete(100, |_| {}).unwrap();
    assert_eq!(
        counts,
        DeleteCounts {
            groups: 2,
            links: 3,
            assignees: 2,
            activities: 4,
            notification_settings: 2,
        }
    );
    assert_eq!(deleted, vec![g1, g2]);
    let t = &w.s.t;
    assert_eq!(t.groups.len(), 1);
    assert_eq!(t.project_groups.len(), 1);
    assert_eq!(t.links.len(), 1);
    assert_eq!(t.group_links.len(), 1);
    assert_eq!(t.group_states.len(), 1);
    assert_eq!(t.activities.len(), 1);
    assert_eq!(t.notification_settings.len(), 1);
    assert!(t
        .delivery_state
        .contains_key(delivery_state_key(9, "APP-2"))
        .unwrap());
    assert!(!t
        .delivery_state
        .contains_key(delivery_state_key(9, "APP-1"))
        .unwrap());
    assert!(!t
        .delivery_state
        .contains_key(delivery_state_key(9, "APP-3"))
        .unwrap());
    assert_eq!(t.projects.len(), 1);
    assert_eq!(t.project_slugs.len(), 1);
    assert_eq!(t.org_projects.len(), 1);
    assert_eq!(t.team_projects.len(), 1);
    assert_eq!(t.project_deletes.len(), 0);
    assert!(w.s.get_group(other).unwrap().is_some());
    // The slug can be used again, the id is free again.
    assert!(!w.s.project_slug_taken(w.org, "DOOMED").unwrap());
    assert!(!w.s.project_id_used(100).unwrap());
}

#[test]
fn a_crash_part_way_is_resumed() {
    let w = world();
    project(&w, 100, "doomed");
    let gs: Vec<Id> = (0..4).map(|_| full_group(&w, 100, &["K-1"], 2)).collect();
    w.s.begin_project_delete(100).unwrap();
    // "Crash" after the second group: stop the cascade by panicking.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut n = 0;
        w.s.run_project_delete(100, |_| {
            n += 1;
            if n == 2 {
                panic!("crash");
            }
        })
    }));
    assert!(r.is_err());
    assert_eq!(w.s.t.groups.len(), 2);
    assert_eq!(w.s.pending_project_deletes().unwrap(), vec![100]);
    assert!(w.s.get_project(100).unwrap().is_none());
    let (counts, deleted) = w.s.run_project_delete(100, |_| {}).unwrap();
    assert_eq!(deleted, gs[2..].to_vec());
    assert_eq!(counts.groups, 2);
    assert_eq!(w.s.pending_project_deletes().unwrap(), Vec::<Id>::new());
    for t in [
        &w.s.t.groups,
        &w.s.t.project_groups,
        &w.s.t.links,
        &w.s.t.group_links,
        &w.s.t.projects,
        &w.s.t.project_slugs,
        &w.s.t.org_projects,
        &w.s.t.team_projects,
    ] {
        assert_eq!(t.len(), 0);
    }
    for kind in [
        &w.s.t.group_states,
        &w.s.t.activities,
        &w.s.t.delivery_state,
    ] {
        assert_eq!(kind.len(), 0);
    }
}

#[test]
fn run_needs_a_tombstone() {
    let w = world();
    project(&w, 100, "p");
    assert!(matches!(
        w.s.run_project_delete(100, |_| {}),
        Err(StoreError::BadRequest(_))
    ));
    assert!(w.s.get_project(100).unwrap().is_some());
}

#[test]
fn nothing_can_be_added_to_a_project_being_deleted() {
    let w = world();
    project(&w, 100, "p");
    w.s.begin_project_delete(100).unwrap();
    assert!(matches!(
        w.s.create_group(100, "late", 0),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        w.s.put_notification_setting(&NotificationSetting {
            project: 100,
            user: w.user,
            kind: "mail".into(),
            value: "1".into(),
        }),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(w.s.t.notification_settings.len(), 0);
}

/// The [`DeleteGate`] protocol under a race: one thread plans and applies
/// sync batches (epoch first, then planning reads that skip tombstoned
/// projects) while another deletes the project. Whatever the interleaving,
/// nothing of the project's groups is left behind. (Before the epoch also
/// moved when a tombstone is removed, this failed within a few runs: a
/// group read just before the cascade removed it, its tombstone read just
/// after the cascade finished.)
#[test]
fn sync_batches_racing_a_delete_leave_no_orphans() {
    use crate::domain::plan::Op;
    use crate::store::sync::{LogBound, SyncWrite};
    for round in 0..20u64 {
        let w = world();
        let p = 100 + round;
        project(&w, p, "racing");
        let groups: Vec<Id> = (0..20)
            .map(|_| w.s.create_group(p, "g", 0).unwrap().id)
            .collect();
        let (s, user) = (w.s.clone(), w.user);
        let syncer = std::thread::spawn(move || {
            let mut trace = vec![];
            for i in 0..200u64 {
                let planned_at = s.delete_epoch();
                let mut writes: Vec<SyncWrite> = groups
                    .iter()
                    .filter(|g| s.get_group(**g).unwrap().is_some())
                    .map(|g| SyncWrite {
                        ops: vec![if i % 2 == 0 {
                            Op::Assign {
                                group: *g,
                                project: p,
                                user,
                                email: "u@x".into(),
                                replaces: None,
                            }
                        } else {
                            Op::Deassign {
                                group: *g,
                                project: p,
                            }
                        }],
                        now: i as i64,
                        ..Default::default()
                    })
                    .collect();
                if writes.is_empty() {
                    break;
                }
                let keep_all = LogBound {
                    count: 0,
                    keep: usize::MAX,
                    refused: 0,
                };
                let r = s
                    .apply_sync_batch(&mut writes, keep_all, Some(planned_at))
                    .unwrap();
                let n: usize = r.applied.iter().map(|a| a.changed.len()).sum();
                trace.push((i, planned_at, s.delete_epoch(), writes.len(), n));
            }
            trace
        });
        std::thread::sleep(std::time::Duration::from_micros(200 * round));
        w.s.begin_project_delete(p).unwrap();
        w.s.run_project_delete(p, |_| {}).unwrap();
        let trace = syncer.join().unwrap();
        // (batch, epoch planned at, epoch after, writes, changes) of the last batches
        let tail = &trace[trace.len().saturating_sub(4)..];
        assert_eq!(w.s.t.groups.len(), 0, "round {round}");
        assert_eq!(
            w.s.t.group_states.len(),
            0,
            "round {round}: orphan assignee; {tail:?}"
        );
        assert_eq!(
            w.s.t.activities.len(),
            0,
            "round {round}: orphan activity; {tail:?}"
        );
    }
}
