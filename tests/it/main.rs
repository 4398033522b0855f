//! Integration tests: the real daemon, a real socket, real HTTP.

mod admin_contract;
mod batching;
mod cache;
mod common;
mod compact;
mod counts_persist;
mod ctl;
mod daemon_config;
mod deliveries;
mod directory;
mod group_status;
mod ids;
mod import_links;
mod inbound_audit;
mod inbound_hostile;
mod jira_connect;
mod jira_connect_failures;
mod ops;
mod project_delete;
mod projects;
mod smoke;
mod snapshot_shutdown;
mod stand_firm;
mod statuses;
mod sync;
mod webhook;
