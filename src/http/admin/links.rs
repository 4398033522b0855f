//! Links between groups and external issues `(integration, key)`.

use crate::domain::{Id, Link};
use crate::http::error::{blocking, Error};
use crate::http::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/links", web::post().to(create))
        .route("/v1/groups/{id}/links", web::get().to(list))
        .route(
            "/v1/groups/{id}/links/{integration}/{key}",
            web::delete().to(delete),
        );
}

/// An issue key: 1 to 255 characters, no whitespace, control characters or
/// `/` (the same rule as the webhook's `issue.key`).
pub fn check_key(key: &str) -> Result<(), Error> {
    crate::domain::payload::check_issue_key(key).map_err(|e| Error::bad(format!("`key` {e}")))
}

#[derive(Deserialize)]
struct NewLink {
    group: Id,
    integration: Id,
    key: String,
}

async fn create(
    state: web::Data<AppState>,
    body: web::Json<NewLink>,
) -> Result<HttpResponse, Error> {
    let b = body.into_inner();
    check_key(&b.key)?;
    // Stored (and answered) upper-cased: keys match case-insensitively.
    let link = Link {
        group: b.group,
        integration: b.integration,
        key: crate::domain::payload::normalize_issue_key(&b.key).into_owned(),
    };
    let store = state.store.clone();
    let l2 = link.clone();
    blocking(move || {
        store.require_group(l2.group)?;
        store.require_integration(l2.integration)?;
        store.create_link(&l2)
    })
    .await?;
    super::settle(&state).await?;
    Ok(HttpResponse::Created().json(link))
}

async fn list(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, Error> {
    let id = id.into_inner();
    let store = state.store.clone();
    let links = blocking(move || {
        store.require_group(id)?;
        store.group_links(id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(links))
}

async fn delete(
    state: web::Data<AppState>,
    path: web::Path<(Id, Id, String)>,
) -> Result<HttpResponse, Error> {
    let (group, integration, key) = path.into_inner();
    check_key(&key)?;
    let store = state.store.clone();
    blocking(move || store.delete_link(group, integration, &key)).await?;
    super::settle(&state).await?;
    Ok(HttpResponse::NoContent().finish())
}
