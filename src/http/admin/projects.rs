//! Projects: save and delete go through the `ProjectActor` (slug rules,
//! snowflake IDs, cascading delete); reads go to the store directly.

use crate::actors::project::{CreateProject, DeleteProject};
use crate::domain::limits::{check_text, NAME_MAX, SETTING_TYPE_MAX, SETTING_VALUE_MAX};
use crate::domain::{Id, NotificationSetting, Project};
use crate::http::admin::durable_write;
use crate::http::error::{blocking, Error};
use crate::http::{ts, AppState};
use crate::store::StoreError;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/projects", web::post().to(create))
        .route("/v1/projects", web::get().to(list))
        .route("/v1/projects/{id}", web::get().to(get))
        .route("/v1/projects/{id}", web::delete().to(delete))
        .route(
            "/v1/projects/{id}/notification-settings",
            web::get().to(list_settings),
        )
        .route(
            "/v1/projects/{id}/notification-settings/{user}",
            web::put().to(put_setting),
        );
}

/// `{id, org, slug, name, teams, date_added}` with an RFC 3339 date.
pub fn view(p: &Project) -> serde_json::Value {
    json!({
        "id": p.id,
        "org": p.org,
        "slug": p.slug,
        "name": p.name,
        "teams": p.teams,
        "date_added": ts(p.date_added),
    })
}

#[derive(Deserialize)]
struct NewProject {
    org: Id,
    name: String,
    #[serde(default)]
    slug: Option<String>,
    #[serde(default)]
    teams: Option<Vec<Id>>,
}

async fn create(
    state: web::Data<AppState>,
    body: web::Json<NewProject>,
) -> Result<HttpResponse, Error> {
    let b = body.into_inner();
    check_text("name", &b.name, NAME_MAX)?;
    let msg = CreateProject {
        org: b.org,
        name: b.name,
        slug: b.slug,
        teams: b.teams.unwrap_or_default(),
    };
    let p = state.actors.projects.send(msg).await??;
    Ok(HttpResponse::Created().json(view(&p)))
}

#[derive(Deserialize)]
struct ListQuery {
    org: Option<Id>,
}

async fn list(state: web::Data<AppState>, q: web::Query<ListQuery>) -> Result<HttpResponse, Error> {
    let org = q.org;
    let store = state.store.clone();
    let list = blocking(move || {
        if let Some(org) = org {
            if store.get_org(org)?.is_none() {
                return Err(StoreError::NotFound(format!("organization {org}")));
            }
        }
        store.list_projects(org)
    })
    .await?;
    Ok(HttpResponse::Ok().json(list.iter().map(view).collect::<Vec<_>>()))
}

async fn get(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, Error> {
    let id = id.into_inner();
    let store = state.store.clone();
    match blocking(move || store.get_project(id)).await? {
        Some(p) => Ok(HttpResponse::Ok().json(view(&p))),
        None => Err(Error::not_found(format!("project {id}"))),
    }
}

async fn delete(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, Error> {
    let counts = state
        .actors
        .projects
        .send(DeleteProject(id.into_inner()))
        .await??;
    Ok(HttpResponse::Ok().json(json!({ "deleted": counts })))
}

#[derive(Deserialize)]
struct SettingBody {
    #[serde(rename = "type")]
    kind: serde_json::Value,
    value: serde_json::Value,
}

/// Marks a stored setting field that was a JSON number or boolean (kept as
/// its JSON text after this byte), so the API answers the type it was given.
const NON_STRING: char = '\u{1}';

/// `type` and `value` are JSON scalars: a string (the usual `"workflow"`,
/// `"always"`) is stored as is; a number or a boolean (the reference
/// system's enum values, `40`, `20`) keeps its JSON type.
fn setting_field(field: &str, v: serde_json::Value, max: usize) -> Result<String, Error> {
    match v {
        serde_json::Value::String(s) => {
            check_text(field, &s, max)?;
            if s.chars().any(char::is_control) {
                return Err(Error::bad(format!(
                    "`{field}` must not hold control characters"
                )));
            }
            Ok(s)
        }
        serde_json::Value::Number(_) | serde_json::Value::Bool(_) => Ok(format!("{NON_STRING}{v}")),
        serde_json::Value::Null => Err(Error::bad(format!("`{field}` must not be null"))),
        _ => Err(Error::bad(format!(
            "`{field}` must be a string, a number or a boolean"
        ))),
    }
}

fn setting_value(stored: &str) -> serde_json::Value {
    match stored.strip_prefix(NON_STRING) {
        Some(text) => serde_json::from_str(text).unwrap_or_else(|_| json!(stored)),
        None => json!(stored),
    }
}

/// `{project, user, type, value}`.
fn setting_view(s: &NotificationSetting) -> serde_json::Value {
    json!({
        "project": s.project,
        "user": s.user,
        "type": setting_value(&s.kind),
        "value": setting_value(&s.value),
    })
}

async fn put_setting(
    state: web::Data<AppState>,
    path: web::Path<(Id, Id)>,
    body: web::Json<SettingBody>,
) -> Result<HttpResponse, Error> {
    let (project, user) = path.into_inner();
    let SettingBody { kind, value } = body.into_inner();
    let kind = setting_field("type", kind, SETTING_TYPE_MAX)?;
    let value = setting_field("value", value, SETTING_VALUE_MAX)?;
    let s = NotificationSetting {
        project,
        user,
        kind,
        value,
    };
    durable_write(&state, move |store| store.put_notification_setting(&s)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_settings(
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, Error> {
    let project = id.into_inner();
    let store = state.store.clone();
    let list = blocking(move || {
        if store.get_project(project)?.is_none() {
            return Err(StoreError::NotFound(format!("project {project}")));
        }
        store.list_notification_settings(project)
    })
    .await?;
    Ok(HttpResponse::Ok().json(list.iter().map(setting_view).collect::<Vec<_>>()))
}
