//! A fast fake Jira for `bench/outbound.py`: answers the REST calls of
//! outbound sync at once and records when each write arrived. (The tests'
//! fake Jira, `tests/it/common/fake_jira.rs`, verifies every RSA-SHA1
//! signature and keeps issues with their history; this one only counts, so
//! that the benchmark measures synclink, not the fake.)
//!
//! - `GET /rest/api/2/user/assignable/search?username=E` → one user `bench`
//!   with email E.
//! - `PUT /rest/api/2/issue/{key}/assignee` → 204, recorded.
//! - `GET /__received` → `[[key, ms since the epoch], ...]` of every write.
//! - `POST /__down` / `POST /__up` → every REST call answers 503 / works.
//!
//! Usage: `fake_jira_bench [LISTEN_ADDR]` (default 127.0.0.1:8099); prints
//! `listening <addr>` on standard error once bound.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct State {
    down: AtomicBool,
    received: Mutex<Vec<(String, i64)>>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn rest(req: HttpRequest, st: web::Data<Arc<State>>) -> HttpResponse {
    if st.down.load(Ordering::Relaxed) {
        return HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"errorMessages": ["down"], "errors": {}}));
    }
    let path = req.path();
    if path == "/rest/api/2/user/assignable/search" {
        let q: std::collections::HashMap<String, String> =
            serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
        let email = q.get("username").cloned().unwrap_or_default();
        return HttpResponse::Ok()
            .json(serde_json::json!([{"name": "bench", "emailAddress": email}]));
    }
    if let Some(rest) = path.strip_prefix("/rest/api/2/issue/") {
        if let Some(key) = rest.strip_suffix("/assignee") {
            if req.method() == actix_web::http::Method::PUT {
                st.received
                    .lock()
                    .unwrap()
                    .push((key.to_string(), now_ms()));
                return HttpResponse::NoContent().finish();
            }
        }
    }
    HttpResponse::NotFound().json(serde_json::json!({"errorMessages": ["Not found"]}))
}

async fn received(st: web::Data<Arc<State>>) -> HttpResponse {
    HttpResponse::Ok().json(&*st.received.lock().unwrap())
}

async fn set_down(st: web::Data<Arc<State>>, req: HttpRequest) -> HttpResponse {
    st.down.store(req.path() == "/__down", Ordering::Relaxed);
    HttpResponse::NoContent().finish()
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8099".into());
    let state = web::Data::new(Arc::new(State::default()));
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/__received", web::get().to(received))
                .route("/__down", web::post().to(set_down))
                .route("/__up", web::post().to(set_down))
                .default_service(web::to(rest))
        })
        .workers(1)
        .bind(&addr)?;
        eprintln!("listening {}", server.addrs()[0]);
        server.run().await
    })
}
