//! `WebhookActor`: validates Jira webhook deliveries and turns them into
//! sync commands (SPEC section 4, steps 2-5). One actor per HTTP worker
//! thread ([`WorkerWebhook`]), started on that worker the first time it
//! needs one: a delivery is validated on the thread that read it, with no
//! hop to another thread, and the token checks and JSON parsing scale
//! across cores with the HTTP workers. The actor checks tokens
//! ([`Authenticate`]) and remembers the ones that verified ([`Verified`]);
//! a token it remembers, still valid, is accepted by the worker from that
//! memory without a message ([`WorkerWebhook::remembered`]), and the body's
//! checks need no state and run as a plain call on the worker
//! ([`inspect_here`]): a mailbox round trip costs ~3 µs of CPU per delivery
//! (bench/ANALYSIS.md). It never touches sled: the
//! integration's credential comes from the store's in-memory index
//! ([`crate::store::credentials`]). Writes go to the single `SyncActor`.

use super::Deps;
use super::{guarded, Ping};
use crate::domain::payload::{self, Action, BodyError, Facts};
use crate::domain::plan::{Change, StatusChange, SyncCommand};
use crate::domain::{DeliveryOutcome, Id, IntegrationStatus, PROVIDER_JIRA_SERVER};
use crate::error::Error;
use crate::jira::jwt;
use crate::store::credentials::WebhookCredential;
use actix::prelude::*;
use slog::{info, warn};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

pub struct WebhookActor {
    deps: Deps,
    /// Tokens this actor has verified, with the credential they were
    /// verified against (see [`Verified`]); its worker reads them too.
    verified: Arc<Mutex<Verified>>,
}

impl Actor for WebhookActor {
    type Context = Context<Self>;
}

/// A handler panic stops the actor (see [`guarded`]); its `Supervisor`
/// builds a new one on the same worker thread.
impl actix::Supervised for WebhookActor {}

impl Handler<Ping> for WebhookActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

/// Every webhook actor started so far (one per HTTP worker that has seen a
/// delivery), for the health probe.
#[derive(Clone)]
pub struct WebhookPool {
    deps: Deps,
    started: Arc<Mutex<Vec<Addr<WebhookActor>>>>,
}

impl WebhookPool {
    pub fn new(deps: &Deps) -> WebhookPool {
        WebhookPool {
            deps: deps.clone(),
            started: Arc::default(),
        }
    }

    /// The handle one HTTP worker keeps (call it in the worker's app factory).
    pub fn for_worker(&self) -> WorkerWebhook {
        WorkerWebhook {
            pool: self.clone(),
            addr: OnceLock::new(),
            verified: Arc::default(),
        }
    }

