//! Integrations: import, list, get (never with secrets), webhook URL,
//! installations. (The OAuth connect routes live in `jira_connect.rs`.)

use crate::domain::Integration;
use actix_web::web;
use serde_json::json;

pub fn configure(_cfg: &mut web::ServiceConfig) {}

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
