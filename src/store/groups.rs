//! Groups, their assignee and activity, and links to external issues.

use super::counts::Entity;
use super::keys::{self, Key, KeyReader};
use super::{encode, get, scan, Store, StoreError, StoreResult};
use crate::domain::payload::normalize_issue_key;
use crate::domain::{Activity, Assignee, Group, GroupState, Id, Link, StatusRecord};
use sled::Transactional;

impl Store {
    pub fn create_group(&self, project: Id, title: &str, now: i64) -> StoreResult<Group> {
        if self.get_project(project)?.is_none() {
            return Err(StoreError::NotFound(format!("project {project}")));
        }
        let id = self.next_seq("groups")?;
        let g = Group {
            id,
            project,
            title: title.to_string(),
            date_added: now,
        };
        let val = encode("group", &g)?;
        (&self.t.groups, &self.t.project_groups).transaction(|(groups, pg)| {
            groups.insert(&keys::id(id), val.clone())?;
            pg.insert(&keys::pair(project, id), &[])?;
            Ok(())
        })?;
        self.count(Entity::Groups, 1);
        // A project delete accepted meanwhile must not leave this group
        // orphaned: it either saw the group or the project is gone by now.
        if self.get_project(project)?.is_none() {
            let was = (&self.t.groups, &self.t.project_groups).transaction(|(groups, pg)| {
                let was = groups.remove(&keys::id(id))?.is_some();
                pg.remove(&keys::pair(project, id))?;
                Ok(was)
            })?;
            if was {
                self.count(Entity::Groups, -1);
            }
            return Err(StoreError::NotFound(format!("project {project}")));
        }
        Ok(g)
    }

    /// A group, unless it or its project is gone (or being deleted).
    pub fn get_group(&self, id: Id) -> StoreResult<Option<Group>> {
        let g: Option<Group> = get(&self.t.groups, "group", keys::id(id))?;
        match g {
            Some(g) if !self.t.project_deletes.contains_key(keys::id(g.project))? => Ok(Some(g)),
            _ => Ok(None),
        }
    }

    /// Group ids of a project, ascending.
    pub fn project_group_ids(&self, project: Id) -> StoreResult<Vec<Id>> {
        let mut out = Vec::new();
        for r in self.t.project_groups.scan_prefix(keys::id(project)) {
            let (k, _) = r?;
            if let Some((_, g)) = keys::read_pair(&k) {
                out.push(g);
            }
        }
        Ok(out)
    }

    /// A group's assignee and status (unassigned and unresolved when it
    /// never had a record).
    pub fn get_group_state(&self, group: Id) -> StoreResult<GroupState> {
        Ok(get(&self.t.group_states, "group state", keys::id(group))?.unwrap_or_default())
    }

    /// Does a stored group-state record hold an assignee (the `assignees`
    /// count, kept and recounted from these records)?
    pub(crate) fn state_has_assignee(value: &[u8]) -> StoreResult<bool> {
        Ok(super::decode::<GroupState>("group state", value)?
            .assignee
            .is_some())
    }

    /// A group's status (unresolved when it never had one).
    pub fn get_status(&self, group: Id) -> StoreResult<StatusRecord> {
        Ok(self.get_group_state(group)?.status)
    }

    pub fn get_assignee(&self, group: Id) -> StoreResult<Option<Assignee>> {
        Ok(self.get_group_state(group)?.assignee)
    }

    /// Activity of a group, oldest first.
    pub fn list_activity(&self, group: Id) -> StoreResult<Vec<Activity>> {
        let sets: Vec<Vec<Activity>> = scan(&self.t.activities, "activities", keys::id(group))?;
        Ok(sets.into_iter().flatten().collect())
    }

