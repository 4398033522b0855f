//! The public listener: the Jira webhook, the OAuth callback, `/healthz`,
//! `/readyz` and `/metrics`.

use super::AppState;
use crate::lifecycle::Phase;
use actix_web::{web, HttpResponse};
use std::time::Duration;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
    super::oauth_callback::configure(cfg);
    super::webhook::configure(cfg);
}

async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    if state.actors.all_alive(Duration::from_secs(2)).await {
        HttpResponse::Ok().content_type("text/plain").body("ok\n")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("an actor does not answer\n")
    }
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.lifecycle.get() {
        // Still ready (the daemon works; Jira's deliveries are the load), but
        // a refusal for overload is shown, as it is in the metrics.
        Phase::Ready if state.slots.refused_recently() => HttpResponse::Ok()
            .content_type("text/plain")
            .body("ready (refusing webhook deliveries: overloaded)\n"),
        Phase::Ready => HttpResponse::Ok()
            .content_type("text/plain")
            .body("ready\n"),
        Phase::Starting => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("starting\n"),
        Phase::ShuttingDown => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("shutting down\n"),
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    if !state.config.http.metrics {
        return HttpResponse::NotFound().finish();
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
