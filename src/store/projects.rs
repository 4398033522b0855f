//! Projects, their slug index, team links and notification settings.

use super::counts::Entity;
use super::keys::{self, Key};
use super::{encode, get, scan, Store, StoreError, StoreResult};
use crate::domain::{Id, NotificationSetting, Project};
use sled::Transactional;

impl Store {
    /// True when `slug` is taken in `org` (case-insensitively).
    pub fn project_slug_taken(&self, org: Id, slug: &str) -> StoreResult<bool> {
        let k = Key::new().u64(org).str(&slug.to_lowercase()).build();
        Ok(self.t.project_slugs.contains_key(k)?)
    }

    /// Insert a new project with its slug index, org index and team links, in
    /// one transaction. Conflict when the id or the slug is already used.
    pub fn insert_project(&self, p: &Project) -> StoreResult<()> {
        let val = encode("project", p)?;
        let slug_key = Key::new().u64(p.org).str(&p.slug.to_lowercase()).build();
        (
            &self.t.projects,
            &self.t.project_slugs,
            &self.t.org_projects,
            &self.t.team_projects,
        )
            .transaction(|(projects, slugs, org_projects, team_projects)| {
                if projects.get(keys::id(p.id))?.is_some() {
                    return Err(StoreError::Conflict(format!("project id {} is used", p.id)).into());
                }
                if slugs.get(&slug_key)?.is_some() {
                    return Err(StoreError::Conflict(format!(
                        "project slug `{}` is taken in organization {}",
                        p.slug, p.org
                    ))
                    .into());
                }
                projects.insert(&keys::id(p.id), val.clone())?;
                slugs.insert(slug_key.as_slice(), &keys::id(p.id))?;
                org_projects.insert(&keys::pair(p.org, p.id), &[])?;
                for t in &p.teams {
                    team_projects.insert(&keys::pair(*t, p.id), &[])?;
                }
                Ok(())
            })?;
        self.count(Entity::Projects, 1);
        Ok(())
    }

    /// True when a project record with this id exists, even one being deleted
    /// (an ID is used until its delete has finished).
    pub fn project_id_used(&self, id: Id) -> StoreResult<bool> {
        Ok(self.t.projects.contains_key(keys::id(id))?)
    }

    /// A project, unless it does not exist or its delete has been accepted.
    pub fn get_project(&self, id: Id) -> StoreResult<Option<Project>> {
        if self.t.project_deletes.contains_key(keys::id(id))? {
            return Ok(None);
        }
        get(&self.t.projects, "project", keys::id(id))
    }

    /// Projects of an organization (or of all when `org` is None), ascending id.
    pub fn list_projects(&self, org: Option<Id>) -> StoreResult<Vec<Project>> {
        let mut out = Vec::new();
        match org {
            Some(org) => {
                for r in self.t.org_projects.scan_prefix(keys::id(org)) {
                    let (k, _) = r?;
                    if let Some((_, pid)) = keys::read_pair(&k) {
                        if let Some(p) = self.get_project(pid)? {
                            out.push(p);
                        }
                    }
                }
            }
            None => {
                for p in scan::<Project>(&self.t.projects, "project", [])? {
                    if !self.t.project_deletes.contains_key(keys::id(p.id))? {
                        out.push(p);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Create or replace the setting `(project, user, type)`. NotFound when
    /// the project (or a project being deleted) or the user does not exist.
    pub fn put_notification_setting(&self, s: &NotificationSetting) -> StoreResult<()> {
        if self.get_project(s.project)?.is_none() {
            return Err(StoreError::NotFound(format!("project {}", s.project)));
        }
        if self.get_user(s.user)?.is_none() {
            return Err(StoreError::NotFound(format!("user {}", s.user)));
        }
        let k = Key::new().u64(s.project).u64(s.user).str(&s.kind).build();
        let old = self
            .t
            .notification_settings
            .insert(k.as_slice(), encode("notification setting", s)?)?;
        if old.is_none() {
            self.count(Entity::NotificationSettings, 1);
        }
        // A delete accepted meanwhile must not leave this setting orphaned:
        // it either saw the setting or the project is gone by now.
        if self.get_project(s.project)?.is_none() {
            if self.t.notification_settings.remove(k)?.is_some() {
                self.count(Entity::NotificationSettings, -1);
            }
            return Err(StoreError::NotFound(format!("project {}", s.project)));
        }
        Ok(())
    }

    pub fn list_notification_settings(&self, project: Id) -> StoreResult<Vec<NotificationSetting>> {
        scan(
            &self.t.notification_settings,
            "notification setting",
            keys::id(project),
        )
    }
}
