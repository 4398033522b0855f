//! Cascading project delete (SPEC section 7), by hand: sled has no foreign keys.
//!
//! Protocol: [`Store::begin_project_delete`] writes a tombstone in
//! `project_deletes` and flushes it (from then on `get_project` / `get_group`
//! answer "gone"); [`Store::run_project_delete`] removes everything hanging
//! off the project, children before parents, each step idempotent, and
//! finally the project record, its indexes and the tombstone in one
//! transaction. A crash part-way leaves the tombstone, and
//! [`Store::pending_project_deletes`] lets start-up run the delete again.
//!
//! Sync batches write without a transaction (one `apply_batch` of tree
//! `sync`), so nothing in sled orders them against a delete. The
//! [`DeleteGate`] does: a tombstone is written, and removed when its
//! cascade is done, under the gate's lock, and each bumps its epoch; a
//! batch is applied under the same lock. Groups are removed only by a
//! cascade, which runs while its tombstone stands. So when the epoch did not
//! move between the start of a batch's planning and its apply, any cascade
//! running meanwhile had its tombstone up the whole time, and the planning
//! (which skips tombstoned projects) did not pick its groups. Otherwise the
//! batch checks each group and tombstone again under the lock. (Bumping at
//! the removal matters: a planning read of a group just before the cascade
//! removes it, and of the tombstone just after the cascade finished, would
//! otherwise see a live group of a live project.)

use super::counts::Entity;
use super::keys::{self, Key, KeyReader};
use super::sync::delivery_state_key;
use super::{get, list_len, Store, StoreError, StoreResult};
use crate::domain::{Id, Project};
use serde::Serialize;
use sled::Transactional;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Orders project deletes against sync batches (see the module's text).
#[derive(Debug, Default)]
pub struct DeleteGate {
    lock: Mutex<()>,
    /// Tombstones written or removed since the store was opened.
    epoch: AtomicU64,
}

impl DeleteGate {
    /// The current epoch: read it before planning a batch.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Hold while applying a batch or writing or removing a tombstone. (The guarded
    /// data is sled's; a panic elsewhere cannot leave it half-changed.)
    pub fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Under [`DeleteGate::lock`], after a tombstone was written or removed.
    fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }
}

/// What a delete removed (`DELETE /v1/projects/{id}` answers it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeleteCounts {
    pub groups: usize,
    pub links: usize,
    pub assignees: usize,
    pub activities: usize,
    pub notification_settings: usize,
}

impl Store {
    /// The [`DeleteGate`] epoch: read it before planning a sync batch and
    /// pass it to [`Store::apply_sync_batch`].
    pub fn delete_epoch(&self) -> u64 {
        self.deletes.epoch()
    }

    /// Accept the delete of a live project: write its tombstone and flush.
    /// NotFound when the project does not exist or is already being deleted.
    pub fn begin_project_delete(&self, id: Id) -> StoreResult<Project> {
        let p = self
            .get_project(id)?
            .ok_or_else(|| StoreError::NotFound(format!("project {id}")))?;
        {
            let _gate = self.deletes.lock();
            self.t.project_deletes.insert(keys::id(id), &[])?;
            self.deletes.bump();
        }
        self.db.flush()?;
        Ok(p)
    }

