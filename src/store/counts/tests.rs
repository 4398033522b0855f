//! Tests of [`super`] (`src/store/counts.rs`).

use super::*;
use crate::domain::plan::Op;
use crate::domain::{Link, NotificationSetting, Project};
use crate::store::sync::SyncWrite;

fn assert_agree(s: &Store) {
    assert!(s.wait_counted(Duration::from_secs(30)), "recount finished");
    assert!(!s.counting());
    assert_eq!(s.counts(), s.counts_by_scan());
}

/// Reopen after a drop without close: the counters must be counted anew
/// and agree with a scan.
fn reopen_recounted(dir: &tempfile::TempDir) -> Store {
    let s = Store::reopen(dir.path(), false).unwrap();
    assert_eq!(s.counts_origin, CountsOrigin::Counted);
    assert_agree(&s);
    s
}

fn get(s: &Store, name: &str) -> Option<usize> {
    s.counts().into_iter().find(|(k, _)| *k == name).unwrap().1
}

fn link(s: &Store, group: u64, key: &str) {
    s.create_link(&Link {
        group,
        integration: 1,
        key: key.into(),
    })
    .unwrap();
}

/// An organization, project 10 and one group in it (also used by the
/// snapshot tests); returns the group id.
pub(crate) fn world(s: &Store) -> u64 {
    let o = s.create_org("o", "O").unwrap();
    let p = Project {
        id: 10,
        org: o.id,
        slug: "p".into(),
        name: "P".into(),
        teams: vec![],
        date_added: 1,
    };
    s.insert_project(&p).unwrap();
    s.create_group(p.id, "g", 1).unwrap().id
}

#[test]
fn clean_close_saves_the_counters_and_open_loads_them_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::reopen(dir.path(), false).unwrap();
    assert_eq!(s.counts_origin, CountsOrigin::Counted, "fresh database");
    let g = world(&s);
    link(&s, g, "A-1");
    link(&s, g, "A-2");
    assert_agree(&s);
    s.close().unwrap();
    drop(s);

    let s = Store::reopen(dir.path(), false).unwrap();
    assert_eq!(s.counts_origin, CountsOrigin::Loaded);
    assert!(!s.counting());
    assert_eq!(get(&s, "links"), Some(2));
    assert_eq!(s.counts(), s.counts_by_scan());
    // The marker is gone (durably) as soon as the store is open ...
    assert!(s.t.meta.get(META_COUNTS).unwrap().is_none());
    link(&s, g, "A-3");
    s.flush().unwrap();
    drop(s); // ... so a crash now (no close) means a recount.

    let s = reopen_recounted(&dir);
    assert_eq!(get(&s, "links"), Some(3));
}

#[test]
fn a_write_after_close_invalidates_the_save() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::reopen(dir.path(), false).unwrap();
    let g = world(&s);
    assert_agree(&s);
    s.close().unwrap();
    assert!(s.t.meta.get(META_COUNTS).unwrap().is_some());
    link(&s, g, "late-1"); // e.g. a background delete still running
    assert!(s.t.meta.get(META_COUNTS).unwrap().is_none());
    s.flush().unwrap();
    drop(s);
    let s = reopen_recounted(&dir);
    assert_eq!(get(&s, "links"), Some(1));
}

#[test]
fn unreadable_saved_counters_mean_a_recount() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::reopen(dir.path(), false).unwrap();
    world(&s);
    s.t.meta.insert(META_COUNTS, &b"junk"[..]).unwrap();
    s.flush().unwrap();
    assert!(s.wait_counted(Duration::from_secs(30)));
    drop(s);
    let s = reopen_recounted(&dir);
    assert_eq!(get(&s, "groups"), Some(1));
}

