//! `WebhookActor` (stub: filled in by its issue).

use super::supervisor::Deps;
use super::Ping;
use actix::prelude::*;

pub struct WebhookActor {
    #[allow(dead_code)]
    deps: Deps,
}

impl Actor for WebhookActor {
    type Context = SyncContext<Self>;
}

impl Handler<Ping> for WebhookActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut SyncContext<Self>) {}
}

pub fn start(deps: &Deps) -> Addr<WebhookActor> {
    let deps = deps.clone();
    SyncArbiter::start(
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        move || WebhookActor { deps: deps.clone() },
    )
}
