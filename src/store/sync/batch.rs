//! Many sync writes in ONE atomic sled batch (the `SyncActor`'s batches).
//!
//! sled 0.34 rolls and writes its IO buffer on every atomic write, so one
//! per delivery costs a `pwrite` per delivery. A batch applies its writes
//! in order as one `apply_batch` of tree `sync` (group states, activities,
//! delivery state and the delivery log are record kinds of that one tree,
//! schema 4). A group touched by the batch gets ONE group-state record
//! (assignee and status) and one activities record per write, whatever the
//! write changed of it (schema 9): sled's cost follows the records written.
//! The writes are plans of `crate::domain::plan`, made against what the
//! earlier writes of the batch leave: they are persisted as they are, with
//! no rule of their own here. Project deletes are ordered
//! against batches by [`super::super::project_delete::DeleteGate`] (an op
//! whose group went is skipped).

use super::super::delivery_log::{chunks, LogPart};
use super::super::groups::{group_link_key, link_key};
use super::super::keys;
use super::super::{encode, Store, StoreResult};
use super::{delivery_state_key, SyncApplied, SyncWrite};
use crate::domain::outbox::OutboxEntry;
use crate::domain::plan::Op;
use crate::domain::{Activity, Assignee, GroupState, GroupStatus, Id, Link, StatusRecord};
use sled::Transactional;
use std::collections::hash_map::{Entry, HashMap};

/// One write with its ids and encoded delivery state.
struct Prepared<'a> {
    w: &'a SyncWrite,
    activity_ids: Vec<u64>,
    outbox_ids: Vec<u64>,
    state: Option<(Vec<u8>, Vec<u8>)>,
}

/// The delivery log's size before a batch and its bound
/// (`storage.delivery_log_max`), for pruning in the batch's atomic write.
#[derive(Debug, Clone, Copy)]
pub struct LogBound {
    /// Entries in the main part.
    pub count: usize,
    /// `storage.delivery_log_max`.
    pub keep: usize,
    /// Entries in the refused (`bad-token`) part, bounded by
    /// `LogPart::Refused.keep(keep)`.
    pub refused: usize,
}

/// What [`Store::apply_sync_batch`] did.
#[derive(Debug, Default)]
pub struct BatchApplied {
    /// One entry per write, in order.
    pub applied: Vec<SyncApplied>,
    /// Main delivery-log entries pruned (oldest chunks first) in the same atomic write.
    pub pruned: usize,
    /// Refused (`bad-token`) entries pruned in the same atomic write.
    pub pruned_refused: usize,
}

impl Store {
    /// Apply `writes` in order in one atomic write of assignees,
    /// activities, delivery state and the delivery log (the batch's entries
    /// as new chunks), and remove the oldest whole chunks while at least
    /// `log.keep` entries remain. Delivery ids still 0 are assigned here, in
    /// order. Per write the rules of [`Store::apply_sync`] hold.
    ///
    /// `planned_at`: the [`DeleteGate`](super::super::project_delete::DeleteGate)
    /// epoch read before the batch was planned against the store (its
    /// groups then existed outside tombstoned projects); `None` checks
    /// every group and tombstone again.
    pub fn apply_sync_batch(
        &self,
        writes: &mut [SyncWrite],
        log: LogBound,
        planned_at: Option<u64>,
    ) -> StoreResult<BatchApplied> {
        self.apply_sync_batch_from(writes, log, planned_at, HashMap::new())
    }