    /// Remove the activities recorded before `before` (ms), in atomic
    /// batches of at most 1,000 records; returns how many went. A scan of
    /// every activity: run it off the async workers, now and then.
    pub fn prune_activities(&self, before: i64) -> StoreResult<u64> {
        let mut removed = 0u64;
        let mut batch = sled::Batch::default();
        let (mut records, mut in_batch) = (0, 0i64);
        let flush = |batch: &mut sled::Batch, n: &mut i64| -> StoreResult<()> {
            if *n > 0 {
                self.t.sync.apply_batch(std::mem::take(batch))?;
                self.count(crate::store::counts::Entity::Activities, -*n);
                *n = 0;
            }
            Ok(())
        };
        for r in self.t.activities.iter() {
            let (k, v) = r?;
            let mut set: Vec<Activity> = super::decode("activities", &v)?;
            let before_len = set.len();
            set.retain(|a| a.date_added >= before);
            let gone = before_len - set.len();
            if gone == 0 {
                continue;
            }
            if set.is_empty() {
                self.t.activities.batch_remove(&mut batch, &k);
            } else {
                self.t
                    .activities
                    .batch_insert(&mut batch, &k, encode("activities", &set)?);
            }
            in_batch += gone as i64;
            removed += gone as u64;
            records += 1;
            if records == 1_000 {
                flush(&mut batch, &mut in_batch)?;
                records = 0;
            }
        }
        flush(&mut batch, &mut in_batch)?;
        Ok(removed)
    }

    /// Link a group to `(integration, key)`; Conflict when the link exists.
    /// The key is stored upper-cased ([`normalize_issue_key`]).
    pub fn create_link(&self, link: &Link) -> StoreResult<()> {
        let link = &Link {
            key: normalize_issue_key(&link.key).into_owned(),
            ..link.clone()
        };
        let k = link_key(link.integration, &link.key, link.group);
        let rk = group_link_key(link.group, link.integration, &link.key);
        let val = encode("link", link)?;
        (&self.t.links, &self.t.group_links).transaction(|(links, gl)| {
            if links.get(&k)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "group {} is already linked to {} on integration {}",
                    link.group, link.key, link.integration
                ))
                .into());
            }
            links.insert(k.as_slice(), val.clone())?;
            gl.insert(rk.as_slice(), &[])?;
            Ok(())
        })?;
        self.count(Entity::Links, 1);
        Ok(())
    }

    /// Links of a group.
    pub fn group_links(&self, group: Id) -> StoreResult<Vec<Link>> {
        let mut out = Vec::new();
        for r in self.t.group_links.scan_prefix(keys::id(group)) {
            let (k, _) = r?;
            let mut rd = KeyReader::new(&k);
            let (Some(g), Some(i), Some(key)) = (rd.u64(), rd.u64(), rd.str()) else {
                continue;
            };
            out.push(Link {
                group: g,
                integration: i,
                key: key.to_string(),
            });
        }
        Ok(out)
    }

    /// Remove a link (its key in any case); NotFound when there is none.
    pub fn delete_link(&self, group: Id, integration: Id, key: &str) -> StoreResult<()> {
        let key = &*normalize_issue_key(key);
        let k = link_key(integration, key, group);
        let rk = Key::new().u64(group).u64(integration).str(key).build();
        let existed = (&self.t.links, &self.t.group_links).transaction(|(links, gl)| {
            let was = links.remove(k.as_slice())?.is_some();
            gl.remove(rk.as_slice())?;
            Ok(was)
        })?;
        if existed {
            self.count(Entity::Links, -1);
            Ok(())
        } else {
            Err(StoreError::NotFound(format!(
                "link of group {group} to {key} on integration {integration}"
            )))
        }
    }

    /// Groups linked to `(integration, key)` (the key in any case): an index
    /// prefix scan.
    pub fn linked_groups(&self, integration: Id, key: &str) -> StoreResult<Vec<Id>> {
        let prefix = Key::new()
            .u64(integration)
            .str(&normalize_issue_key(key))
            .build();
        let mut out = Vec::new();
        for r in self.t.links.scan_prefix(&prefix) {
            let (k, _) = r?;
            if let Some(g) = k.get(prefix.len()..).and_then(keys::read_id) {
                out.push(g);
            }
        }
        Ok(out)
    }
}

