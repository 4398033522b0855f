//! `sync_group_assignee_inbound` (SPEC section 4): ordering and duplicate
//! checks per `(integration, key)`, the affected groups, and who is assigned.

use super::batch::{Overlay, Planned};
use super::{Change, Error, SyncActor, SyncCommand};
use crate::domain::{Delivery, DeliveryOutcome, Group, Id, Project};
use crate::store::sync::{Op, RECENT_CHANGELOG_IDS};
use crate::store::{Store, StoreResult};
use slog::info;
use std::collections::{BTreeSet, HashMap};

/// Directory reads of one batch, each read once: a batch's deliveries
/// mostly share their projects and assignees. (Only within a batch: the
/// next batch reads afresh, so a directory change is seen by the batch
/// planned after it.)
#[derive(Default)]
pub(super) struct Directory {
    projects: HashMap<Id, Option<Project>>,
    /// lowercase email -> users who verified it
    candidates: HashMap<String, Vec<Id>>,
    /// (user, project) -> is the user in one of the project's teams
    access: HashMap<(Id, Id), bool>,
    /// (user, lowercase email) -> the email as the user spelled it
    spelled: HashMap<(Id, String), Option<String>>,
}

impl Directory {
    fn project(&mut self, store: &Store, id: Id) -> StoreResult<Option<Project>> {
        if let Some(p) = self.projects.get(&id) {
            return Ok(p.clone());
        }
        let p = store.get_project(id)?;
        self.projects.insert(id, p.clone());
        Ok(p)
    }

    fn candidates(&mut self, store: &Store, email: &str) -> StoreResult<Vec<Id>> {
        let lower = crate::domain::email_key(email);
        if let Some(c) = self.candidates.get(&lower) {
            return Ok(c.clone());
        }
        let c = store.users_with_verified_email(email)?;
        self.candidates.insert(lower, c.clone());
        Ok(c)
    }

    fn has_access(&mut self, store: &Store, user: Id, p: &Project) -> StoreResult<bool> {
        if let Some(a) = self.access.get(&(user, p.id)) {
            return Ok(*a);
        }
        let a = store.user_in_any_team(user, &p.teams)?;
        self.access.insert((user, p.id), a);
        Ok(a)
    }

    /// The user's verified email equal to `email` (any case), as spelled.
    fn spelled(&mut self, store: &Store, user: Id, email: &str) -> StoreResult<Option<String>> {
        let k = (user, crate::domain::email_key(email));
        if let Some(e) = self.spelled.get(&k) {
            return Ok(e.clone());
        }
        let e = store.get_user(user)?.and_then(|u| {
            u.emails
                .into_iter()
                .find(|e| e.verified && e.email.eq_ignore_ascii_case(email))
                .map(|e| e.email)
        });
        self.spelled.insert(k, e.clone());
        Ok(e)
    }
}

impl SyncActor {
    /// Organizations where the integration is installed with
    /// `sync_inbound_assignee`, or None when the integration does not exist.
    /// Read once per batch (integration records are large).
    fn sync_orgs(
        &self,
        integration: Id,
        overlay: &mut Overlay,
    ) -> StoreResult<Option<BTreeSet<Id>>> {
        if let Some(known) = overlay.sync_orgs.get(&integration) {
            return Ok(known.clone());
        }
        let store = &self.deps.store;
        let orgs = match store.get_integration(integration)? {
            None => None,
            Some(_) => Some(
                store
                    .installations(integration)?
                    .into_iter()
                    .filter(|i| i.sync_inbound_assignee)
                    .map(|i| i.org)
                    .collect(),
            ),
        };
        overlay.sync_orgs.insert(integration, orgs.clone());
        Ok(orgs)
    }

    /// Groups of the organizations `orgs` (where the integration is
    /// installed with `sync_inbound_assignee`), linked to `(integration, key)`.
    fn affected(
        &self,
        orgs: &BTreeSet<Id>,
        integration: Id,
        key: &str,
        dir: &mut Directory,
    ) -> StoreResult<Vec<(Group, Project)>> {
        let store = &self.deps.store;
        let mut out = Vec::new();
        if orgs.is_empty() {
            return Ok(out);
        }
        for gid in store.linked_groups(integration, key)? {
            let Some(g) = store.get_group(gid)? else {
                continue;
            };
            let Some(p) = dir.project(store, g.project)? else {
                continue;
            };
            if orgs.contains(&p.org) {
                out.push((g, p));
            }
        }
        Ok(out)
    }

