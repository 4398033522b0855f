//! `CacheActor` (stub: filled in by the sync issue).

use super::supervisor::Deps;
use super::Ping;
use crate::domain::Id;
use actix::prelude::*;

pub struct CacheActor {
    #[allow(dead_code)]
    deps: Deps,
}

impl Actor for CacheActor {
    type Context = SyncContext<Self>;
}

impl Handler<Ping> for CacheActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut SyncContext<Self>) {}
}

/// Drop every cache entry about these groups (assign, deassign, delete).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct InvalidateGroups(pub Vec<Id>);

impl Handler<InvalidateGroups> for CacheActor {
    type Result = ();
    fn handle(&mut self, _: InvalidateGroups, _: &mut SyncContext<Self>) {}
}

pub fn start(deps: &Deps) -> Addr<CacheActor> {
    let deps = deps.clone();
    SyncArbiter::start(1, move || CacheActor { deps: deps.clone() })
}
