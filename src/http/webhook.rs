//! `POST /extensions/jira-server/issue-updated/{token}`: the Jira webhook
//! (SPEC section 4). The handler stays thin: it bounds the work in flight,
//! reads the body (bounded), asks a `WebhookActor` for a verdict, has the
//! `SyncActor` write it; the reply comes once the group commit is on disk.

use super::request_log::RequestCtx;
use super::AppState;
use crate::actors::sync::{SyncError, SyncReply, Work};
use crate::actors::webhook::{Body, Early, Inspect, Verdict, WorkerWebhook};
use crate::domain::{Delivery, DeliveryOutcome};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::json;
use slog::{error, warn};
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

fn reply(status: u16, code: &str, message: &str) -> HttpResponse {
    let mut r = HttpResponse::build(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    );
    if status == 503 {
        r.insert_header(("Retry-After", "1"));
    }
    r.json(json!({"error": {"code": code, "message": message}}))
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
async fn read_body(req: &HttpRequest, mut payload: web::Payload, limit: usize) -> Body {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<usize>().ok());
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
    let Ok(_permit) = state.inflight.try_acquire() else {
        state.metrics.overloaded.inc();
        warn!(log, "overloaded"; "max_inflight" => state.config.http.max_inflight);
        return reply(
            503,
            "unavailable",
            "too many webhook deliveries in flight; retry later",
        );
    };
    let started = Instant::now();
    let received = crate::domain::now_ms();
    let body = read_body(&req, payload, state.config.http.max_body_bytes).await;
    let resp = handle(&state, &webhook, &log, token, body, received).await;
    state
        .metrics
        .webhook_seconds
        .observe(started.elapsed().as_secs_f64());
    resp
}

async fn handle(
    state: &AppState,
    webhook: &WorkerWebhook,
    log: &slog::Logger,
    token: String,
    body: Body,
    received: i64,
) -> HttpResponse {
    let verdict = webhook
        .addr()
        .send(Inspect {
            token,
            body,
            received,
            log: log.clone(),
        })
        .timeout(ACTOR_TIMEOUT)
        .await;
    let verdict = match verdict {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            error!(log, "sync-failed"; "error" => %e);
            return reply(503, "unavailable", &e.to_string());
        }
        Err(e) => {
            error!(log, "sync-failed"; "error" => %e);
            return reply(
                503,
                "unavailable",
                &format!("webhook validation unavailable: {e}"),
            );
        }
    };
    match verdict {
        Verdict::Early(e) => early(state, log, e, received).await,
        Verdict::Sync(cmd) => {
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
            warn!(log, "sync-failed"; "integration" => integration, "key" => key.as_str(),
                  "error" => %err);
            let (status, code) = match &err {
                SyncError::NotFound(_) | SyncError::BadReference(_) => (400, "bad_request"),
                SyncError::Unavailable(_) => (503, "unavailable"),
            };
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
            };
            let _ = state.actors.sync_queue.submit(Work::Record(d)).await;
            reply(status, code, &format!("sync failed: {err}"))
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
    };
    let recorded = state.actors.sync_queue.submit(Work::Record(d)).await;
    let r = match recorded {
        Ok(r) => Some(r),
        Err(err) => {
            error!(log, "delivery-log-failed"; "error" => %err);
            None
        }
    };
    match e.status {
        200 => HttpResponse::Ok().json(Accepted {
            outcome: e.outcome.as_str(),
            groups: &[],
            delivery: r.and_then(|r| r.delivery),
        }),
        413 => reply(413, "payload_too_large", &e.reason),
        s => reply(s, "bad_request", &e.reason),
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
