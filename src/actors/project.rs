//! `ProjectActor` (stub: filled in by its issue).

use super::supervisor::Deps;
use super::Ping;
use actix::prelude::*;

pub struct ProjectActor {
    #[allow(dead_code)]
    deps: Deps,
}

impl Actor for ProjectActor {
    type Context = SyncContext<Self>;
}

impl Handler<Ping> for ProjectActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut SyncContext<Self>) {}
}

pub fn start(
    deps: &Deps,
    _ids: Addr<super::id::IdActor>,
    _cache: Addr<super::cache::CacheActor>,
) -> Addr<ProjectActor> {
    let deps = deps.clone();
    SyncArbiter::start(1, move || ProjectActor { deps: deps.clone() })
}
