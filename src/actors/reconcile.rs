//! `ReconcileActor`: reads back from Jira what its webhooks never delivered
//! (SPEC section 11).
//!
//! Per active integration with links: after start-up, every
//! `jira.reconcile_interval_secs`, and on [`Start`] (the admin route). A
//! run asks Jira's search for the linked projects' issues updated since the
//! cursor (less the overlap), page by page; each linked issue's assignee and
//! status histories go to the single writer through the same
//! [`SyncQueue`] as webhooks (same planner, same duplicate and stale
//! rules), as deliveries with source `reconcile`. The cursor moves only
//! once a page's deliveries are answered (on disk with `sync`
//! durability), so a crash or a SIGTERM resumes from the last durable page.
//!
//! Each run is a task of its own: a slow Jira holds up only that run, never
//! webhooks, the admin API or shutdown ([`Halt`] aborts the runs; a run
//! holds nothing that must be finished). Runs of one integration never
//! overlap (a second manual one is a 409).

use super::jira::clients::JiraClients;
use super::jira::lookup::UserLookup;
use super::sync::{SyncQueue, Work};
use super::{blocking, Deps, Ping};
use crate::domain::plan::Change;
use crate::domain::reconcile::{
    jql, least_progress, minutes_back, run_from, unknown_projects, IssueDoc, LastRun, PAGE_SIZE,
    PROJECTS_PER_QUERY,
};
use crate::domain::{DeliveryOutcome, Id, Integration, IntegrationStatus};
use crate::error::Error;
use crate::jira::client::{JiraClient, Refusal};
use actix::prelude::*;
use futures_util::FutureExt;
use slog::{debug, info, warn};
use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most deliveries of one page handed to the writer at once.
const SUBMIT_CHUNK: usize = 256;

/// Jira's clock and ours may differ: an issue whose `updated` is within
/// this of the window's moving lower edge may have left the result set.
const EDGE_MARGIN_MS: i64 = 60_000;

/// Start a run now (`POST /v1/integrations/{id}/reconcile`); `since` (ms)
/// reads from exactly there instead of the cursor.
#[derive(Message)]
#[rtype(result = "Result<RunInfo, Error>")]
pub struct Start {
    pub integration: Id,
    pub since: Option<i64>,
}

/// The reconcile state of an integration (`GET .../reconcile`).
#[derive(Message)]
#[rtype(result = "Result<View, Error>")]
pub struct Status(pub Id);

/// Shutdown: abort the runs and start no more. The cursor of each is where
/// its last durable page left it.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Halt;

/// A run that was started.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunInfo {
    pub integration: Id,
    /// When it started (ms).
    pub started: i64,
    /// Where it reads from (ms).
    pub from: i64,
    pub manual: bool,
}

/// Issues read so far, of how many the queries said they would return.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Progress {
    pub issues_read: u64,
    pub issues_total: u64,
}

/// What `GET .../reconcile` shows.
#[derive(Debug, Clone)]
pub struct View {
    pub cursor: Option<i64>,
    /// The run going on, if one is.
    pub running: Option<RunInfo>,
    /// The running run's progress, else the last run's.
    pub progress: Progress,
    pub last_run: Option<LastRun>,
}

/// A run going on: what it is and how far it got.
struct Running {
    info: RunInfo,
    progress: Progress,
    handle: Option<actix::dev::SpawnHandle>,
}

type Runs = Arc<Mutex<HashMap<Id, Running>>>;

fn lock(runs: &Runs) -> std::sync::MutexGuard<'_, HashMap<Id, Running>> {
    runs.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct ReconcileActor {
    deps: Deps,
    shared: Arc<Shared>,
    runs: Runs,
    halted: bool,
}

/// What every run uses.
struct Shared {
    deps: Deps,
    queue: SyncQueue,
    lookup: Arc<UserLookup>,
    clients: JiraClients,
}

impl Actor for ReconcileActor {
    type Context = Context<Self>;

    /// After start-up, then every `jira.reconcile_interval_secs` (0: only
    /// manual runs).
    fn started(&mut self, ctx: &mut Context<Self>) {
        let every = self.deps.config.jira.reconcile_interval_secs;
        if every == 0 {
            return;
        }
        ctx.run_later(Duration::from_millis(500), |act, ctx| act.start_due(ctx));
        ctx.run_interval(Duration::from_secs(every), |act, ctx| act.start_due(ctx));
    }
}

