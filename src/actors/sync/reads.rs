//! The planner's reads inside the single writer ([`crate::domain::plan::Reads`]):
//! the store, plus what the earlier deliveries of the same batch will write
//! (delivery state and assignees), with each directory read (integration
//! installs, projects, users, team access) done once per batch. The next
//! batch reads afresh, so a directory change is seen by the batch planned
//! after it. No rule lives here: only reads and what a plan will write.

use crate::domain::plan::{Op, Plan, Reads, SyncOrgs};
use crate::domain::{DeliveryState, Group, GroupState, GroupStatus, Id, Project, StatusList, User};
use crate::error::Error;
use crate::store::Store;
use std::collections::HashMap;

pub(super) struct BatchReads {
    store: Store,
    /// Delivery state per `(integration, key)` as the batch leaves it
    /// (None: a moved issue's old key lost it).
    states: HashMap<(Id, String), Option<DeliveryState>>,
    /// Groups linked to `(integration, key)` as the batch's moves leave
    /// them (read once per batch).
    linked: HashMap<(Id, String), Vec<Id>>,
    /// Each group's assignee and status as stored before the batch.
    stored: HashMap<Id, GroupState>,
    /// Each group's assignee as the batch leaves it.
    assignees: HashMap<Id, Option<Id>>,
    /// Each group's status as the batch leaves it.
    statuses: HashMap<Id, GroupStatus>,
    /// Per integration: the organizations where it syncs inbound, or None
    /// when it does not exist (integration records are large).
    sync_orgs: HashMap<Id, Option<SyncOrgs>>,
    /// Per integration: its Jira statuses (None: never read).
    statuses_of: HashMap<Id, Option<StatusList>>,
    /// Groups read (a group goes only by a project delete, which the
    /// writer orders against the batch: see `DeleteGate`).
    groups: HashMap<Id, Option<Group>>,
    projects: HashMap<Id, Option<Project>>,
    users: HashMap<Id, Option<User>>,
    /// ASCII-lower-cased email -> users who verified it
    candidates: HashMap<String, Vec<Id>>,
    /// (user, project) -> is the user in one of the project's teams
    access: HashMap<(Id, Id), bool>,
    /// group -> its links (for outbound entries)
    links_of: HashMap<Id, Vec<(Id, String)>>,
    /// Is an outbound switch on anywhere (read once per batch)?
    outbound: Option<bool>,
}

impl BatchReads {
    pub(super) fn new(store: Store) -> BatchReads {
        BatchReads {
            store,
            states: HashMap::new(),
            linked: HashMap::new(),
            stored: HashMap::new(),
            assignees: HashMap::new(),
            statuses: HashMap::new(),
            sync_orgs: HashMap::new(),
            statuses_of: HashMap::new(),
            groups: HashMap::new(),
            projects: HashMap::new(),
            users: HashMap::new(),
            candidates: HashMap::new(),
            access: HashMap::new(),
            links_of: HashMap::new(),
            outbound: None,
        }
    }

    /// What `plan` will write, for the plans after it in the batch.
    pub(super) fn record(&mut self, plan: &Plan) {
        for op in &plan.ops {
            match op {
                Op::SetStatus { group, status, .. } => {
                    self.statuses.insert(*group, *status);
                }
                op => {
                    self.assignees.insert(op.group(), op.assignee_after());
                }
            }
        }
        if let Some((i, from, to)) = &plan.moved {
            // Best effort: a read failing here leaves the store's view,
            // which the writer then corrects (it moves what is stored).
            let _ = self.record_move(*i, from, to);
            self.states.insert((*i, from.clone()), None);
        }
        if let Some((i, k, st)) = &plan.state {
            self.states.insert((*i, k.clone()), Some(st.clone()));
        }
    }

    /// A group's assignee and status as stored before the batch (one read
    /// for both).
    fn stored_state(&mut self, group: Id) -> Result<GroupState, Error> {
        let store = &self.store;
        memo(&mut self.stored, group, || store.get_group_state(group))
    }

    /// The group states read (as stored before the batch), for the writer.
    pub(super) fn take_stored(&mut self) -> HashMap<Id, GroupState> {
        std::mem::take(&mut self.stored)
    }

    /// Groups linked to `(integration, key)` as the batch leaves them.
    fn linked_ids(&mut self, integration: Id, key: &str) -> Result<Vec<Id>, Error> {
        let store = &self.store;
        memo(&mut self.linked, (integration, key.to_string()), || {
            store.linked_groups(integration, key)
        })
    }

    /// A move planned in this batch: `from`'s links become `to`'s.
    fn record_move(&mut self, integration: Id, from: &str, to: &str) -> Result<(), Error> {
        let moving = self.linked_ids(integration, from)?;
        let mut target = self.linked_ids(integration, to)?;
        for g in &moving {
            if !target.contains(g) {
                target.push(*g);
            }
            let mut links = self.group_links(*g)?;
            for l in links.iter_mut() {
                if l.0 == integration && l.1 == from {
                    l.1 = to.to_string();
                }
            }
            let mut seen = std::collections::HashSet::new();
            links.retain(|l| seen.insert(l.clone()));
            self.links_of.insert(*g, links);
        }
        self.linked.insert((integration, from.to_string()), vec![]);
        self.linked.insert((integration, to.to_string()), target);
        Ok(())
    }
}

