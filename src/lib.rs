//! synclink: keeps the assignees of an error tracker's issue groups in sync
//! with Jira Server / Data Center. See README.md and docs/API.md.

pub mod actors;
pub mod alloc;
pub mod cli;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod domain;
pub mod error;
pub mod failpoint;
pub mod http;
pub mod jira;
pub mod lifecycle;
pub mod logging;
pub mod metrics;
pub mod store;
#[cfg(test)]
mod testing;
