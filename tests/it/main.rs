//! Integration tests: the real daemon, a real socket, real HTTP.

mod common;
mod ctl;
mod fake_jira;
mod jira_connect;
mod jira_connect_failures;
mod smoke;
