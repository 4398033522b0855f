//! Batched single writer.
//!
//! HTTP handlers hand each validated delivery to a [`SyncQueue`] (a shared
//! FIFO plus a `Drain` nudge to the `SyncActor`, sent only when the queue
//! was empty). The `SyncActor` takes everything queued, up to
//! [`BATCH_MAX`], plans each delivery in arrival order against the store
//! *plus* what the earlier deliveries of the batch will write
//! ([`BatchReads`], the pure planner `crate::domain::plan`),
//! applies all of them in ONE atomic sled write, invalidates the cache once
//! for the batch and takes one group-commit ticket; each request gets its
//! own reply once that ticket is on disk (the flusher sends the replies,
//! see [`crate::actors::flusher::Commit::after`]). A delivery that fails while being planned
//! (a reference that vanished) gets its own error; the others go on.

use super::reads::BatchReads;
use super::{Error, SyncActor, SyncReply};
use crate::domain::plan::{self, Note, SyncCommand};
use crate::domain::{Delivery, GroupState, Id};
use crate::store::delivery_log::LogPart;
use crate::store::sync::{LogBound, SyncWrite};
use crate::store::Store;
use actix::prelude::*;
use slog::info;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Most deliveries applied in one atomic write.
pub const BATCH_MAX: usize = 256;

/// How long a request waits for its batch before answering 503.
const WAIT: Duration = Duration::from_secs(30);

/// One delivery for the single writer.
pub enum Work {
    /// An assign / unassign delivery (`sync_group_assignee_inbound`); `log`
    /// is the request's logger (carries its request id).
    Inbound { cmd: SyncCommand, log: slog::Logger },
    /// A delivery that changes nothing, only recorded in the delivery log
    /// (bad token, missing changelog, a failure...).
    Record(Delivery),
}

pub(super) struct Pending {
    work: Work,
    reply: oneshot::Sender<Result<SyncReply, Error>>,
}

pub(super) type Queue = Arc<Mutex<VecDeque<Pending>>>;

/// Take the `SyncActor`'s queue lock (a panic elsewhere cannot poison the
/// queue for good: the data is a plain FIFO).
fn lock(q: &Queue) -> std::sync::MutexGuard<'_, VecDeque<Pending>> {
    q.lock().unwrap_or_else(|e| e.into_inner())
}

/// Tells the `SyncActor` that the queue has work.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;

/// Handle of the HTTP handlers on the batched single writer.
#[derive(Clone)]
pub struct SyncQueue {
    pending: Queue,
    addr: Addr<SyncActor>,
}

impl SyncQueue {
    pub(super) fn new(pending: Queue, addr: Addr<SyncActor>) -> Self {
        SyncQueue { pending, addr }
    }

