//! Plain types and pure rules: no I/O here.

pub mod integration;
pub mod limits;
pub mod outbox;
pub mod payload;
pub mod plan;
pub mod recent;
pub mod reconcile;
pub mod slug;
pub mod snowflake;
pub mod types;

pub use recent::RecentIds;
pub use types::*;

/// Current time as milliseconds since the UNIX epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Milliseconds since the epoch as an RFC 3339 timestamp (UTC, ms): every
/// date the API returns and the logs show has this form.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