impl Handler<Ping> for ReconcileActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

impl Handler<Start> for ReconcileActor {
    type Result = ResponseActFuture<Self, Result<RunInfo, Error>>;
    fn handle(&mut self, msg: Start, _: &mut Context<Self>) -> Self::Result {
        let store = self.deps.store.clone();
        let id = msg.integration;
        let read = async move {
            blocking(move || {
                let i = store.require_integration(id)?;
                let cursor = store.reconcile_record(id)?.cursor;
                Ok::<_, Error>((i, cursor))
            })
            .await
        };
        Box::pin(read.into_actor(self).map(move |r, act, ctx| {
            let (i, cursor) = r?;
            connected(&i)?;
            act.begin(ctx, &i, cursor, msg.since, true)
        }))
    }
}

impl Handler<Status> for ReconcileActor {
    type Result = ResponseFuture<Result<View, Error>>;
    fn handle(&mut self, msg: Status, _: &mut Context<Self>) -> Self::Result {
        let (store, runs, id) = (self.deps.store.clone(), self.runs.clone(), msg.0);
        Box::pin(async move {
            let record = blocking(move || {
                store.require_integration(id)?;
                store.reconcile_record(id)
            })
            .await?;
            let running = lock(&runs).get(&id).map(|r| (r.info.clone(), r.progress));
            let last = record.last_run.as_ref().map(|l| Progress {
                issues_read: l.issues_read,
                issues_total: l.issues_read,
            });
            Ok(View {
                cursor: record.cursor,
                progress: running.as_ref().map(|r| r.1).or(last).unwrap_or_default(),
                running: running.map(|r| r.0),
                last_run: record.last_run,
            })
        })
    }
}

impl Handler<Halt> for ReconcileActor {
    type Result = usize;
    fn handle(&mut self, _: Halt, ctx: &mut Context<Self>) -> usize {
        self.halted = true;
        let mut runs = lock(&self.runs);
        let n = runs.len();
        for (_, r) in runs.drain() {
            if let Some(h) = r.handle {
                ctx.cancel_future(h);
            }
        }
        n
    }
}

impl ReconcileActor {
    /// The periodic (and start-up) runs: every active integration with a
    /// link that has no run going.
    fn start_due(&mut self, ctx: &mut Context<Self>) {
        if self.halted {
            return;
        }
        let store = self.deps.store.clone();
        let due = async move {
            blocking(move || {
                let mut out = Vec::new();
                for i in store.list_integrations()? {
                    if connected(&i).is_ok() && store.has_links(i.id)? {
                        let cursor = store.reconcile_record(i.id)?.cursor;
                        out.push((i, cursor));
                    }
                }
                Ok::<_, Error>(out)
            })
            .await
        };
        ctx.spawn(due.into_actor(self).map(|r, act, ctx| match r {
            Ok(due) => {
                for (i, cursor) in due {
                    // One already going: this round skips it.
                    let _ = act.begin(ctx, &i, cursor, None, false);
                }
            }
            Err(e) => warn!(act.deps.log, "reconcile-failed"; "error" => %e),
        }));
    }

    /// Start a run of `i` unless one is going (409).
    fn begin(
        &mut self,
        ctx: &mut Context<Self>,
        i: &Integration,
        cursor: Option<i64>,
        since: Option<i64>,
        manual: bool,
    ) -> Result<RunInfo, Error> {
        if self.halted {
            return Err(Error::Unavailable("synclinkd is shutting down".into()));
        }
        let mut runs = lock(&self.runs);
        if let Some(r) = runs.get(&i.id) {
            return Err(Error::Conflict(format!(
                "a reconcile run of integration {} is going on (started {})",
                i.id,
                crate::domain::rfc3339(r.info.started)
            )));
        }
        let cfg = &self.deps.config.jira;
        let now = crate::domain::now_ms();
        let info = RunInfo {
            integration: i.id,
            started: now,
            from: run_from(
                since,
                cursor,
                now,
                cfg.reconcile_overlap_secs,
                cfg.reconcile_first_lookback_secs,
            ),
            manual,
        };
        runs.insert(
            i.id,
            Running {
                info: info.clone(),
                progress: Progress::default(),
                handle: None,
            },
        );
        drop(runs);
        let run = Run {
            shared: self.shared.clone(),
            runs: self.runs.clone(),
            integration: i.clone(),
            info: info.clone(),
            log: self
                .deps
                .log
                .new(slog::o!("actor" => "reconcile", "integration" => i.id)),
        };
        let h = ctx.spawn(run.go().into_actor(self));
        if let Some(r) = lock(&self.runs).get_mut(&i.id) {
            r.handle = Some(h);
        }
        Ok(info)
    }
}

