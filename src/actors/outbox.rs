//! `OutboxActor`: pushes local changes to Jira from the durable outbox
//! (SPEC section 10, outbound).
//!
//! The entries are written by the `SyncActor` in the same atomic write as
//! the change they push; it hands them here once that write is on disk
//! ([`Enqueue`]), and at start the pending ones are read back from the
//! store, so nothing acknowledged is lost and nothing uncommitted is sent.
//!
//! - Coalescing: a new entry for the same `(integration, key)` and field
//!   replaces a pending one that has no request in flight (its tries start
//!   afresh with the new one).
//! - Order: the entries of one `(integration, key)` go one at a time, oldest
//!   first; at most `jira.outbound_max_in_flight` requests per integration.
//! - Each try runs as its own future (a slow Jira holds up nothing else);
//!   its outcome ([`TryOutcome`]) decides: done, try again with backoff and
//!   jitter (`Retry-After` honoured), wait while Jira refuses the
//!   credentials (401 / 403: the integration's `last_error` says so, never
//!   dead on that alone), or dead with Jira's message. Still failing after
//!   `jira.outbound_give_up_secs` → dead.

use super::{blocking, Deps, Ping};
use crate::domain::outbox::{
    backoff_secs, given_up, Field, OutboxEntry, OutboxKind, OutboxState, TryOutcome,
};
use crate::domain::{Id, Integration, IntegrationStatus};
use crate::error::Error;
use crate::jira::client::{JiraClient, Refusal};
use actix::prelude::*;
use futures_util::FutureExt;
use slog::{debug, error, warn};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

/// Finished (`done`) entries kept for `GET /v1/outbox`; older ones go.
pub const DONE_KEPT: usize = 10_000;

/// How often waiting entries are looked at (retries, freed slots).
const TICK: Duration = Duration::from_millis(100);

/// New entries, durable: push them.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Enqueue(pub Vec<OutboxEntry>);

/// `POST /v1/outbox/{id}/retry`: pending again, tried now.
#[derive(Message)]
#[rtype(result = "Result<OutboxEntry, Error>")]
pub struct Retry(pub Id);

/// `DELETE /v1/outbox/{id}`: dropped (409 while its request is in flight).
#[derive(Message)]
#[rtype(result = "Result<(), Error>")]
pub struct Drop(pub Id);

pub struct OutboxActor {
    deps: Deps,
    /// The outbox's own store writes, applied in order by one thread.
    writer: std::sync::mpsc::Sender<Write>,
    /// Pending entries by id (creation order).
    pending: BTreeMap<Id, OutboxEntry>,
    /// Pending entries per `(integration, key, field)`, for coalescing.
    by_field: HashMap<(Id, String, Field), Vec<Id>>,
    /// Pending entries per integration.
    per_integration: HashMap<Id, usize>,
    /// Entries with a request in flight, and their `(integration, key)`.
    flying: HashMap<Id, (Id, String)>,
    /// Finished entries kept, oldest first (see [`DONE_KEPT`]).
    done: VecDeque<Id>,
    /// Clients and Jira user names, shared with the tries.
    caches: Arc<Caches>,
}

impl Actor for OutboxActor {
    type Context = Context<Self>;

    /// Read the pending entries back (before any message), then look at
    /// them every [`TICK`].
    fn started(&mut self, ctx: &mut Context<Self>) {
        let store = self.deps.store.clone();
        let load = tokio::task::spawn_blocking(move || store.outbox_entries());
        ctx.wait(load.into_actor(self).map(|r, act, ctx| {
            match r {
                Ok(Ok(all)) => {
                    let mut loaded = Vec::new();
                    for e in all {
                        match e.state {
                            OutboxState::Pending => loaded.push(e),
                            OutboxState::Done => act.done.push_back(e.id),
                            OutboxState::Dead => {}
                        }
                    }
                    // Oldest first, so the newest of each field is kept.
                    act.add(loaded);
                }
                Ok(Err(e)) => error!(act.deps.log, "outbox-load-failed"; "error" => %e),
                Err(e) => error!(act.deps.log, "outbox-load-failed"; "error" => %e),
            }
            act.dispatch(ctx);
        }));
        ctx.run_interval(TICK, |act, ctx| act.dispatch(ctx));
    }
}

