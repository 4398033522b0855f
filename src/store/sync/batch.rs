//! Many sync writes in ONE sled transaction (the `SyncActor`'s batches).
//!
//! sled 0.34 rolls and writes its IO buffer on every transaction, so one
//! transaction per delivery costs a `pwrite` per delivery. A batch applies
//! its writes in order inside one transaction: each write sees the pending
//! writes of the earlier ones (sled's `TransactionalTree::get` reads the
//! transaction's own writes first), so the result is exactly that of
//! applying them one after another.

use super::super::delivery_log::chunks;
use super::super::keys;
use super::super::{decode, encode, Store, StoreResult};
use super::{changes, delivery_state_key, Op, SyncApplied, SyncWrite};
use crate::domain::{Activity, ActivityType, Assignee};
use sled::Transactional;

/// One write, encoded ahead of the transaction (sled may run the closure
/// more than once; it must stay free of side effects).
struct Prepared<'a> {
    w: &'a SyncWrite,
    activity_ids: Vec<u64>,
    state: Option<(Vec<u8>, Vec<u8>)>,
}

/// The delivery log's size before a batch and its bound
/// (`storage.delivery_log_max`), for pruning in the batch's transaction.
#[derive(Debug, Clone, Copy)]
pub struct LogBound {
    pub count: usize,
    pub keep: usize,
}

/// What [`Store::apply_sync_batch`] did.
#[derive(Debug, Default)]
pub struct BatchApplied {
    /// One entry per write, in order.
    pub applied: Vec<SyncApplied>,
    /// Delivery-log entries pruned (oldest chunks first) in the same transaction.
    pub pruned: usize,
}

impl Store {
    /// Apply `writes` in order in one transaction over assignees,
    /// activities, delivery state and the delivery log (the batch's entries
    /// as new chunks), and remove the oldest whole chunks while at least
    /// `log.keep` entries remain. Delivery ids still 0 are assigned here, in
    /// order. Per write the rules of [`Store::apply_sync`] hold.
    pub fn apply_sync_batch(
        &self,
        writes: &mut [SyncWrite],
        log: LogBound,
    ) -> StoreResult<BatchApplied> {
        // Ids come from sled's generator, outside the transaction (it may retry).
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
            let state = match &w.state {
                Some((i, k, st)) => {
                    Some((delivery_state_key(*i, k), encode("delivery state", st)?))
                }
                None => None,
            };
            prepared.push(Prepared {
                w,
                activity_ids,
                state,
            });
        }
        // The batch's delivery-log entries as chunks (ids increase), and the
        // oldest chunks to drop: only this (single) writer adds or removes
        // chunks, so they are still there in the transaction.
        let entries: Vec<&crate::domain::Delivery> =
            writes.iter().filter_map(|w| w.delivery.as_ref()).collect();
        let new_chunks = chunks(entries.iter().copied())?;
        let (old_keys, pruned) = self.chunks_to_prune(log.count + entries.len(), log.keep)?;
        let (changed, new_assignees) = (
            &self.t.assignees,
            &self.t.activities,
            &self.t.delivery_state,
            &self.t.deliveries,
            &self.t.groups,
            &self.t.project_deletes,
        )
            .transaction(
                |(assignees, activities, dstate, deliveries, groups, pdel)| {
                    let mut all_changed = Vec::with_capacity(prepared.len());
                    let mut new_assignees = 0i64; // assignee count delta (status counts)
                    for p in &prepared {
                        let w = p.w;
                        let mut changed = Vec::new();
                        for (op, act_id) in w.ops.iter().zip(&p.activity_ids) {
                            let group = op.group();
                            let project = match op {
                                Op::Assign { project, .. } | Op::Deassign { project, .. } => {
                                    *project
                                }
                            };
                            if groups.get(keys::id(group))?.is_none()
                                || pdel.get(keys::id(project))?.is_some()
                            {
                                continue;
                            }
                            let current: Option<Assignee> = match assignees.get(keys::id(group))? {
                                Some(v) => Some(decode("assignee", &v)?),
                                None => None,
                            };
                            if !changes(current.as_ref(), op) {
                                continue;
                            }
                            let (kind, data) = match op {
                                Op::Assign { user, email, .. } => {
                                    let a = Assignee {
                                        group,
                                        project,
                                        user: *user,
                                        date_added: w.now,
                                    };
                                    let old = assignees
                                        .insert(&keys::id(group), encode("assignee", &a)?)?;
                                    new_assignees += i64::from(old.is_none());
                                    let data = serde_json::json!({
                                        "assignee": user.to_string(),
                                        "assigneeEmail": email,
                                        "assigneeType": "user",
                                    });
                                    (ActivityType::Assigned, data.to_string())
                                }
                                Op::Deassign { .. } => {
                                    let old = assignees.remove(&keys::id(group))?;
                                    new_assignees -= i64::from(old.is_some());
                                    (ActivityType::Unassigned, "{}".to_string())
                                }
                            };
                            let act = Activity {
                                id: *act_id,
                                group,
                                project,
                                kind,
                                user: w.actor,
                                data,
                                date_added: w.now,
                            };
                            activities.insert(
                                keys::pair(group, *act_id).to_vec(),
                                encode("activity", &act)?,
                            )?;
                            changed.push((group, kind));
                        }
                        if let Some((k, v)) = &p.state {
                            dstate.insert(k.as_slice(), v.as_slice())?;
                        }
                        all_changed.push(changed);
                    }
                    for (k, v) in &new_chunks {
                        deliveries.insert(&k[..], v.as_slice())?;
                    }
                    for k in &old_keys {
                        deliveries.remove(k.clone())?;
                    }
                    Ok((all_changed, new_assignees))
                },
            )?;
        let activities: usize = changed.iter().map(Vec::len).sum();
        self.count(crate::store::counts::Entity::Assignees, new_assignees);
        self.count(crate::store::counts::Entity::Activities, activities as i64);
        let applied = changed
            .into_iter()
            .zip(writes.iter())
            .map(|(changed, w)| SyncApplied {
                changed,
                delivery_id: w.delivery.as_ref().map(|d| d.id),
            })
            .collect();
        Ok(BatchApplied { applied, pruned })
    }
}
