//! Bounding start-up after a large write volume.
//!
//! sled 0.34.7 writes its snapshot (the page table with the log offset it
//! covers) only while it opens a database (`PageCache::start` →
//! `read_snapshot_or_default` → `advance_snapshot` → `write_snapshot`;
//! `Config::snapshot_after_ops` is accepted and ignored). Every open
//! therefore replays the whole log written since the previous open: the
//! first start after a bulk load of 1M links replays 1.4 GB.
//!
//! [`Store::close_and_snapshot`] moves that cost to a clean shutdown: after
//! [`Store::close`] (counters saved, flushed) and once this is the last
//! handle, it drops the database and opens it once more, which replays the
//! log and writes the snapshot, then drops it again. The next start replays
//! only what was written after that. It does so only when much was written
//! since open ([`SNAPSHOT_MIN_BYTES`]), so a short-lived daemon stops at
//! once, and it gives up after a time budget: the snapshot is written to a
//! temporary file and renamed, so leaving (even exiting the process) while
//! the reopen runs loses nothing; the next start then pays the replay.

use super::StoreResult;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Below this many bytes written since open a clean shutdown does not
/// reopen the database: replaying that little costs the next start less
/// than the reopen (a full open: ~0.3 s with 1M links) costs the stop.
/// Measured replay speed: about 1 s per GiB of log (docs/OPERATIONS.md,
/// section 9), so this bounds what it adds to the next start to ~60 ms.
pub const SNAPSHOT_MIN_BYTES: u64 = 64 * 1024 * 1024;

/// What a process has written when the store opened: the base of
/// [`Store::written_since_open`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WriteMark {
    /// `wchar` of `/proc/self/io` (bytes passed to write calls by every
    /// thread of the process), when readable.
    wchar: Option<u64>,
    /// sled's files, bytes.
    size: u64,
}

/// `wchar` of `/proc/self/io`: every byte this process handed to `write`
/// and `pwrite` (sled's log writes, but also logs and sockets: an upper
/// bound of the log written). `None` off Linux.
fn process_wchar() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
}

impl WriteMark {
    pub(crate) fn now(db: &sled::Db) -> WriteMark {
        WriteMark {
            wchar: process_wchar(),
            size: db.size_on_disk().unwrap_or(0),
        }
    }
}

/// When and how long a clean shutdown may reopen the database.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotPolicy {
    /// Reopen only when at least this much was written since open.
    pub min_bytes: u64,
    /// Wait at most this long for the other handles to go (threads that
    /// are still winding down).
    pub wait_for_handles: Duration,
    /// Give up on the reopen after this long (`None`: wait for it).
    pub budget: Option<Duration>,
}

impl SnapshotPolicy {
    /// The daemon's: 64 MiB, 5 s for the handles, 10 s for the reopen
    /// (inside systemd's `TimeoutStopSec=45s` after the 30 s of
    /// `http.shutdown_timeout_secs`).
    /// The `snapshot-at-shutdown` failpoint makes it unconditional (tests).
    pub fn daemon() -> SnapshotPolicy {
        SnapshotPolicy {
            min_bytes: if crate::failpoint::hit("snapshot-at-shutdown") {
                0
            } else {
                SNAPSHOT_MIN_BYTES
            },
            wait_for_handles: Duration::from_secs(5),
            budget: Some(Duration::from_secs(10)),
        }
    }

    /// A bulk-loading tool's: always, and wait for it.
    pub fn always() -> SnapshotPolicy {
        SnapshotPolicy {
            min_bytes: 0,
            wait_for_handles: Duration::from_secs(30),
            budget: None,
        }
    }
}

