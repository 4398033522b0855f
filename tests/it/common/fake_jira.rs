//! A fake Jira Server on loopback, served over real HTTP by actix-web on its
//! own thread and actix System.
//!
//! It VERIFIES the RSA-SHA1 signature of every request with the consumer's
//! public key, rebuilding the RFC 5849 base string here, independently of
//! synclink's signing code (its own percent-encoding, URL normalisation and
//! parameter sorting, `rsa`'s PKCS#1 v1.5 verifying key). A bad signature,
//! consumer key, token or verifier, or a replayed nonce, gets 401.
//!
//! It issues request tokens and verifiers, access tokens, answers serverInfo,
//! records webhook registrations, and can be told to fail. It keeps issues
//! with their changelogs (`/rest/api/2/issue/{key}?expand=changelog`) and
//! answers `/rest/api/2/search` for the one JQL form reconcile sends.

#![allow(dead_code)]

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde_json::{json, Value};
use sha1::Sha1;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub const CONSUMER_KEY: &str = "synclink-test-consumer";

/// Path of a key in tests/data/.
pub fn data(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .expect("test key")
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The signature verified.
    pub signed_ok: bool,
    pub oauth: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct RequestToken {
    pub secret: String,
    pub callback: String,
    pub verifier: String,
}

/// What the fake knows and how it misbehaves. Tests change it through
/// [`FakeJira::state`].
pub struct State {
    pub consumer_key: String,
    pub public_key: RsaPublicKey,
    pub requests: Vec<Seen>,
    pub request_tokens: HashMap<String, RequestToken>,
    pub access_tokens: HashMap<String, String>,
    /// (endpoint path, JSON body) of each webhook registered.
    pub webhooks: Vec<(String, Value)>,
    nonces: HashSet<String>,
    counter: u64,
    /// Answer the request token with 503.
    pub fail_request_token: bool,
    /// Sleep this long before answering the request token.
    pub request_token_delay: Option<Duration>,
    /// Sleep this long before answering the access token.
    pub access_token_delay: Option<Duration>,
    /// Answer the access token with 500.
    pub fail_access_token: bool,
    /// Answer the access token with 401 `oauth_problem=<this>`.
    pub access_token_problem: Option<String>,
    /// Answer the webhook registration with 403.
    pub fail_webhook: bool,
    /// `versionNumbers` of serverInfo.
    pub version: Vec<u64>,
    /// `GET /rest/api/2/status` (tests/fixtures/jira-rest/statuses.json).
    pub statuses: Value,
    /// Answer `GET /rest/api/2/status` with this status instead.
    pub fail_statuses: Option<u16>,
    /// Project keys `GET /rest/api/2/project/{key}` knows.
    pub projects: Vec<String>,
    /// Issues by key, with their assignee, status and history.
    pub issues: HashMap<String, Issue>,
    /// Users: (name, emailAddress).
    pub users: Vec<(String, String)>,
    /// The assignable-user search leaves out `emailAddress` (Jira's email
    /// visibility setting).
    pub hide_emails: bool,
    /// Answer the next issue/user REST requests with these (status,
    /// Retry-After) first, one each.
    pub rest_failures: std::collections::VecDeque<(u16, Option<u64>)>,
    /// Answer every issue/user REST request with this status (Jira down).
    pub rest_down: Option<u16>,
    /// The writes Jira accepted: (method, path, JSON body).
    pub writes: Vec<(String, String, Value)>,
    /// Sleep this long before answering an issue/user REST request.
    pub rest_delay: Option<Duration>,
    /// Delayed issue/user REST requests being answered now, and the most at
    /// once (this fake's own: tests run side by side in one process).
    pub rest_now: usize,
    pub rest_most: usize,
    /// The next request to this path gets 200 and the first byte of its
    /// body, then nothing for 30 s (Jira dying in the middle of an answer).
    pub stall_body: Option<String>,
    /// The next request to this path gets 200 and a body that never ends
    /// (64 KiB chunks until the client hangs up).
    pub endless_body: Option<String>,
    /// The id the next [`History`] gets (20000 first, then up by one).
    pub next_history_id: u64,
    /// Moved issues: old key -> new key (`GET /rest/api/2/issue/{old}`
    /// answers the moved issue, as Jira does). See [`State::move_issue`].
    pub moved: HashMap<String, String>,
    /// `maxResults` of `GET /rest/api/2/search` is capped at this.
    pub search_page_max: usize,
    /// Search answers carry only the OLDEST n histories of an issue, with
    /// `maxResults: n, total: <full count>` (a cut-short changelog).
    pub changelog_cut: Option<usize>,
    /// Each search page after the first also starts with the last issue of
    /// the previous page (an issue seen on two pages).
    pub search_repeat_last: bool,
    /// The `total` of search page k (k = startAt / page size) is the true
    /// total + k * this (the total changing mid-run).
    pub search_total_drift: i64,
    /// Every search received: (jql, startAt, maxResults as asked).
    pub searches: Vec<(String, u64, u64)>,
    /// Keys read by `GET /rest/api/2/issue/{key}?expand=changelog`.
    pub issue_reads: Vec<String>,
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Numeric issue ids, unique in the process (Jira's `id`, kept on a move).
static NEXT_ISSUE_ID: AtomicU64 = AtomicU64::new(10000);

/// One issue of the fake.
#[derive(Debug, Clone)]
pub struct Issue {
    /// Jira's numeric id.
    pub id: u64,
    pub project: String,
    /// A username.
    pub assignee: Option<String>,
    /// A status id.
    pub status: String,
    /// Milliseconds since the epoch.
    pub updated: i64,
    /// In the order made (the answers sort by `created`, then `id`).
    pub history: Vec<History>,
}

impl Issue {
    pub fn new(project: &str, status: &str, assignee: Option<&str>) -> Issue {
        Issue {
            id: NEXT_ISSUE_ID.fetch_add(1, Ordering::Relaxed),
            project: project.into(),
            assignee: assignee.map(str::to_string),
            status: status.into(),
            updated: now_ms(),
            history: vec![],
        }
    }
}

/// One changelog entry of an issue.
#[derive(Debug, Clone)]
pub struct History {
    pub id: u64,
    /// Milliseconds since the epoch.
    pub created: i64,
    /// A username.
    pub author: String,
    pub items: Vec<Item>,
}

/// One changed field of a [`History`]: `assignee` (usernames), `status`
/// (status ids) or `Key` (issue keys, a moved issue).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub field: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl Item {
    pub fn new(field: &str, from: Option<&str>, to: Option<&str>) -> Item {
        Item {
            field: field.into(),
            from: from.map(str::to_string),
            to: to.map(str::to_string),
        }
    }
}

/// Changes made "in Jira" by a test, without a webhook.
impl State {
    /// Add (or replace) an issue.
    /// Add an issue (its project becomes one Jira knows).
    pub fn add_issue(&mut self, key: &str, issue: Issue) {
        if !self.projects.contains(&issue.project) {
            self.projects.push(issue.project.clone());
        }
        self.issues.insert(key.to_string(), issue);
    }

    /// Assign `key` to `to` (None: unassign) at `at` (ms); the history id.
    pub fn reassign(&mut self, key: &str, to: Option<&str>, at: i64) -> u64 {
        let from = self.issue(key).assignee.clone();
        self.change(key, vec![Item::new("assignee", from.as_deref(), to)], at)
    }

    /// Move `key` to status id `to` at `at` (ms); the history id.
    pub fn set_status(&mut self, key: &str, to: &str, at: i64) -> u64 {
        let from = self.issue(key).status.clone();
        self.change(key, vec![Item::new("status", Some(&from), Some(to))], at)
    }

    /// One history of several items, by "admin", at `at` (ms): assignee and
    /// status items set the issue's fields (other items are only recorded);
    /// `updated = at`. The history id.
    pub fn change(&mut self, key: &str, items: Vec<Item>, at: i64) -> u64 {
        self.record(key, "admin", items, at)
    }

    /// Move issue `from` to key `to` (project: the key's prefix) at `at`:
    /// one `Key` history on the moved issue, which keeps its id and history;
    /// `GET /rest/api/2/issue/{from}` answers it from then on.
    pub fn move_issue(&mut self, from: &str, to: &str, at: i64) -> u64 {
        let mut issue = self.issues.remove(from).expect("known issue");
        issue.project = to.split('-').next().unwrap_or_default().to_string();
        self.issues.insert(to.to_string(), issue);
        self.moved.insert(from.to_string(), to.to_string());
        self.change(to, vec![Item::new("Key", Some(from), Some(to))], at)
    }

    fn issue(&self, key: &str) -> &Issue {
        self.issues
            .get(key)
            .unwrap_or_else(|| panic!("no issue {key}"))
    }

    /// Push one history (the next id) on `key`, apply its items, set
    /// `updated = at`.
    fn record(&mut self, key: &str, author: &str, items: Vec<Item>, at: i64) -> u64 {
        let id = self.next_history_id;
        self.next_history_id += 1;
        let issue = self
            .issues
            .get_mut(key)
            .unwrap_or_else(|| panic!("no issue {key}"));
        for item in &items {
            match item.field.as_str() {
                "assignee" => issue.assignee = item.to.clone(),
                "status" => issue.status = item.to.clone().expect("a status"),
                _ => {}
            }
        }
        issue.history.push(History {
            id,
            created: at,
            author: author.into(),
            items,
        });
        issue.updated = at;
        id
    }
}

pub struct FakeJira {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeJira {
    /// Start a fake Jira that trusts `public_key_pem` (SPKI PEM) for
    /// [`CONSUMER_KEY`].
    pub fn start(public_key_pem: &str) -> FakeJira {
        let public_key = RsaPublicKey::from_public_key_pem(public_key_pem).expect("public key");
        let state = Arc::new(Mutex::new(State {
            consumer_key: CONSUMER_KEY.into(),
            public_key,
            requests: Vec::new(),
            request_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
            webhooks: Vec::new(),
            nonces: HashSet::new(),
            counter: 0,
            fail_request_token: false,
            request_token_delay: None,
            access_token_delay: None,
            fail_access_token: false,
            access_token_problem: None,
            fail_webhook: false,
            version: vec![9, 12, 2],
            statuses: serde_json::from_str(include_str!("../../fixtures/jira-rest/statuses.json"))
                .expect("statuses fixture"),
            fail_statuses: None,
            projects: vec!["APP".into(), "TES".into()],
            issues: HashMap::from([("APP-1".to_string(), Issue::new("APP", "3", Some("alice")))]),
            users: vec![
                ("bob".into(), "bob@example.org".into()),
                ("alice".into(), "alice@example.org".into()),
            ],
            hide_emails: false,
            rest_failures: Default::default(),
            rest_down: None,
            writes: vec![],
            rest_delay: None,
            rest_now: 0,
            rest_most: 0,
            stall_body: None,
            endless_body: None,
            next_history_id: 20000,
            moved: HashMap::new(),
            search_page_max: 100,
            changelog_cut: None,
            search_repeat_last: false,
            search_total_drift: 0,
            searches: vec![],
            issue_reads: vec![],
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let sys = actix_web::rt::System::new();
            sys.block_on(async move {
                let data = web::Data::new(st);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .default_service(web::to(handle))
                })
                .workers(2)
                .disable_signals()
                .shutdown_timeout(0)
                .bind("127.0.0.1:0")
                .expect("bind fake jira");
                let addr = server.addrs()[0];
                let server = server.run();
                tx.send((addr, server.handle())).unwrap();
                let _ = server.await;
            });
        });
        let (addr, handle) = rx.recv().expect("fake jira started");
        FakeJira {
            addr,
            state,
            handle,
            thread: Some(thread),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Requests seen so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.state().requests.clone()
    }

    /// Requests to `path` so far.
    pub fn count(&self, path: &str) -> usize {
        self.state()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    /// The verifier Jira shows (or sends to the callback) once the admin
    /// authorises `request_token`.
    pub fn authorize(&self, request_token: &str) -> RequestToken {
        self.state()
            .request_tokens
            .get(request_token)
            .cloned()
            .expect("known request token")
    }
}

impl Drop for FakeJira {
    fn drop(&mut self) {
        let h = self.handle.clone();
        let _ = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(h.stop(false));
        })
        .join();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---- RFC 5849, written again for the test side ---------------------------

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.as_bytes() {
        let c = *b as char;
        if c.is_ascii_alphanumeric() || "-._~".contains(c) {
            out.push(c);
        } else {
            out.push_str(&format!("%{:02X}", b));
        }
    }
    out
}

fn dec(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Parse `OAuth k="v", k2="v2"` into a map (values percent-decoded).
fn parse_authorization(h: &str) -> Option<BTreeMap<String, String>> {
    let rest = h.strip_prefix("OAuth ")?;
    let mut map = BTreeMap::new();
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=')?;
        let v = v.strip_prefix('"')?.strip_suffix('"')?;
        map.insert(dec(k), dec(v));
    }
    Some(map)
}

fn form_pairs(s: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(s.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Check the request's signature; returns its oauth parameters or why not.
fn verify(
    st: &mut State,
    req: &HttpRequest,
    body: &[u8],
) -> Result<BTreeMap<String, String>, String> {
    let header = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .ok_or("no Authorization header")?;
    let oauth = parse_authorization(header).ok_or("malformed OAuth header")?;
    if oauth.get("oauth_signature_method").map(String::as_str) != Some("RSA-SHA1") {
        return Err("signature method is not RSA-SHA1".into());
    }
    if oauth.get("oauth_consumer_key") != Some(&st.consumer_key) {
        return Err("unknown consumer key".into());
    }
    if let Some(v) = oauth.get("oauth_version") {
        if v != "1.0" {
            return Err("bad oauth_version".into());
        }
    }
    let ts: i64 = oauth
        .get("oauth_timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or("no timestamp")?;
    if (chrono::Utc::now().timestamp() - ts).abs() > 300 {
        return Err("timestamp too far off".into());
    }
    let nonce = oauth.get("oauth_nonce").ok_or("no nonce")?.clone();
    let sig_b64 = oauth.get("oauth_signature").ok_or("no signature")?.clone();
    let mut params: Vec<(String, String)> = oauth
        .iter()
        .filter(|(k, _)| k.as_str() != "oauth_signature" && k.as_str() != "realm")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    params.extend(form_pairs(req.query_string()));
    let is_form = req
        .headers()
        .get("content-type")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        params.extend(form_pairs(&String::from_utf8_lossy(body)));
    }
    let mut encoded: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    encoded.sort();
    let host = req.connection_info().host().to_ascii_lowercase();
    let url = format!("http://{}{}", host, req.path());
    let base = format!(
        "{}&{}&{}",
        req.method().as_str().to_ascii_uppercase(),
        enc(&url),
        enc(&encoded.join("&"))
    );
    use base64::Engine;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(sig_b64.as_bytes())
        .map_err(|_| "signature is not base64")?;
    let sig = Signature::try_from(sig.as_slice()).map_err(|_| "bad signature bytes")?;
    VerifyingKey::<Sha1>::new(st.public_key.clone())
        .verify(base.as_bytes(), &sig)
        .map_err(|_| format!("signature_invalid for base string {base}"))?;
    if !st.nonces.insert(format!("{ts}:{nonce}")) {
        return Err("nonce_used".into());
    }
    Ok(oauth)
}

fn form_reply(status: u16, body: String) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type("application/x-www-form-urlencoded")
        .body(body)
}

async fn handle(
    data: web::Data<Arc<Mutex<State>>>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let path = req.path().to_string();
    let delay = {
        let st = data.lock().unwrap();
        if path.ends_with("/oauth/request-token") {
            st.request_token_delay
        } else if path.ends_with("/oauth/access-token") {
            st.access_token_delay
        } else {
            None
        }
    };
    if let Some(d) = delay {
        actix_web::rt::time::sleep(d).await;
    }
    let rest = path.starts_with("/rest/api/2/issue/")
        || path.starts_with("/rest/api/2/user/")
        || path == "/rest/api/2/user"
        || path == "/rest/api/2/search";
    let rest_delay = if rest {
        data.lock().unwrap().rest_delay
    } else {
        None
    };
    if let Some(d) = rest_delay {
        {
            let mut st = data.lock().unwrap();
            st.rest_now += 1;
            st.rest_most = st.rest_most.max(st.rest_now);
        }
        actix_web::rt::time::sleep(d).await;
        data.lock().unwrap().rest_now -= 1;
    }
    let mut st = data.lock().unwrap();
    let verified = verify(&mut st, &req, &body);
    st.requests.push(Seen {
        method: req.method().to_string(),
        path: path.clone(),
        signed_ok: verified.is_ok(),
        oauth: verified.clone().unwrap_or_default(),
    });
    let oauth = match verified {
        Ok(o) => o,
        Err(why) => {
            return form_reply(
                401,
                format!(
                    "oauth_problem=signature_invalid&oauth_problem_advice={}",
                    enc(&why)
                ),
            )
        }
    };
    if st.stall_body.as_deref() == Some(path.as_str()) {
        st.stall_body = None;
        use futures_util::StreamExt;
        let first = futures_util::stream::once(async {
            Ok::<_, actix_web::Error>(web::Bytes::from_static(b"{"))
        });
        let rest = futures_util::stream::once(async {
            actix_web::rt::time::sleep(Duration::from_secs(30)).await;
            Ok::<_, actix_web::Error>(web::Bytes::from_static(b"}"))
        });
        return HttpResponse::Ok()
            .content_type("application/json")
            .streaming(first.chain(rest));
    }
    if st.endless_body.as_deref() == Some(path.as_str()) {
        st.endless_body = None;
        let chunk = web::Bytes::from(vec![b' '; 64 << 10]);
        let endless =
            futures_util::stream::repeat_with(move || Ok::<_, actix_web::Error>(chunk.clone()));
        return HttpResponse::Ok()
            .content_type("application/json")
            .streaming(endless);
    }
    let token = oauth.get("oauth_token").cloned();
    match (req.method().as_str(), path.as_str()) {
        ("POST", "/plugins/servlet/oauth/request-token") => {
            if st.fail_request_token {
                return HttpResponse::ServiceUnavailable()
                    .content_type("text/html")
                    .body("<html><body><h1>Jira is starting up</h1></body></html>");
            }
            let Some(callback) = oauth.get("oauth_callback").cloned() else {
                return form_reply(400, "oauth_problem=parameter_absent".into());
            };
            st.counter += 1;
            let n = st.counter;
            let t = format!("rt-{n}");
            let secret = format!("rts-{n}-{:016x}", rand::random::<u64>());
            st.request_tokens.insert(
                t.clone(),
                RequestToken {
                    secret: secret.clone(),
                    callback,
                    verifier: format!("ver-{n}"),
                },
            );
            form_reply(
                200,
                format!(
                    "oauth_token={t}&oauth_token_secret={secret}&oauth_callback_confirmed=true"
                ),
            )
        }
        ("POST", "/plugins/servlet/oauth/access-token") => {
            let Some(rt) = token.and_then(|t| st.request_tokens.get(&t).cloned().map(|r| (t, r)))
            else {
                return form_reply(401, "oauth_problem=token_rejected".into());
            };
            if oauth.get("oauth_verifier") != Some(&rt.1.verifier) {
                return form_reply(401, "oauth_problem=verifier_invalid".into());
            }
            if st.fail_access_token {
                return HttpResponse::InternalServerError()
                    .content_type("text/plain")
                    .body("Internal server error: database unavailable");
            }
            if let Some(p) = st.access_token_problem.clone() {
                return form_reply(401, format!("oauth_problem={p}"));
            }
            st.request_tokens.remove(&rt.0);
            st.counter += 1;
            let n = st.counter;
            let at = format!("at-{n}-{:016x}", rand::random::<u64>());
            let secret = format!("ats-{n}-{:016x}", rand::random::<u64>());
            st.access_tokens.insert(at.clone(), secret.clone());
            form_reply(
                200,
                format!("oauth_token={at}&oauth_token_secret={secret}&oauth_expires_in=157680000"),
            )
        }
        (method, p) => {
            if !token.is_some_and(|t| st.access_tokens.contains_key(&t)) {
                return form_reply(401, "oauth_problem=token_rejected".into());
            }
            let jira10 = st.version.first().copied().unwrap_or(0) >= 10;
            match (method, p) {
                ("GET", "/rest/api/2/serverInfo") => HttpResponse::Ok().json(json!({
                    "baseUrl": format!("http://{}", req.connection_info().host()),
                    "version": st.version.iter().map(|n| n.to_string()).collect::<Vec<_>>().join("."),
                    "versionNumbers": st.version,
                    "deploymentType": "Server",
                })),
                ("GET", "/rest/api/2/status") => match st.fail_statuses {
                    Some(s) => HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(s).unwrap(),
                    )
                    .json(json!({"errorMessages": ["The statuses are unavailable."]})),
                    None => HttpResponse::Ok().json(st.statuses.clone()),
                },
                ("GET", p) if p.starts_with("/rest/api/2/project/") => {
                    let key = &p["/rest/api/2/project/".len()..];
                    if st.projects.iter().any(|k| k == key) {
                        HttpResponse::Ok().json(json!({"key": key, "name": key}))
                    } else {
                        HttpResponse::NotFound().json(json!({
                            "errorMessages": [format!("No project could be found with key '{key}'.")]
                        }))
                    }
                }
                (m, p) if p.starts_with("/rest/api/2/issue/")
                    || p == "/rest/api/2/user/assignable/search"
                    || p == "/rest/api/2/user" =>
                {
                    outbound(&mut st, m, p, req.query_string(), &body)
                }
                ("GET", "/rest/api/2/search") => search(&mut st, req.query_string()),
                ("POST", "/rest/webhooks/1.0/webhook") if !jira10 => register(&mut st, p, &body),
                ("POST", "/rest/jira-webhook/1.0/webhooks") if jira10 => {
                    register(&mut st, p, &body)
                }
                _ => HttpResponse::NotFound().json(json!({"errorMessages": ["Not found"]})),
            }
        }
    }
}

fn register(st: &mut State, path: &str, body: &[u8]) -> HttpResponse {
    if st.fail_webhook {
        return HttpResponse::Forbidden().json(json!({
            "errorMessages": ["You do not have the permission to register webhooks."],
            "errors": {}
        }));
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return HttpResponse::BadRequest().json(json!({"errorMessages": ["Invalid JSON"]}));
    };
    st.webhooks.push((path.to_string(), v.clone()));
    let n = st.webhooks.len();
    HttpResponse::Created().json(json!({
        "self": format!("http://jira.test{path}/{n}"),
        "name": v["name"],
        "url": v["url"],
        "events": v["events"],
        "enabled": true,
    }))
}

/// The REST calls of outbound sync: assignable users, an issue's status,
/// its transitions, and the writes (assignee, transition).
fn outbound(st: &mut State, method: &str, path: &str, query: &str, body: &[u8]) -> HttpResponse {
    if let Some(r) = rest_gate(st) {
        return r;
    }
    let q: HashMap<String, String> = serde_urlencoded::from_str(query).unwrap_or_default();
    if path == "/rest/api/2/user" {
        // An administrator's view: the email is shown (hide_emails is for
        // the assignable-user search and webhooks).
        let who = q.get("username").cloned().unwrap_or_default();
        return match st.users.iter().find(|(n, _)| n.eq_ignore_ascii_case(&who)) {
            Some((n, e)) => HttpResponse::Ok().json(
                json!({"name": n, "key": n, "emailAddress": e, "displayName": n, "active": true}),
            ),
            None => error(404, &format!("The user named '{who}' does not exist"), None),
        };
    }
    if path == "/rest/api/2/user/assignable/search" {
        let who = q
            .get("username")
            .cloned()
            .unwrap_or_default()
            .to_lowercase();
        let found: Vec<Value> = st
            .users
            .iter()
            .filter(|(n, e)| {
                n.to_lowercase().starts_with(&who) || e.to_lowercase().starts_with(&who)
            })
            .map(|(n, e)| {
                let mut u = json!({"name": n, "key": n, "displayName": n, "active": true});
                if !st.hide_emails {
                    u["emailAddress"] = json!(e);
                }
                u
            })
            .collect();
        return HttpResponse::Ok().json(found);
    }
    let rest = &path["/rest/api/2/issue/".len()..];
    let (key, tail) = match rest.split_once('/') {
        Some((k, t)) => (k.to_string(), t.to_string()),
        None => (rest.to_string(), String::new()),
    };
    let key = st.moved.get(&key).cloned().unwrap_or(key);
    if !st.issues.contains_key(&key) {
        return error(404, "Issue Does Not Exist", None);
    }
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match (method, tail.as_str()) {
        ("GET", "") => {
            let changelog = q
                .get("expand")
                .is_some_and(|e| e.split(',').any(|e| e.trim() == "changelog"));
            if changelog {
                st.issue_reads.push(key.clone());
            }
            HttpResponse::Ok().json(st.issue_json(&key, changelog, None))
        }
        ("GET", "transitions") => HttpResponse::Ok().json(
            serde_json::from_str::<Value>(include_str!(
                "../../fixtures/jira-rest/transitions.json"
            ))
            .unwrap(),
        ),
        ("POST", "transitions") => {
            let id = body["transition"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let all: Value =
                serde_json::from_str(include_str!("../../fixtures/jira-rest/transitions.json"))
                    .unwrap();
            let to = all["transitions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["id"] == id.as_str())
                .and_then(|t| t["to"]["id"].as_str())
                .map(str::to_string);
            let Some(to) = to else {
                return error(400, "It seems that you have tried to perform a workflow operation that is not valid.", None);
            };
            st.writes.push(("POST".into(), path.into(), body.clone()));
            let from = st.issues[&key].status.clone();
            let items = vec![Item::new("status", Some(&from), Some(&to))];
            st.record(&key, "synclink", items, now_ms());
            HttpResponse::NoContent().finish()
        }
        ("PUT", "assignee") => {
            let name = body["name"].as_str().map(str::to_string);
            if let Some(n) = &name {
                if !st.users.iter().any(|(u, _)| u == n) {
                    return HttpResponse::BadRequest().json(json!({"errorMessages": [],
                        "errors": {"assignee": format!("User '{n}' cannot be assigned issues.")}}));
                }
            }
            st.writes.push(("PUT".into(), path.into(), body.clone()));
            let from = st.issues[&key].assignee.clone();
            let items = vec![Item::new("assignee", from.as_deref(), name.as_deref())];
            st.record(&key, "synclink", items, now_ms());
            HttpResponse::NoContent().finish()
        }
        _ => error(404, "Not found", None),
    }
}

/// A Jira error answer.
fn error(status: u16, msg: &str, retry_after: Option<u64>) -> HttpResponse {
    let mut r = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    if let Some(s) = retry_after {
        r.insert_header(("Retry-After", s.to_string()));
    }
    r.json(json!({"errorMessages": [msg], "errors": {}}))
}

/// `rest_down` and `rest_failures`, for the issue, user and search calls.
fn rest_gate(st: &mut State) -> Option<HttpResponse> {
    if let Some(s) = st.rest_down {
        return Some(error(s, "Jira is unavailable", None));
    }
    if let Some((s, ra)) = st.rest_failures.pop_front() {
        return Some(error(s, "Jira could not do it now", ra));
    }
    None
}

// ---- search and changelogs --------------------------------------------

/// `GET /rest/api/2/search`.
fn search(st: &mut State, query: &str) -> HttpResponse {
    let q: HashMap<String, String> = serde_urlencoded::from_str(query).unwrap_or_default();
    let jql = q.get("jql").cloned().unwrap_or_default();
    let num =
        |name: &str, default: u64| q.get(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (start, max) = (num("startAt", 0), num("maxResults", 50));
    st.searches.push((jql.clone(), start, max));
    if let Some(r) = rest_gate(st) {
        return r;
    }
    let expand = q.get("expand").map(String::as_str).unwrap_or_default();
    match search_page(st, &jql, start, max, expand) {
        Ok(page) => HttpResponse::Ok().json(page),
        Err(why) => HttpResponse::BadRequest().json(json!({"errorMessages": [why], "errors": {}})),
    }
}

/// The one JQL form the fake knows:
/// `project in (APP, "TES") AND updated >= "-<N>m" ORDER BY updated ASC`
/// (keys bare or double-quoted; runs of whitespace count as one space).
/// Returns (project keys, N minutes) or Jira's error message.
pub fn parse_jql(jql: &str) -> Result<(Vec<String>, u64), String> {
    let bad = || format!("Error in the JQL Query: the fake Jira cannot read '{jql}'.");
    let s = jql.split_whitespace().collect::<Vec<_>>().join(" ");
    let rest = s.strip_prefix("project in (").ok_or_else(bad)?;
    let (list, rest) = rest.split_once(')').ok_or_else(bad)?;
    let mut keys = vec![];
    for k in list.split(',') {
        let k = k.trim();
        let k = match k.strip_prefix('"') {
            Some(quoted) => quoted.strip_suffix('"').ok_or_else(bad)?,
            None => k,
        };
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad());
        }
        keys.push(k.to_string());
    }
    let rest = rest.strip_prefix(" AND updated >= \"-").ok_or_else(bad)?;
    let (minutes, rest) = rest.split_once("m\"").ok_or_else(bad)?;
    let minutes: u64 = minutes.parse().map_err(|_| bad())?;
    if rest != " ORDER BY updated ASC" {
        return Err(bad());
    }
    Ok((keys, minutes))
}

/// One page of a search, as Jira answers it (the knobs `search_page_max`,
/// `changelog_cut`, `search_repeat_last`, `search_total_drift` apply);
/// `expand` containing `changelog` adds the changelogs. Records nothing.
pub fn search_page(
    st: &State,
    jql: &str,
    start: u64,
    max: u64,
    expand: &str,
) -> Result<Value, String> {
    let (projects, minutes) = parse_jql(jql)?;
    // As Jira: a project it does not know fails the whole query.
    let unknown: Vec<String> = projects
        .iter()
        .filter(|p| !st.projects.contains(p))
        .map(|p| format!("The value '{p}' does not exist for the field 'project'."))
        .collect();
    if !unknown.is_empty() {
        return Err(unknown.join("; "));
    }
    let since = now_ms() - minutes as i64 * 60_000;
    let mut found: Vec<(i64, &String)> = st
        .issues
        .iter()
        .filter(|(_, i)| projects.contains(&i.project) && i.updated >= since)
        .map(|(k, i)| (i.updated, k))
        .collect();
    found.sort();
    let max = max.min(st.search_page_max as u64) as usize;
    let page = (start as usize).checked_div(max).unwrap_or(0);
    let mut from = start as usize;
    if st.search_repeat_last && from > 0 {
        from -= 1;
    }
    let changelog = expand.split(',').any(|e| e.trim() == "changelog");
    let issues: Vec<Value> = found
        .iter()
        .skip(from)
        .take(max)
        .map(|(_, k)| st.issue_json(k, changelog, st.changelog_cut))
        .collect();
    let total = (found.len() as i64 + page as i64 * st.search_total_drift).max(0);
    Ok(json!({
        "expand": "names,schema",
        "startAt": start,
        "maxResults": max,
        "total": total,
        "issues": issues,
    }))
}

/// Jira's date format: `2025-11-28T15:44:11.000+0000` (UTC).
pub fn jira_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("a time")
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string()
}

/// The fake's display name of a user: the username capitalised.
pub fn display_name(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl State {
    /// The issue object of a search or of `GET /rest/api/2/issue/{key}`;
    /// with `changelog`, its histories oldest first, only the oldest n with
    /// `cut: Some(n)` (`maxResults: min(n, total)`).
    pub fn issue_json(&self, key: &str, changelog: bool, cut: Option<usize>) -> Value {
        let issue = self.issue(key);
        let mut v = json!({
            "expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
            "id": issue.id.to_string(),
            "self": format!("http://jira.test/rest/api/2/issue/{}", issue.id),
            "key": key,
            "fields": {
                "assignee": issue.assignee.as_deref().map(|u| self.user_json(u)),
                "status": self.status_json(&issue.status),
                "updated": jira_date(issue.updated),
                "project": {
                    "id": self.project_id(&issue.project).to_string(),
                    "key": issue.project,
                    "name": issue.project,
                },
            },
        });
        if changelog {
            let mut histories: Vec<&History> = issue.history.iter().collect();
            histories.sort_by_key(|h| (h.created, h.id));
            let total = histories.len();
            let shown = cut.unwrap_or(total).min(total);
            let histories: Vec<Value> = histories[..shown]
                .iter()
                .map(|h| self.history_json(h))
                .collect();
            v["changelog"] = json!({
                "startAt": 0,
                "maxResults": shown,
                "total": total,
                "histories": histories,
            });
        }
        v
    }

    fn user_json(&self, name: &str) -> Value {
        let mut u = json!({
            "self": format!("http://jira.test/rest/api/2/user?username={name}"),
            "name": name,
            "key": name,
            "displayName": display_name(name),
            "active": true,
        });
        let email = self.users.iter().find(|(n, _)| n == name).map(|(_, e)| e);
        if let (Some(e), false) = (email, self.hide_emails) {
            u["emailAddress"] = json!(e);
        }
        u
    }

    /// `{id, name, statusCategory: {key, name}}` from the statuses fixture.
    fn status_json(&self, id: &str) -> Value {
        let known = self
            .statuses
            .as_array()
            .and_then(|all| all.iter().find(|s| s["id"] == id));
        match known {
            Some(s) => json!({
                "id": id,
                "name": s["name"],
                "statusCategory": {
                    "key": s["statusCategory"]["key"],
                    "name": s["statusCategory"]["name"],
                },
            }),
            None => json!({
                "id": id,
                "name": id,
                "statusCategory": {"key": "undefined", "name": "No Category"},
            }),
        }
    }

    fn status_name(&self, id: &str) -> Value {
        self.status_json(id)["name"].clone()
    }

    fn project_id(&self, key: &str) -> usize {
        10000
            + self
                .projects
                .iter()
                .position(|p| p == key)
                .unwrap_or(self.projects.len())
    }

    /// One history; a `Key` item carries the keys in `fromString` and
    /// `toString` only, with `from`/`to` null and no `fieldId` (as Jira
    /// records a move).
    fn history_json(&self, h: &History) -> Value {
        let items: Vec<Value> = h
            .items
            .iter()
            .map(|i| {
                let (from, to) = (json!(i.from), json!(i.to));
                match i.field.as_str() {
                    "assignee" => json!({
                        "field": "assignee", "fieldtype": "jira", "fieldId": "assignee",
                        "from": from, "fromString": i.from.as_deref().map(display_name),
                        "to": to, "toString": i.to.as_deref().map(display_name),
                    }),
                    "status" => json!({
                        "field": "status", "fieldtype": "jira", "fieldId": "status",
                        "from": from, "fromString": i.from.as_deref().map(|s| self.status_name(s)),
                        "to": to, "toString": i.to.as_deref().map(|s| self.status_name(s)),
                    }),
                    "Key" => json!({
                        "field": "Key", "fieldtype": "jira",
                        "from": null, "fromString": from, "to": null, "toString": to,
                    }),
                    other => json!({
                        "field": other, "fieldtype": "jira", "fieldId": other,
                        "from": from, "fromString": from, "to": to, "toString": to,
                    }),
                }
            })
            .collect();
        json!({
            "id": h.id.to_string(),
            "author": {
                "self": format!("http://jira.test/rest/api/2/user?username={}", h.author),
                "name": h.author,
                "key": h.author,
                "displayName": display_name(&h.author),
                "active": true,
            },
            "created": jira_date(h.created),
            "items": items,
        })
    }
}
