//! Baseline for `bench/`: the cheapest actix-web server that accepts a Jira
//! webhook delivery on synclink's path and answers 200. synclink's webhook
//! throughput is quoted as a ratio of this server's, driven identically.
//!
//! Same actix-web version, body limit and allocator (mimalloc) as `synclinkd`'s
//! public listener, and the same worker count (actix's default: one per core)
//! unless `--workers`. Routed like `synclinkd`'s webhook: a scope on the static
//! prefix whose handler takes the token segment itself. (A `{token}` route runs
//! actix's regex, with a capture, over every ~250-character token: measured at
//! ~15 us of CPU per request, twice what the rest of this server costs, so a
//! baseline routed that way is not the framework's limit.)
//!
//! Usage: `bare_webhook [LISTEN_ADDR] [--workers N]` (default 127.0.0.1:8089).
//! Prints `listening <addr>` on standard error once bound; stops on SIGTERM.

/// The allocator `synclinkd` uses, so the ratio compares like with like.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

/// `synclinkd`'s webhook path (`http::webhook::PATH`).
const PREFIX: &str = "/extensions/jira-server/issue-updated";

/// The body limit of synclink's default `http.max_body_bytes`.
const MAX_BODY: usize = 1_048_576;

async fn issue_updated(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    // One path segment after the prefix, as `synclinkd` checks it.
    let token = req
        .path()
        .get(PREFIX.len()..)
        .and_then(|rest| rest.strip_prefix('/'));
    match token {
        Some(t) if !t.contains('/') => {
            std::hint::black_box(t.len());
        }
        _ => return HttpResponse::NotFound().finish(),
    }
    // Read the whole body (as synclink must), then answer like a delivery
    // that was accepted.
    std::hint::black_box(body.len());
    HttpResponse::Ok()
        .content_type("application/json")
        .body("{\"ok\":true}")
}

async fn readyz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain")
        .body("ready\n")
}

fn main() -> std::io::Result<()> {
    let mut listen = "127.0.0.1:8089".to_string();
    let mut workers: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--workers" {
            workers = args.next().and_then(|v| v.parse().ok());
        } else {
            listen = a;
        }
    }
    actix_web::rt::System::new().block_on(async move {
        let mut server = HttpServer::new(|| {
            App::new()
                .app_data(web::PayloadConfig::new(MAX_BODY))
                .service(web::scope(PREFIX).default_service(web::post().to(issue_updated)))
                .route("/readyz", web::get().to(readyz))
        });
        if let Some(n) = workers {
            server = server.workers(n);
        }
        let server = server.bind(&listen)?;
        for addr in server.addrs() {
            eprintln!("listening {addr}");
        }
        server.run().await
    })
}
