//! Groups: create, get (with assignee), activity, manual assign/deassign.

use crate::domain::limits::{check_text, TITLE_MAX};
use crate::domain::{GroupStatus, Id};
use crate::http::error::{blocking, Error};
use crate::http::{ts, AppState};
use crate::store::StoreError;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/groups", web::post().to(create))
        .route("/v1/groups/{id}", web::get().to(get))
        .route("/v1/groups/{id}/activity", web::get().to(activity))
        .route("/v1/groups/{id}/assignee", web::put().to(assign))
        .route("/v1/groups/{id}/assignee", web::delete().to(deassign))
        .route("/v1/groups/{id}/status", web::put().to(set_status));
}

#[derive(Deserialize)]
struct NewGroup {
    project: Id,
    title: String,
}

async fn create(
    state: web::Data<AppState>,
    body: web::Json<NewGroup>,
) -> Result<HttpResponse, Error> {
    let NewGroup { project, title } = body.into_inner();
    check_text("title", &title, TITLE_MAX)?;
    let g = crate::http::admin::durable_write(&state, move |store| {
        let g = store.create_group(project, &title, crate::domain::now_ms())?;
        group_view(store, g.id)
    })
    .await?;
    Ok(HttpResponse::Created().json(g))
}

/// `{id, project, title, date_added, status, resolved_at, assignee: null |
/// {user, email, date_added}}`
pub fn group_view(store: &crate::store::Store, id: Id) -> Result<serde_json::Value, StoreError> {
    let g = store
        .get_group(id)?
        .ok_or_else(|| StoreError::NotFound(format!("group {id}")))?;
    let assignee = match store.assignee_with_email(id)? {
        Some((a, email)) => {
            json!({"user": a.user, "email": email, "date_added": ts(a.date_added)})
        }
        None => serde_json::Value::Null,
    };
    let status = store.get_status(id)?;
    Ok(json!({
        "id": g.id,
        "project": g.project,
        "title": g.title,
        "date_added": ts(g.date_added),
        "status": status.status.as_str(),
        "resolved_at": status.resolved_at.map(ts),
        "assignee": assignee,
    }))
}

async fn get(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, Error> {
    let id = id.into_inner();
    let store = state.store.clone();
    Ok(HttpResponse::Ok().json(blocking(move || group_view(&store, id)).await?))
}

async fn activity(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, Error> {
    let id = id.into_inner();
    let store = state.store.clone();
    let list = blocking(move || {
        if store.get_group(id)?.is_none() {
            return Err(StoreError::NotFound(format!("group {id}")));
        }
        store.list_activity(id)
    })
    .await?;
    let out: Vec<serde_json::Value> = list
        .into_iter()
        .map(|a| {
            json!({
                "id": a.id,
                "group": a.group,
                "project": a.project,
                "type": a.kind,
                "user": a.user,
                "data": serde_json::from_str::<serde_json::Value>(&a.data).unwrap_or(serde_json::Value::Null),
                "date_added": ts(a.date_added),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize)]
struct AssignBody {
    user: Id,
}

/// `PUT /v1/groups/{id}/assignee {user}` and `DELETE`: manual assign and
/// deassign through the `SyncActor`, with the same rules as sync (the user
/// must exist and be a member of one of the project's teams). Answers the
/// group view once the write is durable.
async fn manual(state: &AppState, group: Id, user: Option<Id>) -> Result<HttpResponse, Error> {
    let r = state
        .actors
        .sync
        .send(crate::actors::sync::ManualAssign { group, user })
        .await??;
    answer_durable(state, group, r.ticket).await
}

/// The group view, once the write of `ticket` is durable.
async fn answer_durable(
    state: &AppState,
    group: Id,
    ticket: crate::actors::flusher::Ticket,
) -> Result<HttpResponse, Error> {
    state
        .actors
        .commit
        .wait(ticket)
        .await
        .map_err(|e| Error::Unavailable(e.to_string()))?;
    let store = state.store.clone();
    Ok(HttpResponse::Ok().json(blocking(move || group_view(&store, group)).await?))
}

async fn assign(
    state: web::Data<AppState>,
    id: web::Path<Id>,
    body: web::Json<AssignBody>,
) -> Result<HttpResponse, Error> {
    manual(&state, id.into_inner(), Some(body.user)).await
}

async fn deassign(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, Error> {
    manual(&state, id.into_inner(), None).await
}

#[derive(Deserialize)]
struct StatusBody {
    status: Option<serde_json::Value>,
}

/// `PUT /v1/groups/{id}/status {status: "resolved"|"unresolved"}`: through the
/// `SyncActor` (a `set_resolved` / `set_unresolved` activity when it
/// changed); answers the group view once the write is durable.
async fn set_status(
    state: web::Data<AppState>,
    id: web::Path<Id>,
    body: web::Json<StatusBody>,
) -> Result<HttpResponse, Error> {
    let status = match &body.status {
        Some(serde_json::Value::String(s)) if s == "resolved" => GroupStatus::Resolved,
        Some(serde_json::Value::String(s)) if s == "unresolved" => GroupStatus::Unresolved,
        None => return Err(Error::bad("`status` is missing")),
        Some(other) => {
            let shown = other.to_string();
            return Err(Error::bad(format!(
                "`status` must be \"resolved\" or \"unresolved\", not {}",
                crate::logging::clip(&shown)
            )));
        }
    };
    let group = id.into_inner();
    let r = state
        .actors
        .sync
        .send(crate::actors::sync::ManualStatus { group, status })
        .await??;
    answer_durable(&state, group, r.ticket).await
}
