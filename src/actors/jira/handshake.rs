//! The steps of the Jira connection (an application service: the Jira
//! protocol lives in `crate::jira`), run by the `JiraActor` (one future per
//! request): start or restart a handshake, finish it, register the webhook.
//! Store calls run on the blocking pool. At most one step runs at a time per
//! integration ([`InFlight`]), so two finishes of one handshake (a double
//! click on the callback, the callback racing the verifier route) cannot
//! overwrite each other.

use crate::actors::Deps;
use crate::domain::{Id, Integration, IntegrationStatus, PendingOAuth, WebhookRegistration};
use crate::error::Error;
use crate::jira::client::{self, JiraClient, JiraError};
use crate::jira::connect::{self, CallbackKind, ConnectRequest};
use slog::{info, warn};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// What the Jira actor's requests answer.
pub type JiraResult<T> = Result<T, Error>;

pub struct Connected {
    pub integration: Integration,
    pub authorize_url: String,
}

/// Which handshake to finish.
#[derive(Debug, Clone)]
pub enum Handshake {
    /// From the browser callback: the request token Jira sent back.
    RequestToken(String),
    /// From the admin API: the integration's live handshake.
    Integration(Id),
}

/// Integrations with a step in flight.
#[derive(Clone, Default)]
pub struct InFlight(Arc<Mutex<HashSet<Id>>>);

/// Held while a step runs on an integration; released on drop.
pub struct Claim {
    set: InFlight,
    id: Id,
}

