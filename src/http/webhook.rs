//! `POST /extensions/jira-server/issue-updated/{token}`: the Jira webhook
//! (SPEC section 4). The handler stays thin: a `WebhookActor` checks the
//! token in the path before anything else (one it verified before is
//! accepted from its memory, with no message; a bad one is answered 400 at
//! once, holding no slot and reading no body); then it takes a slot of
//! `http.max_inflight`, reads the body (bounded in size and, by
//! `http.body_timeout_secs`, in time), checks it on the worker's thread
//! for a verdict, has the `SyncActor` write it; the reply comes once the group
//! commit is on disk.

use super::error::{respond, respond_saying, Surface};
use super::request_log::RequestCtx;
use super::AppState;
use crate::actors::sync::{SyncReply, Work};
use crate::actors::webhook::{
    inspect_here, Authenticate, Body, Early, Inspect, Verdict, WorkerWebhook,
};
use crate::domain::{Delivery, DeliveryOutcome, Id};
use crate::error::Error;
use actix_web::http::ConnectionType;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use slog::{error, warn};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// Path prefix kept from the reference system.
pub const PATH: &str = "/extensions/jira-server/issue-updated";

/// How long the handler waits for an actor before answering 503.
const ACTOR_TIMEOUT: Duration = Duration::from_secs(30);

/// The webhook is a scope on the static prefix [`PATH`] whose handler
/// reads the token segment itself: a `{token}` route would run actix's
/// regex over every (long) token, ~4% of the daemon's CPU per delivery.
/// What the routes did is kept: `PATH`, `PATH/` and `PATH/{token}` take a
/// POST (an empty token still deserves a 400 and a delivery-log entry),
/// other methods get 405, deeper paths 404.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope(PATH).default_service(web::to(issue_updated)));
}

/// The token segment of what follows [`PATH`]: `""` and `"/"` give an empty
/// token, `"/{token}"` the token, anything deeper None.
fn token_segment(rest: &str) -> Option<&str> {
    match rest.strip_prefix('/') {
        None if rest.is_empty() => Some(""),
        Some(t) if !t.contains('/') => Some(t),
        _ => None,
    }
}

/// An error answered on the webhook's terms (SPEC section 4: a bad
/// reference is 400, a failure of the daemon's own machinery 503).
fn reply(e: &Error) -> HttpResponse {
    respond(e, Surface::Webhook)
}

/// The body of a 200: what happened to the delivery.
#[derive(serde::Serialize)]
struct Accepted<'a> {
    outcome: &'static str,
    groups: &'a [crate::domain::Id],
    delivery: Option<crate::domain::Id>,
}

fn ok(r: &SyncReply) -> HttpResponse {
    HttpResponse::Ok().json(Accepted {
        outcome: r.outcome.as_str(),
        groups: &r.groups,
        delivery: r.delivery,
    })
}

/// Read the body up to `limit` bytes; beyond it keep draining (bounded) so
/// the client reads our 413 instead of a reset connection.
async fn read_body(declared: Option<usize>, mut payload: web::Payload, limit: usize) -> Body {
    let drain_cap = limit.saturating_mul(8).max(8 << 20);
    let mut too_large = declared.is_some_and(|n| n > limit);
    let mut seen = 0usize;
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(c) => {
                seen = seen.saturating_add(c.len());
                if seen > limit {
                    too_large = true;
                    buf.clear();
                }
                if too_large {
                    if seen > drain_cap {
                        break;
                    }
                    continue;
                }
                buf.extend_from_slice(&c);
            }
            Err(e) => {
                if too_large {
                    break;
                }
                return Body::Unreadable(e.to_string());
            }
        }
    }
    if too_large {
        Body::TooLarge(limit)
    } else {
        Body::Bytes(buf.freeze())
    }
}

/// The webhook's slots (`http.max_inflight`): only a delivery whose token
/// was accepted takes one, for the time its body is read (bounded by
/// `http.body_timeout_secs`) and its sync.
pub struct Slots {
    sem: tokio::sync::Semaphore,
    /// When a delivery was last refused for overload (ms since the epoch).
    last_refused_ms: AtomicI64,
    metrics: crate::metrics::Metrics,
}

