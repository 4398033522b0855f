//! The email of a Jira account whose webhook assignee hides it (SPEC
//! section 11): `GET {base_url}/rest/api/2/user?username=` signed with the
//! integration's access token (Jira shows emails to administrators). Found
//! emails are cached per integration for `cache.ttl_secs`. Called by the
//! webhook handler before the delivery reaches the single writer, so a slow
//! Jira holds up only the delivery that asked (bounded by
//! `jira.timeout_secs`), never the writer or other deliveries.

use super::clients::JiraClients;
use crate::config::Config;
use crate::domain::plan::{Change, SyncCommand};
use crate::domain::{Id, IntegrationStatus};
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;

/// Most found emails remembered.
const MAX_CACHED: u64 = 10_000;

pub struct UserLookup {
    store: Store,
    config: Arc<Config>,
    /// (integration, lower-cased username) -> email
    emails: moka::sync::Cache<(Id, String), String>,
    clients: JiraClients,
}

impl UserLookup {
    pub fn new(store: Store, config: Arc<Config>) -> UserLookup {
        let ttl = Duration::from_secs(config.cache.ttl_secs.max(1));
        UserLookup {
            store,
            config,
            emails: moka::sync::Cache::builder()
                .max_capacity(MAX_CACHED)
                .time_to_live(ttl)
                .build(),
            clients: JiraClients::default(),
        }
    }

    /// An assignee whose email Jira hides but whose account a delivery (or
    /// a history read back by reconcile) names: a Jira user link comes
    /// first (the planner applies it); without one, Jira is asked for the
    /// account's email (off the single writer, bounded by
    /// `jira.timeout_secs`). Found → an ordinary assign by email; else the
    /// delivery goes on saying why (`missing-assignee-email`).
    pub async fn resolve(&self, mut cmd: SyncCommand) -> SyncCommand {
        let Some(Change::JiraUser { name, .. }) = &cmd.assignee else {
            return cmd;
        };
        let name = name.clone();
        let (store, integration, n) = (self.store.clone(), cmd.integration, name.clone());
        let linked = tokio::task::spawn_blocking(move || store.jira_user(integration, &n)).await;
        if !matches!(linked, Ok(Ok(None))) {
            return cmd; // linked (or unreadable): the planner decides
        }
        cmd.assignee = Some(match self.email(integration, &name).await {
            Ok(Some(email)) => Change::Assign(email),
            Ok(None) => Change::JiraUser {
                name,
                why: Some("Jira shows no email for it".into()),
            },
            Err(why) => Change::JiraUser {
                name,
                why: Some(why),
            },
        });
        cmd
    }

    /// The account's email: `Ok(None)` when Jira has no such user or shows
    /// no email; `Err` says why Jira could not be asked.
    pub async fn email(&self, integration: Id, username: &str) -> Result<Option<String>, String> {
        let k = (integration, username.to_ascii_lowercase());
        if let Some(e) = self.emails.get(&k) {
            return Ok(Some(e));
        }
        let store = self.store.clone();
        let i = tokio::task::spawn_blocking(move || store.get_integration(integration))
            .await
            .map_err(|e| format!("the store could not be read: {e}"))?
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("integration {integration} no longer exists"))?;
        if i.status != IntegrationStatus::Active || i.access_token.is_empty() {
            return Err(format!(
                "integration {integration} is not connected to Jira"
            ));
        }
        let client = self
            .clients
            .get(&i, self.config.jira.timeout_secs)
            .map_err(|e| e.to_string())?;
        let found = client
            .user_email(&i.access_token, username)
            .await
            .map_err(|r| format!("the Jira user look-up failed: {r}"))?;
        if let Some(e) = &found {
            self.emails.insert(k, e.clone());
        }
        Ok(found)
    }
}