#[test]
fn recount_is_exact_while_writers_run() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::reopen(dir.path(), false).unwrap();
    let g = world(&s);
    for i in 0..20_000 {
        link(&s, g, &format!("K-{i}"));
    }
    s.flush().unwrap();
    drop(s); // no close: the next open recounts (in the background)
    let s = Store::reopen(dir.path(), true).unwrap();
    assert_eq!(s.counts_origin, CountsOrigin::Recounting);
    // Writers keep going while the recount runs: inserts on both sides
    // of the scan's position, and removes.
    for i in 0..300 {
        link(&s, g, &format!("A-{i}"));
        link(&s, g, &format!("Z-{i}"));
        s.delete_link(g, 1, &format!("K-{i}")).unwrap();
    }
    assert_agree(&s);
    assert_eq!(get(&s, "links"), Some(20_000 + 300));
}

fn sync(s: &Store, ops: Vec<Op>) {
    s.apply_sync(&SyncWrite {
        ops,
        actor: None,
        state: None,
        delivery: None,
        now: 1,
        cause: Default::default(),
        outbox: vec![],
        moved: None,
    })
    .unwrap();
}

#[test]
fn counters_follow_every_writer_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::reopen(dir.path(), false).unwrap();
    let o = s.create_org("o", "O").unwrap();
    assert!(s.create_org("o", "again").is_err());
    let u = s.create_user("u", &[]).unwrap();
    let t = s.create_team(o.id, "t", "T").unwrap();
    assert!(s.create_team(o.id, "t", "T").is_err());
    let p = Project {
        id: 10,
        org: o.id,
        slug: "p".into(),
        name: "P".into(),
        teams: vec![t.id],
        date_added: 1,
    };
    s.insert_project(&p).unwrap();
    assert!(s.insert_project(&p).is_err());
    let g1 = s.create_group(p.id, "g1", 1).unwrap().id;
    let g2 = s.create_group(p.id, "g2", 1).unwrap().id;
    for (g, key) in [(g1, "A-1"), (g2, "A-1"), (g1, "A-2")] {
        let l = Link {
            group: g,
            integration: 1,
            key: key.into(),
        };
        s.create_link(&l).unwrap();
    }
    assert!(s
        .create_link(&Link {
            group: g1,
            integration: 1,
            key: "A-1".into()
        })
        .is_err());
    s.delete_link(g1, 1, "A-2").unwrap();
    assert!(s.delete_link(g1, 1, "A-2").is_err());
    let assign = |g| Op::Assign {
        group: g,
        project: p.id,
        user: u.id,
        email: "u@x".into(),
        replaces: None,
    };
    sync(&s, vec![assign(g1), assign(g2)]);
    sync(
        &s,
        vec![Op::Deassign {
            group: g2,
            project: p.id,
        }],
    );
    let ns = |kind: &str| NotificationSetting {
        project: p.id,
        user: u.id,
        kind: kind.into(),
        value: "v".into(),
    };
    s.put_notification_setting(&ns("a")).unwrap();
    s.put_notification_setting(&ns("a")).unwrap(); // replaced
    s.put_notification_setting(&ns("b")).unwrap();
    assert!(s.wait_counted(Duration::from_secs(30)));
    assert_eq!(get(&s, "orgs"), Some(1));
    assert_eq!(get(&s, "teams"), Some(1));
    assert_eq!(get(&s, "links"), Some(2));
    assert_eq!(get(&s, "assignees"), Some(1));
    assert_eq!(get(&s, "activities"), Some(3));
    assert_eq!(get(&s, "notification_settings"), Some(2));
    assert_agree(&s);
    s.flush().unwrap();
    drop(s);

    let s = Store::reopen(dir.path(), false).unwrap(); // not closed: recounted
    assert_agree(&s);
    s.close().unwrap();
    drop(s);

    let s = Store::reopen(dir.path(), false).unwrap(); // closed: loaded
    assert_eq!(s.counts_origin, CountsOrigin::Loaded);
    assert_agree(&s);
    s.begin_project_delete(p.id).unwrap();
    s.run_project_delete(p.id, |_| {}).unwrap();
    assert_agree(&s);
    assert!(s.wait_counted(Duration::from_secs(30)));
    assert_eq!(get(&s, "projects"), Some(0));
    assert_eq!(get(&s, "groups"), Some(0));
    assert_eq!(get(&s, "links"), Some(0));
    assert_eq!(get(&s, "activities"), Some(0));
    assert_eq!(get(&s, "users"), Some(1));
}