    /// Deliveries waiting for the single writer.
    pub fn len(&self) -> usize {
        lock(&self.pending).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queue one delivery and wait for its reply: the write is then applied,
    /// the cache invalidated and, with `durability = "sync"`, the group
    /// commit that holds it is on disk (failures are answered at once).
    pub async fn submit(&self, work: Work) -> Result<SyncReply, Error> {
        let (tx, rx) = oneshot::channel();
        let was_empty = {
            let mut q = lock(&self.pending);
            let empty = q.is_empty();
            q.push_back(Pending { work, reply: tx });
            empty
        };
        if was_empty {
            self.addr.do_send(Drain);
        }
        match tokio::time::timeout(WAIT, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(Error::Unavailable(
                "sync unavailable: the sync actor stopped".into(),
            )),
            Err(_) => Err(Error::Unavailable(format!(
                "sync unavailable: no answer within {WAIT:?}"
            ))),
        }
    }
}

impl Handler<Drain> for SyncActor {
    type Result = ();
    /// One batch per message: when more is queued the actor nudges itself,
    /// so `Ping` and `ManualAssign` still get their turn under load.
    fn handle(&mut self, _: Drain, ctx: &mut SyncContext<Self>) {
        let batch: Vec<Pending> = {
            let mut q = lock(&self.queue);
            let n = q.len().min(BATCH_MAX);
            q.drain(..n).collect()
        };
        if batch.is_empty() {
            return;
        }
        let (work, replies): (Vec<Work>, Vec<_>) =
            batch.into_iter().map(|p| (p.work, p.reply)).unzip();
        let n = work.len();
        let (log, metrics) = (self.log.clone(), self.deps.metrics.clone());
        let results = super::guarded("sync", ctx, &log, &metrics, || self.run_batch(work));
        let panicked = results.is_err();
        let results = match results {
            Ok(r) => r,
            Err(p) => vec![Err(Error::from(p)); n],
        };
        // Failures are answered now; the applied deliveries once their
        // group commit is on disk (at once with `async` durability).
        let mut after_flush = Vec::with_capacity(n);
        let mut ticket = None;
        for (reply, r) in replies.into_iter().zip(results) {
            match &r {
                Ok(ok) => {
                    ticket = ticket.max(Some(ok.ticket));
                    after_flush.push((reply, r));
                }
                Err(_) => {
                    let _ = reply.send(r);
                }
            }
        }
        if let Some(t) = ticket {
            self.commit.after(
                t,
                Box::new(move || {
                    for (reply, r) in after_flush {
                        let _ = reply.send(r);
                    }
                }),
            );
        }
        // Deliveries queued meanwhile found the queue non-empty and sent no
        // `Drain`: ask for the next batch. (After a panic the actor is
        // stopping; its successor drains the rest when it starts.)
        if !panicked && !lock(&self.queue).is_empty() {
            ctx.address().do_send(Drain);
        }
    }
}

/// Log what the planner noted about a delivery (SPEC section 4 event names).
fn log_notes(log: &slog::Logger, cmd: &SyncCommand, notes: &[Note]) {
    let (integration, key) = (cmd.integration, cmd.key.as_str());
    for n in notes {
        match n {
            Note::Duplicate { changelog_id } => {
                info!(log, "duplicate-delivery"; "integration" => integration, "key" => key,
                      "changelog_id" => changelog_id.as_str())
            }
            Note::Stale { timestamp, newest } => {
                info!(log, "stale-delivery"; "integration" => integration, "key" => key,
                      "timestamp" => timestamp, "newest" => newest)
            }
            Note::NoAffectedGroups => {
                info!(log, "no-affected-groups"; "integration" => integration, "key" => key)
            }
            Note::AssigneeNotFound { email, group } => {
                info!(log, "assignee-not-found-inbound"; "integration" => integration,
                      "email" => email.as_str(), "key" => key, "group" => group)
            }
            Note::Moved { from, groups } => {
                info!(log, "issue-moved"; "integration" => integration, "from" => from.as_str(),
                      "key" => key, "groups" => format!("{groups:?}"))
            }
            Note::Unlinked { jira_user, why } => {
                info!(log, "missing-assignee-email"; "integration" => integration, "key" => key,
                      "jira_user" => jira_user.as_str(),
                      "reason" => why.as_deref().unwrap_or("no Jira user link"))
            }
        }
    }
}

impl SyncActor {
    /// Plan every delivery in order, write them all in one atomic write,
    /// then (after the commit) metrics, one cache invalidation, one ticket.
    pub(super) fn run_batch(&mut self, work: Vec<Work>) -> Vec<Result<SyncReply, Error>> {
        let store = self.deps.store.clone();
        // Before any planning read (see `store::project_delete::DeleteGate`).
        let planned_at = store.delete_epoch();
        let mut reads = BatchReads::new(store.clone());
        // Per delivery: its index in `writes`, or its own error.
        let mut slots: Vec<Result<usize, Error>> = Vec::with_capacity(work.len());
        let mut writes: Vec<SyncWrite> = Vec::with_capacity(work.len());
        // Each write's outcome (its reply's, also when nothing is logged).
        let mut outcomes = Vec::with_capacity(work.len());
        let now = crate::domain::now_ms();
        for w in work {
            let planned = match w {
                Work::Inbound { cmd, log } => {
                    if crate::failpoint::hit("sync-slow") {
                        info!(log, "failpoint"; "name" => "sync-slow");
                        std::thread::sleep(Duration::from_secs(3));
                    }
                    if crate::failpoint::hit("sync-panic") {
                        panic!("failpoint sync-panic");
                    }
                    let planned = plan::inbound(&cmd, &mut reads);
                    if let Ok(p) = &planned {
                        log_notes(&log, &cmd, &p.notes);
                        reads.record(p);
                    }
                    planned.map(|p| {
                        let outcome = p.outcome;
                        (
                            SyncWrite {
                                ops: p.ops,
                                actor: None,
                                state: p.state,
                                delivery: p.delivery,
                                now,
                                cause: p.cause,
                                outbox: p.outbox,
                                moved: p.moved,
                            },
                            outcome,
                        )
                    })
                }
                Work::Record(delivery) => {
                    let outcome = delivery.outcome;
                    let write = SyncWrite {
                        delivery: Some(delivery),
                        now,
                        ..Default::default()
                    };
                    Ok((write, outcome))
                }
            };
            slots.push(planned.map(|(write, outcome)| {
                outcomes.push(outcome);
                writes.push(write);
                writes.len() - 1
            }));
        }
        let replies = if writes.is_empty() {
            // Every delivery failed while being planned: nothing to write.
            Ok(vec![])
        } else {
            self.commit_batch(&store, writes, outcomes, planned_at, reads.take_stored())
        };
        let mut replies = match replies {
            Ok(r) => r,
            Err(e) => {
                return slots
                    .into_iter()
                    .map(|s| s.and_then(|_| Err(e.clone())))
                    .collect()
            }
        };
        slots
            .into_iter()
            .map(|s| {
                s.and_then(|i| {
                    replies[i].take().ok_or_else(|| {
                        Error::Unavailable("internal error: a write without a reply".into())
                    })
                })
            })
            .collect()
    }

