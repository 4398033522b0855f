//! Both listeners: the public one (webhooks, OAuth callback, health, metrics)
//! on TCP and the admin API on a Unix socket. Handlers stay thin: they parse,
//! call an actor or the store (off the async workers), and map errors once
//! through [`error::Error`].

pub mod admin;
pub mod error;
pub mod oauth_callback;
pub mod public;
pub mod request_log;
pub mod webhook;

use crate::actors::Actors;
use crate::config::Config;
use crate::lifecycle::Lifecycle;
use crate::metrics::Metrics;
use crate::store::Store;
use std::sync::Arc;
use std::time::Instant;

/// Shared state of both HTTP apps.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub actors: Actors,
    pub metrics: Metrics,
    pub log: slog::Logger,
    pub started: Instant,
    pub lifecycle: Lifecycle,
    /// Bounds the webhook deliveries in flight (overload → 503).
    pub slots: Arc<webhook::Slots>,
    /// Emails of Jira accounts that deliveries hide (SPEC section 11).
    pub lookup: Arc<crate::actors::jira::lookup::UserLookup>,
}

/// A short random request id for the per-request log context.
pub fn request_id() -> String {
    use rand::Rng;
    let v: u64 = rand::thread_rng().gen();
    format!("{v:016x}")
}

/// Milliseconds since the epoch as an RFC 3339 timestamp: every date the API
/// returns has this form.
pub fn ts(ms: i64) -> String {
    crate::domain::rfc3339(ms)
}
