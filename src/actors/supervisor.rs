//! `Supervisor`: starts the actors in order, reports their health, and
//! drives the shutdown order.
//!
//! - Start: ids, cache, project (which finishes interrupted deletes first),
//!   the group-commit flusher, sync, the webhook pool, jira; then the
//!   supervisor, which adopts their addresses.
//! - Restarts: a handler panic is caught at the actor boundary
//!   (`actors::guarded`), logged as `"actor-panic"`, counted, and the actor
//!   stopped; the actor runtime then builds a new one (a `SyncArbiter`
//!   from its factory, a `Context` actor by actix's `Supervisor`). A new
//!   `SyncActor` drains what its predecessor left queued; a new
//!   `ProjectActor` finishes an interrupted delete before anything else.
//! - Health ([`Health`]): pings every actor within a timeout, for
//!   `/healthz`, `/v1/status` and the systemd watchdog.
//! - Shutdown ([`Shutdown`]), after the listeners stopped: drain the
//!   single writer's queue, settle the last group commit, stop.

use super::{
    cache, flusher, id, jira, outbox, project, reconcile, retention, sync, webhook, Actors, Deps,
    Ping,
};
use actix::prelude::*;
use std::time::Duration;

pub struct Supervisor {
    log: slog::Logger,
    /// The actors it started (filled in right after they start).
    actors: Option<Actors>,
}

impl Actor for Supervisor {
    type Context = Context<Self>;
}

impl Handler<Ping> for Supervisor {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) -> Self::Result {
        // Test-only: a supervisor that never answers (a hung actor), so tests
        // can see the watchdog withhold its pings and /healthz fail.
        if crate::failpoint::hit("hang-supervisor") {
            return Box::pin(std::future::pending());
        }
        Box::pin(async {})
    }
}

/// Hand the supervisor the addresses of what it supervises.
#[derive(Message)]
#[rtype(result = "()")]
struct Adopt(Actors);

impl Handler<Adopt> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: Adopt, _: &mut Context<Self>) {
        self.actors = Some(msg.0);
    }
}

/// Ping every actor; each must answer within `timeout` (the supervisor
/// itself is alive when it answers this).
#[derive(Message)]
#[rtype(result = "Vec<ActorHealth>")]
pub struct Health {
    pub timeout: Duration,
}

impl Handler<Health> for Supervisor {
    type Result = ResponseFuture<Vec<ActorHealth>>;
    fn handle(&mut self, msg: Health, _: &mut Context<Self>) -> Self::Result {
        if crate::failpoint::hit("hang-supervisor") {
            return Box::pin(std::future::pending());
        }
        let actors = self.actors.clone();
        Box::pin(async move {
            let mut out = vec![ActorHealth {
                actor: "supervisor",
                alive: true,
            }];
            if let Some(a) = actors {
                out.extend(a.probe_all(msg.timeout).await);
            }
            out
        })
    }
}

/// The shutdown order, once both listeners have stopped (no new work can
/// come in): let the single writer take everything queued, settle the last
/// group commit (every acknowledged change is on disk), then stop the
/// actors in the reverse of their start order. Answers how many
/// deliveries were still queued when it began.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Shutdown {
    /// How long the queue may take to drain.
    pub within: Duration,
}

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseActFuture<Self, usize>;
    fn handle(&mut self, msg: Shutdown, _: &mut Context<Self>) -> Self::Result {
        let actors = self.actors.clone();
        let log = self.log.clone();
        let fut = async move {
            let Some(a) = actors else { return 0 };
            // Reconcile runs feed the writer: stop them first (each resumes
            // from its cursor at the next start).
            let runs = a.reconcile.send(reconcile::Halt).await.unwrap_or(0);
            let queued = a.sync_queue.len();
            let deadline = tokio::time::Instant::now() + msg.within;
            while !a.sync_queue.is_empty() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let settled = a.commit.settle().await;
            slog::info!(log, "actors-stopping"; "queued" => queued, "reconcile_runs" => runs,
                        "drained" => a.sync_queue.is_empty(), "settled" => settled.is_ok());
            queued
        };
        Box::pin(fut.into_actor(self).map(|queued, act, ctx| {
            // Reverse start order: jira, webhook (per worker, stopped with
            // the HTTP workers), sync, project, cache, ids; then itself.
            act.actors = None;
            ctx.stop();
            queued
        }))
    }
}