    /// One atomic write for the whole batch (delivery-log pruning included),
    /// then metrics, cache invalidation and one ticket; a reply per write.
    fn commit_batch(
        &mut self,
        store: &Store,
        mut writes: Vec<SyncWrite>,
        outcomes: Vec<crate::domain::DeliveryOutcome>,
        planned_at: u64,
        stored: HashMap<Id, GroupState>,
    ) -> Result<Vec<Option<SyncReply>>, Error> {
        let keep = self.deps.config.storage.delivery_log_max;
        let (count, refused) = match self.delivery_count {
            Some(n) => n,
            None => (
                store.delivery_count_of(LogPart::Main)?,
                store.delivery_count_of(LogPart::Refused)?,
            ),
        };
        let bound = LogBound {
            count,
            keep,
            refused,
        };
        let mut b = store.apply_sync_batch_from(&mut writes, bound, Some(planned_at), stored)?;
        let added = |part| {
            writes
                .iter()
                .filter_map(|w| w.delivery.as_ref())
                .filter(|d| LogPart::of(d) == part)
                .count()
        };
        self.delivery_count = Some((
            (count + added(LogPart::Main)).saturating_sub(b.pruned),
            (refused + added(LogPart::Refused)).saturating_sub(b.pruned_refused),
        ));
        let mut changed = Vec::new();
        let mut outbox = Vec::new();
        for (w, a) in writes.iter().zip(b.applied.iter_mut()) {
            if let Some(d) = &w.delivery {
                self.deps.metrics.delivery(d.outcome);
            }
            changed.extend_from_slice(&a.changed);
            outbox.append(&mut a.outbox);
        }
        // Invalidate before any reply, so a read after it never sees the old assignee.
        self.after_write(&changed);
        let ticket = self.commit.ticket();
        self.push_after(ticket, outbox);
        Ok(writes
            .into_iter()
            .zip(b.applied)
            .zip(outcomes)
            .map(|((w, a), outcome)| {
                let (groups, reason) = w
                    .delivery
                    .map_or_else(Default::default, |d| (d.groups, d.reason));
                Some(SyncReply {
                    outcome,
                    groups,
                    reason,
                    delivery: a.delivery_id,
                    ticket,
                })
            })
            .collect())
    }
}
