//! `JiraActor` (stub: filled in by the Jira connect issue).

use super::supervisor::Deps;
use super::Ping;
use actix::prelude::*;

pub struct JiraActor {
    #[allow(dead_code)]
    deps: Deps,
}

impl Actor for JiraActor {
    type Context = Context<Self>;
}

impl actix::Supervised for JiraActor {}

impl Handler<Ping> for JiraActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

pub fn start(deps: &Deps) -> Addr<JiraActor> {
    let deps = deps.clone();
    actix::Supervisor::start(move |_| JiraActor { deps })
}