/// A slot held; given back (and counted) when dropped.
pub struct Slot<'a> {
    _permit: tokio::sync::SemaphorePermit<'a>,
    metrics: &'a crate::metrics::Metrics,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.metrics.webhook_inflight.dec();
    }
}

/// How long `/readyz` reports a refusal for overload.
pub const OVERLOAD_SHOWN_MS: i64 = 10_000;

impl Slots {
    pub fn new(max: usize, metrics: crate::metrics::Metrics) -> Slots {
        metrics
            .webhook_max_inflight
            .set(i64::try_from(max).unwrap_or(i64::MAX));
        Slots {
            sem: tokio::sync::Semaphore::new(max),
            last_refused_ms: AtomicI64::new(i64::MIN),
            metrics,
        }
    }

    /// A slot, or None (counted, and remembered for `/readyz`) when all are taken.
    pub fn try_acquire(&self) -> Option<Slot<'_>> {
        match self.sem.try_acquire() {
            Ok(permit) => {
                self.metrics.webhook_inflight.inc();
                Some(Slot {
                    _permit: permit,
                    metrics: &self.metrics,
                })
            }
            Err(_) => {
                self.metrics.overloaded.inc();
                self.last_refused_ms
                    .store(crate::domain::now_ms(), Ordering::Relaxed);
                None
            }
        }
    }

    /// Was a delivery refused for overload in the last [`OVERLOAD_SHOWN_MS`]?
    pub fn refused_recently(&self) -> bool {
        let last = self.last_refused_ms.load(Ordering::Relaxed);
        crate::domain::now_ms().saturating_sub(last) < OVERLOAD_SHOWN_MS
    }
}

async fn issue_updated(
    req: HttpRequest,
    state: web::Data<AppState>,
    webhook: web::Data<WorkerWebhook>,
    ctx: RequestCtx,
    payload: web::Payload,
) -> HttpResponse {
    // What the routes `PATH`, `PATH/` and `PATH/{token}` (POST) accepted.
    let Some(token) = token_segment(req.match_info().unprocessed()).map(str::to_string) else {
        return HttpResponse::NotFound().finish();
    };
    if req.method() != actix_web::http::Method::POST {
        return HttpResponse::MethodNotAllowed()
            .insert_header((actix_web::http::header::ALLOW, "POST"))
            .finish();
    }
    // The request's own logger: its `request_id` matches `X-Request-Id`.
    let log = ctx.log;
    let started = Instant::now();
    let received = crate::domain::now_ms();
    // The rest runs as a task of its own on this worker: when the client
    // breaks the connection (a malformed chunk, a reset), actix drops this
    // handler, and the delivery must still reach the delivery log.
    let declared = declared_length(&req);
    let task = actix_web::rt::spawn(async move {
        let resp = deliver(&state, &webhook, &log, token, declared, payload, received).await;
        state
            .metrics
            .webhook_seconds
            .observe(started.elapsed().as_secs_f64());
        resp
    });
    match task.await {
        Ok(resp) => resp,
        Err(e) => reply(&Error::Internal(format!("the delivery task failed: {e}"))),
    }
}

fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<usize>().ok())
}

/// SPEC section 4 steps 2-9 for one delivery: the token first (no slot, no
/// body read), then a slot, the body within its deadline, the verdict, the write.
async fn deliver(
    state: &AppState,
    webhook: &WorkerWebhook,
    log: &slog::Logger,
    token: String,
    declared: Option<usize>,
    payload: web::Payload,
    received: i64,
) -> HttpResponse {
    // A token the actor verified before needs no message to it.
    let integration = match webhook.remembered(&token) {
        Some(id) => id,
        None => {
            let auth = webhook
                .addr()
                .send(Authenticate {
                    token,
                    log: log.clone(),
                })
                .timeout(ACTOR_TIMEOUT)
                .await;
            match auth {
                Ok(Ok(Ok(id))) => id,
                // The body is left unread; the connection is closed after the answer.
                Ok(Ok(Err(e))) => return closing(early(state, log, *e, received).await),
                Ok(Err(e)) => return unavailable(log, &e.to_string()),
                Err(e) => return unavailable(log, &format!("webhook validation unavailable: {e}")),
            }
        }
    };
    let Some(_slot) = state.slots.try_acquire() else {
        warn!(log, "overloaded"; "max_inflight" => state.config.http.max_inflight);
        return closing(reply(&Error::Unavailable(
            "too many webhook deliveries in flight; retry later".into(),
        )));
    };
    let limit = state.config.http.max_body_bytes;
    let secs = state.config.http.body_timeout_secs;
    let body = match tokio::time::timeout(
        Duration::from_secs(secs),
        read_body(declared, payload, limit),
    )
    .await
    {
        Ok(body) => body,
        Err(_) => {
            state.metrics.body_timeouts.inc();
            Body::TimedOut(secs)
        }
    };
    let complete = matches!(body, Body::Bytes(_));
    let resp = handle(state, log, integration, body, received).await;
    if complete {
        resp
    } else {
        closing(resp)
    }
}

