//! `JiraActor`: the Jira OAuth 1.0a handshake and the webhook registration.
//!
//! An async `Context` actor under actix's `Supervisor`. Each request runs as
//! its own future (a slow Jira never holds up another handshake); store calls
//! run on the blocking pool, never on the async thread. Secrets (private key,
//! request token secret, access token and secret, webhook secret) go only to
//! sled: they are never returned and never logged.

pub mod clients;
mod handshake;
pub mod lookup;
pub mod statuses;

use super::{Deps, Ping};
use crate::domain::{Id, Integration};
use crate::error::Error;
use crate::jira::connect::ConnectRequest;
use actix::prelude::*;
use futures_util::FutureExt;
use handshake::InFlight;
pub use handshake::{Connected, Handshake, JiraResult};
use std::panic::AssertUnwindSafe;

/// Start a handshake: create (or restart) the pending integration.
#[derive(Message)]
#[rtype(result = "JiraResult<Connected>")]
pub struct Connect(pub ConnectRequest);

/// Exchange the request token for an access token, then register the webhook.
#[derive(Message)]
#[rtype(result = "JiraResult<Integration>")]
pub struct FinishHandshake {
    pub handshake: Handshake,
    pub verifier: Option<String>,
}

/// Read the integration's Jira statuses again (SPEC section 10).
#[derive(Message)]
#[rtype(result = "JiraResult<crate::domain::StatusList>")]
pub struct RefreshStatuses(pub Id);

/// Create or replace a status mapping (checked against Jira).
#[derive(Message)]
#[rtype(result = "JiraResult<crate::domain::StatusMapping>")]
pub struct PutStatusMapping(pub crate::domain::StatusMapping);

/// Register (again) the issue webhook in Jira.
#[derive(Message)]
#[rtype(result = "JiraResult<Integration>")]
pub struct RegisterWebhook(pub Id);

pub struct JiraActor {
    deps: Deps,
    /// Integrations with a handshake step or registration in flight.
    busy: InFlight,
}

impl Actor for JiraActor {
    type Context = Context<Self>;

    /// Every `jira.status_refresh_secs`, read each active integration's
    /// statuses again (each refresh its own future: a slow Jira holds up
    /// nothing else).
    fn started(&mut self, ctx: &mut Context<Self>) {
        let every = std::time::Duration::from_secs(self.deps.config.jira.status_refresh_secs);
        ctx.run_interval(every, |act, ctx| {
            ctx.spawn(statuses::refresh_all(act.deps.clone()).into_actor(act));
        });
    }
}

impl actix::Supervised for JiraActor {}

impl Handler<Ping> for JiraActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

pub fn start(deps: &Deps) -> Addr<JiraActor> {
    let deps = deps.clone();
    actix::Supervisor::start(move |_| JiraActor {
        deps,
        busy: InFlight::default(),
    })
}

impl JiraActor {
    /// Run a request as its own future; a panic inside it is caught, logged
    /// as `"actor-panic"`, counted, answered with an error, and the actor is
    /// stopped (its `Supervisor` restarts it).
    fn run<T: 'static>(
        &self,
        fut: impl std::future::Future<Output = JiraResult<T>> + 'static,
    ) -> ResponseActFuture<Self, JiraResult<T>> {
        let fut = AssertUnwindSafe(fut).catch_unwind();
        Box::pin(fut.into_actor(self).map(|res, act, ctx| match res {
            Ok(r) => r,
            Err(payload) => {
                let e =
                    super::contain_panic("jira", ctx, &act.deps.log, &act.deps.metrics, payload);
                Err(Error::from(e))
            }
        }))
    }
}

impl Handler<Connect> for JiraActor {
    type Result = ResponseActFuture<Self, JiraResult<Connected>>;
    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) -> Self::Result {
        self.run(handshake::connect(
            self.deps.clone(),
            self.busy.clone(),
            msg.0,
        ))
    }
}

impl Handler<FinishHandshake> for JiraActor {
    type Result = ResponseActFuture<Self, JiraResult<Integration>>;
    fn handle(&mut self, msg: FinishHandshake, _: &mut Context<Self>) -> Self::Result {
        self.run(handshake::finish(
            self.deps.clone(),
            self.busy.clone(),
            msg.handshake,
            msg.verifier,
        ))
    }
}

impl Handler<RefreshStatuses> for JiraActor {
    type Result = ResponseActFuture<Self, JiraResult<crate::domain::StatusList>>;
    fn handle(&mut self, msg: RefreshStatuses, _: &mut Context<Self>) -> Self::Result {
        self.run(statuses::refresh(self.deps.clone(), msg.0))
    }
}

impl Handler<PutStatusMapping> for JiraActor {
    type Result = ResponseActFuture<Self, JiraResult<crate::domain::StatusMapping>>;
    fn handle(&mut self, msg: PutStatusMapping, _: &mut Context<Self>) -> Self::Result {
        self.run(statuses::put_mapping(self.deps.clone(), msg.0))
    }
}

impl Handler<RegisterWebhook> for JiraActor {
    type Result = ResponseActFuture<Self, JiraResult<Integration>>;
    fn handle(&mut self, msg: RegisterWebhook, _: &mut Context<Self>) -> Self::Result {
        self.run(handshake::register_again(
            self.deps.clone(),
            self.busy.clone(),
            msg.0,
        ))
    }
}
