//! Cascading project delete (SPEC section 7), by hand: sled has no foreign keys.
//!
//! Protocol: [`Store::begin_project_delete`] writes a tombstone in
//! `project_deletes` and flushes it (from then on `get_project` / `get_group`
//! answer "gone"); [`Store::run_project_delete`] removes everything hanging
//! off the project, children before parents, each step idempotent, and
//! finally the project record, its indexes and the tombstone in one
//! transaction. A crash part-way leaves the tombstone, and
//! [`Store::pending_project_deletes`] lets start-up run the delete again.

use super::counts::Entity;
use super::keys::{self, Key, KeyReader};
use super::{get, Store, StoreError, StoreResult};
use crate::domain::{Id, Project};
use serde::Serialize;
use sled::Transactional;
use std::collections::BTreeSet;

/// What a delete removed (`DELETE /v1/projects/{id}` answers it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeleteCounts {
    pub groups: usize,
    pub links: usize,
    pub assignees: usize,
    pub activities: usize,
    pub notification_settings: usize,
}

/// Key of the `delivery_state` tree: (integration, issue key).
pub fn delivery_state_key(integration: Id, key: &str) -> Vec<u8> {
    Key::new().u64(integration).str(key).build()
}

impl Store {
    /// Accept the delete of a live project: write its tombstone and flush.
    /// NotFound when the project does not exist or is already being deleted.
    pub fn begin_project_delete(&self, id: Id) -> StoreResult<Project> {
        let p = self
            .get_project(id)?
            .ok_or_else(|| StoreError::NotFound(format!("project {id}")))?;
        self.t.project_deletes.insert(keys::id(id), &[])?;
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
            return Err(StoreError::Invalid(format!(
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
        let assignees = usize::from(self.t.assignees.remove(keys::id(group))?.is_some());
        self.count(Entity::Assignees, -(assignees as i64));
        let mut activities = 0;
        for r in self.t.activities.scan_prefix(keys::id(group)) {
            let (k, _) = r?;
            if self.t.activities.remove(k)?.is_some() {
                activities += 1;
                self.count(Entity::Activities, -1);
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
        if was {
            self.count(Entity::Projects, -1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        Activity, ActivityType, Assignee, DeliveryState, Link, NotificationSetting,
    };
    use crate::store::encode;

    struct World {
        s: Store,
        org: Id,
        team: Id,
        user: Id,
    }

    fn world() -> World {
        let s = Store::temporary().unwrap();
        let org = s.create_org("o", "O").unwrap().id;
        let team = s.create_team(org, "t", "T").unwrap().id;
        let user = s.create_user("u", &[]).unwrap().id;
        World { s, org, team, user }
    }

    fn project(w: &World, id: Id, slug: &str) {
        w.s.insert_project(&Project {
            id,
            org: w.org,
            slug: slug.into(),
            name: slug.into(),
            teams: vec![w.team],
            date_added: 0,
        })
        .unwrap();
    }

    /// A group with two links, an assignee and `acts` activities.
    fn full_group(w: &World, project: Id, keys_: &[&str], acts: usize) -> Id {
        let g = w.s.create_group(project, "g", 0).unwrap().id;
        for k in keys_ {
            w.s.create_link(&Link {
                group: g,
                integration: 9,
                key: k.to_string(),
            })
            .unwrap();
            w.s.t
                .delivery_state
                .insert(
                    delivery_state_key(9, k),
                    encode("delivery state", &DeliveryState::default()).unwrap(),
                )
                .unwrap();
        }
        let a = Assignee {
            group: g,
            project,
            user: w.user,
            date_added: 0,
        };
        w.s.t
            .assignees
            .insert(keys::id(g), encode("assignee", &a).unwrap())
            .unwrap();
        for i in 0..acts {
            let act = Activity {
                id: i as Id + 1,
                group: g,
                project,
                kind: ActivityType::Assigned,
                user: None,
                data: "{}".into(),
                date_added: 0,
            };
            w.s.t
                .activities
                .insert(keys::pair(g, act.id), encode("activity", &act).unwrap())
                .unwrap();
        }
        g
    }

    #[test]
    fn cascade_removes_everything_and_counts_it() {
        let w = world();
        project(&w, 100, "doomed");
        project(&w, 200, "kept");
        let g1 = full_group(&w, 100, &["APP-1", "APP-2"], 3);
        let g2 = full_group(&w, 100, &["APP-3"], 1);
        // A group of another project shares APP-2: its delivery state stays.
        let other = full_group(&w, 200, &["APP-2"], 1);
        for (p, kind) in [(100, "mail"), (100, "slack"), (200, "mail")] {
            w.s.put_notification_setting(&NotificationSetting {
                project: p,
                user: w.user,
                kind: kind.into(),
                value: "1".into(),
            })
            .unwrap();
        }

        assert_eq!(w.s.begin_project_delete(100).unwrap().slug, "doomed");
        assert!(w.s.get_project(100).unwrap().is_none(), "404 at once");
        assert!(w.s.get_group(g1).unwrap().is_none());
        assert!(matches!(
            w.s.begin_project_delete(100),
            Err(StoreError::NotFound(_))
        ));
        let (counts, deleted) = w.s.run_project_delete(100, |_| {}).unwrap();
        assert_eq!(
            counts,
            DeleteCounts {
                groups: 2,
                links: 3,
                assignees: 2,
                activities: 4,
                notification_settings: 2,
            }
        );
        assert_eq!(deleted, vec![g1, g2]);
        let t = &w.s.t;
        assert_eq!(t.groups.len(), 1);
        assert_eq!(t.project_groups.len(), 1);
        assert_eq!(t.links.len(), 1);
        assert_eq!(t.group_links.len(), 1);
        assert_eq!(t.assignees.len(), 1);
        assert_eq!(t.activities.len(), 1);
        assert_eq!(t.notification_settings.len(), 1);
        assert!(t
            .delivery_state
            .contains_key(delivery_state_key(9, "APP-2"))
            .unwrap());
        assert!(!t
            .delivery_state
            .contains_key(delivery_state_key(9, "APP-1"))
            .unwrap());
        assert!(!t
            .delivery_state
            .contains_key(delivery_state_key(9, "APP-3"))
            .unwrap());
        assert_eq!(t.projects.len(), 1);
        assert_eq!(t.project_slugs.len(), 1);
        assert_eq!(t.org_projects.len(), 1);
        assert_eq!(t.team_projects.len(), 1);
        assert_eq!(t.project_deletes.len(), 0);
        assert!(w.s.get_group(other).unwrap().is_some());
        // The slug can be used again, the id is free again.
        assert!(!w.s.project_slug_taken(w.org, "DOOMED").unwrap());
        assert!(!w.s.project_id_used(100).unwrap());
    }

    #[test]
    fn a_crash_part_way_is_resumed() {
        let w = world();
        project(&w, 100, "doomed");
        let gs: Vec<Id> = (0..4).map(|_| full_group(&w, 100, &["K-1"], 2)).collect();
        w.s.begin_project_delete(100).unwrap();
        // "Crash" after the second group: stop the cascade by panicking.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut n = 0;
            w.s.run_project_delete(100, |_| {
                n += 1;
                if n == 2 {
                    panic!("crash");
                }
            })
        }));
        assert!(r.is_err());
        assert_eq!(w.s.t.groups.len(), 2);
        assert_eq!(w.s.pending_project_deletes().unwrap(), vec![100]);
        assert!(w.s.get_project(100).unwrap().is_none());
        let (counts, deleted) = w.s.run_project_delete(100, |_| {}).unwrap();
        assert_eq!(deleted, gs[2..].to_vec());
        assert_eq!(counts.groups, 2);
        assert_eq!(w.s.pending_project_deletes().unwrap(), Vec::<Id>::new());
        for t in [
            &w.s.t.groups,
            &w.s.t.project_groups,
            &w.s.t.links,
            &w.s.t.group_links,
            &w.s.t.assignees,
            &w.s.t.activities,
            &w.s.t.delivery_state,
            &w.s.t.projects,
            &w.s.t.project_slugs,
            &w.s.t.org_projects,
            &w.s.t.team_projects,
        ] {
            assert_eq!(t.len(), 0);
        }
    }

    #[test]
    fn run_needs_a_tombstone() {
        let w = world();
        project(&w, 100, "p");
        assert!(matches!(
            w.s.run_project_delete(100, |_| {}),
            Err(StoreError::Invalid(_))
        ));
        assert!(w.s.get_project(100).unwrap().is_some());
    }

    #[test]
    fn nothing_can_be_added_to_a_project_being_deleted() {
        let w = world();
        project(&w, 100, "p");
        w.s.begin_project_delete(100).unwrap();
        assert!(matches!(
            w.s.create_group(100, "late", 0),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            w.s.put_notification_setting(&NotificationSetting {
                project: 100,
                user: w.user,
                kind: "mail".into(),
                value: "1".into(),
            }),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(w.s.t.notification_settings.len(), 0);
    }
}
