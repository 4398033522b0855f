//! `RetentionActor`: keeps what grows without bound within bounds the
//! operator chose. Today: activities older than
//! `storage.activity_retention_days` (0: kept for ever) are removed at start
//! and every hour, off the async workers, in atomic batches beside the
//! single writer's (sled orders them; a pruned activity is one no plan
//! reads). The space comes back on disk with compaction
//! (`systemd/synclink-compact.timer`, docs/OPERATIONS.md "Disk").

use super::{Deps, Ping};
use actix::prelude::*;
use slog::{info, warn};
use std::time::{Duration, Instant};

/// How often retention runs.
const EVERY: Duration = Duration::from_secs(3600);

/// A day in ms.
const DAY_MS: i64 = 86_400_000;

pub struct RetentionActor {
    deps: Deps,
    /// A pass is running (a slow one is not started twice).
    busy: bool,
}

impl Actor for RetentionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.deps.config.storage.activity_retention_days == 0 {
            return;
        }
        ctx.run_later(Duration::from_secs(1), |act, ctx| act.prune(ctx));
        ctx.run_interval(EVERY, |act, ctx| act.prune(ctx));
    }
}

impl Handler<Ping> for RetentionActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

impl RetentionActor {
    fn prune(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            return;
        }
        self.busy = true;
        let days = self.deps.config.storage.activity_retention_days;
        let days = i64::try_from(days).unwrap_or(i64::MAX / DAY_MS);
        let before = crate::domain::now_ms().saturating_sub(days.saturating_mul(DAY_MS));
        let store = self.deps.store.clone();
        let clock = Instant::now();
        let pass = tokio::task::spawn_blocking(move || store.prune_activities(before));
        ctx.spawn(pass.into_actor(self).map(move |r, act, _| {
            act.busy = false;
            let log = &act.deps.log;
            match r {
                Ok(Ok(removed)) => info!(log, "activities-pruned"; "removed" => removed,
                    "before" => crate::domain::rfc3339(before),
                    "seconds" => clock.elapsed().as_secs_f64()),
                Ok(Err(e)) => warn!(log, "activities-prune-failed"; "error" => %e),
                Err(e) => warn!(log, "activities-prune-failed"; "error" => %e),
            }
        }));
    }
}

pub fn start(deps: &Deps) -> Addr<RetentionActor> {
    RetentionActor {
        deps: Deps {
            log: deps.log.new(slog::o!("actor" => "retention")),
            ..deps.clone()
        },
        busy: false,
    }
    .start()
}
