//! `Supervisor`: starts the actors in order, watches their health, and
//! drives graceful shutdown.

use super::{cache, flusher, id, jira, project, sync, webhook, Actors, Deps, Ping};
use actix::prelude::*;
use std::time::Duration;

pub struct Supervisor {
    log: slog::Logger,
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
    let (sync, sync_queue) = sync::start(deps, invalidator, commit.clone());
    let webhook = webhook::WebhookPool::new(deps);
    let jira = jira::start(deps);
    let supervisor = Supervisor {
        log: deps.log.new(slog::o!("actor" => "supervisor")),
    }
    .start();
    slog::debug!(supervisor_log(deps), "actors-started");
    Actors {
        supervisor,
        ids,
        cache,
        projects,
        sync,
        sync_queue,
        webhook,
        jira,
        commit,
    }
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
    /// Ping every actor; each must answer within `timeout`.
    pub async fn health(&self, timeout: Duration) -> Vec<ActorHealth> {
        async fn probe<A>(addr: &Addr<A>, name: &'static str, t: Duration) -> ActorHealth
        where
            A: Actor + Handler<Ping>,
            A::Context: actix::dev::ToEnvelope<A, Ping>,
        {
            let alive = addr.send(Ping).timeout(t).await.is_ok();
            ActorHealth { actor: name, alive }
        }
        vec![
            probe(&self.supervisor, "supervisor", timeout).await,
            probe(&self.ids, "ids", timeout).await,
            probe(&self.cache, "cache", timeout).await,
            probe(&self.projects, "project", timeout).await,
            probe(&self.sync, "sync", timeout).await,
            self.webhook_health(timeout).await,
            probe(&self.jira, "jira", timeout).await,
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
