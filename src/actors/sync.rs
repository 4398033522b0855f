//! `SyncActor` (stub: filled in by its issue).

use super::supervisor::Deps;
use super::Ping;
use actix::prelude::*;

pub struct SyncActor {
    #[allow(dead_code)]
    deps: Deps,
}

impl Actor for SyncActor {
    type Context = SyncContext<Self>;
}

impl Handler<Ping> for SyncActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut SyncContext<Self>) {}
}

pub fn start(deps: &Deps, _cache: Addr<super::cache::CacheActor>) -> Addr<SyncActor> {
    let deps = deps.clone();
    SyncArbiter::start(1, move || SyncActor { deps: deps.clone() })
}