impl actix::Supervised for OutboxActor {}

impl Handler<Ping> for OutboxActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

impl Handler<Enqueue> for OutboxActor {
    type Result = ();
    fn handle(&mut self, msg: Enqueue, ctx: &mut Context<Self>) {
        self.add(msg.0);
        self.dispatch(ctx);
    }
}

impl Handler<Retry> for OutboxActor {
    type Result = ResponseActFuture<Self, Result<OutboxEntry, Error>>;
    fn handle(&mut self, msg: Retry, _: &mut Context<Self>) -> Self::Result {
        let store = self.deps.store.clone();
        let id = msg.0;
        let read = async move { blocking(move || store.outbox_entry(id)).await };
        Box::pin(read.into_actor(self).map(move |r, act, ctx| {
            let mut e = r?.ok_or_else(|| Error::NotFound(format!("outbox entry {id}")))?;
            let now = crate::domain::now_ms();
            if act.flying.contains_key(&id) {
                // Being tried right now.
                return Ok(act.pending.get(&id).cloned().unwrap_or(e));
            }
            if let Some(p) = act.pending.get_mut(&id) {
                // Waiting for its next try: tried now.
                p.next_try = now;
                e = p.clone();
            } else {
                // Done or dead: pending again, its tries counted afresh.
                e.state = OutboxState::Pending;
                e.next_try = now;
                e.created = now;
                e.attempts = 0;
                act.done.retain(|d| *d != id);
                act.put_pending(e.clone());
            }
            act.persist(&e);
            act.dispatch(ctx);
            Ok(e)
        }))
    }
}

impl Handler<Drop> for OutboxActor {
    type Result = ResponseActFuture<Self, Result<(), Error>>;
    fn handle(&mut self, msg: Drop, _: &mut Context<Self>) -> Self::Result {
        let id = msg.0;
        if self.flying.contains_key(&id) {
            let e = Err(Error::Conflict(format!(
                "outbox entry {id} has a request in flight; try again when it is done"
            )));
            return Box::pin(fut::ready(e));
        }
        let known = self.take_pending(id).is_some();
        self.done.retain(|d| *d != id);
        self.update_gauges();
        let store = self.deps.store.clone();
        let read = async move { blocking(move || store.outbox_entry(id)).await };
        Box::pin(read.into_actor(self).then(move |r, act, _| {
            let found = known || matches!(r, Ok(Some(_)));
            // Through the writer: after any write of it already
            // queued; answered once it is applied.
            let (tx, rx) = tokio::sync::oneshot::channel();
            if found {
                let _ = act.writer.send(Write::Remove(id));
            }
            let _ = act.writer.send(Write::Barrier(tx));
            async move {
                let _ = rx.await;
                match (r, found) {
                    (Err(e), _) => Err(e),
                    (_, false) => Err(Error::NotFound(format!("outbox entry {id}"))),
                    _ => Ok(()),
                }
            }
            .into_actor(act)
        }))
    }
}

impl OutboxActor {
    /// Take new entries: each replaces the pending entries of its
    /// `(integration, key)` and field that have no request in flight.
    fn add(&mut self, entries: Vec<OutboxEntry>) {
        for e in entries {
            let field = (e.integration, e.key.clone(), e.kind.field());
            let older: Vec<Id> = self
                .by_field
                .get(&field)
                .map(|ids| {
                    ids.iter()
                        .copied()
                        .filter(|id| *id < e.id && !self.flying.contains_key(id))
                        .collect()
                })
                .unwrap_or_default();
            for id in older {
                self.take_pending(id);
                let _ = self.writer.send(Write::Remove(id));
            }
            self.put_pending(e);
        }
        self.update_gauges();
    }

