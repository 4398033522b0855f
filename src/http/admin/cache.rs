//! The ownership cache: `GET /v1/cache` (stats) and
//! `GET /v1/cache/groups/{id}` (a read-through lookup: `cached` says whether
//! the answer was already cached).

use crate::actors::cache::{GetAssignee, Stats};
use crate::domain::Id;
use crate::http::error::Error;
use crate::http::{ts, AppState};
use actix_web::{web, HttpResponse};
use serde_json::json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/cache", web::get().to(stats))
        .route("/v1/cache/groups/{id}", web::get().to(group));
}

async fn stats(state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    let s = state.actors.cache.send(Stats).await?;
    Ok(HttpResponse::Ok().json(s))
}

async fn group(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, Error> {
    let id = id.into_inner();
    let l = state.actors.cache.send(GetAssignee(id)).await??;
    Ok(HttpResponse::Ok().json(json!({
        "group": id,
        "cached": l.cached,
        "assignee": l.assignee.map(|a| json!({
            "user": a.user,
            "email": a.email,
            "date_added": ts(a.date_added),
        })),
    })))
}
