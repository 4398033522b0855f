//! Integration tests: the real daemon, a real socket, real HTTP.

mod common;
mod ctl;
mod daemon_config;
mod directory;
mod fake_jira;
mod ids;
mod jira_connect;
mod jira_connect_failures;
mod project_delete;
mod projects;
mod smoke;