    /// Plan one inbound delivery of a batch: its checks see what the
    /// earlier deliveries of the batch will write (`overlay`).
    pub(super) fn inbound(
        &self,
        cmd: &SyncCommand,
        log: &slog::Logger,
        overlay: &mut Overlay,
    ) -> Result<Planned, Error> {
        let store = &self.deps.store;
        let Some(orgs) = self.sync_orgs(cmd.integration, overlay)? else {
            return Err(Error::BadRequest(format!(
                "integration {} no longer exists",
                cmd.integration
            )));
        };
        let key = cmd.key.as_str();
        let prev = overlay.delivery_state(store, cmd.integration, key)?;
        let mut delivery = Delivery {
            id: 0,
            received: cmd.received,
            integration: Some(cmd.integration),
            key: Some(cmd.key.clone()),
            changelog_id: cmd.changelog_id.clone(),
            timestamp: cmd.timestamp,
            outcome: DeliveryOutcome::Failed,
            groups: vec![],
            reason: String::new(),
        };

        // Ordering and duplicates.
        if let Some(st) = &prev {
            if let Some(id) = &cmd.changelog_id {
                if st.changelog_id.as_ref() == Some(id) || st.recent_changelog_ids.contains(id) {
                    info!(log, "duplicate-delivery"; "integration" => cmd.integration,
                          "key" => key, "changelog_id" => id.as_str());
                    delivery.outcome = DeliveryOutcome::Duplicate;
                    delivery.reason =
                        format!("changelog {id} was already applied for {key}; ignored");
                    return Ok(overlay.plan(store, vec![], None, delivery)?);
                }
            }
            if let (Some(ts), Some(newest)) = (cmd.timestamp, st.timestamp) {
                if ts < newest {
                    info!(log, "stale-delivery"; "integration" => cmd.integration,
                          "key" => key, "timestamp" => ts, "newest" => newest);
                    delivery.outcome = DeliveryOutcome::Stale;
                    delivery.reason = format!(
                        "older (timestamp {ts}) than the newest delivery applied for {key} \
                         (timestamp {newest}); ignored"
                    );
                    return Ok(overlay.plan(store, vec![], None, delivery)?);
                }
            }
        }
        let mut state = prev.unwrap_or_default();
        if let Some(ts) = cmd.timestamp {
            state.timestamp = Some(state.timestamp.map_or(ts, |t| t.max(ts)));
        }
        if let Some(id) = &cmd.changelog_id {
            state.changelog_id = Some(id.clone());
            state.recent_changelog_ids.push(id, RECENT_CHANGELOG_IDS);
        }
        let state = Some((cmd.integration, cmd.key.clone(), state));

        let affected = self.affected(&orgs, cmd.integration, key, &mut overlay.dir)?;
        if affected.is_empty() {
            info!(log, "no-affected-groups"; "integration" => cmd.integration, "key" => key);
            delivery.outcome = DeliveryOutcome::NoAffectedGroups;
            delivery.reason = format!(
                "no group linked to {key} in an organization where integration {} is \
                 installed with sync_inbound_assignee",
                cmd.integration
            );
            return Ok(overlay.plan(store, vec![], state, delivery)?);
        }
        match &cmd.change {
            Change::Unassign => {
                let ops: Vec<Op> = affected
                    .iter()
                    .map(|(g, p)| Op::Deassign {
                        group: g.id,
                        project: p.id,
                    })
                    .collect();
                delivery.groups = affected.iter().map(|(g, _)| g.id).collect();
                delivery.outcome = DeliveryOutcome::Unassigned;
                delivery.reason = format!("{key} was unassigned in Jira");
                Ok(overlay.plan(store, ops, state, delivery)?)
            }
            Change::Assign(email) => {
                let dir = &mut overlay.dir;
                let candidates = dir.candidates(store, email)?;
                let mut ops = Vec::new();
                let mut missing = Vec::new();
                for (g, p) in &affected {
                    let mut found = None;
                    for u in &candidates {
                        if dir.has_access(store, *u, p)? {
                            found = Some(*u);
                            break;
                        }
                    }
                    match found {
                        Some(user) => {
                            let email = dir
                                .spelled(store, user, email)?
                                .unwrap_or_else(|| email.clone());
                            ops.push(Op::Assign {
                                group: g.id,
                                project: p.id,
                                user,
                                email,
                            });
                        }
                        None => {
                            info!(log, "assignee-not-found-inbound";
                                  "integration" => cmd.integration, "email" => email.as_str(),
                                  "key" => key, "group" => g.id);
                            missing.push(g.id);
                        }
                    }
                }
                delivery.groups = ops.iter().map(Op::group).collect();
                if ops.is_empty() {
                    delivery.outcome = DeliveryOutcome::AssigneeNotFound;
                    delivery.reason = format!(
                        "no user with the verified email {email} has access to the project \
                         of the linked groups {missing:?}"
                    );
                } else {
                    delivery.outcome = DeliveryOutcome::Assigned;
                    delivery.reason = if missing.is_empty() {
                        format!("{key} was assigned in Jira to {email}")
                    } else {
                        format!(
                            "{key} was assigned in Jira to {email}; no user with that verified \
                             email has access to the project of groups {missing:?}"
                        )
                    };
                }
                Ok(overlay.plan(store, ops, state, delivery)?)
            }
        }
    }
}
