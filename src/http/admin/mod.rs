//! Admin API routes (HTTP/1.1 + JSON over the Unix socket), one module per
//! resource. Each module exposes `configure`.

pub mod cache;
pub mod deliveries;
pub mod directory;
pub mod groups;
pub mod ids;
pub mod integrations;
pub mod jira_connect;
pub mod links;
pub mod projects;
pub mod status;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    status::configure(cfg);
    directory::configure(cfg);
    projects::configure(cfg);
    groups::configure(cfg);
    integrations::configure(cfg);
    jira_connect::configure(cfg);
    links::configure(cfg);
    cache::configure(cfg);
    deliveries::configure(cfg);
    ids::configure(cfg);
}
