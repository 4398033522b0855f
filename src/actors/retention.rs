//! `RetentionActor`: keeps what grows without bound within bounds the
//! operator chose. Today: activities older than
//! `storage.activity_retention_days` (0: kept for ever) are removed at start
//! and every hour (ten times per retention period when that is shorter than
//! ten hours), off the async workers, in atomic batches beside the
//! single writer's (sled orders them; a pruned activity is one no plan
//! reads). The space comes back on disk with compaction
//! (`systemd/synclink-compact.timer`, docs/OPERATIONS.md "Disk").

use super::{Deps, Ping};
use actix::prelude::*;
use slog::{info, warn};
use std::time::{Duration, Instant};

/// How often retention runs at most apart.
const EVERY: Duration = Duration::from_secs(3600);

/// A day in ms.
const DAY_MS: f64 = 86_400_000.0;

/// How long activities are kept, for a retention of `days` (None: kept for
/// ever).
fn retention(days: f64) -> Option<Duration> {
    (days > 0.0).then(|| Duration::from_millis((days * DAY_MS) as u64))
}

/// How often a retention of `keep` runs: hourly, or ten times per period
/// when that is shorter (so nothing outlives it by more than a tenth), and
/// not more than once a second.
fn interval(keep: Duration) -> Duration {
    (keep / 10).clamp(Duration::from_secs(1), EVERY)
}

pub struct RetentionActor {
    deps: Deps,
    /// A pass is running (a slow one is not started twice).
    busy: bool,
}

impl Actor for RetentionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(keep) = retention(self.deps.config.storage.activity_retention_days) else {
            return;
        };
        ctx.run_later(Duration::from_secs(1), move |act, ctx| act.prune(ctx, keep));
        ctx.run_interval(interval(keep), move |act, ctx| act.prune(ctx, keep));
    }
}

impl Handler<Ping> for RetentionActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

impl RetentionActor {
    /// Remove the activities older than `keep`.
    fn prune(&mut self, ctx: &mut Context<Self>, keep: Duration) {
        if self.busy {
            return;
        }
        self.busy = true;
        let keep = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
        let before = crate::domain::now_ms().saturating_sub(keep);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_and_its_interval() {
        assert_eq!(retention(0.0), None);
        assert_eq!(retention(1.0), Some(Duration::from_secs(86_400)));
        assert_eq!(retention(0.5), Some(Duration::from_secs(43_200)));
        // Hourly for periods of ten hours or more, a tenth of it below.
        assert_eq!(interval(Duration::from_secs(86_400)), EVERY);
        assert_eq!(interval(Duration::from_secs(600)), Duration::from_secs(60));
        assert_eq!(interval(Duration::from_secs(3)), Duration::from_secs(1));
    }
}
