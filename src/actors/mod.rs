//! The actor system: one file per actor with its messages.
//!
//! Wiring is explicit: [`supervisor::start_all`] starts every actor in order
//! and returns [`Actors`], a struct of typed addresses that the HTTP layer
//! receives. No actor is found through a global registry.

pub mod cache;
pub mod flusher;
pub mod id;
pub mod jira;
pub mod outbox;
pub mod project;
pub mod reconcile;
pub mod retention;
pub mod supervisor;
pub mod sync;
pub mod webhook;

use actix::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Everything the actors are built from (handed to each at start).
#[derive(Clone)]
pub struct Deps {
    pub config: std::sync::Arc<crate::config::Config>,
    pub store: crate::store::Store,
    pub metrics: crate::metrics::Metrics,
    pub log: slog::Logger,
}

/// Typed addresses of every actor, cloned into the HTTP apps.
#[derive(Clone)]
pub struct Actors {
    pub supervisor: Addr<supervisor::Supervisor>,
    pub ids: Addr<id::IdActor>,
    pub cache: Addr<cache::CacheActor>,
    pub projects: Addr<project::ProjectActor>,
    pub sync: Addr<sync::SyncActor>,
    /// Webhook deliveries to the SyncActor, applied in batches.
    pub sync_queue: sync::SyncQueue,
    /// One `WebhookActor` per HTTP worker, started by the worker.
    pub webhook: webhook::WebhookPool,
    pub jira: Addr<jira::JiraActor>,
    /// Pushes local changes to Jira from the durable outbox.
    pub outbox: Addr<outbox::OutboxActor>,
    /// Reads back from Jira what its webhooks never delivered.
    pub reconcile: Addr<reconcile::ReconcileActor>,
    /// Removes what is older than the operator keeps (activities).
    pub retention: Addr<retention::RetentionActor>,
    /// The email of a Jira account whose email Jira hides (webhook and
    /// reconcile).
    pub lookup: std::sync::Arc<jira::lookup::UserLookup>,
    /// Group commit: tickets from the SyncActor, awaited by HTTP handlers.
    pub commit: flusher::Commit,
}

/// Run a store call on the blocking pool (sled blocks: never on an async
/// worker). A panic in it is an internal error.
pub async fn blocking<T: Send + 'static, E: Into<crate::error::Error> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, crate::error::Error> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(Into::into),
        Err(e) => Err(crate::error::Error::Internal(format!(
            "blocking store call failed: {e}"
        ))),
    }
}

/// Liveness probe every actor answers; the watchdog and `/v1/status` use it.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Ping;

/// A handler panicked; the actor was restarted (or is being restarted), or,
/// for work done outside an actor, the work was abandoned.
#[derive(Debug, Clone, thiserror::Error)]
#[error("internal error in {actor}: it panicked and was contained")]
pub struct ActorPanic {
    pub actor: &'static str,
}

/// A panic is a bug: `Internal` (the HTTP layer decides what the caller sees).
impl From<ActorPanic> for crate::error::Error {
    fn from(e: ActorPanic) -> Self {
        crate::error::Error::Internal(e.to_string())
    }
}

/// An actor that does not answer (stopped, or its mailbox closed).
impl From<MailboxError> for crate::error::Error {
    fn from(e: MailboxError) -> Self {
        crate::error::Error::Unavailable(format!("actor unavailable: {e}"))
    }
}

/// After a caught panic: log `"actor-panic"` with its message, count the
/// restart, and stop the actor so it is rebuilt.
pub fn contain_panic<C: ActorContext>(
    actor: &'static str,
    ctx: &mut C,
    log: &slog::Logger,
    metrics: &crate::metrics::Metrics,
    payload: Box<dyn std::any::Any + Send>,
) -> ActorPanic {
    let caught = report_panic(actor, log, metrics, payload);
    ctx.stop();
    caught
}

/// A caught panic, logged (`"actor-panic"` with its message) and counted;
/// for work that runs outside an actor as well as for [`contain_panic`].
pub fn report_panic(
    actor: &'static str,
    log: &slog::Logger,
    metrics: &crate::metrics::Metrics,
    payload: Box<dyn std::any::Any + Send>,
) -> ActorPanic {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    slog::crit!(log, "actor-panic"; "actor" => actor, "panic" => what);
    metrics.actor_restarts.with_label_values(&[actor]).inc();
    ActorPanic { actor }
}

/// Run a handler body, catching a panic at the actor boundary.
///
/// actix's `Supervisor` restarts an actor that *stops*, not one that panics
/// (a panic would silently kill it and later sends fail with `MailboxError`).
/// So on a panic we log `"actor-panic"`, count the restart, and stop the
/// actor: a `SyncContext` actor is rebuilt at once from its factory, a
/// supervised `Context` actor by its `Supervisor`. The caller gets an
/// [`ActorPanic`] error instead of a hung or dropped request.
pub fn guarded<C: ActorContext, R>(
    actor: &'static str,
    ctx: &mut C,
    log: &slog::Logger,
    metrics: &crate::metrics::Metrics,
    f: impl FnOnce() -> R,
) -> Result<R, ActorPanic> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Ok(r),
        Err(payload) => Err(contain_panic(actor, ctx, log, metrics, payload)),
    }
}
