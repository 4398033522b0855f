//! One Jira client per integration, built again when what it was built from
//! (base URL, consumer key, TLS check, access token) changes. Shared by the
//! outbox and the hidden-email look-up.

use crate::domain::{Id, Integration};
use crate::jira::client::{JiraClient, JiraError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct JiraClients {
    by_integration: Mutex<HashMap<Id, (String, Arc<JiraClient>)>>,
}

impl JiraClients {
    /// The integration's client (`timeout_secs`: `jira.timeout_secs`).
    pub fn get(&self, i: &Integration, timeout_secs: u64) -> Result<Arc<JiraClient>, JiraError> {
        let fingerprint = format!(
            "{}|{}|{}|{}",
            i.base_url, i.consumer_key, i.verify_ssl, i.access_token
        );
        let mut clients = self
            .by_integration
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some((f, c)) = clients.get(&i.id) {
            if *f == fingerprint {
                return Ok(c.clone());
            }
        }
        let c = Arc::new(JiraClient::new(
            &i.base_url,
            &i.consumer_key,
            &i.private_key,
            i.verify_ssl,
            timeout_secs,
        )?);
        clients.insert(i.id, (fingerprint, c.clone()));
        Ok(c)
    }
}