    /// Add a pending entry (and its indexes).
    fn put_pending(&mut self, e: OutboxEntry) {
        let field = (e.integration, e.key.clone(), e.kind.field());
        let ids = self.by_field.entry(field).or_default();
        if !ids.contains(&e.id) {
            ids.push(e.id);
        }
        if self.pending.insert(e.id, e.clone()).is_none() {
            *self.per_integration.entry(e.integration).or_default() += 1;
        }
    }

    /// Take a pending entry out (and out of its indexes).
    fn take_pending(&mut self, id: Id) -> Option<OutboxEntry> {
        let e = self.pending.remove(&id)?;
        let field = (e.integration, e.key.clone(), e.kind.field());
        if let Some(ids) = self.by_field.get_mut(&field) {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                self.by_field.remove(&field);
            }
        }
        if let Some(n) = self.per_integration.get_mut(&e.integration) {
            *n -= 1;
            if *n == 0 {
                self.per_integration.remove(&e.integration);
            }
        }
        Some(e)
    }

    fn update_gauges(&self) {
        let m = &self.deps.metrics;
        m.outbox_pending
            .set(i64::try_from(self.pending.len()).unwrap_or(i64::MAX));
        // The lowest id is the oldest entry (a retried one counts from its retry).
        let oldest = self.pending.values().next().map(|e| e.created);
        let secs = oldest.map_or(0, |c| (crate::domain::now_ms() - c).max(0) / 1000);
        m.outbox_oldest_pending_seconds.set(secs);
    }

    /// Write an entry's new state (in order, off the async thread; a failed
    /// write leaves the old state, and the entry is tried again after a
    /// restart: Jira's operations here are idempotent).
    fn persist(&self, e: &OutboxEntry) {
        let _ = self.writer.send(Write::Put(e.clone()));
    }

    /// Start a try for every entry that may go now.
    fn dispatch(&mut self, ctx: &mut Context<Self>) {
        let now = crate::domain::now_ms();
        let max = self.deps.config.jira.outbound_max_in_flight;
        let mut busy: HashSet<(Id, String)> = self.flying.values().cloned().collect();
        let mut per_integration: HashMap<Id, usize> = HashMap::new();
        for (i, _) in self.flying.values() {
            *per_integration.entry(*i).or_default() += 1;
        }
        let mut start = Vec::new();
        let mut full: HashSet<Id> = per_integration
            .iter()
            .filter(|(_, n)| **n >= max)
            .map(|(i, _)| *i)
            .collect();
        for e in self.pending.values() {
            // Every integration with pending entries is at its limit.
            if full.len() >= self.per_integration.len() {
                break;
            }
            if full.contains(&e.integration) {
                continue;
            }
            let k = (e.integration, e.key.clone());
            if busy.contains(&k) || self.flying.contains_key(&e.id) {
                continue;
            }
            // The oldest pending entry of a key goes first: later ones wait.
            busy.insert(k.clone());
            if e.next_try > now {
                continue;
            }
            let n = per_integration.entry(e.integration).or_default();
            *n += 1;
            if *n >= max {
                full.insert(e.integration);
            }
            start.push(e.clone());
        }
        for e in start {
            self.flying.insert(e.id, (e.integration, e.key.clone()));
            let deps = self.deps.clone();
            let caches = self.caches.clone();
            let attempt = AssertUnwindSafe(try_once(deps, caches, e.clone())).catch_unwind();
            ctx.spawn(attempt.into_actor(self).map(move |r, act, ctx| {
                let outcome = r.unwrap_or_else(|_| TryOutcome::Retry {
                    error: "internal error while pushing the entry".into(),
                    retry_after: None,
                });
                act.finish(e.id, outcome);
                act.dispatch(ctx);
            }));
        }
        self.update_gauges();
    }

    /// Record how a try ended.
    fn finish(&mut self, id: Id, outcome: TryOutcome) {
        self.flying.remove(&id);
        let Some(mut e) = self.take_pending(id) else {
            return; // dropped meanwhile
        };
        let cfg = &self.deps.config.jira;
        let (m, log) = (&self.deps.metrics, &self.deps.log);
        let now = crate::domain::now_ms();
        e.attempts = e.attempts.saturating_add(1);
        let kind = e.kind.as_str();
        match outcome {
            TryOutcome::Done => {
                e.state = OutboxState::Done;
                e.last_error = None;
                m.outbound.with_label_values(&[kind, "sent"]).inc();
                debug!(log, "outbound-sent"; "entry" => e.id, "integration" => e.integration,
                       "key" => &e.key, "kind" => kind, "attempts" => e.attempts);
                self.done.push_back(e.id);
                while self.done.len() > DONE_KEPT {
                    if let Some(old) = self.done.pop_front() {
                        let store = self.deps.store.clone();
                        std::mem::drop(tokio::task::spawn_blocking(move || {
                            store.remove_outbox_entry(old)
                        }));
                    }
                }
            }
            TryOutcome::Dead { error } => {
                e.state = OutboxState::Dead;
                e.last_error = Some(error.clone());
                m.outbound.with_label_values(&[kind, "dead"]).inc();
                error!(log, "outbound-dead"; "entry" => e.id, "integration" => e.integration,
                       "key" => &e.key, "kind" => kind, "error" => &error);
                if error.starts_with("No Jira user with email") {
                    warn!(log, "assignee-not-found-outbound"; "entry" => e.id,
                          "integration" => e.integration, "key" => &e.key,
                          "email" => e.email.as_deref());
                }
            }
            TryOutcome::Retry { error, .. }
                if given_up(e.created, now, cfg.outbound_give_up_secs) =>
            {
                e.state = OutboxState::Dead;
                e.last_error = Some(format!(
                    "still failing after {} s: {error}",
                    cfg.outbound_give_up_secs
                ));
                m.outbound.with_label_values(&[kind, "dead"]).inc();
                error!(log, "outbound-dead"; "entry" => e.id, "integration" => e.integration,
                       "key" => &e.key, "kind" => kind, "error" => e.last_error.as_deref());
            }
            TryOutcome::Retry { error, retry_after }
            | TryOutcome::Refused { error, retry_after } => {
                let jitter: f64 = rand::random();
                let delay = backoff_secs(
                    e.attempts,
                    cfg.outbound_max_backoff_secs,
                    jitter,
                    retry_after,
                );
                e.next_try = now + (delay * 1000.0) as i64;
                e.last_error = Some(error.clone());
                m.outbound.with_label_values(&[kind, "failed"]).inc();
                warn!(log, "outbound-failed"; "entry" => e.id, "integration" => e.integration,
                      "key" => &e.key, "kind" => kind, "try" => e.attempts,
                      "next_try_secs" => delay, "error" => &error);
                self.put_pending(e.clone());
            }
        }
        self.persist(&e);
        self.update_gauges();
    }
}

