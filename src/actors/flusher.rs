//! Group commit (SPEC section 9).
//!
//! With `storage.durability = "sync"` the `SyncActor` applies a change
//! without flushing and takes a *ticket* ([`Commit::ticket`]). One flusher
//! thread runs one `store.flush()` at a time, started as soon as the previous
//! one ends; a flush settles every ticket issued before it began (it
//! publishes the highest such ticket on a `watch` channel that request
//! handlers await with [`Commit::wait`]). Under load, many requests share one
//! fsync; never one fsync per request.
//!
//! The `SyncActor` does not make its callers wait on the channel: it hands
//! the replies of a batch to [`Commit::after`], and the flusher sends them
//! once the flush that covers the batch's ticket has ended — one wake-up
//! per request instead of two (the reply, then the flush).
//!
//! With `async` the thread flushes every `storage.flush_interval_ms` (when
//! something was written) and nobody waits.

use crate::config::Durability;
use crate::metrics::Metrics;
use crate::store::Store;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long a request waits for its flush before answering 503.
pub const WAIT_LIMIT: Duration = Duration::from_secs(30);

/// How often an idle flusher checks whether it is the last handle.
const ORPHAN_CHECK: Duration = Duration::from_millis(100);

/// A write's place in the flush order.
pub type Ticket = u64;

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("the write was not flushed to disk within {0:?}")]
    Timeout(Duration),
    #[error("the flusher stopped")]
    Stopped,
}

/// Work to run once a ticket is on disk (sending a batch's replies).
pub type Deferred = Box<dyn FnOnce() + Send>;

struct Inner {
    mode: Durability,
    issued: AtomicU64,
    lock: Mutex<()>,
    wake: Condvar,
    flushed: watch::Sender<Ticket>,
    /// [`Commit::after`] work waiting for its flush. The
    /// flusher publishes a flushed ticket while holding this lock, so an
    /// entry is either queued before the publish (and run by the flusher)
    /// or sees the ticket flushed (and runs at once).
    deferred: Mutex<Vec<(Ticket, Deferred)>>,
}

/// Handle shared by the `SyncActor` (issues tickets) and the HTTP handlers
/// (wait for them).
#[derive(Clone)]
pub struct Commit {
    inner: Arc<Inner>,
}

impl Commit {
    /// Start the flusher thread.
    pub fn start(
        store: Store,
        metrics: Metrics,
        log: slog::Logger,
        mode: Durability,
        interval: Duration,
    ) -> Commit {
        let (tx, _rx) = watch::channel(0);
        let inner = Arc::new(Inner {
            mode,
            issued: AtomicU64::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            flushed: tx,
            deferred: Mutex::new(Vec::new()),
        });
        let c = Commit { inner };
        let c2 = c.clone();
        std::thread::Builder::new()
            .name("synclink-flusher".into())
            .spawn(move || c2.run(store, metrics, log, interval))
            .expect("spawn the flusher thread");
        c
    }

    /// Take a ticket for writes that just landed in the store (in memory).
    pub fn ticket(&self) -> Ticket {
        let t = self.inner.issued.fetch_add(1, Ordering::SeqCst) + 1;
        if self.inner.mode == Durability::Sync {
            let _g = self.inner.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.inner.wake.notify_one();
        }
        t
    }

    /// Run `f` once `ticket` is on disk: from the flusher thread after the
    /// flush that covers it, or at once (`async`, or already flushed).
    pub fn after(&self, ticket: Ticket, f: Deferred) {
        if self.inner.mode == Durability::Sync {
            let mut d = self
                .inner
                .deferred
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if self.flushed() < ticket {
                d.push((ticket, f));
                return;
            }
        }
        f();
    }

    /// Make writes that already landed in the store durable like a sync
    /// write: take a ticket and wait for it. For admin writes made outside
    /// the `SyncActor` (they share the group commit).
    pub async fn settle(&self) -> Result<(), CommitError> {
        let t = self.ticket();
        self.wait(t).await
    }

    /// Highest ticket known to be on disk.
    pub fn flushed(&self) -> Ticket {
        *self.inner.flushed.borrow()
    }

