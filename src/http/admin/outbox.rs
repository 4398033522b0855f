//! The outbox (SPEC section 10): `GET /v1/outbox?integration=&state=&limit=`
//! (newest first), `POST /v1/outbox/{id}/retry`, `DELETE /v1/outbox/{id}`.

use crate::actors::outbox::{Drop, Retry};
use crate::domain::outbox::{OutboxEntry, OutboxState};
use crate::domain::Id;
use crate::http::error::{blocking, Error};
use crate::http::{ts, AppState};
use crate::store::outbox::OutboxFilter;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/outbox", web::get().to(list))
        .route("/v1/outbox/{id}/retry", web::post().to(retry))
        .route("/v1/outbox/{id}", web::delete().to(drop_entry));
}

/// The API view of an entry (dates as RFC 3339).
pub fn view(e: &OutboxEntry) -> serde_json::Value {
    json!({
        "id": e.id,
        "integration": e.integration,
        "key": e.key,
        "kind": e.kind,
        "email": e.email,
        "group": e.group,
        "created": ts(e.created),
        "attempts": e.attempts,
        "next_try": ts(e.next_try),
        "state": e.state,
        "last_error": e.last_error,
    })
}

#[derive(Deserialize)]
struct Query {
    integration: Option<String>,
    state: Option<String>,
    limit: Option<String>,
}

async fn list(state: web::Data<AppState>, q: web::Query<Query>) -> Result<HttpResponse, Error> {
    let q = q.into_inner();
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let integration = match nonempty(q.integration) {
        None => None,
        Some(s) => Some(s.parse::<Id>().map_err(|_| {
            Error::bad(format!(
                "`integration` must be an integration id, not {s:?}"
            ))
        })?),
    };
    let st = match nonempty(q.state) {
        None => None,
        Some(s) => Some(OutboxState::parse(&s).ok_or_else(|| {
            Error::bad(format!(
                "`state` must be pending, done or dead, not {:?}",
                crate::logging::clip(&s)
            ))
        })?),
    };
    let limit = match nonempty(q.limit) {
        None => 100,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=10_000).contains(&n) => n,
            _ => return Err(Error::bad("`limit` must be a whole number from 1 to 10000")),
        },
    };
    let f = OutboxFilter {
        integration,
        state: st,
    };
    let store = state.store.clone();
    let list = blocking(move || store.list_outbox(&f, limit)).await?;
    Ok(HttpResponse::Ok().json(list.iter().map(view).collect::<Vec<_>>()))
}

async fn retry(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, Error> {
    let e = state.actors.outbox.send(Retry(id.into_inner())).await??;
    Ok(HttpResponse::Ok().json(view(&e)))
}

async fn drop_entry(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, Error> {
    state.actors.outbox.send(Drop(id.into_inner())).await??;
    Ok(HttpResponse::NoContent().finish())
}