    /// Projects whose delete was accepted but did not finish.
    pub fn pending_project_deletes(&self) -> StoreResult<Vec<Id>> {
        let mut out = Vec::new();
        for r in self.t.project_deletes.iter() {
            let (k, _) = r?;
            if let Some(id) = keys::read_id(&k) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Run (or resume) the cascade of a tombstoned project. `after_group` is
    /// called after each group is gone (test failpoints hook in there).
    /// Returns the counts and the ids of the groups deleted by this run.
    pub fn run_project_delete(
        &self,
        id: Id,
        mut after_group: impl FnMut(Id),
    ) -> StoreResult<(DeleteCounts, Vec<Id>)> {
        if !self.t.project_deletes.contains_key(keys::id(id))? {
            return Err(StoreError::BadRequest(format!(
                "project {id} has no delete in progress"
            )));
        }
        let mut counts = DeleteCounts {
            notification_settings: self.delete_notification_settings_of(id)?,
            ..DeleteCounts::default()
        };
        let mut deleted = Vec::new();
        let mut issue_keys = BTreeSet::new();
        for g in self.project_group_ids(id)? {
            let (links, assignees, activities) =
                self.delete_group_cascade(id, g, &mut issue_keys)?;
            counts.groups += 1;
            counts.links += links;
            counts.assignees += assignees;
            counts.activities += activities;
            deleted.push(g);
            after_group(g);
        }
        // Delivery state of an issue no remaining link points to.
        for (integration, key) in issue_keys {
            if self.linked_groups(integration, &key)?.is_empty() {
                self.t
                    .delivery_state
                    .remove(delivery_state_key(integration, &key))?;
            }
        }
        self.finish_project_delete(id)?;
        Ok((counts, deleted))
    }

    fn delete_notification_settings_of(&self, project: Id) -> StoreResult<usize> {
        let mut n = 0;
        for r in self.t.notification_settings.scan_prefix(keys::id(project)) {
            let (k, _) = r?;
            if self.t.notification_settings.remove(k)?.is_some() {
                n += 1;
                self.count(Entity::NotificationSettings, -1);
            }
        }
        Ok(n)
    }

    /// Remove one group and everything hanging off it; the `project_groups`
    /// entry goes last so that a crash before it lets a resume find the group
    /// again. Returns (links, assignees, activities) removed.
    fn delete_group_cascade(
        &self,
        project: Id,
        group: Id,
        issue_keys: &mut BTreeSet<(Id, String)>,
    ) -> StoreResult<(usize, usize, usize)> {
        let mut links = 0;
        for r in self.t.group_links.scan_prefix(keys::id(group)) {
            let (k, _) = r?;
            let mut rd = KeyReader::new(&k);
            if let (Some(_), Some(integration), Some(key)) = (rd.u64(), rd.u64(), rd.str()) {
                let lk = super::groups::link_key(integration, key, group);
                if self.t.links.remove(lk)?.is_some() {
                    links += 1;
                    self.count(Entity::Links, -1);
                }
                issue_keys.insert((integration, key.to_string()));
            }
            self.t.group_links.remove(k)?;
        }
        let state = self.t.group_states.remove(keys::id(group))?;
        let assignees = match state {
            Some(v) => usize::from(Store::state_has_assignee(&v)?),
            None => 0,
        };
        self.count(Entity::Assignees, -(assignees as i64));
        let mut activities = 0;
        for r in self.t.activities.scan_prefix(keys::id(group)) {
            let (k, _) = r?;
            if let Some(v) = self.t.activities.remove(k)? {
                let n = list_len("activities", &v)?;
                activities += n;
                self.count(Entity::Activities, -(n as i64));
            }
        }
        let was = (&self.t.groups, &self.t.project_groups).transaction(|(groups, pg)| {
            let was = groups.remove(&keys::id(group))?.is_some();
            pg.remove(&keys::pair(project, group))?;
            Ok::<_, sled::transaction::ConflictableTransactionError<StoreError>>(was)
        })?;
        if was {
            self.count(Entity::Groups, -1);
        }
        Ok((links, assignees, activities))
    }

    /// Team links, slug index, org index, the project and its tombstone, at once.
    fn finish_project_delete(&self, id: Id) -> StoreResult<()> {
        let p: Option<Project> = get(&self.t.projects, "project", keys::id(id))?;
        let slug_key = p
            .as_ref()
            .map(|p| Key::new().u64(p.org).str(&p.slug.to_lowercase()).build());
        let gate = self.deletes.lock();
        let was = (
            &self.t.projects,
            &self.t.project_slugs,
            &self.t.org_projects,
            &self.t.team_projects,
            &self.t.project_deletes,
        )
            .transaction(|(projects, slugs, org_projects, team_projects, deletes)| {
                if let (Some(p), Some(sk)) = (&p, &slug_key) {
                    for t in &p.teams {
                        team_projects.remove(&keys::pair(*t, id))?;
                    }
                    if slugs.get(sk)?.as_deref() == Some(&keys::id(id)[..]) {
                        slugs.remove(sk.as_slice())?;
                    }
                    org_projects.remove(&keys::pair(p.org, id))?;
                }
                let was = projects.remove(&keys::id(id))?.is_some();
                deletes.remove(&keys::id(id))?;
                Ok::<_, sled::transaction::ConflictableTransactionError<StoreError>>(was)
            })?;
        self.deletes.bump();
        drop(gate);
        if was {
            self.count(Entity::Projects, -1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