impl InFlight {
    pub fn claim(&self, id: Id) -> JiraResult<Claim> {
        let mut set = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !set.insert(id) {
            return Err(Error::Conflict(format!(
                "another request is already working on integration {id}; try again when it is done"
            )));
        }
        Ok(Claim {
            set: self.clone(),
            id,
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut set = self.set.0.lock().unwrap_or_else(|p| p.into_inner());
        set.remove(&self.id);
    }
}

pub use crate::actors::blocking;

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(super) fn client_for(deps: &Deps, i: &Integration) -> JiraResult<JiraClient> {
    if i.private_key.is_empty() {
        return Err(Error::Conflict(format!(
            "integration {} has no private key: connect it with POST /v1/integrations",
            i.id
        )));
    }
    JiraClient::new(
        &i.base_url,
        &i.consumer_key,
        &i.private_key,
        i.verify_ssl,
        deps.config.jira.timeout_secs,
    )
    .map_err(|e| Error::BadRequest(e.to_string()))
}

pub async fn connect(deps: Deps, busy: InFlight, req: ConnectRequest) -> JiraResult<Connected> {
    // Test-only: prove a panic in a step is caught and the actor restarted.
    if crate::failpoint::hit("jira-connect-panic") && req.name == "panic-please" {
        panic!("failpoint jira-connect-panic");
    }
    let store = deps.store.clone();
    let ext = req.external_id.clone();
    let previous = blocking(move || store.integration_by_external_id(&ext)).await?;
    let _claim = match &previous {
        Some(p) => Some(busy.claim(p.id)?),
        None => None,
    };
    if let Some(p) = &previous {
        if p.status != IntegrationStatus::Pending {
            return Err(Error::Conflict(format!(
                "integration {} with external id `{}` is already {}",
                p.id,
                p.external_id,
                status_word(p.status)
            )));
        }
    }
    let client = JiraClient::new(
        &req.base_url,
        &req.consumer_key,
        &req.private_key_pem,
        req.verify_ssl,
        deps.config.jira.timeout_secs,
    )
    .map_err(|e| Error::BadRequest(e.to_string()))?;
    let callback = match req.callback {
        CallbackKind::Web => client::callback_url(&deps.config.http.public_url),
        CallbackKind::Oob => "oob".to_string(),
    };
    // Ask Jira first: when it fails, nothing has been written.
    let (token, secret) = match client.request_token(&callback).await {
        Ok(t) => t,
        Err(e) => {
            warn!(deps.log, "jira-request-token-failed";
                  "external_id" => &req.external_id, "jira_status" => e.status(),
                  "error" => e.to_string());
            return Err(Error::from(e));
        }
    };
    let authorize_url = client.authorize_url(&token);
    let restarted = previous.is_some();
    let integration = connect::pending_integration(&req, previous);
    let pending = PendingOAuth {
        request_token: token,
        request_token_secret: secret,
        integration: integration.id,
        expires: now() + (deps.config.jira.pending_ttl_secs as i64) * 1000,
    };
    let store = deps.store.clone();
    let integration = blocking(move || {
        let _ = store.prune_pending_oauth(now());
        store.save_pending_connect(integration, pending)
    })
    .await?;
    info!(deps.log, "jira-connect-started";
          "integration" => integration.id, "external_id" => &integration.external_id,
          "callback" => if req.callback == CallbackKind::Oob { "oob" } else { "web" },
          "restarted" => restarted);
    Ok(Connected {
        integration,
        authorize_url,
    })
}

fn status_word(s: IntegrationStatus) -> &'static str {
    match s {
        IntegrationStatus::Pending => "pending",
        IntegrationStatus::Active => "active",
        IntegrationStatus::Disabled => "disabled",
    }
}

/// The live handshake and its integration.
fn resolve(store: &crate::store::Store, h: &Handshake) -> JiraResult<(PendingOAuth, Integration)> {
    let t = now();
    let pending = match h {
        Handshake::RequestToken(token) => {
            let p = store.get_pending_oauth(token)?.ok_or_else(|| {
                Error::BadRequest(
                    "Unknown OAuth token: this authorisation link is not (or no longer) known. Start the connection again."
                        .into(),
                )
            })?;
            if p.expires < t {
                store.remove_pending_oauth(token)?;
                return Err(Error::BadRequest(
                    "This OAuth authorisation has expired. Start the connection again.".into(),
                ));
            }
            p
        }
        Handshake::Integration(id) => {
            let i = store.require_integration(*id)?;
            if i.status != IntegrationStatus::Pending {
                return Err(Error::Conflict(format!(
                    "integration {id} is {}, not waiting for a verifier",
                    status_word(i.status)
                )));
            }
            store
                .pending_oauth_for(*id)?
                .into_iter()
                .filter(|p| p.expires >= t)
                .max_by_key(|p| p.expires)
                .ok_or_else(|| {
                    Error::Conflict(format!(
                        "integration {id} has no OAuth handshake in progress (it expired or was already used): start again with POST /v1/integrations"
                    ))
                })?
        }
    };
    let i = store.get_integration(pending.integration)?.ok_or_else(|| {
        Error::BadRequest("The integration of this OAuth token no longer exists.".into())
    })?;
    if i.status != IntegrationStatus::Pending {
        return Err(Error::Conflict(format!(
            "integration {} is already {}",
            i.id,
            status_word(i.status)
        )));
    }
    Ok((pending, i))
}

pub async fn finish(
    deps: Deps,
    busy: InFlight,
    h: Handshake,
    verifier: Option<String>,
) -> JiraResult<Integration> {
    let store = deps.store.clone();
    let h2 = h.clone();
    let (_, first) = blocking(move || resolve(&store, &h2)).await?;
    let _claim = busy.claim(first.id)?;
    // Read again under the claim: a concurrent finish may have just ended.
    let store = deps.store.clone();
    let (pending, mut i) = blocking(move || resolve(&store, &h)).await?;
    let client = client_for(&deps, &i)?;
    let tokens = match client
        .get_access_token(
            &pending.request_token,
            &pending.request_token_secret,
            verifier.as_deref(),
        )
        .await
    {
        Ok(t) => t,
        Err(JiraError::MissingVerifier) => {
            info!(deps.log, "jira-missing-verifier"; "integration" => i.id);
            return Err(Error::BadRequest(JiraError::MissingVerifier.to_string()));
        }
        Err(e) => {
            warn!(deps.log, "jira-access-token-failed";
                  "integration" => i.id, "jira_status" => e.status(), "error" => e.to_string());
            i.last_error = Some(e.to_string());
            let store = deps.store.clone();
            let copy = i.clone();
            blocking(move || store.update_integration(&copy)).await?;
            return Err(Error::from(e));
        }
    };
    i.access_token = tokens.get("oauth_token").cloned().unwrap_or_default();
    i.access_token_secret = tokens
        .get("oauth_token_secret")
        .cloned()
        .unwrap_or_default();
    i.last_error = None;
    let store = deps.store.clone();
    let copy = i.clone();
    blocking(move || store.finish_handshake(&copy)).await?;
    info!(deps.log, "jira-access-token-received"; "integration" => i.id);
    register(&deps, i).await
}

pub async fn register_again(deps: Deps, busy: InFlight, id: Id) -> JiraResult<Integration> {
    let store = deps.store.clone();
    let _claim = busy.claim(id)?;
    let i = blocking(move || store.require_integration(id)).await?;
    if i.status == IntegrationStatus::Disabled {
        return Err(Error::Conflict(format!("integration {id} is disabled")));
    }
    if i.access_token.is_empty() {
        return Err(Error::Conflict(format!(
            "integration {id} has no access token yet: finish the OAuth handshake first"
        )));
    }
    register(&deps, i).await
}

/// Register the webhook; on success the integration becomes active. On
/// failure it keeps its status, with `last_error`.
async fn register(deps: &Deps, mut i: Integration) -> JiraResult<Integration> {
    let client = client_for(deps, &i)?;
    let result = client
        .register_webhook(
            &i.access_token,
            &deps.config.http.public_url,
            &i.external_id,
            &i.webhook_secret,
        )
        .await;
    let outcome = match result {
        Ok(r) => {
            info!(deps.log, "jira-webhook-registered";
                  "integration" => i.id, "endpoint" => &r.endpoint, "jira_status" => r.status);
            i.webhook = Some(WebhookRegistration {
                endpoint: r.endpoint,
                status: r.status,
                jira_webhook: r.jira_webhook,
                date_registered: now(),
            });
            if i.status == IntegrationStatus::Pending {
                i.status = IntegrationStatus::Active;
                info!(deps.log, "jira-connected";
                      "integration" => i.id, "external_id" => &i.external_id);
            }
            i.last_error = None;
            Ok(())
        }
        Err(e) => {
            warn!(deps.log, "jira-webhook-failed";
                  "integration" => i.id, "jira_status" => e.status(), "error" => e.to_string());
            i.last_error = Some(e.to_string());
            Err(e)
        }
    };
    let store = deps.store.clone();
    let copy = i.clone();
    blocking(move || store.update_integration(&copy)).await?;
    if outcome.is_ok() {
        // Active: its Jira statuses are read now (best effort; logged, and
        // read again every `jira.status_refresh_secs`).
        let _ = super::statuses::refresh(deps.clone(), i.id).await;
    }
    outcome.map(|_| i).map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_claim_per_integration_released_on_drop() {
        let busy = InFlight::default();
        let a = busy.claim(1).unwrap();
        assert!(matches!(busy.claim(1), Err(Error::Conflict(_))));
        let b = busy.claim(2).unwrap();
        drop(a);
        let _again = busy.claim(1).unwrap();
        drop(b);
        assert!(busy.claim(2).is_ok());
    }
}
