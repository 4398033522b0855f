//! `SyncActor`: the only writer of assignees, activity, delivery state and
//! the delivery log (one `SyncArbiter` thread).
//!
//! Webhook deliveries arrive through a [`SyncQueue`] and are applied in
//! batches ([`batch`]): many deliveries, in arrival order, share one atomic
//! sled write (`Store::apply_sync_batch`), one cache invalidation (done
//! here, through the cache's `Invalidator`, so a read after the answer
//! never sees the old assignee)
//! and one group commit [`Ticket`] that each caller awaits before
//! answering. Manual assign / deassign is a message of its own. Every rule
//! (which groups, who is assigned, duplicates, stale deliveries, what
//! changes) is the pure planner's ([`crate::domain::plan`]); this actor
//! gives it its reads ([`reads`]), logs what it notes, and has the store
//! write the plans.

mod batch;
mod reads;
#[cfg(test)]
mod tests;

pub use batch::{Drain, SyncQueue, Work, BATCH_MAX};

use super::cache::Invalidator;
use super::flusher::{Commit, Ticket};
use super::Deps;
use super::{guarded, Ping};
use crate::domain::outbox as plan_outbox;
use crate::domain::plan;
use crate::domain::{ActivityType, DeliveryOutcome, Id};
use crate::error::Error;
use crate::store::sync::SyncWrite;
use actix::prelude::*;

/// Manual assign (`user: Some`) or deassign (`None`) from the admin API.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<SyncReply, Error>")]
pub struct ManualAssign {
    pub group: Id,
    pub user: Option<Id>,
}

/// Result of a write: what happened and the ticket to await.
#[derive(Debug, Clone)]
pub struct SyncReply {
    pub outcome: DeliveryOutcome,
    pub groups: Vec<Id>,
    pub reason: String,
    pub delivery: Option<Id>,
    pub ticket: Ticket,
}

pub struct SyncActor {
    deps: Deps,
    cache: Invalidator,
    commit: Commit,
    /// Where written outbox entries go once their write is on disk.
    outbox: Addr<super::outbox::OutboxActor>,
    log: slog::Logger,
    /// Entries in the delivery log's main and refused parts (counted once,
    /// then kept up to date).
    delivery_count: Option<(usize, usize)>,
    /// Deliveries waiting for the next batch (shared with [`SyncQueue`]).
    queue: batch::Queue,
}

impl Actor for SyncActor {
    type Context = SyncContext<Self>;

    /// A successor of an actor that panicked drains what it left queued.
    fn started(&mut self, ctx: &mut SyncContext<Self>) {
        let waiting = !self
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty();
        if waiting {
            ctx.address().do_send(Drain);
        }
    }
}

impl Handler<Ping> for SyncActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut SyncContext<Self>) {}
}

/// Manual status change from the admin API (`PUT /v1/groups/{id}/status`).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<SyncReply, Error>")]
pub struct ManualStatus {
    pub group: Id,
    pub status: crate::domain::GroupStatus,
}

impl Handler<ManualStatus> for SyncActor {
    type Result = Result<SyncReply, Error>;
    fn handle(&mut self, msg: ManualStatus, ctx: &mut SyncContext<Self>) -> Self::Result {
        let (log, metrics) = (self.log.clone(), self.deps.metrics.clone());
        guarded("sync", ctx, &log, &metrics, || self.manual_status(msg))?
    }
}

impl Handler<ManualAssign> for SyncActor {
    type Result = Result<SyncReply, Error>;
    fn handle(&mut self, msg: ManualAssign, ctx: &mut SyncContext<Self>) -> Self::Result {
        let (log, metrics) = (self.log.clone(), self.deps.metrics.clone());
        guarded("sync", ctx, &log, &metrics, || self.manual(msg))?
    }
}

impl SyncActor {
    fn after_write(&self, changed: &[(Id, ActivityType)]) {
        for (_, kind) in changed {
            match kind {
                ActivityType::Assigned => self.deps.metrics.assignments.inc(),
                ActivityType::Unassigned => self.deps.metrics.deassignments.inc(),
                ActivityType::SetResolved | ActivityType::SetUnresolved => {}
            }
        }
        let groups: Vec<Id> = changed.iter().map(|(g, _)| *g).collect();
        self.cache.invalidate(&groups);
    }

    /// Manual assign / deassign: planned by the same rules as sync
    /// ([`plan::manual`]), written as one atomic write.
    fn manual(&mut self, m: ManualAssign) -> Result<SyncReply, Error> {
        let store = self.deps.store.clone();
        let plan = plan::manual(m.group, m.user, &mut reads::BatchReads::new(store.clone()))?;
        self.write_manual(plan, m.group)
    }

    /// Manual status change: planned by [`plan::manual_status`].
    fn manual_status(&mut self, m: ManualStatus) -> Result<SyncReply, Error> {
        let store = self.deps.store.clone();
        let plan = plan::manual_status(
            m.group,
            m.status,
            &mut reads::BatchReads::new(store.clone()),
        )?;
        self.write_manual(plan, m.group)
    }

    fn write_manual(&mut self, plan: plan::Plan, group: Id) -> Result<SyncReply, Error> {
        let applied = self.deps.store.apply_sync(&SyncWrite {
            ops: plan.ops,
            now: crate::domain::now_ms(),
            cause: plan.cause,
            outbox: plan.outbox,
            ..Default::default()
        })?;
        self.after_write(&applied.changed);
        let ticket = self.commit.ticket();
        self.push_after(ticket, applied.outbox);
        Ok(SyncReply {
            outcome: plan.outcome,
            groups: vec![group],
            reason: String::new(),
            delivery: None,
            ticket,
        })
    }

    /// Hand written outbox entries to the `OutboxActor` once the write that
    /// holds them is on disk: no change that was not committed is ever sent.
    fn push_after(&self, ticket: super::flusher::Ticket, entries: Vec<plan_outbox::OutboxEntry>) {
        if entries.is_empty() {
            return;
        }
        let outbox = self.outbox.clone();
        self.commit.after(
            ticket,
            Box::new(move || outbox.do_send(super::outbox::Enqueue(entries))),
        );
    }
}

/// Start the single writer; the [`SyncQueue`] is how deliveries reach it.
pub fn start(
    deps: &Deps,
    cache: Invalidator,
    commit: Commit,
    outbox: Addr<super::outbox::OutboxActor>,
) -> (Addr<SyncActor>, SyncQueue) {
    let deps = deps.clone();
    let queue = batch::Queue::default();
    let q = queue.clone();
    let addr = SyncArbiter::start(1, move || SyncActor {
        log: deps.log.new(slog::o!("actor" => "sync")),
        deps: deps.clone(),
        cache: cache.clone(),
        commit: commit.clone(),
        outbox: outbox.clone(),
        delivery_count: None,
        queue: q.clone(),
    });
    (addr.clone(), SyncQueue::new(queue, addr))
}