/// Key of the `links` tree: (integration, issue key, group).
pub fn link_key(integration: Id, key: &str, group: Id) -> Vec<u8> {
    Key::new().u64(integration).str(key).u64(group).build()
}

/// Key of the `group_links` tree: (group, integration, issue key).
pub fn group_link_key(group: Id, integration: Id, key: &str) -> Vec<u8> {
    Key::new().u64(group).u64(integration).str(key).build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::project;

    #[test]
    fn link_lookup_is_exact_on_key() {
        let s = Store::temporary().unwrap();
        project(&s, 1);
        let g1 = s.create_group(1, "a", 0).unwrap();
        let g2 = s.create_group(1, "b", 0).unwrap();
        let l = |g: Id, k: &str| Link {
            group: g,
            integration: 5,
            key: k.into(),
        };
        s.create_link(&l(g1.id, "APP-1")).unwrap();
        s.create_link(&l(g2.id, "APP-1")).unwrap();
        s.create_link(&l(g2.id, "APP-10")).unwrap();
        assert!(matches!(
            s.create_link(&l(g1.id, "APP-1")),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(s.linked_groups(5, "APP-1").unwrap(), vec![g1.id, g2.id]);
        assert_eq!(s.linked_groups(5, "APP-10").unwrap(), vec![g2.id]);
        assert_eq!(s.linked_groups(6, "APP-1").unwrap(), Vec::<Id>::new());
        assert_eq!(s.group_links(g2.id).unwrap().len(), 2);
        s.delete_link(g2.id, 5, "APP-1").unwrap();
        assert_eq!(s.linked_groups(5, "APP-1").unwrap(), vec![g1.id]);
        assert!(matches!(
            s.delete_link(g2.id, 5, "APP-1"),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn group_needs_a_project() {
        let s = Store::temporary().unwrap();
        assert!(matches!(
            s.create_group(42, "x", 0),
            Err(StoreError::NotFound(_))
        ));
    }

    /// Activities recorded before the cutoff go, newer ones and other
    /// record kinds stay, and the activity count follows.
    #[test]
    fn pruning_removes_only_activities_older_than_the_cutoff() {
        use crate::domain::plan::Op;
        use crate::store::sync::SyncWrite;
        let s = Store::temporary().unwrap();
        project(&s, 1);
        let g = s.create_group(1, "g", 0).unwrap().id;
        // 2,500 old activities (more than one batch), then 3 new ones.
        for (i, now) in (0..2_503).map(|i| (i, if i < 2_500 { 1_000 } else { 9_000 })) {
            let op = if i % 2 == 0 {
                Op::Assign {
                    group: g,
                    project: 1,
                    user: 5,
                    email: "u@example.org".into(),
                    replaces: None,
                }
            } else {
                Op::Deassign {
                    group: g,
                    project: 1,
                }
            };
            s.apply_sync(&SyncWrite {
                ops: vec![op],
                now,
                ..Default::default()
            })
            .unwrap();
        }
        let counted = |s: &Store| {
            s.counts()
                .into_iter()
                .find(|(n, _)| *n == "activities")
                .unwrap()
                .1
        };
        assert_eq!(counted(&s), Some(2_503));
        assert_eq!(s.prune_activities(5_000).unwrap(), 2_500);
        let left: Vec<i64> = s
            .list_activity(g)
            .unwrap()
            .iter()
            .map(|a| a.date_added)
            .collect();
        assert_eq!(left, [9_000, 9_000, 9_000]);
        assert_eq!(counted(&s), Some(3));
        // The group's assignee (another record kind of the same tree) stays.
        assert_eq!(s.get_assignee(g).unwrap().map(|a| a.user), Some(5));
        assert_eq!(s.prune_activities(5_000).unwrap(), 0);
    }
}
