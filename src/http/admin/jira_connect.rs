//! Connecting to Jira on the admin API: start the OAuth handshake, finish it
//! with an out-of-band verifier, register the webhook again.
//!
//! - `POST /v1/integrations` `{name?, base_url, consumer_key, private_key_pem,
//!   verify_ssl?, callback?: "web"|"oob"}` → 201 `{id, external_id, status:
//!   "pending", authorize_url, ...}`. Every field is checked before any
//!   request reaches Jira. A second connect for an external id whose
//!   integration is still pending restarts its handshake (same id, new
//!   request token, earlier tokens dropped); for an active or disabled one it
//!   is a 409.
//! - `POST /v1/integrations/{id}/verifier` `{verifier}` → 200 integration.
//! - `POST /v1/integrations/{id}/webhook` → 200 integration.
//!
//! Jira failures answer 502 `upstream` with `jira_status` (Jira's HTTP status,
//! null when it did not answer) beside the message.

use super::integrations::view;
use crate::actors::jira::{Connect, FinishHandshake, Handshake, RegisterWebhook};
use crate::http::error::Error;
use crate::http::AppState;
use crate::jira::connect;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/integrations", web::post().to(start))
        .route("/v1/integrations/{id}/verifier", web::post().to(verifier))
        .route("/v1/integrations/{id}/webhook", web::post().to(webhook));
}

#[derive(Deserialize)]
struct ConnectBody {
    name: Option<String>,
    base_url: String,
    consumer_key: String,
    private_key_pem: String,
    verify_ssl: Option<bool>,
    callback: Option<String>,
}

#[derive(Deserialize)]
struct VerifierBody {
    verifier: Option<String>,
}

/// A Jira actor failure as an admin API answer.
pub fn error_response(e: Error) -> HttpResponse {
    actix_web::ResponseError::error_response(&e)
}

async fn start(state: web::Data<AppState>, body: web::Json<ConnectBody>) -> HttpResponse {
    let b = body.into_inner();
    let req = match connect::validate(
        b.name.as_deref(),
        &b.base_url,
        &b.consumer_key,
        &b.private_key_pem,
        b.verify_ssl,
        b.callback.as_deref(),
    ) {
        Ok(r) => r,
        Err(m) => return actix_web::ResponseError::error_response(&Error::BadRequest(m)),
    };
    match state.actors.jira.send(Connect(req)).await {
        Ok(Ok(c)) => {
            let mut v = view(&c.integration);
            v["authorize_url"] = json!(c.authorize_url);
            HttpResponse::Created().json(v)
        }
        Ok(Err(e)) => error_response(e),
        Err(m) => actix_web::ResponseError::error_response(&Error::from(m)),
    }
}

fn parse_id(raw: &str) -> Result<u64, Error> {
    raw.parse::<u64>().map_err(|_| {
        Error::BadRequest(format!(
            "invalid integration id `{}`",
            raw.chars().take(40).collect::<String>()
        ))
    })
}

async fn verifier(
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Json<VerifierBody>,
) -> HttpResponse {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(e) => return actix_web::ResponseError::error_response(&e),
    };
    let msg = FinishHandshake {
        handshake: Handshake::Integration(id),
        verifier: body.into_inner().verifier,
    };
    match state.actors.jira.send(msg).await {
        Ok(Ok(i)) => HttpResponse::Ok().json(view(&i)),
        Ok(Err(e)) => error_response(e),
        Err(m) => actix_web::ResponseError::error_response(&Error::from(m)),
    }
}

async fn webhook(state: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(e) => return actix_web::ResponseError::error_response(&e),
    };
    match state.actors.jira.send(RegisterWebhook(id)).await {
        Ok(Ok(i)) => HttpResponse::Ok().json(view(&i)),
        Ok(Err(e)) => error_response(e),
        Err(m) => actix_web::ResponseError::error_response(&Error::from(m)),
    }
}