/// What [`Store::close_and_snapshot`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Snapshot {
    /// Reopened: sled replayed the log and wrote its snapshot.
    Written { written: u64, took: Duration },
    /// Too little written since open (or a temporary database).
    Skipped { written: u64 },
    /// Other handles were still open after the wait: not reopened.
    Busy { written: u64 },
    /// The reopen did not finish within the budget (it goes on in a
    /// background thread; leaving now is safe).
    TimedOut { written: u64, budget: Duration },
    /// The reopen failed (the database stays as closed; the next start
    /// replays the log as it would have anyway).
    Failed { written: u64, error: String },
}

impl Snapshot {
    /// Short name for the `store-snapshot` log record.
    pub fn outcome(&self) -> &'static str {
        match self {
            Snapshot::Written { .. } => "written",
            Snapshot::Skipped { .. } => "skipped",
            Snapshot::Busy { .. } => "busy",
            Snapshot::TimedOut { .. } => "timed-out",
            Snapshot::Failed { .. } => "failed",
        }
    }

    /// Bytes written since open (the estimate the decision used).
    pub fn written(&self) -> u64 {
        match self {
            Snapshot::Written { written, .. }
            | Snapshot::Skipped { written }
            | Snapshot::Busy { written }
            | Snapshot::TimedOut { written, .. }
            | Snapshot::Failed { written, .. } => *written,
        }
    }
}

/// Open the database at `path` (retrying while the previous handle's
/// threads still hold sled's directory lock, until `deadline`), then drop it.
fn reopen_once(path: &std::path::Path, deadline: Instant) -> StoreResult<()> {
    drop(super::open_sled_waiting(path, deadline)?);
    Ok(())
}