/// Most Jira user names remembered (forgotten all at once beyond it).
const USERS_KEPT: usize = 10_000;

/// What the tries share: a client per integration (with the credentials it
/// was built from), and the Jira user name found for an email, per
/// integration, for `cache.ttl_secs` (one request per assign instead of two).
#[derive(Default)]
pub struct Caches {
    clients: super::jira::clients::JiraClients,
    users: std::sync::Mutex<HashMap<(Id, String), (String, std::time::Instant)>>,
}

impl Caches {
    fn user(&self, integration: Id, email: &str, ttl: Duration) -> Option<String> {
        let k = (integration, crate::domain::email_key(email));
        let users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        users
            .get(&k)
            .filter(|(_, at)| at.elapsed() < ttl)
            .map(|(n, _)| n.clone())
    }

    fn remember_user(&self, integration: Id, email: &str, name: &str) {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if users.len() >= USERS_KEPT {
            users.clear();
        }
        users.insert(
            (integration, crate::domain::email_key(email)),
            (name.to_string(), std::time::Instant::now()),
        );
    }

    fn forget_user(&self, integration: Id, email: &str) {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        users.remove(&(integration, crate::domain::email_key(email)));
    }
}

/// One try of an entry, off the actor.
async fn try_once(deps: Deps, caches: Arc<Caches>, e: OutboxEntry) -> TryOutcome {
    let store = deps.store.clone();
    let id = e.integration;
    let integration = match blocking(move || store.get_integration(id)).await {
        Ok(Some(i)) => i,
        Ok(None) => {
            return TryOutcome::Dead {
                error: format!("integration {id} no longer exists"),
            }
        }
        Err(err) => {
            return TryOutcome::Retry {
                error: err.to_string(),
                retry_after: None,
            }
        }
    };
    if integration.status != IntegrationStatus::Active || integration.access_token.is_empty() {
        return TryOutcome::Refused {
            error: format!("integration {id} is not connected to Jira"),
            retry_after: None,
        };
    }
    let client = match caches
        .clients
        .get(&integration, deps.config.jira.timeout_secs)
    {
        Ok(c) => c,
        Err(err) => {
            return TryOutcome::Dead {
                error: err.to_string(),
            }
        }
    };
    let outcome = push(&deps, &caches, &integration, &client, &e).await;
    match &outcome {
        TryOutcome::Refused { error, .. } => note_refusal(&deps, id, error).await,
        // Jira takes the credentials again: a refusal it noted is over.
        TryOutcome::Done if integration.last_error.as_deref().is_some_and(is_refusal) => {
            clear_refusal(&deps, id).await
        }
        _ => {}
    }
    outcome
}

