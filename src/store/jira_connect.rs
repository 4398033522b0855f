//! Atomic writes of the Jira OAuth handshake: a pending integration together
//! with its handshake, and the end of a handshake.

use super::keys;
use super::{encode, Store, StoreError, StoreResult};
use crate::domain::{Integration, PendingOAuth};
use sled::Transactional;

impl Store {
    /// Write a pending integration and its new handshake in one transaction.
    ///
    /// `i.id == 0` creates the integration (Conflict when its external id is
    /// taken); otherwise it replaces the stored one (a restarted handshake),
    /// whose earlier handshakes are dropped. Returns the integration with its id.
    pub fn save_pending_connect(
        &self,
        mut i: Integration,
        mut pending: PendingOAuth,
    ) -> StoreResult<Integration> {
        let is_new = i.id == 0;
        if is_new {
            i.id = self.next_seq("integrations")?;
        }
        pending.integration = i.id;
        let stale: Vec<String> = if is_new {
            Vec::new()
        } else {
            self.pending_oauth_for(i.id)?
                .into_iter()
                .map(|p| p.request_token)
                .collect()
        };
        let val = encode("integration", &i)?;
        let pval = encode("pending oauth", &pending)?;
        (
            &self.t.integrations,
            &self.t.integration_ext,
            &self.t.pending_oauth,
        )
            .transaction(|(ints, ext, pend)| {
                match ext.get(i.external_id.as_bytes())? {
                    Some(owner) if is_new || keys::read_id(&owner) != Some(i.id) => {
                        return Err(StoreError::Conflict(format!(
                            "an integration with external id `{}` exists",
                            i.external_id
                        ))
                        .into());
                    }
                    None if !is_new => {
                        return Err(StoreError::NotFound(format!("integration {}", i.id)).into())
                    }
                    _ => {}
                }
                ext.insert(i.external_id.as_bytes(), &keys::id(i.id))?;
                ints.insert(&keys::id(i.id), val.clone())?;
                for t in &stale {
                    pend.remove(t.as_bytes())?;
                }
                pend.insert(pending.request_token.as_bytes(), pval.clone())?;
                Ok(())
            })?;
        self.remember_credential(&i);
        Ok(i)
    }

    /// Store an integration and drop all of its pending handshakes, in one
    /// transaction (the request token has been exchanged).
    pub fn finish_handshake(&self, i: &Integration) -> StoreResult<()> {
        let tokens: Vec<String> = self
            .pending_oauth_for(i.id)?
            .into_iter()
            .map(|p| p.request_token)
            .collect();
        let val = encode("integration", i)?;
        (&self.t.integrations, &self.t.pending_oauth).transaction(|(ints, pend)| {
            if ints.get(keys::id(i.id))?.is_none() {
                return Err(StoreError::NotFound(format!("integration {}", i.id)).into());
            }
            ints.insert(&keys::id(i.id), val.clone())?;
            for t in &tokens {
                pend.remove(t.as_bytes())?;
            }
            Ok(())
        })?;
        self.remember_credential(i);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::integration::sample as integration;
    use crate::domain::IntegrationStatus;

    fn pending(t: &str) -> PendingOAuth {
        PendingOAuth {
            request_token: t.into(),
            request_token_secret: "x".into(),
            integration: 0,
            expires: 10,
        }
    }

    #[test]
    fn create_restart_and_finish() {
        let s = Store::temporary().unwrap();
        let i = s
            .save_pending_connect(integration("j:k"), pending("t1"))
            .unwrap();
        assert!(i.id > 0);
        assert_eq!(
            s.get_pending_oauth("t1").unwrap().unwrap().integration,
            i.id
        );
        // Same external id, new integration: conflict, nothing written.
        assert!(matches!(
            s.save_pending_connect(integration("j:k"), pending("t9")),
            Err(StoreError::Conflict(_))
        ));
        assert!(s.get_pending_oauth("t9").unwrap().is_none());
        // Restart the handshake on the same integration: old token dropped.
        let again = s.save_pending_connect(i.clone(), pending("t2")).unwrap();
        assert_eq!(again.id, i.id);
        assert!(s.get_pending_oauth("t1").unwrap().is_none());
        assert!(s.get_pending_oauth("t2").unwrap().is_some());
        let mut done = again.clone();
        done.status = IntegrationStatus::Active;
        s.finish_handshake(&done).unwrap();
        assert!(s.pending_oauth_for(i.id).unwrap().is_empty());
        assert_eq!(
            s.get_integration(i.id).unwrap().unwrap().status,
            IntegrationStatus::Active
        );
        assert_eq!(s.list_integrations().unwrap().len(), 1);
    }
}