impl super::Store {
    /// Bytes written since this store opened: the larger of what the whole
    /// process wrote (`/proc/self/io`, an upper bound of sled's log) and the
    /// growth of sled's files (the fallback off Linux).
    pub fn written_since_open(&self) -> u64 {
        let now = WriteMark::now(&self.db);
        let by_io = match (self.opened.wchar, now.wchar) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        };
        by_io.max(now.size.saturating_sub(self.opened.size))
    }

    /// `true` when no other handle to this store is left (clones held by
    /// threads that are still winding down).
    fn last_handle(&self) -> bool {
        std::sync::Arc::strong_count(&self.counts) == 1
    }

    /// Clean shutdown with a bounded next start: [`Store::close`] (counters
    /// saved, flushed), then, when `policy.min_bytes` or more were written
    /// since open and this is the last handle, reopen the database once so
    /// that sled writes its snapshot now (see the module documentation).
    /// The returned [`Snapshot`] says what happened; an error is only
    /// [`Store::close`]'s.
    pub fn close_and_snapshot(self, policy: SnapshotPolicy) -> StoreResult<Snapshot> {
        self.close()?;
        let written = self.written_since_open();
        let path = match &self.path {
            Some(p) if written >= policy.min_bytes => p.clone(),
            _ => return Ok(Snapshot::Skipped { written }),
        };
        let waited = Instant::now() + policy.wait_for_handles;
        while !self.last_handle() {
            if Instant::now() >= waited {
                return Ok(Snapshot::Busy { written });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // The last handle: dropping it flushes and closes the database.
        drop(self);
        if crate::failpoint::hit("snapshot-slow") {
            std::thread::sleep(Duration::from_secs(3));
        }
        let started = Instant::now();
        let lock_deadline = started + Duration::from_secs(10);
        let Some(budget) = policy.budget else {
            return Ok(match reopen_once(&path, lock_deadline) {
                Ok(()) => Snapshot::Written {
                    written,
                    took: started.elapsed(),
                },
                Err(e) => Snapshot::Failed {
                    written,
                    error: e.to_string(),
                },
            });
        };
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("synclink-snapshot".into())
            .spawn(move || {
                let _ = tx.send(reopen_once(&path, lock_deadline.min(started + budget)));
            });
        if let Err(e) = spawned {
            return Ok(Snapshot::Failed {
                written,
                error: e.to_string(),
            });
        }
        Ok(match rx.recv_timeout(budget) {
            Ok(Ok(())) => Snapshot::Written {
                written,
                took: started.elapsed(),
            },
            Ok(Err(e)) => Snapshot::Failed {
                written,
                error: e.to_string(),
            },
            Err(_) => Snapshot::TimedOut { written, budget },
        })
    }
}

/// The log offset (LSN) covered by the newest snapshot file in `dir`
/// (`snap.<hex LSN>`), if any.
pub fn newest_snapshot_lsn(dir: &std::path::Path) -> Option<u64> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            u64::from_str_radix(name.strip_prefix("snap.")?, 16).ok()
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Link;
    use crate::store::counts::CountsOrigin;
    use crate::store::Store;

    fn fill(s: &Store, n: usize) -> u64 {
        let g = crate::store::counts::tests::world(s);
        for i in 0..n {
            s.create_link(&Link {
                group: g,
                integration: 1,
                key: format!("K-{i}"),
            })
            .unwrap();
        }
        g
    }

    fn links(s: &Store) -> Option<usize> {
        s.counts()
            .into_iter()
            .find(|(k, _)| *k == "links")
            .unwrap()
            .1
    }

    #[test]
    fn close_and_snapshot_writes_a_snapshot_and_keeps_the_counters() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::reopen(dir.path(), false).unwrap();
        let at_open = newest_snapshot_lsn(dir.path());
        let g = fill(&s, 3_000);
        assert!(s.written_since_open() > 0);
        match s.close_and_snapshot(SnapshotPolicy::always()).unwrap() {
            Snapshot::Written { written, .. } => assert!(written > 0),
            other => panic!("expected a snapshot, got {other:?}"),
        }
        // The reopen wrote a snapshot covering the writes: the next open
        // starts from it instead of the log written since the first open.
        let after = newest_snapshot_lsn(dir.path()).expect("a snapshot file");
        assert!(Some(after) > at_open, "{at_open:?} -> {after}");

        // The counters saved by close survive the reopen: loaded, not counted.
        let s = Store::reopen(dir.path(), false).unwrap();
        assert_eq!(s.counts_origin, CountsOrigin::Loaded);
        assert_eq!(links(&s), Some(3_000));
        assert_eq!(s.counts(), s.counts_by_scan());
        assert_eq!(s.group_links(g).unwrap().len(), 3_000);
        // Nothing (to speak of) was written since that snapshot, so this
        // open did not need a new one.
        assert_eq!(newest_snapshot_lsn(dir.path()), Some(after));
    }

    #[test]
    fn little_written_means_no_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::reopen(dir.path(), false).unwrap();
        fill(&s, 10);
        let policy = SnapshotPolicy {
            min_bytes: u64::MAX,
            ..SnapshotPolicy::always()
        };
        let r = s.close_and_snapshot(policy).unwrap();
        assert_eq!(r.outcome(), "skipped", "{r:?}");
        let s = Store::reopen(dir.path(), false).unwrap();
        assert_eq!(s.counts_origin, CountsOrigin::Loaded);
        assert_eq!(links(&s), Some(10));
    }

    #[test]
    fn another_live_handle_means_no_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::reopen(dir.path(), false).unwrap();
        fill(&s, 10);
        let other = s.clone();
        let policy = SnapshotPolicy {
            wait_for_handles: Duration::ZERO,
            ..SnapshotPolicy::always()
        };
        let r = s.close_and_snapshot(policy).unwrap();
        assert_eq!(r.outcome(), "busy", "{r:?}");
        // The other handle still works, and the save of the counters stands
        // as long as it writes nothing.
        assert_eq!(links(&other), Some(10));
        drop(other);
        let s = Store::reopen(dir.path(), false).unwrap();
        assert_eq!(s.counts_origin, CountsOrigin::Loaded);
    }

    #[test]
    fn a_temporary_store_is_not_reopened() {
        let s = Store::temporary().unwrap();
        let r = s.close_and_snapshot(SnapshotPolicy::always()).unwrap();
        assert_eq!(r.outcome(), "skipped");
    }
}