/// An integration reconcile can read: active, with an access token.
fn connected(i: &Integration) -> Result<(), Error> {
    if i.status != IntegrationStatus::Active || i.access_token.is_empty() {
        return Err(Error::Conflict(format!(
            "integration {} is not connected to Jira (it needs an access token and the active \
             status)",
            i.id
        )));
    }
    Ok(())
}

/// Why a run stopped early.
enum Failure {
    /// Jira refused or failed (401 / 403 also set the integration's `last_error`).
    Jira(Refusal),
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Jira(r) => write!(f, "{r}"),
            Failure::Other(s) => f.write_str(s),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Other(e.to_string())
    }
}

/// What a run did so far.
#[derive(Default)]
struct Tally {
    issues_read: u64,
    histories_applied: u64,
    outcomes: BTreeMap<String, u64>,
    /// Jira accounts named by histories, as resolved in this run.
    accounts: HashMap<String, Change>,
}

/// One run of one integration.
struct Run {
    shared: Arc<Shared>,
    runs: Runs,
    integration: Integration,
    info: RunInfo,
    log: slog::Logger,
}

/// Removes the run from the running ones however it ends (finished,
/// failed, aborted by [`Halt`], panicked).
struct Finish {
    runs: Runs,
    integration: Id,
    started: i64,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let mut runs = lock(&self.runs);
        if runs
            .get(&self.integration)
            .is_some_and(|r| r.info.started == self.started)
        {
            runs.remove(&self.integration);
        }
    }
}

impl Run {
    async fn go(self) {
        let _finish = Finish {
            runs: self.runs.clone(),
            integration: self.integration.id,
            started: self.info.started,
        };
        let clock = Instant::now();
        info!(self.log, "reconcile-started"; "from" => crate::domain::rfc3339(self.info.from),
              "manual" => self.info.manual);
        let mut tally = Tally::default();
        let result = AssertUnwindSafe(self.pages(&mut tally))
            .catch_unwind()
            .await;
        let error = match result {
            Ok(Ok(())) => None,
            Ok(Err(f)) => Some(f),
            Err(_) => Some(Failure::Other("internal error: the run panicked".into())),
        };
        let secs = clock.elapsed().as_secs_f64();
        match &error {
            None => info!(self.log, "reconcile-finished"; "issues_read" => tally.issues_read,
                          "histories_applied" => tally.histories_applied, "seconds" => secs),
            Some(f) => warn!(self.log, "reconcile-failed"; "error" => %f,
                             "issues_read" => tally.issues_read, "seconds" => secs),
        }
        let last = LastRun {
            started: self.info.started,
            finished: crate::domain::now_ms(),
            issues_read: tally.issues_read,
            histories_applied: tally.histories_applied,
            outcomes: tally.outcomes,
            error: error.as_ref().map(|f| f.to_string()),
        };
        let (store, id) = (self.shared.deps.store.clone(), self.integration.id);
        let refused = match &error {
            Some(Failure::Jira(r)) if matches!(r.status, Some(401 | 403)) => Some(r.to_string()),
            _ => None,
        };
        let saved = blocking(move || {
            let mut r = store.reconcile_record(id)?;
            r.last_run = Some(last);
            store.put_reconcile_record(id, &r)?;
            if let Some(msg) = refused {
                if let Some(mut i) = store.get_integration(id)? {
                    i.last_error = Some(msg);
                    store.update_integration(&i)?;
                }
            }
            Ok::<_, Error>(())
        })
        .await;
        if let Err(e) = saved {
            warn!(self.log, "reconcile-failed"; "error" => %e, "what" => "saving the run's outcome");
        }
    }

