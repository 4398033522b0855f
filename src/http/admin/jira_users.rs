//! Jira user links (SPEC section 11): `PUT|DELETE
//! /v1/integrations/{id}/jira-users/{jira_user}`, `GET
//! /v1/integrations/{id}/jira-users`. Who a Jira account is here when Jira
//! hides its email; the webhook and outbound assign use them first.

use super::durable_write;
use crate::domain::{check_jira_user, Id, JiraUserLink};
use crate::http::error::{blocking, Error};
use crate::http::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/integrations/{id}/jira-users", web::get().to(list))
        .route(
            "/v1/integrations/{id}/jira-users/{jira_user}",
            web::put().to(put),
        )
        .route(
            "/v1/integrations/{id}/jira-users/{jira_user}",
            web::delete().to(delete),
        );
}

fn checked(name: &str) -> Result<(), Error> {
    check_jira_user(name).map_err(|e| Error::bad(format!("the Jira user `{name}` {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    user: Id,
}

async fn put(
    state: web::Data<AppState>,
    path: web::Path<(Id, String)>,
    body: web::Json<Body>,
) -> Result<HttpResponse, Error> {
    let (integration, jira_user) = path.into_inner();
    checked(&jira_user)?;
    let link = JiraUserLink {
        integration,
        jira_user,
        user: body.into_inner().user,
    };
    let l2 = link.clone();
    durable_write(&state, move |s| s.put_jira_user(&l2)).await?;
    Ok(HttpResponse::Ok().json(link))
}

async fn list(state: web::Data<AppState>, id: web::Path<Id>) -> Result<HttpResponse, Error> {
    let id = id.into_inner();
    let store = state.store.clone();
    let links = blocking(move || {
        store.require_integration(id)?;
        store.jira_users(id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(links))
}

async fn delete(
    state: web::Data<AppState>,
    path: web::Path<(Id, String)>,
) -> Result<HttpResponse, Error> {
    let (integration, jira_user) = path.into_inner();
    checked(&jira_user)?;
    durable_write(&state, move |s| s.delete_jira_user(integration, &jira_user)).await?;
    Ok(HttpResponse::NoContent().finish())
}
