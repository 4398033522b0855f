//! The delivery log: `GET /v1/deliveries?integration=&key=&outcome=&limit=`,
//! newest first. Never holds a token or a secret.

use crate::domain::{Delivery, DeliveryOutcome};
use crate::http::error::{blocking, Error};
use crate::http::{ts, AppState};
use crate::store::sync::DeliveryFilter;
use actix_web::{web, HttpResponse};
use serde_json::json;
use std::collections::HashMap;

/// Entries returned when `limit` is not given, and the most one may ask for.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 10_000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/deliveries", web::get().to(list));
}

pub fn view(d: &Delivery) -> serde_json::Value {
    json!({
        "id": d.id,
        "received": ts(d.received),
        "integration": d.integration,
        "key": d.key,
        "changelog_id": d.changelog_id,
        // Jira's own `timestamp` (ms), as sent, so it compares with the delivery.
        "timestamp": d.timestamp,
        "jira_time": d.timestamp.map(ts),
        "outcome": d.outcome.as_str(),
        "groups": d.groups,
        "reason": d.reason,
        "source": d.source.as_str(),
    })
}

/// Parse the query; every bad value is a 400 naming the parameter. `limit`
/// goes up to `max_limit` (the larger of [`MAX_LIMIT`] and
/// `storage.delivery_log_max`, so the whole log can be asked for at once).
fn filter(q: &HashMap<String, String>, max_limit: usize) -> Result<(DeliveryFilter, usize), Error> {
    let mut f = DeliveryFilter::default();
    let mut limit = DEFAULT_LIMIT;
    for (k, v) in q {
        // An empty value means "no filter" (`?integration=&key=` is allowed).
        if v.is_empty() {
            continue;
        }
        match k.as_str() {
            "integration" => {
                f.integration = Some(v.parse().map_err(|_| {
                    Error::bad(format!(
                        "`integration` must be an integration id, not `{v}`"
                    ))
                })?)
            }
            "key" => f.key = Some(v.clone()),
            "outcome" => {
                f.outcome = Some(DeliveryOutcome::parse(v).ok_or_else(|| {
                    let all: Vec<&str> = DeliveryOutcome::ALL.iter().map(|o| o.as_str()).collect();
                    Error::bad(format!(
                        "`outcome` must be one of {}, not `{v}`",
                        all.join(", ")
                    ))
                })?)
            }
            "limit" => {
                limit = match v.parse::<usize>() {
                    Ok(n) if (1..=max_limit).contains(&n) => n,
                    _ => {
                        return Err(Error::bad(format!(
                            "`limit` must be a number from 1 to {max_limit}, not `{v}`"
                        )))
                    }
                }
            }
            other => {
                return Err(Error::bad(format!(
                    "unknown query parameter `{other}` (expected integration, key, outcome, limit)"
                )))
            }
        }
    }
    Ok((f, limit))
}

async fn list(
    state: web::Data<AppState>,
    q: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, Error> {
    let max_limit = MAX_LIMIT.max(state.config.storage.delivery_log_max);
    let (f, limit) = filter(&q, max_limit)?;
    let store = state.store.clone();
    let kept = state.config.storage.delivery_log_max;
    let list = blocking(move || store.list_deliveries(&f, limit, kept)).await?;
    Ok(HttpResponse::Ok().json(list.iter().map(view).collect::<Vec<_>>()))
}
