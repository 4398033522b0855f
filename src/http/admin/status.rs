//! `GET /v1/status`: version, uptime (seconds, as `uptime` and
//! `uptime_secs`), counts per entity (`null`
//! while being recounted after a crash, with `"counting": true`), actor health. Cheap on any database:
//! the counts are in-memory counters ([`crate::store::counts`]), not scans.

use crate::http::error::{blocking, Error};
use crate::http::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;
use std::time::Duration;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/status", web::get().to(status));
}

async fn status(state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    let store = state.store.clone();
    // After a crash the counters are rebuilt in the background: wait a
    // little for them, then answer `null` for the ones not counted yet.
    let (counts, counting) = blocking(move || {
        let done = store.wait_counted(Duration::from_secs(2));
        Ok((store.counts(), !done))
    })
    .await?;
    let counts: serde_json::Map<String, serde_json::Value> = counts
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let actors = state.actors.health(Duration::from_secs(2)).await;
    let uptime = state.started.elapsed().as_secs();
    Ok(HttpResponse::Ok().json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime": uptime,
        "uptime_secs": uptime,
        "phase": format!("{:?}", state.lifecycle.get()).to_lowercase(),
        "counts": counts,
        "counting": counting,
        "actors": actors,
    })))
}