/// Close the connection after this answer: the request's body was not read
/// to its end, so nothing after it on the connection can be trusted.
fn closing(mut resp: HttpResponse) -> HttpResponse {
    resp.head_mut().set_connection_type(ConnectionType::Close);
    resp
}

fn unavailable(log: &slog::Logger, why: &str) -> HttpResponse {
    error!(log, "sync-failed"; "error" => why);
    reply(&Error::Unavailable(why.to_string()))
}

async fn handle(
    state: &AppState,
    log: &slog::Logger,
    integration: Id,
    body: Body,
    received: i64,
) -> HttpResponse {
    let inspect = Inspect {
        integration,
        body,
        received,
        log: log.clone(),
    };
    let verdict = match inspect_here(inspect, &state.metrics) {
        Ok(v) => v,
        Err(e) => return unavailable(log, &e.to_string()),
    };
    match verdict {
        Verdict::Early(e) => early(state, log, e, received).await,
        Verdict::Sync(cmd) => {
            let cmd = state.lookup.resolve(cmd).await;
            let facts = (
                cmd.integration,
                cmd.key.clone(),
                cmd.changelog_id.clone(),
                cmd.timestamp,
            );
            let r = state
                .actors
                .sync_queue
                .submit(Work::Inbound {
                    cmd,
                    log: log.clone(),
                })
                .await;
            // `submit` answers once the write is on disk (`sync`).
            let err = match r {
                Ok(r) => return ok(&r),
                Err(e) => e,
            };
            let (integration, key, changelog_id, timestamp) = facts;
            error!(log, "sync-failed"; "integration" => integration, "key" => key.as_str(),
                  "error" => %err);
            // Best effort: the failure itself goes to the delivery log.
            let d = Delivery {
                id: 0,
                received,
                integration: Some(integration),
                key: Some(key),
                changelog_id,
                timestamp,
                outcome: DeliveryOutcome::Failed,
                groups: vec![],
                reason: format!("sync failed: {err}"),
                source: Default::default(),
            };
            let _ = state.actors.sync_queue.submit(Work::Record(d)).await;
            respond_saying(&err, Surface::Webhook, &format!("sync failed: {err}"))
        }
    }
}

/// Record an early outcome in the delivery log, then answer it.
async fn early(state: &AppState, log: &slog::Logger, e: Early, received: i64) -> HttpResponse {
    let d = Delivery {
        id: 0,
        received,
        integration: e.integration,
        key: e.key.clone(),
        changelog_id: e.changelog_id.clone(),
        timestamp: e.timestamp,
        outcome: e.outcome,
        groups: vec![],
        reason: e.reason.clone(),
        source: Default::default(),
    };
    let recorded = state.actors.sync_queue.submit(Work::Record(d)).await;
    let r = match recorded {
        Ok(r) => Some(r),
        Err(err) => {
            error!(log, "delivery-log-failed"; "error" => %err);
            None
        }
    };
    match &e.refusal {
        None => HttpResponse::Ok().json(Accepted {
            outcome: e.outcome.as_str(),
            groups: &[],
            delivery: r.and_then(|r| r.delivery),
        }),
        Some(err) => reply(err),
    }
}

#[cfg(test)]
mod tests {
    use super::token_segment;

    #[test]
    fn token_segment_reads_what_the_routes_matched() {
        assert_eq!(token_segment(""), Some(""));
        assert_eq!(token_segment("/"), Some(""));
        assert_eq!(token_segment("/a.b.c"), Some("a.b.c"));
        assert_eq!(token_segment("/a/b"), None);
        assert_eq!(token_segment("//"), None);
        assert_eq!(token_segment("x"), None);
    }
}
