//! `JiraActor`: the Jira OAuth 1.0a handshake and the webhook registration.
//!
//! An async `Context` actor under actix's `Supervisor`. Each request runs as
//! its own future (a slow Jira never holds up another handshake); store calls
//! run on the blocking pool, never on the async thread. Secrets (private key,
//! request token secret, access token and secret, webhook secret) go only to
//! sled: they are never returned and never logged.

use super::supervisor::Deps;
use super::Ping;
use crate::domain::{Id, Integration, IntegrationStatus, PendingOAuth, WebhookRegistration};
use crate::jira::client::{self, JiraClient, JiraError};
use crate::jira::connect::{self, CallbackKind, ConnectRequest};
use crate::store::StoreError;
use actix::prelude::*;
use futures_util::FutureExt;
use slog::{info, warn};
use std::panic::AssertUnwindSafe;

/// Failures of the Jira actor's requests.
#[derive(Debug, thiserror::Error)]
pub enum JiraActorError {
    #[error("{0}")]
    BadRequest(String),
    /// The OAuth request token is unknown or expired.
    #[error("{0}")]
    UnknownToken(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Jira failed, or the way to it did (502).
    #[error("{0}")]
    Jira(JiraError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

pub type JiraResult<T> = Result<T, JiraActorError>;

/// Start a handshake: create (or restart) the pending integration.
#[derive(Message)]
#[rtype(result = "JiraResult<Connected>")]
pub struct Connect(pub ConnectRequest);

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

/// Exchange the request token for an access token, then register the webhook.
#[derive(Message)]
#[rtype(result = "JiraResult<Integration>")]
pub struct FinishHandshake {
    pub handshake: Handshake,
    pub verifier: Option<String>,
}

/// Register (again) the issue webhook in Jira.
#[derive(Message)]
#[rtype(result = "JiraResult<Integration>")]
pub struct RegisterWebhook(pub Id);

pub struct JiraActor {
    deps: Deps,
}

impl Actor for JiraActor {
    type Context = Context<Self>;
}

impl actix::Supervised for JiraActor {}

impl Handler<Ping> for JiraActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

pub fn start(deps: &Deps) -> Addr<JiraActor> {
    let deps = deps.clone();
    actix::Supervisor::start(move |_| JiraActor { deps })
}

impl JiraActor {
    /// Run a request as its own future; a panic inside it is caught, logged
    /// as `"actor-panic"`, counted, answered with an error, and the actor is
    /// stopped (its `Supervisor` restarts it).
    fn run<T: 'static>(
        &self,
        fut: impl std::future::Future<Output = JiraResult<T>> + 'static,
    ) -> ResponseActFuture<Self, JiraResult<T>> {
        let fut = AssertUnwindSafe(fut).catch_unwind();
        Box::pin(fut.into_actor(self).map(|res, act, ctx| match res {
            Ok(r) => r,
            Err(payload) => {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                slog::crit!(act.deps.log, "actor-panic"; "actor" => "jira", "panic" => what);
                act.deps
                    .metrics
                    .actor_restarts
                    .with_label_values(&["jira"])
                    .inc();
                ctx.stop();
                Err(JiraActorError::Internal(
                    "internal error in jira: the actor was restarted".into(),
                ))
            }
        }))
    }
}

impl Handler<Connect> for JiraActor {
    type Result = ResponseActFuture<Self, JiraResult<Connected>>;
    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) -> Self::Result {
        self.run(connect(self.deps.clone(), msg.0))
    }
}

impl Handler<FinishHandshake> for JiraActor {
    type Result = ResponseActFuture<Self, JiraResult<Integration>>;
    fn handle(&mut self, msg: FinishHandshake, _: &mut Context<Self>) -> Self::Result {
        self.run(finish(self.deps.clone(), msg.handshake, msg.verifier))
    }
}

impl Handler<RegisterWebhook> for JiraActor {
    type Result = ResponseActFuture<Self, JiraResult<Integration>>;
    fn handle(&mut self, msg: RegisterWebhook, _: &mut Context<Self>) -> Self::Result {
        self.run(register_again(self.deps.clone(), msg.0))
    }
}

/// Run a blocking store call on the blocking pool.
async fn blocking<T: Send + 'static, E: Into<JiraActorError> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> JiraResult<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(Into::into),
        Err(e) => Err(JiraActorError::Internal(format!(
            "blocking store call failed: {e}"
        ))),
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn client_for(deps: &Deps, i: &Integration) -> JiraResult<JiraClient> {
    if i.private_key.is_empty() {
        return Err(JiraActorError::Conflict(format!(
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
    .map_err(|e| JiraActorError::BadRequest(e.to_string()))
}

async fn connect(deps: Deps, req: ConnectRequest) -> JiraResult<Connected> {
    let store = deps.store.clone();
    let ext = req.external_id.clone();
    let previous = blocking(move || store.integration_by_external_id(&ext)).await?;
    if let Some(p) = &previous {
        if p.status != IntegrationStatus::Pending {
            return Err(JiraActorError::Conflict(format!(
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
    .map_err(|e| JiraActorError::BadRequest(e.to_string()))?;
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
            return Err(JiraActorError::Jira(e));
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
                JiraActorError::UnknownToken(
                    "Unknown OAuth token: this authorisation link is not (or no longer) known. Start the connection again."
                        .into(),
                )
            })?;
            if p.expires < t {
                store.remove_pending_oauth(token)?;
                return Err(JiraActorError::UnknownToken(
                    "This OAuth authorisation has expired. Start the connection again.".into(),
                ));
            }
            p
        }
        Handshake::Integration(id) => {
            let i = store
                .get_integration(*id)?
                .ok_or_else(|| JiraActorError::NotFound(format!("integration {id} not found")))?;
            if i.status != IntegrationStatus::Pending {
                return Err(JiraActorError::Conflict(format!(
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
                    JiraActorError::Conflict(format!(
                        "integration {id} has no OAuth handshake in progress (it expired or was already used): start again with POST /v1/integrations"
                    ))
                })?
        }
    };
    let i = store.get_integration(pending.integration)?.ok_or_else(|| {
        JiraActorError::UnknownToken("The integration of this OAuth token no longer exists.".into())
    })?;
    if i.status != IntegrationStatus::Pending {
        return Err(JiraActorError::Conflict(format!(
            "integration {} is already {}",
            i.id,
            status_word(i.status)
        )));
    }
    Ok((pending, i))
}

async fn finish(deps: Deps, h: Handshake, verifier: Option<String>) -> JiraResult<Integration> {
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
            return Err(JiraActorError::BadRequest(
                JiraError::MissingVerifier.to_string(),
            ));
        }
        Err(e) => {
            warn!(deps.log, "jira-access-token-failed";
                  "integration" => i.id, "jira_status" => e.status(), "error" => e.to_string());
            i.last_error = Some(e.to_string());
            let store = deps.store.clone();
            let copy = i.clone();
            blocking(move || store.update_integration(&copy)).await?;
            return Err(JiraActorError::Jira(e));
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

async fn register_again(deps: Deps, id: Id) -> JiraResult<Integration> {
    let store = deps.store.clone();
    let i = blocking(move || store.get_integration(id))
        .await?
        .ok_or_else(|| JiraActorError::NotFound(format!("integration {id} not found")))?;
    if i.status == IntegrationStatus::Disabled {
        return Err(JiraActorError::Conflict(format!(
            "integration {id} is disabled"
        )));
    }
    if i.access_token.is_empty() {
        return Err(JiraActorError::Conflict(format!(
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
    outcome.map(|_| i).map_err(JiraActorError::Jira)
}
