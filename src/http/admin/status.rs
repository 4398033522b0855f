//! `GET /v1/status`: version, uptime, counts per entity, actor health.

use crate::http::error::{blocking, ApiError};
use crate::http::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;
use std::time::Duration;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/status", web::get().to(status));
}

async fn status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let counts = blocking(move || Ok(store.counts())).await?;
    let counts: serde_json::Map<String, serde_json::Value> = counts
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let actors = state.actors.health(Duration::from_secs(2)).await;
    Ok(HttpResponse::Ok().json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": state.started.elapsed().as_secs(),
        "phase": format!("{:?}", state.lifecycle.get()).to_lowercase(),
        "counts": counts,
        "actors": actors,
    })))
}