/// Is this `last_error` one that [`note_refusal`] wrote?
fn is_refusal(e: &str) -> bool {
    e.contains("(Jira answered HTTP 401)") || e.contains("(Jira answered HTTP 403)")
}

async fn clear_refusal(deps: &Deps, id: Id) {
    let store = deps.store.clone();
    let _ = blocking(move || {
        if let Some(mut i) = store.get_integration(id)? {
            if i.last_error.as_deref().is_some_and(is_refusal) {
                i.last_error = None;
                store.update_integration(&i)?;
            }
        }
        Ok::<_, Error>(())
    })
    .await;
}

/// Jira refused the credentials: the integration's `last_error` says so.
async fn note_refusal(deps: &Deps, id: Id, error: &str) {
    let (store, msg) = (deps.store.clone(), error.to_string());
    let _ = blocking(move || {
        if let Some(mut i) = store.get_integration(id)? {
            if i.last_error.as_deref() != Some(msg.as_str()) {
                i.last_error = Some(msg);
                store.update_integration(&i)?;
            }
        }
        Ok::<_, Error>(())
    })
    .await;
}

/// What a failed request means for the entry (SPEC section 10).
fn judge(r: Refusal) -> TryOutcome {
    let error = r.to_string();
    match r.status {
        None | Some(429) | Some(500..) => TryOutcome::Retry {
            error,
            retry_after: r.retry_after,
        },
        Some(401 | 403) => TryOutcome::Refused {
            error,
            retry_after: r.retry_after,
        },
        Some(_) => TryOutcome::Dead { error: r.message },
    }
}

