//! `IdActor` (stub: filled in by its issue).

use super::supervisor::Deps;
use super::Ping;
use actix::prelude::*;

pub struct IdActor {
    #[allow(dead_code)]
    deps: Deps,
}

impl Actor for IdActor {
    type Context = SyncContext<Self>;
}

impl Handler<Ping> for IdActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut SyncContext<Self>) {}
}

pub fn start(deps: &Deps) -> Addr<IdActor> {
    let deps = deps.clone();
    SyncArbiter::start(1, move || IdActor { deps: deps.clone() })
}
