//! Organizations, users, teams and team members.

use crate::domain::limits::{check_text, NAME_MAX};
use crate::domain::{Email, Id};
use crate::http::admin::durable_write;
use crate::http::error::{blocking, Error};
use crate::http::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/orgs", web::post().to(create_org))
        .route("/v1/orgs", web::get().to(list_orgs))
        .route("/v1/orgs/{id}", web::get().to(get_org))
        .route("/v1/users", web::post().to(create_user))
        .route("/v1/users/{id}", web::get().to(get_user))
        .route("/v1/teams", web::post().to(create_team))
        .route("/v1/teams/{id}", web::get().to(get_team))
        .route("/v1/teams/{id}/members", web::post().to(add_member))
        .route("/v1/teams/{id}/members", web::get().to(list_members))
        .route(
            "/v1/teams/{id}/members/{user}",
            web::delete().to(remove_member),
        );
}

/// Slugs of organizations and teams: `^[a-z0-9_-]+$`, at most 50 characters.
pub fn check_slug(field: &str, slug: &str) -> Result<(), Error> {
    if slug.is_empty() || slug.len() > 50 {
        return Err(Error::bad(format!("`{field}` must be 1 to 50 characters")));
    }
    if !slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(Error::bad(format!(
            "`{field}` may hold only a-z, 0-9, `-` and `_`"
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
struct NewOrg {
    slug: String,
    name: String,
}

async fn create_org(
    state: web::Data<AppState>,
    body: web::Json<NewOrg>,
) -> Result<HttpResponse, Error> {
    let NewOrg { slug, name } = body.into_inner();
    check_slug("slug", &slug)?;
    check_text("name", &name, NAME_MAX)?;
    let org = durable_write(&state, move |store| store.create_org(&slug, &name)).await?;
    Ok(HttpResponse::Created().json(org))
}

async fn list_orgs(state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    let store = state.store.clone();
    Ok(HttpResponse::Ok().json(blocking(move || store.list_orgs()).await?))
}

async fn get_org(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, Error> {
    let id = id.into_inner();
    let store = state.store.clone();
    match blocking(move || store.get_org(id)).await? {
        Some(o) => Ok(HttpResponse::Ok().json(o)),
        None => Err(Error::not_found(format!("organization {id}"))),
    }
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    #[serde(default)]
    emails: Vec<Email>,
}

async fn create_user(
    state: web::Data<AppState>,
    body: web::Json<NewUser>,
) -> Result<HttpResponse, Error> {
    let NewUser { name, emails } = body.into_inner();
    check_text("name", &name, NAME_MAX)?;
    for e in &emails {
        let at = e.email.find('@');
        if e.email.len() > 254 || !matches!(at, Some(i) if i > 0 && i + 1 < e.email.len()) {
            return Err(Error::bad(format!(
                "`emails`: `{}` is not an email address",
                e.email
            )));
        }
    }
    let user = durable_write(&state, move |store| store.create_user(&name, &emails)).await?;
    Ok(HttpResponse::Created().json(user))
}

async fn get_user(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, Error> {
    let id = id.into_inner();
    let store = state.store.clone();
    match blocking(move || store.get_user(id)).await? {
        Some(u) => Ok(HttpResponse::Ok().json(u)),
        None => Err(Error::not_found(format!("user {id}"))),
    }
}

#[derive(Deserialize)]
struct NewTeam {
    org: Id,
    slug: String,
    name: String,
}

async fn create_team(
    state: web::Data<AppState>,
    body: web::Json<NewTeam>,
) -> Result<HttpResponse, Error> {
    let NewTeam { org, slug, name } = body.into_inner();
    check_slug("slug", &slug)?;
    check_text("name", &name, NAME_MAX)?;
    let team = durable_write(&state, move |store| store.create_team(org, &slug, &name)).await?;
    Ok(HttpResponse::Created().json(team))
}

async fn get_team(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, Error> {
    let id = id.into_inner();
    let store = state.store.clone();
    match blocking(move || store.get_team(id)).await? {
        Some(t) => Ok(HttpResponse::Ok().json(t)),
        None => Err(Error::not_found(format!("team {id}"))),
    }
}

#[derive(Deserialize)]
struct NewMember {
    user: Id,
}

async fn add_member(
    state: web::Data<AppState>,
    id: web::Path<Id>,
    body: web::Json<NewMember>,
) -> Result<HttpResponse, Error> {
    let (team, user) = (id.into_inner(), body.user);
    durable_write(&state, move |store| store.add_team_member(team, user)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_members(
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, Error> {
    let team = id.into_inner();
    let store = state.store.clone();
    let members = blocking(move || {
        if store.get_team(team)?.is_none() {
            return Err(crate::store::StoreError::NotFound(format!("team {team}")));
        }
        store.team_members(team)
    })
    .await?;
    Ok(HttpResponse::Ok().json(members))
}

async fn remove_member(
    state: web::Data<AppState>,
    path: web::Path<(Id, Id)>,
) -> Result<HttpResponse, Error> {
    let (team, user) = path.into_inner();
    durable_write(&state, move |store| store.remove_team_member(team, user)).await?;
    Ok(HttpResponse::NoContent().finish())
}
