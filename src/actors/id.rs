//! `IdActor`: the in-process snowflake ID generator (one thread).
//!
//! Decoding an ID is pure (`crate::domain::snowflake::decode`): no message.

use super::Deps;
use super::{guarded, Ping};
use crate::domain::snowflake::{Generator, Layout, SystemClock};
use crate::domain::Id;
use crate::error::Error;
use actix::prelude::*;

/// Ask for the next snowflake ID.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<Id, Error>")]
pub struct NextId;

pub struct IdActor {
    deps: Deps,
    /// `Err` when the persisted mark could not be read at start.
    gen: Result<Generator<SystemClock>, String>,
}

impl IdActor {
    fn new(deps: Deps) -> IdActor {
        let ids = &deps.config.ids;
        let layout = Layout {
            version: ids.version_id,
            region: ids.region_id,
            epoch_secs: ids.epoch_secs(),
        };
        let gen = deps
            .store
            .snowflake_mark()
            .map_err(|e| e.to_string())
            .and_then(|mark| Generator::new(layout, SystemClock, mark).map_err(|e| e.to_string()));
        if let Err(e) = &gen {
            slog::error!(deps.log, "id-generator-unavailable"; "error" => %e);
        }
        IdActor { deps, gen }
    }
}

impl Actor for IdActor {
    type Context = SyncContext<Self>;
}

impl Handler<Ping> for IdActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut SyncContext<Self>) {}
}

impl Handler<NextId> for IdActor {
    type Result = Result<Id, Error>;
    fn handle(&mut self, _: NextId, ctx: &mut SyncContext<Self>) -> Self::Result {
        let IdActor { deps, gen } = self;
        let (log, metrics) = (deps.log.clone(), deps.metrics.clone());
        guarded("ids", ctx, &log, &metrics, || {
            let gen = gen
                .as_mut()
                .map_err(|e| Error::Unavailable(format!("the ID generator is unavailable: {e}")))?;
            let store = &deps.store;
            let id = gen.next_id(|mark| {
                store.set_snowflake_mark(mark).map_err(|e| {
                    Error::Storage(format!("cannot persist the snowflake high-water mark: {e}"))
                })
            })?;
            deps.metrics.ids_issued.inc();
            Ok(id)
        })?
    }
}

pub fn start(deps: &Deps) -> Addr<IdActor> {
    let deps = deps.clone();
    SyncArbiter::start(1, move || IdActor::new(deps.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::store::Store;
    use crate::testing::deps;

    #[test]
    fn actor_issues_increasing_ids_and_counts_them() {
        let store = Store::temporary().unwrap();
        let d = deps(Config::default(), store.clone());
        let metrics = d.metrics.clone();
        let ids = actix::System::new().block_on(async move {
            let addr = start(&d);
            let mut out = Vec::new();
            for _ in 0..50 {
                out.push(addr.send(NextId).await.unwrap().unwrap());
            }
            out
        });
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(metrics.ids_issued.get(), 50);
        let p = crate::domain::snowflake::decode(ids[0]).unwrap();
        assert_eq!((p.version, p.region), (1, 0));
        assert!(store.snowflake_mark().unwrap() > p.seconds);
    }
}