    /// Wait until `ticket` is on disk (`sync`), or return at once (`async`).
    pub async fn wait(&self, ticket: Ticket) -> Result<(), CommitError> {
        if self.inner.mode == Durability::Async {
            return Ok(());
        }
        let mut rx = self.inner.flushed.subscribe();
        let r = tokio::time::timeout(WAIT_LIMIT, rx.wait_for(|f| *f >= ticket))
            .await
            .map(|r| r.map(|_| ()));
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(CommitError::Stopped),
            Err(_) => Err(CommitError::Timeout(WAIT_LIMIT)),
        }
    }

    /// `true` once every other handle is gone (the daemon is shutting down):
    /// the thread then ends, releasing its store handle so that a clean
    /// shutdown can reopen the database (`Store::close_and_snapshot`).
    fn orphaned(&self) -> bool {
        Arc::strong_count(&self.inner) == 1
    }

    fn run(&self, store: Store, metrics: Metrics, log: slog::Logger, interval: Duration) {
        let mut done: Ticket = 0;
        loop {
            let target = match self.inner.mode {
                Durability::Sync => {
                    let mut g = self.inner.lock.lock().unwrap_or_else(|e| e.into_inner());
                    while self.inner.issued.load(Ordering::SeqCst) <= done {
                        if self.orphaned() {
                            return;
                        }
                        g = self
                            .inner
                            .wake
                            .wait_timeout(g, ORPHAN_CHECK)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                    self.inner.issued.load(Ordering::SeqCst)
                }
                Durability::Async => {
                    let until = Instant::now() + interval;
                    loop {
                        let left = until.saturating_duration_since(Instant::now());
                        if left.is_zero() || self.orphaned() {
                            break;
                        }
                        std::thread::sleep(left.min(ORPHAN_CHECK));
                    }
                    let t = self.inner.issued.load(Ordering::SeqCst);
                    if t <= done {
                        if self.orphaned() {
                            return;
                        }
                        continue;
                    }
                    t
                }
            };
            let t0 = Instant::now();
            if crate::failpoint::hit("flush-slow") {
                std::thread::sleep(Duration::from_millis(300));
            }
            match store.flush() {
                Ok(_) => {
                    metrics.flush_seconds.observe(t0.elapsed().as_secs_f64());
                    done = target;
                    let ready: Vec<Deferred> = {
                        let mut d = self
                            .inner
                            .deferred
                            .lock()
                            .unwrap_or_else(|e| e.into_inner());
                        self.inner.flushed.send_replace(target);
                        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut *d)
                            .into_iter()
                            .partition(|(t, _)| *t <= target);
                        *d = waiting;
                        ready.into_iter().map(|(_, f)| f).collect()
                    };
                    for f in ready {
                        f();
                    }
                }
                Err(e) => {
                    slog::error!(log, "flush-failed"; "error" => %e);
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `sync` group commit over a throw-away store.
    fn sync_commit() -> Commit {
        Commit::start(
            Store::temporary().unwrap(),
            Metrics::new(),
            crate::logging::discard(),
            Durability::Sync,
            Duration::from_millis(10),
        )
    }

    #[test]
    fn tickets_settle_after_a_flush() {
        let c = sync_commit();
        let t1 = c.ticket();
        let t2 = c.ticket();
        assert!(t2 > t1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            c.wait(t2).await.unwrap();
            c.wait(t1).await.unwrap();
        });
        assert!(c.flushed() >= t2);
    }

    #[test]
    fn deferred_work_runs_only_after_its_flush() {
        let c = sync_commit();
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..50 {
            let t = c.ticket();
            let (tx, c2) = (tx.clone(), c.clone());
            // When it runs, the flusher has published a ticket >= t.
            c.after(t, Box::new(move || tx.send(c2.flushed() >= t).unwrap()));
        }
        for _ in 0..50 {
            let ok = rx.recv_timeout(Duration::from_secs(10)).unwrap();
            assert!(ok, "deferred work ran before its flush");
        }
        // A ticket already flushed runs at once, on the caller's thread.
        let t = c.ticket();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while c.flushed() < t {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let r2 = ran.clone();
        c.after(t, Box::new(move || r2.store(true, Ordering::SeqCst)));
        assert!(ran.load(Ordering::SeqCst));
    }
}
