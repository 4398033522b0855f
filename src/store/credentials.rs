//! In-memory index of webhook credentials: external id → (integration id,
//! provider, status, webhook secret).
//!
//! Every webhook delivery resolves its integration from the token's `id`
//! claim. Reading and decoding the whole integration record from sled for
//! each delivery would put a blocking call on the HTTP worker (or a thread
//! hop to get off it), so the store keeps this small index in memory: loaded
//! at open, and written through by every method that writes the
//! `integrations` tree (integrations are never deleted and their external id
//! never changes). The secret stays inside the store's memory; the type does
//! not implement `Debug`, so it cannot leak into a log by accident.

use super::{scan, Store, StoreResult};
use crate::domain::{Id, Integration, IntegrationStatus};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// What the webhook path needs of an integration.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookCredential {
    pub id: Id,
    pub provider: String,
    pub status: IntegrationStatus,
    /// Secret: signs the webhook JWT.
    pub webhook_secret: String,
}

impl From<&Integration> for WebhookCredential {
    fn from(i: &Integration) -> Self {
        WebhookCredential {
            id: i.id,
            provider: i.provider.clone(),
            status: i.status,
            webhook_secret: i.webhook_secret.clone(),
        }
    }
}

/// The index itself (shared by every clone of the [`Store`]).
#[derive(Default)]
pub(crate) struct Credentials(RwLock<HashMap<String, Arc<WebhookCredential>>>);

impl Credentials {
    fn map(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<WebhookCredential>>> {
        // The map is always consistent (one insert at a time): a panic
        // elsewhere does not make it unusable.
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    fn put(&self, i: &Integration) {
        let mut m = self.0.write().unwrap_or_else(|e| e.into_inner());
        m.insert(i.external_id.clone(), Arc::new(WebhookCredential::from(i)));
    }
}

impl Store {
    /// Load the index from the `integrations` tree (at open).
    pub(crate) fn load_credentials(&self) -> StoreResult<()> {
        let all: Vec<Integration> = scan(&self.t.integrations, "integration", [])?;
        for i in &all {
            self.credentials.put(i);
        }
        Ok(())
    }

    /// Write an integration that was just stored into the index. Called by
    /// every method that writes the `integrations` tree, after its write.
    pub(crate) fn remember_credential(&self, i: &Integration) {
        self.credentials.put(i);
    }

    /// The webhook credential of the integration with this external id
    /// (any provider), from memory: never touches sled, never blocks.
    pub fn webhook_credential(&self, external_id: &str) -> Option<Arc<WebhookCredential>> {
        self.credentials.map().get(external_id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integration(ext: &str) -> Integration {
        Integration {
            webhook_secret: "s1".into(),
            status: IntegrationStatus::Active,
            ..crate::domain::integration::sample(ext)
        }
    }

    #[test]
    fn follows_every_integration_write_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let id = {
            let s = Store::open(dir.path()).unwrap();
            assert!(s.webhook_credential("j.example").is_none());
            let mut i = s.create_integration(integration("j.example")).unwrap();
            let c = s.webhook_credential("j.example").unwrap();
            assert_eq!((c.id, c.webhook_secret.as_str()), (i.id, "s1"));
            // An update (new secret, disabled) is seen at once.
            i.webhook_secret = "s2".into();
            i.status = IntegrationStatus::Disabled;
            s.update_integration(&i).unwrap();
            let c = s.webhook_credential("j.example").unwrap();
            assert_eq!(c.webhook_secret, "s2");
            assert_eq!(c.status, IntegrationStatus::Disabled);
            // finish_handshake writes the integration too.
            i.status = IntegrationStatus::Active;
            s.finish_handshake(&i).unwrap();
            assert_eq!(
                s.webhook_credential("j.example").unwrap().status,
                IntegrationStatus::Active
            );
            // A refused write (duplicate external id) changes nothing.
            let mut dup = integration("j.example");
            dup.webhook_secret = "evil".into();
            assert!(s.create_integration(dup).is_err());
            assert_eq!(
                s.webhook_credential("j.example").unwrap().webhook_secret,
                "s2"
            );
            s.flush().unwrap();
            i.id
        };
        let s = Store::reopen(dir.path(), false).unwrap();
        let c = s.webhook_credential("j.example").unwrap();
        assert_eq!((c.id, c.webhook_secret.as_str()), (id, "s2"));
        assert!(s.webhook_credential("other").is_none());
    }
}