    /// [`Store::apply_sync_batch`], given group states the planning read
    /// (as stored before the batch: only this single writer changes them,
    /// and a group deleted since is skipped as usual), so that they are
    /// not read again.
    pub fn apply_sync_batch_from(
        &self,
        writes: &mut [SyncWrite],
        log: LogBound,
        planned_at: Option<u64>,
        mut stored: HashMap<Id, GroupState>,
    ) -> StoreResult<BatchApplied> {
        // Ids come from sled's generator.
        for w in writes.iter_mut() {
            if let Some(d) = w.delivery.as_mut() {
                if d.id == 0 {
                    d.id = self.unique_id()?;
                }
            }
        }
        let mut prepared = Vec::with_capacity(writes.len());
        for w in writes.iter() {
            let mut activity_ids = Vec::with_capacity(w.ops.len());
            for _ in &w.ops {
                activity_ids.push(self.unique_id()?);
            }
            let mut outbox_ids = Vec::with_capacity(w.outbox.len());
            for _ in &w.outbox {
                outbox_ids.push(self.unique_id()?);
            }
            let state = match &w.state {
                Some((i, k, st)) => {
                    Some((delivery_state_key(*i, k), encode("delivery state", st)?))
                }
                None => None,
            };
            prepared.push(Prepared {
                w,
                activity_ids,
                outbox_ids,
                state,
            });
        }
        // The batch's delivery-log entries as chunks (ids increase) of each
        // part of the log, and the oldest chunks to drop: only this (single)
        // writer adds or removes chunks, so they are still there when the
        // batch is applied.
        let mut log_writes = Vec::with_capacity(2);
        let mut pruned = [0usize; 2];
        for (i, (part, count)) in [(LogPart::Main, log.count), (LogPart::Refused, log.refused)]
            .into_iter()
            .enumerate()
        {
            let entries: Vec<&crate::domain::Delivery> = writes
                .iter()
                .filter_map(|w| w.delivery.as_ref())
                .filter(|d| LogPart::of(d) == part)
                .collect();
            if entries.is_empty() && count <= part.keep(log.keep) {
                continue;
            }
            let new_chunks = chunks(entries.iter().copied())?;
            let (old_keys, n) =
                self.chunks_to_prune_of(part, count + entries.len(), part.keep(log.keep))?;
            pruned[i] = n;
            log_writes.push((part, new_chunks, old_keys));
        }
        // Under the gate no tombstone can be written: a batch planned since
        // the current epoch needs no re-check (see `project_delete`).
        let _gate = self.deletes.lock();
        let recheck = planned_at != Some(self.deletes.epoch());
        let mut batch = sled::Batch::default();
        let mut changed = Vec::with_capacity(prepared.len());
        let mut written_outbox = Vec::with_capacity(prepared.len());
        let mut new_assignees = 0i64; // assignee count delta (status counts)
        let mut moves = Moves::default();
        let mut states: HashMap<Id, GroupState> = HashMap::new();
        for p in &prepared {
            let w = p.w;
            let mut this = Vec::new();
            let mut gone = Vec::new();
            // Step 5c first: the links and the delivery state follow the
            // issue to its new key, before the rest of the delivery.
            if let Some((i, from, to)) = &w.moved {
                moves.add(self, *i, from, to)?;
                self.t
                    .delivery_state
                    .batch_remove(&mut batch, delivery_state_key(*i, from));
            }
            // The activities of each group, one record per group.
            let mut acts: Vec<(Id, Vec<Activity>)> = Vec::new();
            for (op, act_id) in w.ops.iter().zip(&p.activity_ids) {
                let (group, project) = (op.group(), op.project());
                if recheck
                    && (!self.t.groups.contains_key(keys::id(group))?
                        || self.t.project_deletes.contains_key(keys::id(project))?)
                {
                    gone.push(group);
                    continue;
                }
                let state = match states.entry(group) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => e.insert(match stored.remove(&group) {
                        Some(st) => st,
                        None => self.get_group_state(group)?,
                    }),
                };
                let had = i64::from(state.assignee.is_some());
                match op {
                    Op::SetStatus { status, .. } => {
                        state.status = StatusRecord {
                            status: *status,
                            resolved_at: (*status == GroupStatus::Resolved).then_some(w.now),
                        };
                    }
                    Op::Assign { user, .. } => {
                        state.assignee = Some(Assignee {
                            group,
                            project,
                            user: *user,
                            date_added: w.now,
                        });
                    }
                    Op::Deassign { .. } => state.assignee = None,
                }
                new_assignees += i64::from(state.assignee.is_some()) - had;
                let (kind, data) = op.activity(w.cause);
                let act = Activity {
                    id: *act_id,
                    group,
                    project,
                    kind,
                    user: w.actor,
                    data,
                    date_added: w.now,
                };
                match acts.iter_mut().find(|(g, _)| *g == group) {
                    Some((_, set)) => set.push(act),
                    None => acts.push((group, vec![act])),
                }
                this.push((group, kind));
            }
            for (group, set) in &acts {
                self.t.activities.batch_insert(
                    &mut batch,
                    keys::pair(*group, set[0].id),
                    encode("activities", set)?,
                );
            }
            if let Some((k, v)) = &p.state {
                self.t
                    .delivery_state
                    .batch_insert(&mut batch, k, v.as_slice());
            }
            // The outbox entries of the changes made (not of a group that went).
            let mut outbox = Vec::new();
            for (e, id) in w.outbox.iter().zip(&p.outbox_ids) {
                if gone.contains(&e.group) {
                    continue;
                }
                let e = OutboxEntry {
                    id: *id,
                    created: w.now,
                    next_try: w.now,
                    ..e.clone()
                };
                self.t
                    .outbox
                    .batch_insert(&mut batch, keys::id(e.id), encode("outbox entry", &e)?);
                outbox.push(e);
            }
            written_outbox.push(outbox);
            changed.push(this);
        }
        // Each group's state as the batch leaves it: one record per group.
        for (group, state) in &states {
            self.t.group_states.batch_insert(
                &mut batch,
                keys::id(*group),
                encode("group state", state)?,
            );
        }
        for (part, new_chunks, old_keys) in &log_writes {
            let tree = self.log_part(*part);
            for (k, v) in new_chunks {
                tree.batch_insert(&mut batch, k, v.as_slice());
            }
            for k in old_keys {
                tree.batch_remove(&mut batch, k);
            }
        }
        // One atomic write: sled recovers all of it after a crash or none
        // (with a move, one transaction over the links and the sync tree).
        if moves.ops.is_empty() {
            self.t.sync.apply_batch(batch)?;
        } else {
            (&self.t.links, &self.t.group_links, &self.t.sync).transaction(
                |(links, gl, sync)| {
                    for op in &moves.ops {
                        match op {
                            LinkOp::Remove { link, group_link } => {
                                links.remove(link.as_slice())?;
                                gl.remove(group_link.as_slice())?;
                            }
                            LinkOp::Insert {
                                link,
                                group_link,
                                value,
                            } => {
                                links.insert(link.as_slice(), value.as_slice())?;
                                gl.insert(group_link.as_slice(), &[])?;
                            }
                        }
                    }
                    sync.apply_batch(&batch)?;
                    Ok::<_, sled::transaction::ConflictableTransactionError<crate::store::StoreError>>(())
                },
            )?;
            self.count(crate::store::counts::Entity::Links, -moves.merged);
        }
        let activities: usize = changed.iter().map(Vec::len).sum();
        self.count(crate::store::counts::Entity::Assignees, new_assignees);
        self.count(crate::store::counts::Entity::Activities, activities as i64);
        let applied = changed
            .into_iter()
            .zip(written_outbox)
            .zip(writes.iter())
            .map(|((changed, outbox), w)| SyncApplied {
                changed,
                delivery_id: w.delivery.as_ref().map(|d| d.id),
                outbox,
            })
            .collect();
        Ok(BatchApplied {
            applied,
            pruned: pruned[0],
            pruned_refused: pruned[1],
        })
    }
}

