//! Admin API routes (HTTP/1.1 + JSON over the Unix socket), one module per
//! resource. Each module exposes `configure`.

pub mod cache;
pub mod deliveries;
pub mod directory;
pub mod groups;
pub mod ids;
pub mod integrations;
pub mod jira_connect;
pub mod jira_users;
pub mod links;
pub mod outbox;
pub mod projects;
pub mod reconcile;
pub mod status;
pub mod statuses;

use crate::http::error::{blocking, Error};
use crate::http::AppState;
use crate::store::{Store, StoreError};
use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    status::configure(cfg);
    directory::configure(cfg);
    projects::configure(cfg);
    groups::configure(cfg);
    integrations::configure(cfg);
    statuses::configure(cfg);
    jira_connect::configure(cfg);
    jira_users::configure(cfg);
    reconcile::configure(cfg);
    links::configure(cfg);
    outbox::configure(cfg);
    cache::configure(cfg);
    deliveries::configure(cfg);
    ids::configure(cfg);
}

/// Wait until every write made so far is durable: the group commit of
/// `storage.durability` (`sync`: on disk; `async`: at the next periodic flush).
pub async fn settle(state: &AppState) -> Result<(), Error> {
    state
        .actors
        .commit
        .settle()
        .await
        .map_err(|e| Error::Unavailable(e.to_string()))
}

/// Run an admin write off the async workers, then [`settle`] it, so an
/// acknowledged admin write survives a crash (kill -9, power loss) and shares
/// the flush with concurrent webhook writes instead of forcing its own.
pub async fn durable_write<T, F>(state: &AppState, f: F) -> Result<T, Error>
where
    F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    let store = state.store.clone();
    let v = blocking(move || f(&store)).await?;
    settle(state).await?;
    Ok(v)
}
