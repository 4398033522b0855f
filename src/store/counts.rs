//! Entity counts for `GET /v1/status`, kept in memory so that a status call
//! never walks a tree (`sled::Tree::len` is a full scan: millions of links).
//!
//! Adjusted by the writers after each committed write, from what the write
//! actually did (an insert that replaced a value, or a remove that found
//! nothing, counts zero). The integration-side trees (integrations,
//! installations, deletes in progress) hold a handful of entries and are
//! still counted directly.
//!
//! Where the numbers come from at open:
//! * after a clean shutdown, [`Store::close`] saved them in the `meta` tree
//!   (key `counts`, which doubles as the "clean" marker). Open loads them and
//!   removes the key (flushed) before any writer runs, so a crash from then
//!   on finds no marker;
//! * otherwise (first open, crash, a tool that only flushed), every tree is
//!   counted by a background thread started by open: the daemon is ready at
//!   once and `GET /v1/status` shows `null` for an entity not counted yet
//!   (plus `"counting": true`). Writers keep running during the recount: an
//!   entity's scan is kept only if no writer changed that entity's count
//!   while it ran (checked again after a short grace, so a write committed
//!   just before its `count` call is not counted twice); otherwise it is
//!   retried with a growing pause.

use super::Store;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

/// The counted entities, in `GET /v1/status` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Orgs,
    Users,
    Teams,
    Projects,
    Groups,
    Links,
    Assignees,
    Activities,
    NotificationSettings,
}

const ALL: [(Entity, &str); 9] = [
    (Entity::Orgs, "orgs"),
    (Entity::Users, "users"),
    (Entity::Teams, "teams"),
    (Entity::Projects, "projects"),
    (Entity::Groups, "groups"),
    (Entity::Links, "links"),
    (Entity::Assignees, "assignees"),
    (Entity::Activities, "activities"),
    (Entity::NotificationSettings, "notification_settings"),
];

/// Key in the `meta` tree: the counters saved at a clean shutdown.
pub(crate) const META_COUNTS: &[u8] = b"counts";

/// How long a recount waits after a scan for the `count` calls of writes
/// that committed during it.
const GRACE: Duration = Duration::from_millis(20);

/// Below this size on disk a database without saved counters is counted
/// at open instead of in the background.
const SYNC_COUNT_MAX_BYTES: u64 = 32 * 1024 * 1024;

/// Where the counters came from when the database opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountsOrigin {
    /// Saved at the last clean shutdown.
    Loaded,
    /// Counted at open: no saved counters, but a small database.
    Counted,
    /// Being counted in the background (no saved counters, a big database).
    Recounting,
}

#[derive(Default)]
pub struct Counts {
    n: [AtomicI64; 9],
    /// Bumped by every count-changing write, per entity.
    generation: [AtomicU64; 9],
    counted: [AtomicBool; 9],
    /// Set by [`Store::close`]: a count change after it invalidates the save.
    closed: AtomicBool,
    /// Signalled when the recount finishes.
    done: (Mutex<bool>, Condvar),
    /// The trees, for the recount thread: it holds only a `Weak` to this,
    /// so the database closes when the last `Store` handle is dropped, even
    /// with a recount still going.
    trees: std::sync::OnceLock<super::Trees>,
}

fn tree(t: &super::Trees, e: Entity) -> &sled::Tree {
    match e {
        Entity::Orgs => &t.orgs,
        Entity::Users => &t.users,
        Entity::Teams => &t.teams,
        Entity::Projects => &t.projects,
        Entity::Groups => &t.groups,
        Entity::Links => &t.links,
        Entity::Assignees => &t.assignees,
        Entity::Activities => &t.activities,
        Entity::NotificationSettings => &t.notification_settings,
    }
}

impl Counts {
    /// Counters saved by a clean shutdown (`None`: absent or unreadable).
    fn from_saved(bytes: &[u8]) -> Option<Counts> {
        let v: [i64; 9] = super::decode("counts", bytes).ok()?;
        let c = Counts::default();
        for (i, n) in v.iter().enumerate() {
            c.n[i].store(*n, Ordering::Relaxed);
            c.counted[i].store(true, Ordering::Relaxed);
        }
        *c.done.0.lock().unwrap() = true;
        Some(c)
    }

