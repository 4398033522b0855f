//! Integrations: import, list, get (never with secrets), webhook URL,
//! installations. (The OAuth connect routes live in `jira_connect.rs`.)

use crate::domain::integration as rules;
use crate::domain::{Id, Integration, IntegrationStatus, Switches, PROVIDER_JIRA_SERVER};
use crate::http::error::{blocking, Error};
use crate::http::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/integrations/import", web::post().to(import))
        .route("/v1/integrations", web::get().to(list))
        .route("/v1/integrations/{id}", web::get().to(get))
        .route(
            "/v1/integrations/{id}/webhook-url",
            web::get().to(webhook_url),
        )
        .route(
            "/v1/integrations/{id}/installations",
            web::post().to(install),
        )
        .route(
            "/v1/integrations/{id}/installations",
            web::get().to(installations),
        );
}

/// The API view of an integration: every field but the secrets
/// (`private_key`, `access_token`, `access_token_secret`, `webhook_secret`).
pub fn view(i: &Integration) -> serde_json::Value {
    json!({
        "id": i.id,
        "provider": i.provider,
        "external_id": i.external_id,
        "name": i.name,
        "base_url": i.base_url,
        "verify_ssl": i.verify_ssl,
        "consumer_key": i.consumer_key,
        "status": i.status,
        "last_error": i.last_error,
        "has_access_token": !i.access_token.is_empty(),
        "webhook": i.webhook.as_ref().map(|w| json!({
            "endpoint": w.endpoint,
            "status": w.status,
            "jira_webhook": w.jira_webhook,
            "date_registered": crate::http::ts(w.date_registered),
        })),
        "date_added": crate::http::ts(i.date_added),
    })
}

#[derive(Deserialize)]
struct Import {
    base_url: String,
    consumer_key: String,
    webhook_secret: String,
    external_id: Option<String>,
    name: Option<String>,
    verify_ssl: Option<bool>,
    private_key_pem: Option<String>,
    access_token: Option<String>,
    access_token_secret: Option<String>,
}

/// Validate a PEM RSA private key (PKCS#1 or PKCS#8) without keeping it parsed.
fn check_private_key(pem: &str) -> Result<(), Error> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let pem = pem.trim();
    if rsa::RsaPrivateKey::from_pkcs1_pem(pem).is_ok()
        || rsa::RsaPrivateKey::from_pkcs8_pem(pem).is_ok()
    {
        Ok(())
    } else {
        Err(Error::bad(
            "`private_key_pem` is not a PEM RSA private key (PKCS#1 or PKCS#8)",
        ))
    }
}

fn check_secretish(field: &str, v: &Option<String>) -> Result<(), Error> {
    if let Some(v) = v {
        if v.trim().is_empty() || v.len() > 4096 {
            return Err(Error::bad(format!(
                "`{field}` must be 1 to 4096 characters"
            )));
        }
    }
    Ok(())
}

async fn import(
    state: web::Data<AppState>,
    body: web::Json<Import>,
) -> Result<HttpResponse, Error> {
    let b = body.into_inner();
    let base_url = rules::normalize_base_url(&b.base_url).map_err(Error::BadRequest)?;
    let consumer_key = b.consumer_key.trim().to_string();
    rules::check_consumer_key(&consumer_key).map_err(Error::BadRequest)?;
    rules::check_webhook_secret(&b.webhook_secret).map_err(Error::BadRequest)?;
    let external_id = match b.external_id {
        Some(e) => {
            rules::check_external_id(&e).map_err(Error::BadRequest)?;
            e
        }
        None => rules::external_id(&base_url, &consumer_key),
    };
    if let Some(n) = &b.name {
        crate::domain::limits::check_text("name", n, crate::domain::limits::NAME_MAX)?;
    }
    if let Some(pem) = &b.private_key_pem {
        check_private_key(pem)?;
    }
    check_secretish("access_token", &b.access_token)?;
    check_secretish("access_token_secret", &b.access_token_secret)?;
    let name = b
        .name
        .unwrap_or_else(|| rules::hostname(&base_url).unwrap_or_else(|| base_url.clone()));
    let i = Integration {
        id: 0,
        provider: PROVIDER_JIRA_SERVER.into(),
        external_id,
        name,
        base_url,
        verify_ssl: b.verify_ssl.unwrap_or(true),
        consumer_key,
        private_key: b.private_key_pem.unwrap_or_default(),
        access_token: b.access_token.unwrap_or_default(),
        access_token_secret: b.access_token_secret.unwrap_or_default(),
        webhook_secret: b.webhook_secret,
        status: IntegrationStatus::Active,
        last_error: None,
        webhook: None,
        date_added: crate::domain::now_ms(),
    };
    let store = state.store.clone();
    let i = blocking(move || store.create_integration(i)).await?;
    super::settle(&state).await?;
    slog::info!(state.log, "integration-imported"; "integration" => i.id,
                "external_id" => i.external_id.as_str());
    Ok(HttpResponse::Created().json(view(&i)))
}

async fn list(state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    let store = state.store.clone();
    let all = blocking(move || store.list_integrations()).await?;
    Ok(HttpResponse::Ok().json(all.iter().map(view).collect::<Vec<_>>()))
}

/// The integration (404 when there is none).
pub(super) async fn load(state: &AppState, id: Id) -> Result<Integration, Error> {
    let store = state.store.clone();
    blocking(move || store.require_integration(id)).await
}

async fn get(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, Error> {
    let i = load(&state, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view(&i)))
}

/// The webhook URL for manual setup in Jira (it holds the token).
pub fn webhook_url_for(public_url: &str, i: &Integration) -> Result<String, Error> {
    let token = crate::jira::jwt::mint(&i.external_id, &i.webhook_secret)
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(format!(
        "{}{}/{}",
        public_url.trim_end_matches('/'),
        crate::http::webhook::PATH,
        token
    ))
}

async fn webhook_url(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, Error> {
    let i = load(&state, id.into_inner()).await?;
    let url = webhook_url_for(&state.config.http.public_url, &i)?;
    Ok(HttpResponse::Ok().json(json!({ "url": url })))
}

#[derive(Deserialize)]
struct NewInstallation {
    org: Id,
    sync_inbound_assignee: Option<bool>,
    sync_outbound_assignee: Option<bool>,
    sync_inbound_status: Option<bool>,
    sync_outbound_status: Option<bool>,
}

async fn install(
    state: web::Data<AppState>,
    id: web::Path<Id>,
    body: web::Json<NewInstallation>,
) -> Result<HttpResponse, Error> {
    let b = body.into_inner();
    let switches = Switches {
        sync_inbound_assignee: b.sync_inbound_assignee,
        sync_outbound_assignee: b.sync_outbound_assignee,
        sync_inbound_status: b.sync_inbound_status,
        sync_outbound_status: b.sync_outbound_status,
    };
    let (org, integration) = (b.org, id.into_inner());
    let store = state.store.clone();
    let inst = blocking(move || store.put_installation(org, integration, switches)).await?;
    super::settle(&state).await?;
    Ok(HttpResponse::Created().json(inst))
}

async fn installations(
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, Error> {
    let id = id.into_inner();
    load(&state, id).await?;
    let store = state.store.clone();
    Ok(HttpResponse::Ok().json(blocking(move || store.installations(id)).await?))
}
