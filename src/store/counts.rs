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

/// How many records of kind `e` there are (a scan of its tree).
fn len(t: &super::Trees, e: Entity) -> usize {
    match e {
        Entity::Orgs => t.orgs.len(),
        Entity::Users => t.users.len(),
        Entity::Teams => t.teams.len(),
        Entity::Projects => t.projects.len(),
        Entity::Groups => t.groups.len(),
        Entity::Links => t.links.len(),
        // Records that hold more or less than one entity each: decoded.
        Entity::Assignees => t
            .group_states
            .iter()
            .values()
            .filter(|v| {
                v.as_ref()
                    .is_ok_and(|v| super::Store::state_has_assignee(v).is_ok_and(|a| a))
            })
            .count(),
        Entity::Activities => t
            .activities
            .iter()
            .values()
            .map(|v| {
                v.ok()
                    .and_then(|v| super::list_len("activities", &v).ok())
                    .unwrap_or(0)
            })
            .sum(),
        Entity::NotificationSettings => t.notification_settings.len(),
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
        let n = len(t, e) as i64;
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
                c.n[e as usize].store(len(&self.t, e) as i64, Ordering::Relaxed);
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
            .map_err(|e| super::StoreError::Storage(format!("cannot start the recount: {e}")))?;
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
            .map(|(e, name)| (*name, Some(len(&self.t, *e))))
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
pub(crate) mod tests;