    fn set_progress(&self, f: impl FnOnce(&mut Progress)) {
        if let Some(r) = lock(&self.runs).get_mut(&self.integration.id) {
            f(&mut r.progress);
        }
    }

    /// Every query of the run, page by page; the cursor moves after each
    /// durable page to the least progress among the queries.
    async fn pages(&self, tally: &mut Tally) -> Result<(), Failure> {
        let s = &self.shared;
        let (store, id) = (s.deps.store.clone(), self.integration.id);
        let projects = blocking(move || store.linked_projects(id)).await?;
        let client = s
            .clients
            .get(&self.integration, s.deps.config.jira.timeout_secs)
            .map_err(|e| Failure::Other(e.to_string()))?;
        let minutes = minutes_back(self.info.from, crate::domain::now_ms());
        let mut queries: Vec<Vec<String>> = projects
            .chunks(PROJECTS_PER_QUERY)
            .map(<[String]>::to_vec)
            .collect();
        let mut progress: Vec<Option<i64>> = vec![None; queries.len()];
        let mut totals = vec![0u64; queries.len()];
        for q in 0..queries.len() {
            let asked_at = crate::domain::now_ms();
            // `updated` of the distinct issues read so far, ascending (the
            // order of the query): which of them left the window.
            let mut read: Vec<i64> = Vec::new();
            let mut seen: HashMap<String, i64> = HashMap::new();
            let mut start_at = 0u64;
            loop {
                let asked = Instant::now();
                let page = match client
                    .search(
                        &self.integration.access_token,
                        &jql(&queries[q], minutes),
                        start_at,
                        PAGE_SIZE,
                    )
                    .await
                {
                    Ok(p) => p,
                    // A project deleted or renamed in Jira fails the whole
                    // query: ask again without it (its links stay; the
                    // operator is told).
                    Err(r) if r.status == Some(400) => {
                        let gone = unknown_projects(&r.message);
                        let before = queries[q].len();
                        queries[q].retain(|p| !gone.contains(p));
                        // Nothing left out, or nothing left: Jira's answer
                        // stands (a run never "succeeds" on no query).
                        if queries[q].len() == before || queries[q].is_empty() {
                            return Err(Failure::Jira(r));
                        }
                        warn!(self.log, "reconcile-project-unknown"; "projects" => gone.join(","),
                              "error" => r.message.as_str());
                        continue;
                    }
                    Err(r) => return Err(Failure::Jira(r)),
                };
                let fetched = asked.elapsed();
                let returned = page.issues.len() as u64;
                totals[q] = page.total.max(start_at + returned);
                let fresh: Vec<IssueDoc> = page
                    .issues
                    .into_iter()
                    .filter(|i| {
                        let u = i.updated().unwrap_or(i64::MIN);
                        seen.insert(i.key.clone(), u) != Some(u)
                    })
                    .collect();
                let newest = fresh.iter().filter_map(IssueDoc::updated).max();
                let n = fresh.len();
                for i in &fresh {
                    read.push(i.updated().unwrap_or(i64::MIN));
                }
                self.apply(&client, fresh, tally).await?;
                debug!(self.log, "reconcile-page"; "start_at" => start_at, "issues" => returned,
                       "fetch_ms" => fetched.as_secs_f64() * 1e3,
                       "apply_ms" => (asked.elapsed() - fetched).as_secs_f64() * 1e3);
                tally.issues_read += n as u64;
                let total: u64 = totals.iter().sum();
                let done = tally.issues_read;
                self.set_progress(|p| {
                    p.issues_read = done;
                    p.issues_total = total.max(done);
                });
                if let Some(u) = newest {
                    progress[q] = Some(progress[q].map_or(u, |p| p.max(u)));
                    self.move_cursor(&progress).await?;
                }
                // The last page: nothing, fewer than Jira's page size (Jira
                // may cap `maxResults` below what was asked; its answer
                // says), or the end of `total`.
                let short = page.max_results > 0 && returned < page.max_results;
                if returned == 0 || short || start_at + returned >= page.total {
                    break;
                }
                // Issues that left the window's lower edge (it moves with
                // Jira's clock) shift the rest towards the start: step back
                // by them so that none is skipped (re-read ones are skipped
                // above, by key and `updated`).
                read.sort_unstable();
                let edge = crate::domain::now_ms() - (minutes as i64) * 60_000 + EDGE_MARGIN_MS;
                let gone = read.partition_point(|u| *u < edge) as u64;
                let next = (read.len() as u64).saturating_sub(gone);
                start_at = if next > start_at {
                    next
                } else {
                    start_at + returned
                };
            }
            // Read to its end: everything updated before it was asked is in.
            progress[q] = Some(progress[q].map_or(asked_at, |p| p.max(asked_at)));
            self.move_cursor(&progress).await?;
        }
        Ok(())
    }