impl Reads for BatchReads {
    fn sync_orgs(&mut self, integration: Id) -> Result<Option<SyncOrgs>, Error> {
        let store = &self.store;
        memo(&mut self.sync_orgs, integration, || {
            if store.get_integration(integration)?.is_none() {
                return Ok(None);
            }
            let mut orgs = SyncOrgs::default();
            for i in store.installations(integration)? {
                for (on, set) in [
                    (i.sync_inbound_assignee, &mut orgs.assignee),
                    (i.sync_inbound_status, &mut orgs.status),
                    (i.sync_outbound_assignee, &mut orgs.outbound_assignee),
                    (i.sync_outbound_status, &mut orgs.outbound_status),
                ] {
                    if on {
                        set.insert(i.org);
                    }
                }
            }
            Ok(Some(orgs))
        })
    }

    fn statuses(&mut self, integration: Id) -> Result<Option<StatusList>, Error> {
        let store = &self.store;
        memo(&mut self.statuses_of, integration, || {
            store.statuses(integration)
        })
    }

    fn delivery_state(
        &mut self,
        integration: Id,
        key: &str,
    ) -> Result<Option<DeliveryState>, Error> {
        match self.states.get(&(integration, key.to_string())) {
            Some(st) => Ok(st.clone()),
            None => self.store.delivery_state(integration, key),
        }
    }

    fn linked(&mut self, integration: Id, key: &str) -> Result<Vec<(Group, Project)>, Error> {
        // Memoized: a delivery with an assignee and a status part asks twice.
        let ids = self.linked_ids(integration, key)?;
        let mut out = Vec::with_capacity(ids.len());
        for gid in ids {
            let Some(g) = self.group(gid)? else {
                continue;
            };
            let Some(p) = self.project(g.project)? else {
                continue;
            };
            out.push((g, p));
        }
        Ok(out)
    }

    fn group(&mut self, id: Id) -> Result<Option<Group>, Error> {
        let store = &self.store;
        memo(&mut self.groups, id, || store.get_group(id))
    }

    fn project(&mut self, id: Id) -> Result<Option<Project>, Error> {
        let store = &self.store;
        memo(&mut self.projects, id, || store.get_project(id))
    }

    fn user(&mut self, id: Id) -> Result<Option<User>, Error> {
        let store = &self.store;
        memo(&mut self.users, id, || store.get_user(id))
    }

    fn candidates(&mut self, email: &str) -> Result<Vec<Id>, Error> {
        let store = &self.store;
        memo(
            &mut self.candidates,
            crate::domain::email_key(email),
            || store.users_with_verified_email(email),
        )
    }

    fn has_access(&mut self, user: Id, p: &Project) -> Result<bool, Error> {
        let store = &self.store;
        memo(&mut self.access, (user, p.id), || {
            store.user_in_any_team(user, &p.teams)
        })
    }

    fn assignee(&mut self, group: Id) -> Result<Option<Id>, Error> {
        match self.assignees.get(&group) {
            Some(a) => Ok(*a),
            None => Ok(self.stored_state(group)?.assignee.map(|a| a.user)),
        }
    }

    fn jira_user(&mut self, integration: Id, name: &str) -> Result<Option<Id>, Error> {
        Ok(self.store.jira_user(integration, name)?.map(|l| l.user))
    }

    fn outbound_possible(&mut self) -> Result<bool, Error> {
        if let Some(o) = self.outbound {
            return Ok(o);
        }
        let o = self.store.any_outbound_installation()?;
        self.outbound = Some(o);
        Ok(o)
    }

    fn group_links(&mut self, group: Id) -> Result<Vec<(Id, String)>, Error> {
        let store = &self.store;
        memo(&mut self.links_of, group, || {
            Ok(store
                .group_links(group)?
                .into_iter()
                .map(|l| (l.integration, l.key))
                .collect())
        })
    }

    fn status(&mut self, group: Id) -> Result<GroupStatus, Error> {
        match self.statuses.get(&group) {
            Some(s) => Ok(*s),
            None => Ok(self.stored_state(group)?.status.status),
        }
    }
}

/// `map[k]`, read with `read` the first time the batch asks for it.
fn memo<K: Eq + std::hash::Hash, V: Clone>(
    map: &mut HashMap<K, V>,
    k: K,
    read: impl FnOnce() -> Result<V, Error>,
) -> Result<V, Error> {
    if let Some(v) = map.get(&k) {
        return Ok(v.clone());
    }
    let v = read()?;
    map.insert(k, v.clone());
    Ok(v)
}
