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
//! For `bench/reconcile.py` (reconcile after downtime):
//! - `POST /__issues?count=N` → issues BENCH-1..N, last updated two days ago.
//! - `POST /__change?from=A&to=B[&unassign=1]` → issues A..=B get a new
//!   history now: assigned to `bench` (email bob@example.org), or unassigned.
//! - `POST /__delay?ms=D` → each search page is answered after D ms.
//! - `GET /rest/api/2/search?jql=..updated >= "-Nm"..&startAt=&maxResults=`
//!   → the issues updated in the window, oldest first, pages of at most 100,
//!   with their changelogs (what `GET /__stats` counts: searches, and the
//!   microseconds spent building answers).
//!
//! Usage: `fake_jira_bench [LISTEN_ADDR]` (default 127.0.0.1:8099); prints
//! `listening <addr>` on standard error once bound.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A history of the fake: (id, created, assigned: else unassigned).
type History = (u64, i64, bool);

#[derive(Default)]
struct State {
    down: AtomicBool,
    received: Mutex<Vec<(String, i64)>>,
    /// Per issue BENCH-(i+1): when it was last updated, and its histories.
    issues: Mutex<Vec<(i64, Vec<History>)>>,
    next_history: std::sync::atomic::AtomicU64,
    delay_ms: std::sync::atomic::AtomicU64,
    searches: std::sync::atomic::AtomicU64,
    serve_us: std::sync::atomic::AtomicU64,
}

fn query(req: &HttpRequest) -> std::collections::HashMap<String, String> {
    serde_urlencoded::from_str(req.query_string()).unwrap_or_default()
}

fn num(q: &std::collections::HashMap<String, String>, k: &str, default: u64) -> u64 {
    q.get(k).and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn issues(req: HttpRequest, st: web::Data<Arc<State>>) -> HttpResponse {
    let n = num(&query(&req), "count", 0) as usize;
    *st.issues.lock().unwrap() = vec![(now_ms() - 2 * 86_400_000, vec![]); n];
    HttpResponse::NoContent().finish()
}

async fn change(req: HttpRequest, st: web::Data<Arc<State>>) -> HttpResponse {
    let q = query(&req);
    let (from, to) = (num(&q, "from", 1) as usize, num(&q, "to", 0) as usize);
    let assigned = num(&q, "unassign", 0) == 0;
    let now = now_ms();
    let mut all = st.issues.lock().unwrap();
    for i in from.max(1)..=to.min(all.len()) {
        let id = 100_000 + st.next_history.fetch_add(1, Ordering::Relaxed);
        all[i - 1].0 = now;
        all[i - 1].1.push((id, now, assigned));
    }
    HttpResponse::NoContent().finish()
}

async fn delay(req: HttpRequest, st: web::Data<Arc<State>>) -> HttpResponse {
    st.delay_ms
        .store(num(&query(&req), "ms", 0), Ordering::Relaxed);
    HttpResponse::NoContent().finish()
}

async fn stats(st: web::Data<Arc<State>>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "searches": st.searches.load(Ordering::Relaxed),
        "serve_us": st.serve_us.load(Ordering::Relaxed),
    }))
}

fn jira_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string()
}

/// One search page: the issues updated in the JQL's `-Nm` window.
fn search(req: &HttpRequest, st: &State) -> HttpResponse {
    let t = std::time::Instant::now();
    let q = query(req);
    let jql = q.get("jql").cloned().unwrap_or_default();
    let minutes: i64 = jql
        .split("\"-")
        .nth(1)
        .and_then(|r| r.split('m').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let (start, max) = (
        num(&q, "startAt", 0) as usize,
        num(&q, "maxResults", 50).min(100) as usize,
    );
    let since = now_ms() - minutes * 60_000;
    let all = st.issues.lock().unwrap();
    let mut hits: Vec<usize> = (0..all.len()).filter(|i| all[*i].0 >= since).collect();
    hits.sort_by_key(|i| (all[*i].0, *i));
    let mut out = String::with_capacity(64 + 700 * max);
    let page: Vec<usize> = hits.iter().skip(start).take(max).copied().collect();
    out.push_str(&format!(
        "{{\"startAt\":{start},\"maxResults\":{max},\"total\":{},\"issues\":[",
        hits.len()
    ));
    for (n, i) in page.iter().enumerate() {
        let (updated, histories) = &all[*i];
        if n > 0 {
            out.push(',');
        }
        let hs: Vec<String> = histories
            .iter()
            .map(|(id, created, assigned)| {
                let to = if *assigned { r#""bench""# } else { "null" };
                format!(
                    r#"{{"id":"{id}","author":{{"name":"admin"}},"created":"{}","items":[{{"field":"assignee","fieldtype":"jira","fieldId":"assignee","from":null,"fromString":null,"to":{to},"toString":null}}]}}"#,
                    jira_date(*created)
                )
            })
            .collect();
        let assignee = match histories.last() {
            Some((_, _, false)) => "null",
            _ => r#"{"name":"bench","emailAddress":"bob@example.org","displayName":"Bench"}"#,
        };
        out.push_str(&format!(
            r#"{{"id":"{}","key":"BENCH-{}","fields":{{"assignee":{assignee},"status":{{"id":"3"}},"updated":"{}","project":{{"key":"BENCH"}}}},"changelog":{{"startAt":0,"maxResults":{n},"total":{n},"histories":[{}]}}}}"#,
            10_000 + i,
            i + 1,
            jira_date(*updated),
            hs.join(","),
            n = histories.len(),
        ));
    }
    out.push_str("]}");
    st.searches.fetch_add(1, Ordering::Relaxed);
    st.serve_us
        .fetch_add(t.elapsed().as_micros() as u64, Ordering::Relaxed);
    HttpResponse::Ok()
        .content_type("application/json")
        .body(out)
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
    if path == "/rest/api/2/search" {
        let d = st.delay_ms.load(Ordering::Relaxed);
        if d > 0 {
            actix_web::rt::time::sleep(std::time::Duration::from_millis(d)).await;
        }
        return search(&req, &st);
    }
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
                .route("/__issues", web::post().to(issues))
                .route("/__change", web::post().to(change))
                .route("/__delay", web::post().to(delay))
                .route("/__stats", web::get().to(stats))
                .default_service(web::to(rest))
        })
        .workers(1)
        .bind(&addr)?;
        eprintln!("listening {}", server.addrs()[0]);
        server.run().await
    })
}