/// Start every actor in order (ids, cache, project, sync, webhook, jira) and
/// return their addresses. Must run inside an actix system.
pub fn start_all(deps: &Deps) -> Actors {
    let ids = id::start(deps);
    let (cache, invalidator) = cache::start(deps);
    let projects = project::start(deps, ids.clone(), invalidator.clone());
    let commit = flusher::Commit::start(
        deps.store.clone(),
        deps.metrics.clone(),
        deps.log.new(slog::o!("actor" => "flusher")),
        deps.config.storage.durability,
        Duration::from_millis(deps.config.storage.flush_interval_ms),
    );
    let outbox = outbox::start(deps, commit.clone());
    let (sync, sync_queue) = sync::start(deps, invalidator, commit.clone(), outbox.clone());
    let webhook = webhook::WebhookPool::new(deps);
    let jira = jira::start(deps);
    let lookup = std::sync::Arc::new(jira::lookup::UserLookup::new(
        deps.store.clone(),
        deps.config.clone(),
    ));
    let reconcile = reconcile::start(deps, sync_queue.clone(), lookup.clone());
    let retention = retention::start(deps);
    let supervisor = Supervisor {
        log: deps.log.new(slog::o!("actor" => "supervisor")),
        actors: None,
    }
    .start();
    let actors = Actors {
        supervisor: supervisor.clone(),
        ids,
        cache,
        projects,
        sync,
        sync_queue,
        webhook,
        jira,
        outbox,
        reconcile,
        retention,
        lookup,
        commit,
    };
    supervisor.do_send(Adopt(actors.clone()));
    slog::debug!(supervisor_log(deps), "actors-started");
    actors
}

fn supervisor_log(deps: &Deps) -> slog::Logger {
    deps.log.new(slog::o!("actor" => "supervisor"))
}

/// Health of one actor: its name and whether it answered a ping in time.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ActorHealth {
    pub actor: &'static str,
    pub alive: bool,
}

impl Actors {
    /// Health of every actor, as the supervisor reports it. A supervisor
    /// that does not answer is reported dead, and the others are then
    /// probed directly, so `/v1/status` still tells which one hangs.
    pub async fn health(&self, timeout: Duration) -> Vec<ActorHealth> {
        match self
            .supervisor
            .send(Health { timeout })
            .timeout(timeout * 2)
            .await
        {
            Ok(h) => h,
            Err(_) => {
                let mut out = vec![ActorHealth {
                    actor: "supervisor",
                    alive: false,
                }];
                out.extend(self.probe_all(timeout).await);
                out
            }
        }
    }

    /// Ping every actor but the supervisor.
    async fn probe_all(&self, timeout: Duration) -> Vec<ActorHealth> {
        async fn probe<A>(addr: &Addr<A>, name: &'static str, t: Duration) -> ActorHealth
        where
            A: Actor + Handler<Ping>,
            A::Context: actix::dev::ToEnvelope<A, Ping>,
        {
            let alive = addr.send(Ping).timeout(t).await.is_ok();
            ActorHealth { actor: name, alive }
        }
        vec![
            probe(&self.ids, "ids", timeout).await,
            probe(&self.cache, "cache", timeout).await,
            probe(&self.projects, "project", timeout).await,
            probe(&self.sync, "sync", timeout).await,
            self.webhook_health(timeout).await,
            probe(&self.jira, "jira", timeout).await,
            probe(&self.outbox, "outbox", timeout).await,
            probe(&self.reconcile, "reconcile", timeout).await,
            probe(&self.retention, "retention", timeout).await,
        ]
    }

    /// The webhook actors (one per HTTP worker that has taken a delivery;
    /// none before the first): alive when every one answers.
    async fn webhook_health(&self, timeout: Duration) -> ActorHealth {
        let mut alive = true;
        for a in self.webhook.actors() {
            alive &= a.send(Ping).timeout(timeout).await.is_ok();
        }
        ActorHealth {
            actor: "webhook",
            alive,
        }
    }

    /// True when every actor answers within `timeout`.
    pub async fn all_alive(&self, timeout: Duration) -> bool {
        self.health(timeout).await.iter().all(|h| h.alive)
    }
}

impl Supervisor {
    pub fn log(&self) -> &slog::Logger {
        &self.log
    }
}
