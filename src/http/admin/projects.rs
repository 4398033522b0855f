//! Projects. (Minimal placeholder: the foundation work replaces creation with
//! the ProjectActor path: slug rules, snowflake IDs, cascading delete.)

use crate::domain::{Id, Project};
use crate::http::error::{blocking, ApiError};
use crate::http::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/projects", web::post().to(create))
        .route("/v1/projects/{id}", web::get().to(get));
}

#[derive(Deserialize)]
struct NewProject {
    org: Id,
    name: String,
    slug: Option<String>,
    #[serde(default)]
    teams: Vec<Id>,
}

async fn create(
    state: web::Data<AppState>,
    body: web::Json<NewProject>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let store = state.store.clone();
    let p = blocking(move || {
        let id = store.next_seq("projects")?;
        let p = Project {
            id,
            org: b.org,
            slug: b.slug.unwrap_or_else(|| format!("p{id}")),
            name: b.name,
            teams: b.teams,
            date_added: crate::domain::now_ms(),
        };
        store.insert_project(&p)?;
        Ok(p)
    })
    .await?;
    Ok(HttpResponse::Created().json(p))
}

async fn get(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let store = state.store.clone();
    match blocking(move || store.get_project(id)).await? {
        Some(p) => Ok(HttpResponse::Ok().json(p)),
        None => Err(ApiError::not_found(format!("project {id}"))),
    }
}
