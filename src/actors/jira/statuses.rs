//! The Jira statuses of an integration and its status mappings (SPEC
//! section 10), a service of the `JiraActor`: read from Jira with the
//! integration's access token, kept in the store.

use super::handshake::{blocking, JiraResult};
use crate::actors::Deps;
use crate::domain::{Id, Integration, IntegrationStatus, StatusList, StatusMapping};
use crate::error::Error;
use crate::jira::client::{JiraClient, JiraError};
use slog::{info, warn};

/// A client for an active integration (409 otherwise).
fn client(deps: &Deps, i: &Integration) -> JiraResult<JiraClient> {
    if i.status != IntegrationStatus::Active || i.access_token.is_empty() {
        return Err(Error::Conflict(format!(
            "integration {} is not connected to Jira (it needs an access token and the active \
             status)",
            i.id
        )));
    }
    super::handshake::client_for(deps, i)
}

async fn integration(deps: &Deps, id: Id) -> JiraResult<Integration> {
    let store = deps.store.clone();
    blocking(move || store.require_integration(id)).await
}

/// When Jira refuses the credentials (401 / 403), the integration's
/// `last_error` says so (SPEC section 10).
async fn note_refusal(deps: &Deps, id: Id, e: &JiraError) {
    if !matches!(e.status(), Some(401 | 403)) {
        return;
    }
    let (store, msg) = (deps.store.clone(), e.to_string());
    let _ = blocking(move || {
        if let Some(mut i) = store.get_integration(id)? {
            i.last_error = Some(msg);
            store.update_integration(&i)?;
        }
        Ok::<_, Error>(())
    })
    .await;
}

/// Read the integration's statuses from Jira again and keep them.
pub async fn refresh(deps: Deps, id: Id) -> JiraResult<StatusList> {
    let i = integration(&deps, id).await?;
    let c = client(&deps, &i)?;
    let statuses = match c.statuses(&i.access_token).await {
        Ok(s) => s,
        Err(e) => {
            warn!(deps.log, "jira-statuses-failed"; "integration" => id,
                  "jira_status" => e.status(), "error" => e.to_string());
            note_refusal(&deps, id, &e).await;
            return Err(e.into());
        }
    };
    let list = StatusList {
        statuses,
        read_at: crate::domain::now_ms(),
    };
    let (store, l2) = (deps.store.clone(), list.clone());
    blocking(move || store.put_statuses(id, &l2)).await?;
    info!(deps.log, "jira-statuses-read"; "integration" => id, "statuses" => list.statuses.len(),
          "done" => list.statuses.iter().filter(|s| s.category == "done").count());
    Ok(list)
}

/// Refresh every active integration's statuses (the periodic refresh;
/// failures are logged and left for the next round).
pub async fn refresh_all(deps: Deps) {
    let store = deps.store.clone();
    let Ok(all) = blocking(move || store.list_integrations()).await else {
        return;
    };
    for i in all {
        if i.status == IntegrationStatus::Active && !i.access_token.is_empty() {
            let _ = refresh(deps.clone(), i.id).await;
        }
    }
}

/// A status id as Jira sends it: a string, or a number.
pub fn status_id(field: &str, v: Option<&serde_json::Value>) -> Result<String, Error> {
    match v {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() && s.len() <= 64 => {
            Ok(s.trim().to_string())
        }
        Some(serde_json::Value::Number(n)) if n.is_u64() => Ok(n.to_string()),
        None | Some(serde_json::Value::Null) => Err(Error::bad(format!("`{field}` is missing"))),
        Some(_) => Err(Error::bad(format!(
            "`{field}` must be a Jira status id (a string, or a number)"
        ))),
    }
}

/// Create or replace the status mapping of a Jira project: the project must
/// exist in Jira and both statuses must be among the integration's Jira
/// statuses (read now when they never were).
pub async fn put_mapping(deps: Deps, m: StatusMapping) -> JiraResult<StatusMapping> {
    let i = integration(&deps, m.integration).await?;
    let c = client(&deps, &i)?;
    let store = deps.store.clone();
    let list = match blocking(move || store.statuses(m.integration)).await? {
        Some(l) => l,
        None => refresh(deps.clone(), m.integration).await?,
    };
    for (field, id) in [
        ("on_resolve", &m.on_resolve),
        ("on_unresolve", &m.on_unresolve),
    ] {
        if list.is_done(id).is_none() {
            return Err(Error::bad(format!(
                "`{field}` names status {id}, which Jira does not have (POST \
                 /v1/integrations/{}/statuses/refresh reads the list again)",
                m.integration
            )));
        }
    }
    match c.project_exists(&i.access_token, &m.jira_project).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(Error::bad(format!(
                "unknown Jira project {}",
                m.jira_project
            )))
        }
        Err(e) => {
            note_refusal(&deps, m.integration, &e).await;
            return Err(e.into());
        }
    }
    let (store, m2) = (deps.store.clone(), m.clone());
    blocking(move || store.put_status_mapping(&m2)).await?;
    info!(deps.log, "status-mapping-saved"; "integration" => m.integration,
          "jira_project" => &m.jira_project, "on_resolve" => &m.on_resolve,
          "on_unresolve" => &m.on_unresolve);
    Ok(m)
}