    fn all_counted(&self) -> bool {
        self.counted.iter().all(|c| c.load(Ordering::Acquire))
    }

    fn finish(&self) {
        *self.done.0.lock().unwrap() = true;
        self.done.1.notify_all();
    }

    /// Count one entity while writers may run; `true` when the result stands.
    fn try_count(&self, t: &super::Trees, e: Entity) -> bool {
        let i = e as usize;
        let g0 = self.generation[i].load(Ordering::Acquire);
        let n = tree(t, e).len() as i64;
        std::thread::sleep(GRACE);
        if self.generation[i].load(Ordering::Acquire) != g0 {
            return false;
        }
        self.n[i].store(n, Ordering::Release);
        if self.generation[i].load(Ordering::Acquire) != g0 {
            // A write landed between the check and the store: its delta
            // may be lost. Count again.
            return false;
        }
        self.counted[i].store(true, Ordering::Release);
        true
    }
}

/// The background recount: every entity, each retried until a scan ran
/// undisturbed by writers of that entity. Ends early when the store is gone.
fn recount(counts: Weak<Counts>) {
    let mut pause = Duration::from_millis(10);
    loop {
        let mut all = true;
        for (e, _) in ALL {
            let Some(c) = counts.upgrade() else { return };
            let Some(t) = c.trees.get() else { return };
            if !c.counted[e as usize].load(Ordering::Acquire) && !c.try_count(t, e) {
                all = false;
            }
        }
        let Some(c) = counts.upgrade() else { return };
        if all {
            c.finish();
            return;
        }
        drop(c);
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

impl Store {
    /// Set up the counters at open (after the migrations, before any writer
    /// runs): load the ones saved by a clean shutdown, or start a recount.
    pub(crate) fn init_counts(&mut self, background: bool) -> super::StoreResult<CountsOrigin> {
        if let Some(saved) = self.t.meta.get(META_COUNTS)? {
            // Remove the marker durably first: after a crash from now on the
            // saved numbers would be stale.
            self.t.meta.remove(META_COUNTS)?;
            self.db.flush()?;
            if let Some(c) = Counts::from_saved(&saved) {
                self.counts = Arc::new(c);
                return Ok(CountsOrigin::Loaded);
            }
        }
        let c = Counts::default();
        if !background
            && self.size_on_disk() < SYNC_COUNT_MAX_BYTES
            && !crate::failpoint::hit("recount-in-background")
        {
            // A small database is counted at once (a few milliseconds).
            for (e, _) in ALL {
                c.n[e as usize].store(tree(&self.t, e).len() as i64, Ordering::Relaxed);
                c.counted[e as usize].store(true, Ordering::Relaxed);
            }
            c.finish();
            self.counts = Arc::new(c);
            return Ok(CountsOrigin::Counted);
        }
        let _ = c.trees.set(self.t.clone());
        let c = Arc::new(c);
        let weak = Arc::downgrade(&c);
        self.counts = c;
        std::thread::Builder::new()
            .name("synclink-count".into())
            .spawn(move || recount(weak))
            .map_err(|e| super::StoreError::Invalid(format!("cannot start the recount: {e}")))?;
        Ok(CountsOrigin::Recounting)
    }

    /// Adjust a count after a committed write.
    pub(crate) fn count(&self, e: Entity, delta: i64) {
        if delta != 0 {
            let i = e as usize;
            self.counts.n[i].fetch_add(delta, Ordering::AcqRel);
            self.counts.generation[i].fetch_add(1, Ordering::AcqRel);
            if self.counts.closed.load(Ordering::Acquire) {
                // A write after the shutdown save: the saved numbers are
                // stale, so the next open recounts.
                let _ = self.t.meta.remove(META_COUNTS);
            }
        }
    }

    /// Clean shutdown, after the last write: save the counters (the "clean"
    /// marker) and flush. The next open loads them instead of counting. When
    /// a recount is still running nothing is saved (the next open recounts).
    pub fn close(&self) -> super::StoreResult<usize> {
        self.counts.closed.store(true, Ordering::Release);
        let generations =
            |c: &Counts| -> u64 { c.generation.iter().map(|g| g.load(Ordering::Acquire)).sum() };
        let before = generations(&self.counts);
        if self.counts.all_counted() {
            let v: Vec<i64> = self
                .counts
                .n
                .iter()
                .map(|n| n.load(Ordering::Acquire))
                .collect();
            let v: [i64; 9] = v.try_into().expect("nine counters");
            self.t
                .meta
                .insert(META_COUNTS, super::encode("counts", &v)?)?;
            if generations(&self.counts) != before {
                // A writer was still running: do not trust the save.
                self.t.meta.remove(META_COUNTS)?;
            }
        }
        self.flush()
    }

    /// `true` while the background recount runs.
    pub fn counting(&self) -> bool {
        !*self.counts.done.0.lock().unwrap()
    }

    /// Wait up to `timeout` for the recount; `true` when it is done.
    pub fn wait_counted(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut done = self.counts.done.0.lock().unwrap();
        while !*done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            done = self.counts.done.1.wait_timeout(done, left).unwrap().0;
        }
        true
    }

    /// Number of entries per entity, for `GET /v1/status`: no tree scans
    /// except the three small integration-side trees. `None`: not counted
    /// yet (recount in progress).
    pub fn counts(&self) -> Vec<(&'static str, Option<usize>)> {
        let mut out: Vec<(&'static str, Option<usize>)> = ALL
            .iter()
            .map(|(e, name)| {
                let i = *e as usize;
                let n = self.counts.n[i].load(Ordering::Acquire);
                let counted = self.counts.counted[i].load(Ordering::Acquire);
                (*name, counted.then_some(n.max(0) as usize))
            })
            .collect();
        out.push((
            "pending_project_deletes",
            Some(self.t.project_deletes.len()),
        ));
        out.push(("integrations", Some(self.t.integrations.len())));
        out.push(("installations", Some(self.t.installations.len())));
        out
    }

    /// The same numbers by walking every tree (tests: the counters must agree).
    pub fn counts_by_scan(&self) -> Vec<(&'static str, Option<usize>)> {
        let mut out: Vec<(&'static str, Option<usize>)> = ALL
            .iter()
            .map(|(e, name)| (*name, Some(tree(&self.t, *e).len())))
            .collect();
        out.push((
            "pending_project_deletes",
            Some(self.t.project_deletes.len()),
        ));
        out.push(("integrations", Some(self.t.integrations.len())));
        out.push(("installations", Some(self.t.installations.len())));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Link, NotificationSetting, Project};
    use crate::store::sync::{Op, SyncWrite};

    fn assert_agree(s: &Store) {
        assert!(s.wait_counted(Duration::from_secs(30)), "recount finished");
        assert!(!s.counting());
        assert_eq!(s.counts(), s.counts_by_scan());
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

    fn world(s: &Store) -> u64 {
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

        let s = Store::reopen(dir.path(), false).unwrap();
        assert_eq!(s.counts_origin, CountsOrigin::Counted);
        assert_agree(&s);
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
        let s = Store::reopen(dir.path(), false).unwrap();
        assert_eq!(s.counts_origin, CountsOrigin::Counted);
        assert_agree(&s);
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
        let s = Store::reopen(dir.path(), false).unwrap();
        assert_eq!(s.counts_origin, CountsOrigin::Counted);
        assert_agree(&s);
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
        };
        sync(&s, vec![assign(g1), assign(g2)]);
        sync(&s, vec![assign(g1)]); // unchanged: nothing
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
        let c: std::collections::HashMap<_, _> = s
            .counts()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap()))
            .collect();
        assert_eq!(c["orgs"], 1);
        assert_eq!(c["teams"], 1);
        assert_eq!(c["links"], 2);
        assert_eq!(c["assignees"], 1);
        assert_eq!(c["activities"], 3);
        assert_eq!(c["notification_settings"], 2);
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
        let c: std::collections::HashMap<_, _> = s
            .counts()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap()))
            .collect();
        assert_eq!(c["projects"], 0);
        assert_eq!(c["groups"], 0);
        assert_eq!(c["links"], 0);
        assert_eq!(c["activities"], 0);
        assert_eq!(c["users"], 1);
    }
}
