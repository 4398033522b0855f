//! An integration's Jira statuses and its status mappings (SPEC section 10):
//! `GET /v1/integrations/{id}/statuses`, `POST .../statuses/refresh`,
//! `PUT|DELETE .../status-mappings/{jira_project}`, `GET .../status-mappings`.
//! Reading Jira goes through the `JiraActor`.

use crate::actors::jira::statuses::status_id;
use crate::actors::jira::{PutStatusMapping, RefreshStatuses};
use crate::domain::{Id, JiraStatus, StatusMapping};
use crate::http::error::{blocking, Error};
use crate::http::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/integrations/{id}/statuses", web::get().to(list))
        .route(
            "/v1/integrations/{id}/statuses/refresh",
            web::post().to(refresh),
        )
        .route(
            "/v1/integrations/{id}/status-mappings",
            web::get().to(mappings),
        )
        .route(
            "/v1/integrations/{id}/status-mappings/{jira_project}",
            web::put().to(put_mapping),
        )
        .route(
            "/v1/integrations/{id}/status-mappings/{jira_project}",
            web::delete().to(delete_mapping),
        );
}

/// The Jira statuses known (empty until they are read).
async fn list(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, Error> {
    let id = id.into_inner();
    super::integrations::load(&state, id).await?;
    let store = state.store.clone();
    let list = blocking(move || store.statuses(id)).await?;
    let statuses: Vec<JiraStatus> = list.map(|l| l.statuses).unwrap_or_default();
    Ok(HttpResponse::Ok().json(statuses))
}

/// Read them again from Jira (502 when Jira fails).
async fn refresh(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, Error> {
    let list = state
        .actors
        .jira
        .send(RefreshStatuses(id.into_inner()))
        .await??;
    Ok(HttpResponse::Ok().json(list.statuses))
}

async fn mappings(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, Error> {
    let id = id.into_inner();
    super::integrations::load(&state, id).await?;
    let store = state.store.clone();
    Ok(HttpResponse::Ok().json(blocking(move || store.status_mappings(id)).await?))
}

#[derive(Deserialize)]
struct MappingBody {
    on_resolve: Option<serde_json::Value>,
    on_unresolve: Option<serde_json::Value>,
}

/// A Jira project key: 1 to 255 characters without whitespace, control
/// characters or `/`; kept upper-cased, as Jira's are.
fn project_key(key: &str) -> Result<String, Error> {
    crate::domain::payload::check_issue_key(key)
        .map_err(|e| Error::bad(format!("the Jira project key {e}")))?;
    Ok(key.to_ascii_uppercase())
}

async fn put_mapping(
    state: web::Data<AppState>,
    path: web::Path<(Id, String)>,
    body: web::Json<MappingBody>,
) -> Result<HttpResponse, Error> {
    let (integration, key) = path.into_inner();
    let b = body.into_inner();
    let m = StatusMapping {
        integration,
        jira_project: project_key(&key)?,
        on_resolve: status_id("on_resolve", b.on_resolve.as_ref())?,
        on_unresolve: status_id("on_unresolve", b.on_unresolve.as_ref())?,
    };
    let m = state.actors.jira.send(PutStatusMapping(m)).await??;
    super::settle(&state).await?;
    Ok(HttpResponse::Ok().json(m))
}

async fn delete_mapping(
    state: web::Data<AppState>,
    path: web::Path<(Id, String)>,
) -> Result<HttpResponse, Error> {
    let (integration, key) = path.into_inner();
    let key = project_key(&key)?;
    super::integrations::load(&state, integration).await?;
    let store = state.store.clone();
    blocking(move || store.delete_status_mapping(integration, &key)).await?;
    super::settle(&state).await?;
    Ok(HttpResponse::NoContent().finish())
}
