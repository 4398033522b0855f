//! Integrations (with their secrets), installations and pending OAuth handshakes.

use super::keys::{self};
use super::{decode, encode, get, scan, Store, StoreError, StoreResult};
use crate::domain::{
    Id, Installation, Integration, PendingOAuth, StatusList, StatusMapping, Switches,
};
use sled::Transactional;

impl Store {
    /// Insert a new integration; Conflict when its external id is used.
    /// The id is assigned here and written into the returned value.
    pub fn create_integration(&self, mut i: Integration) -> StoreResult<Integration> {
        i.id = self.next_seq("integrations")?;
        let val = encode("integration", &i)?;
        (&self.t.integrations, &self.t.integration_ext).transaction(|(ints, ext)| {
            if ext.get(i.external_id.as_bytes())?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "an integration with external id `{}` exists",
                    i.external_id
                ))
                .into());
            }
            ext.insert(i.external_id.as_bytes(), &keys::id(i.id))?;
            ints.insert(&keys::id(i.id), val.clone())?;
            Ok(())
        })?;
        self.remember_credential(&i);
        Ok(i)
    }

    pub fn get_integration(&self, id: Id) -> StoreResult<Option<Integration>> {
        get(&self.t.integrations, "integration", keys::id(id))
    }

    /// The integration; NotFound naming it when there is none.
    pub fn require_integration(&self, id: Id) -> StoreResult<Integration> {
        self.get_integration(id)?
            .ok_or_else(|| StoreError::NotFound(format!("integration {id}")))
    }

    pub fn integration_by_external_id(
        &self,
        external_id: &str,
    ) -> StoreResult<Option<Integration>> {
        match self.t.integration_ext.get(external_id.as_bytes())? {
            Some(id) => match keys::read_id(&id) {
                Some(id) => self.get_integration(id),
                None => Ok(None),
            },
            None => Ok(None),
        }
    }

    pub fn list_integrations(&self) -> StoreResult<Vec<Integration>> {
        scan(&self.t.integrations, "integration", [])
    }

    /// Replace a stored integration (same id and external id).
    pub fn update_integration(&self, i: &Integration) -> StoreResult<()> {
        if !self.t.integrations.contains_key(keys::id(i.id))? {
            return Err(StoreError::NotFound(format!("integration {}", i.id)));
        }
        self.t
            .integrations
            .insert(keys::id(i.id), encode("integration", i)?)?;
        self.remember_credential(i);
        Ok(())
    }

    /// Create an installation or change its switches (PUT semantics: an
    /// omitted switch keeps its value, `false` when new), atomically.
    pub fn put_installation(
        &self,
        org: Id,
        integration: Id,
        switches: Switches,
    ) -> StoreResult<Installation> {
        if self.get_org(org)?.is_none() {
            return Err(StoreError::NotFound(format!("organization {org}")));
        }
        self.require_integration(integration)?;
        let key = keys::pair(integration, org);
        let mut out = None;
        self.t.installations.fetch_and_update(key, |old| {
            let current = old.and_then(|v| decode::<Installation>("installation", v).ok());
            let next = switches.apply(org, integration, current);
            let bytes = encode("installation", &next).ok();
            out = Some(next);
            bytes.or_else(|| old.map(<[u8]>::to_vec))
        })?;
        out.ok_or_else(|| StoreError::Storage("the installation was not written".into()))
    }

    /// Is any integration installed anywhere with an outbound switch on?
    /// (A handful of records: read whole.)
    pub fn any_outbound_installation(&self) -> StoreResult<bool> {
        for r in self.t.installations.iter() {
            let (_, v) = r?;
            let i: Installation = decode("installation", &v)?;
            if i.sync_outbound_assignee || i.sync_outbound_status {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Installations of an integration, ascending org id.
    pub fn installations(&self, integration: Id) -> StoreResult<Vec<Installation>> {
        scan(&self.t.installations, "installation", keys::id(integration))
    }

    pub fn put_pending_oauth(&self, p: &PendingOAuth) -> StoreResult<()> {
        self.t
            .pending_oauth
            .insert(p.request_token.as_bytes(), encode("pending oauth", p)?)?;
        Ok(())
    }

    pub fn get_pending_oauth(&self, request_token: &str) -> StoreResult<Option<PendingOAuth>> {
        get(
            &self.t.pending_oauth,
            "pending oauth",
            request_token.as_bytes(),
        )
    }

    pub fn remove_pending_oauth(&self, request_token: &str) -> StoreResult<()> {
        self.t.pending_oauth.remove(request_token.as_bytes())?;
        Ok(())
    }

    /// Pending handshakes of one integration.
    pub fn pending_oauth_for(&self, integration: Id) -> StoreResult<Vec<PendingOAuth>> {
        Ok(
            scan::<PendingOAuth>(&self.t.pending_oauth, "pending oauth", [])?
                .into_iter()
                .filter(|p| p.integration == integration)
                .collect(),
        )
    }

    /// Drop handshakes that expired before `now` (ms); returns how many.
    pub fn prune_pending_oauth(&self, now: i64) -> StoreResult<usize> {
        let mut n = 0;
        for p in scan::<PendingOAuth>(&self.t.pending_oauth, "pending oauth", [])? {
            if p.expires < now {
                self.t.pending_oauth.remove(p.request_token.as_bytes())?;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// Jira statuses and status mappings (SPEC section 10).
impl Store {
    /// Replace the integration's Jira statuses.
    pub fn put_statuses(&self, integration: Id, list: &StatusList) -> StoreResult<()> {
        self.t
            .jira_statuses
            .insert(keys::id(integration), encode("jira statuses", list)?)?;
        Ok(())
    }

    /// The integration's Jira statuses, as last read (None: never read).
    pub fn statuses(&self, integration: Id) -> StoreResult<Option<StatusList>> {
        get(
            &self.t.jira_statuses,
            "jira statuses",
            keys::id(integration),
        )
    }

    /// Create or replace the mapping of `m.jira_project`.
    pub fn put_status_mapping(&self, m: &StatusMapping) -> StoreResult<()> {
        let k = keys::Key::new()
            .u64(m.integration)
            .str(&m.jira_project)
            .build();
        self.t
            .status_mappings
            .insert(k, encode("status mapping", m)?)?;
        Ok(())
    }

    /// The integration's status mappings, by Jira project key.
    pub fn status_mappings(&self, integration: Id) -> StoreResult<Vec<StatusMapping>> {
        scan(
            &self.t.status_mappings,
            "status mapping",
            keys::id(integration),
        )
    }

    /// The mapping of one Jira project.
    pub fn status_mapping(
        &self,
        integration: Id,
        jira_project: &str,
    ) -> StoreResult<Option<StatusMapping>> {
        let k = keys::Key::new().u64(integration).str(jira_project).build();
        get(&self.t.status_mappings, "status mapping", k)
    }

    /// Remove the mapping of one Jira project; NotFound when there is none.
    pub fn delete_status_mapping(&self, integration: Id, jira_project: &str) -> StoreResult<()> {
        let k = keys::Key::new().u64(integration).str(jira_project).build();
        match self.t.status_mappings.remove(k)? {
            Some(_) => Ok(()),
            None => Err(StoreError::NotFound(format!(
                "status mapping of Jira project {jira_project} on integration {integration}"
            ))),
        }
    }
}