/// A link change of a move.
enum LinkOp {
    Remove {
        link: Vec<u8>,
        group_link: Vec<u8>,
    },
    Insert {
        link: Vec<u8>,
        group_link: Vec<u8>,
        value: Vec<u8>,
    },
}

/// The link changes of a batch's moves, in order, against the links as
/// the earlier moves of the batch leave them (a chain `A -> B -> C` in one
/// batch takes A's links to C).
#[derive(Default)]
struct Moves {
    ops: Vec<LinkOp>,
    /// Groups linked to `(integration, key)` as the moves so far leave them.
    groups: std::collections::HashMap<(Id, String), std::collections::BTreeSet<Id>>,
    /// Links that met an existing one (a group linked to both keys): the
    /// link count goes down by these.
    merged: i64,
}

impl Moves {
    fn linked(
        &mut self,
        s: &Store,
        i: Id,
        key: &str,
    ) -> StoreResult<&mut std::collections::BTreeSet<Id>> {
        let k = (i, key.to_string());
        if !self.groups.contains_key(&k) {
            let now = s.linked_groups(i, key)?.into_iter().collect();
            self.groups.insert(k.clone(), now);
        }
        Ok(self.groups.get_mut(&k).expect("just inserted"))
    }

    fn add(&mut self, s: &Store, i: Id, from: &str, to: &str) -> StoreResult<()> {
        let moving = std::mem::take(self.linked(s, i, from)?);
        let target = self.linked(s, i, to)?;
        let mut inserts = Vec::new();
        let mut merged = 0;
        for g in &moving {
            if !target.insert(*g) {
                merged += 1;
            }
            inserts.push(*g);
        }
        self.merged += merged;
        for g in moving {
            self.ops.push(LinkOp::Remove {
                link: link_key(i, from, g),
                group_link: group_link_key(g, i, from),
            });
        }
        for g in inserts {
            let link = Link {
                group: g,
                integration: i,
                key: to.to_string(),
            };
            self.ops.push(LinkOp::Insert {
                link: link_key(i, to, g),
                group_link: group_link_key(g, i, to),
                value: encode("link", &link)?,
            });
        }
        Ok(())
    }
}
