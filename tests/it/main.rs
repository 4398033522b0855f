//! Integration tests: the real daemon, a real socket, real HTTP.

mod common;
mod smoke;
mod fake_jira;
mod jira_connect;