/// The requests of one entry.
async fn push(
    deps: &Deps,
    caches: &Caches,
    i: &Integration,
    c: &JiraClient,
    e: &OutboxEntry,
) -> TryOutcome {
    let token = i.access_token.as_str();
    let key = e.key.as_str();
    let step = async {
        match e.kind {
            OutboxKind::Unassign => c
                .set_assignee(token, key, None)
                .await
                .map(|_| TryOutcome::Done),
            OutboxKind::Assign => {
                let email = e.email.clone().unwrap_or_default();
                // A Jira user link says who the user is in Jira (SPEC
                // section 11): no look-up. (A failed read falls back to it.)
                let store = deps.store.clone();
                let (iid, em) = (i.id, email.clone());
                if let Ok(Some(l)) = blocking(move || store.jira_user_for_email(iid, &em)).await {
                    c.set_assignee(token, key, Some(&l.jira_user)).await?;
                    return Ok(TryOutcome::Done);
                }
                let ttl = Duration::from_secs(deps.config.cache.ttl_secs);
                if let Some(name) = caches.user(i.id, &email, ttl) {
                    match c.set_assignee(token, key, Some(&name)).await {
                        Ok(()) => return Ok(TryOutcome::Done),
                        // The user may have changed in Jira: look it up again.
                        Err(r) if r.status == Some(400) => caches.forget_user(i.id, &email),
                        Err(r) => return Err(r),
                    }
                }
                let users = c.assignable_users(token, key, &email).await?;
                let chosen = users
                    .iter()
                    .find(|u| {
                        u.email
                            .as_deref()
                            .is_some_and(|m| m.eq_ignore_ascii_case(&email))
                    })
                    .or_else(|| match users.as_slice() {
                        // Jira hides emails: the only user it found.
                        [only] if only.email.is_none() => Some(only),
                        _ => None,
                    });
                let Some(user) = chosen else {
                    return Ok(TryOutcome::Dead {
                        error: format!("No Jira user with email {email} can be assigned {key}"),
                    });
                };
                let name = user.name.clone();
                c.set_assignee(token, key, Some(&name)).await?;
                caches.remember_user(i.id, &email, &name);
                Ok(TryOutcome::Done)
            }
            OutboxKind::Resolve | OutboxKind::Unresolve => {
                let (now_status, project) = c.issue_status(token, key).await?;
                let store = deps.store.clone();
                let (iid, p) = (i.id, project.clone());
                let mapping = match blocking(move || store.status_mapping(iid, &p)).await {
                    Ok(m) => m,
                    Err(err) => {
                        return Ok(TryOutcome::Retry {
                            error: err.to_string(),
                            retry_after: None,
                        })
                    }
                };
                let Some(m) = mapping else {
                    return Ok(TryOutcome::Dead {
                        error: format!("No status mapping for Jira project {project}"),
                    });
                };
                let target = if e.kind == OutboxKind::Resolve {
                    m.on_resolve
                } else {
                    m.on_unresolve
                };
                if now_status == target {
                    return Ok(TryOutcome::Done);
                }
                let ts = c.transitions(token, key).await?;
                let Some((tid, _)) = ts.iter().find(|(_, to)| *to == target) else {
                    return Ok(TryOutcome::Dead {
                        error: format!("No transition of {key} leads to status {target}"),
                    });
                };
                c.transition(token, key, tid)
                    .await
                    .map(|_| TryOutcome::Done)
            }
        }
    };
    match step.await {
        Ok(o) => o,
        Err(r) => judge(r),
    }
}

/// A store write of the outbox actor.
enum Write {
    Put(OutboxEntry),
    Remove(Id),
    /// Answered once every write before it is applied.
    Barrier(tokio::sync::oneshot::Sender<()>),
}

/// The thread that applies the outbox actor's writes, in the order they
/// were made (sled calls block: never on the actor's async thread), and
/// has the group commit flush them.
fn spawn_writer(deps: &Deps, commit: super::flusher::Commit) -> std::sync::mpsc::Sender<Write> {
    let (tx, rx) = std::sync::mpsc::channel::<Write>();
    let (store, log) = (deps.store.clone(), deps.log.clone());
    let _ = std::thread::Builder::new()
        .name("synclink-outbox".into())
        .spawn(move || {
            for w in rx {
                let r = match w {
                    Write::Put(e) => store.put_outbox_entry(&e),
                    Write::Remove(id) => store.remove_outbox_entry(id).map(drop),
                    Write::Barrier(done) => {
                        let _ = done.send(());
                        continue;
                    }
                };
                if let Err(err) = r {
                    error!(log, "outbox-write-failed"; "error" => %err);
                }
                // Ask for a flush (not waited for).
                let _ = commit.ticket();
            }
        });
    tx
}

pub fn start(deps: &Deps, commit: super::flusher::Commit) -> Addr<OutboxActor> {
    let deps = super::Deps {
        log: deps.log.new(slog::o!("actor" => "outbox")),
        ..deps.clone()
    };
    let writer = spawn_writer(&deps, commit);
    actix::Supervisor::start(move |_| OutboxActor {
        deps,
        writer: writer.clone(),
        pending: BTreeMap::new(),
        by_field: HashMap::new(),
        per_integration: HashMap::new(),
        flying: HashMap::new(),
        done: VecDeque::new(),
        caches: Arc::default(),
    })
}