    async fn move_cursor(&self, progress: &[Option<i64>]) -> Result<(), Failure> {
        let Some(to) = least_progress(progress) else {
            return Ok(());
        };
        let (store, id) = (self.shared.deps.store.clone(), self.integration.id);
        blocking(move || store.move_reconcile_cursor(id, to)).await?;
        Ok(())
    }

    /// The linked issues of a page: their whole changelogs, their histories
    /// as deliveries, answered (durable) before the page counts as read.
    async fn apply(
        &self,
        client: &JiraClient,
        issues: Vec<IssueDoc>,
        tally: &mut Tally,
    ) -> Result<(), Failure> {
        let s = &self.shared;
        // An issue counts when its key, or a key it had before a move, is
        // linked here.
        let keys: Vec<Vec<String>> = issues.iter().map(IssueDoc::keys).collect();
        let flat: Vec<String> = keys.iter().flatten().cloned().collect();
        let (store, id) = (s.deps.store.clone(), self.integration.id);
        let linked = blocking(move || store.linked_keys(id, &flat)).await?;
        let mut linked = linked.into_iter();
        let mut cmds = Vec::new();
        for (mut issue, keys) in issues.into_iter().zip(keys) {
            let any = keys
                .iter()
                .fold(false, |any, _| linked.next() == Some(true) || any);
            if !any {
                continue;
            }
            if issue.changelog_cut() {
                let whole = client
                    .issue_with_changelog(&self.integration.access_token, &issue.key)
                    .await
                    .map_err(Failure::Jira)?;
                issue.changelog = whole.changelog;
                if whole.fields.assignee.is_some() || issue.fields.assignee.is_none() {
                    issue.fields.assignee = whole.fields.assignee;
                }
            }
            for mut cmd in issue.commands(id, crate::domain::now_ms()) {
                // A Jira account is resolved once per run (a link, or its
                // email looked up; a miss too, unlike the look-up's cache).
                if let Some(Change::JiraUser { name, .. }) = &cmd.assignee {
                    let name = name.clone();
                    match tally.accounts.get(&name) {
                        Some(known) => cmd.assignee = Some(known.clone()),
                        None => {
                            cmd = s.lookup.resolve(cmd).await;
                            if let Some(a) = &cmd.assignee {
                                tally.accounts.insert(name, a.clone());
                            }
                        }
                    }
                }
                cmds.push(cmd);
            }
        }
        while !cmds.is_empty() {
            let rest = cmds.split_off(cmds.len().min(SUBMIT_CHUNK));
            let replies = futures_util::future::join_all(cmds.into_iter().map(|cmd| {
                s.queue.submit(Work::Inbound {
                    cmd,
                    log: self.log.clone(),
                })
            }))
            .await;
            for r in replies {
                let r =
                    r.map_err(|e| Failure::Other(format!("a history could not be applied: {e}")))?;
                *tally
                    .outcomes
                    .entry(r.outcome.as_str().to_string())
                    .or_default() += 1;
                if applied(r.outcome) {
                    tally.histories_applied += 1;
                }
            }
            cmds = rest;
        }
        Ok(())
    }
}

/// Did a delivery with this outcome change something?
fn applied(o: DeliveryOutcome) -> bool {
    use DeliveryOutcome::*;
    [Assigned, Unassigned, Resolved, Unresolved]
        .into_iter()
        .any(|p| o.has_part(p))
}

/// Start the reconcile actor.
pub fn start(deps: &Deps, queue: SyncQueue, lookup: Arc<UserLookup>) -> Addr<ReconcileActor> {
    ReconcileActor {
        deps: deps.clone(),
        shared: Arc::new(Shared {
            deps: deps.clone(),
            queue,
            lookup,
            clients: JiraClients::default(),
        }),
        runs: Runs::default(),
        halted: false,
    }
    .start()
}