    /// Addresses of the actors started so far.
    pub fn actors(&self) -> Vec<Addr<WebhookActor>> {
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// One HTTP worker's `WebhookActor`, started on first use from inside the
/// worker (so it runs on the worker's own thread).
pub struct WorkerWebhook {
    pool: WebhookPool,
    addr: OnceLock<Addr<WebhookActor>>,
    /// What this worker's actor verified (shared with it).
    verified: Arc<Mutex<Verified>>,
}

impl WorkerWebhook {
    /// This worker's actor. Must be called on the worker's thread (from a
    /// request handler).
    pub fn addr(&self) -> &Addr<WebhookActor> {
        self.addr.get_or_init(|| {
            let deps = self.pool.deps.clone();
            let verified = self.verified.clone();
            let addr = actix::Supervisor::start(move |_| WebhookActor { deps, verified });
            self.pool
                .started
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(addr.clone());
            addr
        })
    }

    /// The integration of a token this worker's actor verified before,
    /// when it still holds: the credential is unchanged, the integration
    /// not disabled, and the token's `exp` / `nbf` allow it now. Anything
    /// else (a new token, one to refuse, a credential that changed) is
    /// None, for the actor to check and answer ([`Authenticate`]).
    pub fn remembered(&self, token: &str) -> Option<Id> {
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        verified
            .recall(&self.pool.deps, token, jwt::now_secs())?
            .ok()
    }
}

/// The request body as the HTTP layer read it.
#[derive(Debug)]
pub enum Body {
    Bytes(actix_web::web::Bytes),
    /// Larger than `http.max_body_bytes` (the limit).
    TooLarge(usize),
    /// The body could not be read (connection error, bad chunking).
    Unreadable(String),
    /// Not received whole within `http.body_timeout_secs` (the limit, s).
    TimedOut(u64),
}

/// Step 2 of SPEC section 4: resolve the integration from the token in the
/// path, before the body is read. `Err` is the `bad-token` outcome.
#[derive(Message)]
#[rtype(result = "Result<Result<Id, Box<Early>>, super::ActorPanic>")]
pub struct Authenticate {
    pub token: String,
    pub log: slog::Logger,
}

/// The body of a delivery whose token was accepted, to validate.
pub struct Inspect {
    pub integration: Id,
    pub body: Body,
    pub received: i64,
    pub log: slog::Logger,
}

/// A delivery that ends before sync: why it was refused (None: accepted,
/// only recorded) and its delivery-log facts.
#[derive(Debug, Clone)]
pub struct Early {
    pub refusal: Option<Error>,
    pub outcome: DeliveryOutcome,
    pub integration: Option<Id>,
    pub key: Option<String>,
    pub changelog_id: Option<String>,
    pub timestamp: Option<i64>,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub enum Verdict {
    Early(Early),
    Sync(SyncCommand),
}

impl Handler<Authenticate> for WebhookActor {
    type Result = Result<Result<Id, Box<Early>>, super::ActorPanic>;
    fn handle(&mut self, msg: Authenticate, ctx: &mut Context<Self>) -> Self::Result {
        let WebhookActor { deps, verified } = self;
        guarded("webhook", ctx, &deps.log, &deps.metrics, || {
            let mut verified = verified.lock().unwrap_or_else(|e| e.into_inner());
            authenticate(deps, &mut verified, msg)
        })
    }
}

/// Validate the body of a delivery whose token was accepted, on the
/// calling HTTP worker's thread. It needs no actor state: sending it to
/// this worker's `WebhookActor` cost a mailbox round trip, ~3 µs of CPU per
/// delivery (bench/ANALYSIS.md), for its panic guard only. A panic is
/// contained here the same way: logged `actor-panic` (actor `webhook`),
/// counted, and answered as unavailable (503).
pub fn inspect_here(
    msg: Inspect,
    metrics: &crate::metrics::Metrics,
) -> Result<Verdict, super::ActorPanic> {
    let log = msg.log.clone();
    let run = std::panic::AssertUnwindSafe(|| {
        if crate::failpoint::hit("webhook-panic")
            && matches!(&msg.body, Body::Bytes(b) if b.windows(8).any(|w| w == b"PANIC-ME"))
        {
            panic!("failpoint webhook-panic");
        }
        inspect(msg)
    });
    std::panic::catch_unwind(run).map_err(|p| super::report_panic("webhook", &log, metrics, p))
}

fn early(
    refusal: Option<Error>,
    outcome: DeliveryOutcome,
    integration: Option<Id>,
    reason: String,
    facts: Facts,
) -> Verdict {
    let (key, changelog_id, timestamp) = facts;
    Verdict::Early(Early {
        refusal,
        outcome,
        integration,
        key,
        changelog_id,
        timestamp,
        reason,
    })
}

/// Jira sends every delivery of an integration with the same token (the
/// webhook URL), so a token verified once need not be decoded and
/// HMAC-checked again while the integration's credential is unchanged: an
/// entry holds the `Arc` of the credential it was verified against, and
/// every write of the integration puts a new `Arc` in the store's index,
/// which voids the entry. The token's `exp` / `nbf` are kept with it and
/// checked on every delivery. Only tokens that verified are kept; bounded.
#[derive(Default)]
pub struct Verified(HashMap<String, Remembered>);

struct Remembered {
    external_id: String,
    credential: Arc<WebhookCredential>,
    validity: jwt::Validity,
}

/// Most tokens one actor remembers (it forgets them all when full).
const VERIFIED_MAX: usize = 64;

impl Verified {
    /// The credential `token` was verified against, if it still is
    /// current, with the token's time claims.
    fn current(&self, deps: &Deps, token: &str) -> Option<(Arc<WebhookCredential>, jwt::Validity)> {
        let r = self.0.get(token)?;
        let now = deps.store.webhook_credential(&r.external_id)?;
        Arc::ptr_eq(&now, &r.credential).then_some((now, r.validity))
    }

    /// The verdict at `now` on a token verified before against its
    /// still-current credential: its time claims and the integration's
    /// status are checked again, the signature is not. None when the token
    /// is not remembered or its credential changed (it must be verified).
    fn recall(&self, deps: &Deps, token: &str, now: i64) -> Option<TokenVerdict> {
        let (cred, validity) = self.current(deps, token)?;
        Some(
            validity
                .check(now)
                .map_err(|e| (Some(cred.id), e.to_string()))
                .and_then(|()| enabled(&cred)),
        )
    }

    fn remember(
        &mut self,
        token: &str,
        external_id: String,
        credential: Arc<WebhookCredential>,
        validity: jwt::Validity,
    ) {
        if self.0.len() >= VERIFIED_MAX {
            self.0.clear();
        }
        self.0.insert(
            token.to_string(),
            Remembered {
                external_id,
                credential,
                validity,
            },
        );
    }
}

/// Resolve the integration from the token: unverified `id` claim, lookup by
/// external id (provider `jira_server`), then the HS256 signature. A token
/// verified before skips the lookup and the HMAC, not its time claims.
fn resolve(deps: &Deps, verified: &mut Verified, token: &str) -> Result<Id, (Option<Id>, String)> {
    resolve_at(deps, verified, token, jwt::now_secs())
}

fn resolve_at(deps: &Deps, verified: &mut Verified, token: &str, now: i64) -> TokenVerdict {
    if let Some(verdict) = verified.recall(deps, token, now) {
        return verdict;
    }
    let ext = jwt::unverified_id(token).map_err(|e| (None, e.to_string()))?;
    let cred = deps
        .store
        .webhook_credential(&ext)
        .filter(|c| c.provider == PROVIDER_JIRA_SERVER)
        .ok_or_else(|| {
            (
                None,
                format!(
                    "no jira_server integration with external id `{}`",
                    crate::logging::clip(&ext)
                ),
            )
        })?;
    let validity = jwt::verify_at(token, &cred.webhook_secret, now)
        .map_err(|e| (Some(cred.id), e.to_string()))?;
    verified.remember(token, ext, cred.clone(), validity);
    enabled(&cred)
}

/// A token's verdict: the integration, or why it is refused (with the
/// integration when one was found).
type TokenVerdict = Result<Id, (Option<Id>, String)>;

/// A verified token of a disabled integration is refused all the same.
fn enabled(cred: &WebhookCredential) -> TokenVerdict {
    if cred.status == IntegrationStatus::Disabled {
        return Err((Some(cred.id), "the integration is disabled".into()));
    }
    Ok(cred.id)
}

fn authenticate(deps: &Deps, verified: &mut Verified, msg: Authenticate) -> Result<Id, Box<Early>> {
    resolve(deps, verified, &msg.token).map_err(|(id, reason)| {
        warn!(msg.log, "token-validation-error"; "reason" => reason.as_str(),
              "integration" => id, "token_length" => msg.token.len());
        // The body is never read for a refused token, so the entry names
        // no issue.
        let reason = format!("invalid token: {reason}");
        Box::new(Early {
            refusal: Some(Error::BadRequest(reason.clone())),
            outcome: DeliveryOutcome::BadToken,
            integration: id,
            key: None,
            changelog_id: None,
            timestamp: None,
            reason,
        })
    })
}

fn inspect(msg: Inspect) -> Verdict {
    let (log, integration) = (&msg.log, msg.integration);
    let refusal = match msg.body {
        Body::Bytes(b) => return parse(log, integration, msg.received, b),
        Body::TooLarge(limit) => Error::TooLarge(format!("the body is larger than {limit} bytes")),
        Body::Unreadable(e) => Error::BadRequest(format!("cannot read the body: {e}")),
        Body::TimedOut(secs) => {
            Error::Timeout(format!("the body was not received whole within {secs} s"))
        }
    };
    let reason = refusal.to_string();
    info!(log, "bad-request"; "integration" => integration, "reason" => reason.as_str());
    early(
        Some(refusal),
        DeliveryOutcome::BadRequest,
        Some(integration),
        reason,
        Facts::default(),
    )
}

/// How far ahead of the time of receipt a `timestamp` may be (one day, ms).
pub const MAX_AHEAD_MS: i64 = 86_400_000;

/// Parse a body whose token was accepted into a sync command or an early outcome.
fn parse(
    log: &slog::Logger,
    integration: Id,
    received: i64,
    bytes: actix_web::web::Bytes,
) -> Verdict {
    let p = match payload::parse_bytes(&bytes) {
        Ok(p) => p,
        Err(e) => {
            let reason = e.to_string();
            info!(log, "bad-request"; "integration" => integration, "reason" => reason.as_str());
            // Facts only from a body that is JSON (parsed once more: the
            // refused path only).
            let facts = match e {
                BodyError::NotJson(_) => Facts::default(),
                BodyError::Invalid(_) => payload::facts_bytes(&bytes),
            };
            return early(
                Some(Error::BadRequest(reason.clone())),
                DeliveryOutcome::BadRequest,
                Some(integration),
                reason,
                facts,
            );
        }
    };
    let mut p = p;
    // A timestamp that is not an integer, or more than a day ahead of the
    // time of receipt (one bad clock must not freeze a key), counts as absent.
    if p.bad_timestamp {
        info!(log, "bad-timestamp"; "integration" => integration,
              "reason" => "not an integer; treated as absent");
    }
    if let Some(ts) = p
        .timestamp
        .filter(|ts| *ts > received.saturating_add(MAX_AHEAD_MS))
    {
        info!(log, "bad-timestamp"; "integration" => integration, "timestamp" => ts,
              "reason" => "more than a day ahead of the time of receipt; treated as absent");
        p.timestamp = None;
    }
    // A key that is only recorded (not used for sync) is kept when it is of
    // a sane size: a hostile megabyte key must not fill the log.
    let shown_key = p.key.clone().filter(|k| k.len() <= payload::MAX_KEY_LEN);
    let done = |outcome: DeliveryOutcome, reason: String| {
        Verdict::Early(Early {
            refusal: None,
            outcome,
            integration: Some(integration),
            key: shown_key.clone(),
            changelog_id: p.changelog_id.clone(),
            timestamp: p.timestamp,
            reason,
        })
    };
    let status = p.status.as_ref().map(|s| StatusChange {
        from: s.from.clone(),
        to: s.to.clone(),
        to_done_now: p
            .status_category
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|c| c == "done"),
    });
    let assignee = match &p.action {
        Action::MissingChangelog => {
            info!(log, "missing-changelog"; "integration" => integration, "key" => shown_key.as_deref());
            return done(
                DeliveryOutcome::MissingChangelog,
                "the delivery carries no changelog".into(),
            );
        }
        Action::NotAnAssigneeChange if status.is_none() && p.moved.is_none() => {
            return done(
                DeliveryOutcome::NotAnAssigneeChange,
                "the changelog holds no assignee or status change".into(),
            );
        }
        Action::NotAnAssigneeChange => None,
        // A Jira account named: the planner looks for its Jira user link.
        Action::MissingAssigneeEmail(Some(name)) => Some(Change::JiraUser {
            name: name.clone(),
            why: None,
        }),
        Action::MissingAssigneeEmail(None) => {
            info!(log, "missing-assignee-email"; "integration" => integration, "key" => p.key.as_deref());
            if status.is_none() && p.moved.is_none() {
                return done(
                    DeliveryOutcome::MissingAssigneeEmail,
                    "the new assignee has no visible email address in Jira".into(),
                );
            }
            Some(Change::NoEmail)
        }
        Action::Unassign => Some(Change::Unassign),
        Action::Assign(email) => Some(Change::Assign(email.clone())),
    };
    Verdict::Sync(SyncCommand {
        received,
        integration,
        // Keys match case-insensitively; links and delivery state hold them
        // upper-cased. A moved issue's key is the one it moved to.
        key: match &p.moved {
            Some((_, to)) => to.clone(),
            None => p
                .key
                .as_deref()
                .map(|k| payload::normalize_issue_key(k).into_owned())
                .unwrap_or_default(),
        },
        moved: p.moved.map(|(from, _)| from),
        changelog_id: p.changelog_id,
        timestamp: p.timestamp,
        assignee,
        status,
        source: crate::domain::Source::Webhook,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::domain::Integration;
    use crate::store::Store;

    fn integration() -> Integration {
        Integration {
            webhook_secret: "first-secret".into(),
            status: IntegrationStatus::Active,
            ..crate::domain::integration::sample("jira.example.org")
        }
    }

    #[test]
    fn a_remembered_token_follows_every_change_of_its_integration() {
        let store = Store::temporary().unwrap();
        let deps = crate::testing::deps(Config::default(), store.clone());
        let mut i = store.create_integration(integration()).unwrap();
        let mut v = Verified::default();
        let old = jwt::mint(&i.external_id, "first-secret").unwrap();
        // Verified, remembered, and answered from memory the second time.
        assert_eq!(resolve(&deps, &mut v, &old), Ok(i.id));
        assert_eq!(v.0.len(), 1);
        assert_eq!(resolve(&deps, &mut v, &old), Ok(i.id));
        // A token that does not verify is refused and never remembered.
        let forged = jwt::mint(&i.external_id, "guess").unwrap();
        assert!(resolve(&deps, &mut v, &forged).is_err());
        assert_eq!(v.0.len(), 1);
        // A new secret voids the remembered token at once.
        i.webhook_secret = "second-secret".into();
        store.update_integration(&i).unwrap();
        let (id, reason) = resolve(&deps, &mut v, &old).unwrap_err();
        assert_eq!(id, Some(i.id));
        assert!(reason.contains("signature"), "{reason}");
        let new = jwt::mint(&i.external_id, "second-secret").unwrap();
        assert_eq!(resolve(&deps, &mut v, &new), Ok(i.id));
        // Disabling refuses even a remembered, valid token.
        i.status = IntegrationStatus::Disabled;
        store.update_integration(&i).unwrap();
        let (_, reason) = resolve(&deps, &mut v, &new).unwrap_err();
        assert_eq!(reason, "the integration is disabled");
    }

    #[test]
    fn a_remembered_token_is_refused_once_its_exp_passes() {
        let store = Store::temporary().unwrap();
        let deps = crate::testing::deps(Config::default(), store.clone());
        let i = store.create_integration(integration()).unwrap();
        let mut v = Verified::default();
        let now = jwt::now_secs();
        let t = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &serde_json::json!({"id": i.external_id, "exp": now + 100, "nbf": now - 10}),
            &jsonwebtoken::EncodingKey::from_secret(b"first-secret"),
        )
        .unwrap();
        assert_eq!(resolve_at(&deps, &mut v, &t, now), Ok(i.id));
        assert_eq!(v.0.len(), 1, "remembered");
        // Within exp + 60 s of leeway: still accepted from memory.
        assert_eq!(resolve_at(&deps, &mut v, &t, now + 160), Ok(i.id));
        // Past it: refused, although the signature was verified before.
        let (id, reason) = resolve_at(&deps, &mut v, &t, now + 161).unwrap_err();
        assert_eq!(id, Some(i.id));
        assert!(reason.contains("expired"), "{reason}");
        // And nbf is checked again as well (a clock stepping back).
        let (_, reason) = resolve_at(&deps, &mut v, &t, now - 71).unwrap_err();
        assert!(reason.contains("not valid yet"), "{reason}");
    }

    #[test]
    fn the_worker_accepts_from_memory_only_what_still_holds() {
        let store = Store::temporary().unwrap();
        let deps = crate::testing::deps(Config::default(), store.clone());
        let mut i = store.create_integration(integration()).unwrap();
        let w = WebhookPool::new(&deps).for_worker();
        let token = jwt::mint(&i.external_id, "first-secret").unwrap();
        // Never verified by the actor: the worker must ask it.
        assert_eq!(w.remembered(&token), None);
        assert_eq!(
            resolve(&deps, &mut w.verified.lock().unwrap(), &token),
            Ok(i.id)
        );
        assert_eq!(w.remembered(&token), Some(i.id));
        // Disabled: refused by the actor, not accepted from memory.
        i.status = IntegrationStatus::Disabled;
        store.update_integration(&i).unwrap();
        assert_eq!(w.remembered(&token), None);
        // Active again, a new credential: the old verification is void.
        i.status = IntegrationStatus::Active;
        store.update_integration(&i).unwrap();
        assert_eq!(w.remembered(&token), None);
        // A token verified at a time its `nbf` allowed is not accepted
        // before its `nbf` (now).
        let now = jwt::now_secs();
        let later = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &serde_json::json!({"id": i.external_id, "nbf": now + 1000}),
            &jsonwebtoken::EncodingKey::from_secret(b"first-secret"),
        )
        .unwrap();
        let mut v = w.verified.lock().unwrap();
        assert_eq!(resolve_at(&deps, &mut v, &later, now + 1000), Ok(i.id));
        drop(v);
        assert_eq!(w.remembered(&later), None);
    }

    #[test]
    fn the_memory_of_tokens_is_bounded() {
        let store = Store::temporary().unwrap();
        let deps = crate::testing::deps(Config::default(), store.clone());
        let i = store.create_integration(integration()).unwrap();
        let mut v = Verified::default();
        for n in 0..(VERIFIED_MAX * 3) {
            // Distinct valid tokens for the same integration (extra claim).
            let t = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                &serde_json::json!({"id": i.external_id, "n": n}),
                &jsonwebtoken::EncodingKey::from_secret(b"first-secret"),
            )
            .unwrap();
            assert_eq!(resolve(&deps, &mut v, &t), Ok(i.id));
            assert!(v.0.len() <= VERIFIED_MAX);
        }
    }
}
