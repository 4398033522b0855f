//! Plain types and pure rules: no I/O here.

pub mod integration;
pub mod limits;
pub mod outbox;
pub mod payload;
pub mod plan;
pub mod reconcile;
pub mod recent;
pub mod slug;
pub mod snowflake;
pub mod types;

pub use recent::RecentIds;
pub use types::*;

/// Current time as milliseconds since the UNIX epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
