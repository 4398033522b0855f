//! Per-request log context, for both listeners.
//!
//! Every request gets a fresh request id ([`super::request_id`]), echoed in
//! the `X-Request-Id` response header, and a child logger carrying it
//! (`request_id` field). Handlers take [`RequestCtx`] to log through it, so a
//! record can always be traced to its request and nothing carries over from
//! one request to the next. When the response is ready the middleware logs
//! one `"http-request"` record: listener, method, path (the webhook token is
//! replaced by `{token}`; the query string is never logged), status and
//! duration. Probes (`/healthz`, `/readyz`, `/metrics`) and webhook
//! deliveries answered 2xx log it at debug, everything else at info: a
//! delivery is already recorded, with its outcome and reason, in the
//! delivery log, and a line per delivery at Jira's rate would flood the
//! journal (and trip journald's rate limit) for nothing. A refused delivery
//! (4xx, 5xx) still logs at info.

use super::AppState;
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use slog::{debug, info, o};
use std::future::{ready, Ready};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What follows the webhook path ([`super::webhook::PATH`]) and a `/`: the
/// token, never logged. None for any other path.
fn webhook_token(path: &str) -> Option<&str> {
    path.strip_prefix(super::webhook::PATH)?.strip_prefix('/')
}

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request's id and a logger that carries it (as `request_id`).
#[derive(Clone)]
pub struct RequestCtx {
    pub id: String,
    pub log: slog::Logger,
}

impl FromRequest for RequestCtx {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        if let Some(ctx) = req.extensions().get::<RequestCtx>() {
            return ready(Ok(ctx.clone()));
        }
        // Outside the middleware (should not happen): still a fresh context.
        let root = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.log.clone())
            .unwrap_or_else(crate::logging::discard);
        ready(Ok(RequestCtx::fresh(&root)))
    }
}

impl RequestCtx {
    /// A new id and a child of `root` that carries it.
    pub fn fresh(root: &slog::Logger) -> RequestCtx {
        let id = super::request_id();
        let log = root.new(o!("request_id" => id.clone()));
        RequestCtx { id, log }
    }
}

/// The path as it may be logged: the webhook token is replaced by `{token}`,
/// and anything else a client sent is cut to 1 KiB ([`crate::logging::clip`]).
pub fn loggable_path(path: &str) -> String {
    match webhook_token(path) {
        Some(_) => format!("{}/{{token}}", super::webhook::PATH),
        None => crate::logging::clip(path).into_owned(),
    }
}

fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// The middleware factory: `.wrap(RequestLog::new("public"))`.
pub struct RequestLog {
    listener: &'static str,
}

impl RequestLog {
    pub fn new(listener: &'static str) -> RequestLog {
        RequestLog { listener }
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequestLog
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = RequestLogService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestLogService {
            service: Rc::new(service),
            listener: self.listener,
        }))
    }
}

pub struct RequestLogService<S> {
    service: Rc<S>,
    listener: &'static str,
}

impl<S, B> Service<ServiceRequest> for RequestLogService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let root = state
            .as_ref()
            .map(|s| s.log.clone())
            .unwrap_or_else(crate::logging::discard);
        let ctx = RequestCtx::fresh(&root);
        req.extensions_mut().insert(ctx.clone());
        let method = req.method().clone();
        let shown = loggable_path(req.path());
        let probe = is_probe(req.path());
        let webhook = webhook_token(req.path()).is_some();
        let delay = test_delay(&req);
        let listener = self.listener;
        let service = self.service.clone();
        Box::pin(async move {
            if let Some(d) = delay {
                debug!(ctx.log, "failpoint-http-delay"; "delay_ms" => d.as_millis() as u64);
                tokio::time::sleep(d).await;
            }
            let result = service.call(req).await;
            let status = match &result {
                Ok(res) => res.status().as_u16(),
                Err(e) => e.as_response_error().status_code().as_u16(),
            };
            let elapsed = started.elapsed();
            if let Some(state) = &state {
                let m = &state.metrics;
                m.http_requests
                    .with_label_values(&[listener, &status.to_string()])
                    .inc();
                m.http_seconds
                    .with_label_values(&[listener])
                    .observe(elapsed.as_secs_f64());
            }
            let duration_ms = elapsed.as_secs_f64() * 1000.0;
            let method = crate::logging::clip(method.as_str());
            let method = method.as_ref();
            let routine = probe || (webhook && (200..300).contains(&status));
            if routine {
                debug!(ctx.log, "http-request"; "listener" => listener, "method" => method,
                       "path" => &shown, "status" => status, "duration_ms" => duration_ms);
            } else {
                info!(ctx.log, "http-request"; "listener" => listener, "method" => method,
                      "path" => &shown, "status" => status, "duration_ms" => duration_ms);
            }
            let mut res = result?;
            if let Ok(v) = HeaderValue::from_str(&ctx.id) {
                res.headers_mut()
                    .insert(HeaderName::from_static(REQUEST_ID_HEADER), v);
            }
            Ok(res)
        })
    }
}

/// Test-only: with the `http-delay` failpoint armed, a request carrying
/// `X-Synclink-Test-Delay-Ms: N` waits N ms (at most 60 s) before it is
/// handled, so tests can have requests in flight during a shutdown.
fn test_delay(req: &ServiceRequest) -> Option<Duration> {
    let v = req.headers().get("x-synclink-test-delay-ms")?;
    if !crate::failpoint::hit("http-delay") {
        return None;
    }
    let ms: u64 = v.to_str().ok()?.parse().ok()?;
    Some(Duration::from_millis(ms.min(60_000)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_token_is_never_in_the_logged_path() {
        assert_eq!(
            loggable_path("/extensions/jira-server/issue-updated/eyJhbGciOi.x.y"),
            "/extensions/jira-server/issue-updated/{token}"
        );
        assert_eq!(
            loggable_path("/extensions/jira-server/issue-updated/"),
            "/extensions/jira-server/issue-updated/{token}"
        );
        assert_eq!(loggable_path("/v1/orgs"), "/v1/orgs");
        // Whatever a client sent is cut to 1 KiB.
        let long = format!("/v1/{}", "a".repeat(60_000));
        assert!(loggable_path(&long).len() < 1100);
        assert_eq!(
            loggable_path("/extensions/jira-server/oauth/callback"),
            "/extensions/jira-server/oauth/callback"
        );
    }

    #[test]
    fn each_context_is_fresh() {
        let root = crate::logging::discard();
        let a = RequestCtx::fresh(&root);
        let b = RequestCtx::fresh(&root);
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.len(), 16);
    }
}
