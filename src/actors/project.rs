//! `ProjectActor`: project save (slug rules, snowflake ID) and cascading
//! delete. Each request runs to its end before the next one starts
//! (`AtomicResponse`), so saves and deletes never race each other; store
//! calls run on the blocking pool and IDs are asked of the `IdActor` with
//! a message that is awaited, never blocked on.

use super::cache::Invalidator;
use super::id::{IdActor, NextId};
use super::Deps;
use super::Ping;
use crate::config::IdsConfig;
use crate::domain::{slug, Id, Project};
use crate::error::Error;
use crate::failpoint;
use crate::store::project_delete::DeleteCounts;
use crate::store::Store;
use actix::prelude::*;
use futures_util::FutureExt;
use rand::{Rng, SeedableRng};
use std::panic::AssertUnwindSafe;

/// The 409 message of SPEC section 7 when every ID tried was already used.
pub const MAX_ID_RETRIES_MESSAGE: &str =
    "Max allowed ID retry reached. Please try again in a second";

/// Save a new project. `slug: None` derives one from the name.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Project, Error>")]
pub struct CreateProject {
    pub org: Id,
    pub name: String,
    pub slug: Option<String>,
    pub teams: Vec<Id>,
}

/// Delete a project and everything hanging off it.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<DeleteCounts, Error>")]
pub struct DeleteProject(pub Id);

/// A project that passed the save rules, waiting for its ID.
#[derive(Debug, Clone)]
pub struct Prepared {
    org: Id,
    name: String,
    slug: String,
    teams: Vec<Id>,
}

/// The save rules (SPEC section 7): the organization and teams exist and
/// fit, the slug is valid and free (or derived from the name).
pub fn prepare_project<R: Rng + ?Sized>(
    store: &Store,
    req: CreateProject,
    rng: &mut R,
) -> Result<Prepared, Error> {
    let CreateProject {
        org,
        name,
        slug,
        teams,
    } = req;
    if store.get_org(org)?.is_none() {
        return Err(Error::NotFound(format!("organization {org}")));
    }
    let mut unique_teams: Vec<Id> = Vec::with_capacity(teams.len());
    for t in teams {
        if unique_teams.contains(&t) {
            continue;
        }
        match store.get_team(t)? {
            None => return Err(Error::NotFound(format!("team {t}"))),
            Some(team) if team.org != org => {
                return Err(Error::BadRequest(format!(
                    "team {t} does not belong to organization {org}"
                )))
            }
            Some(_) => unique_teams.push(t),
        }
    }
    let slug = match slug {
        Some(s) => {
            slug::validate_explicit(&s).map_err(Error::BadRequest)?;
            if store.project_slug_taken(org, &s)? {
                return Err(Error::Conflict(format!(
                    "project slug `{s}` is taken in organization {org}"
                )));
            }
            s
        }
        None => {
            slug::generate(&name, rng, |c| store.project_slug_taken(org, c))?.ok_or_else(|| {
                Error::Conflict(format!(
                    "could not find a free slug for `{name}` in organization {org}; give one"
                ))
            })?
        }
    };
    Ok(Prepared {
        org,
        name,
        slug,
        teams: unique_teams,
    })
}

/// Save the project under `id`, unless a project already has that ID
/// (None: try another).
pub fn insert_with_id(
    store: &Store,
    p: &Prepared,
    id: Id,
    now: i64,
) -> Result<Option<Project>, Error> {
    if store.project_id_used(id)? || failpoint::hit("project-id-collision") {
        return Ok(None);
    }
    let p = Project {
        id,
        org: p.org,
        slug: p.slug.clone(),
        name: p.name.clone(),
        teams: p.teams.clone(),
        date_added: now,
    };
    store.insert_project(&p)?;
    store.flush()?;
    Ok(Some(p))
}

/// Run a store call on the blocking pool. A panic in it is raised again
/// here, in the actor's future, where the actor boundary catches it.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Error::Unavailable(format!("blocking pool: {e}"))),
    }
}

/// Save a new project: the save rules, then an ID from `next_id` (or the
/// sequence) until one is free, at most `ids.max_retries` retries (then 409
/// with [`MAX_ID_RETRIES_MESSAGE`]). Store calls run on the blocking pool;
/// the ID source is awaited, never blocked on.
pub async fn create_project<R, F, Fut>(
    store: Store,
    ids: IdsConfig,
    req: CreateProject,
    mut rng: R,
    mut next_id: F,
    now: i64,
) -> Result<Project, Error>
where
    R: Rng + Send + 'static,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Id, Error>>,
{
    let s = store.clone();
    let prepared = std::sync::Arc::new(
        blocking(move || {
            if req.name == "panic-now" && failpoint::hit("project-panic") {
                panic!("failpoint project-panic");
            }
            prepare_project(&s, req, &mut rng)
        })
        .await?,
    );
    for _ in 0..=ids.max_retries {
        let candidate = if ids.use_snowflake {
            next_id().await?
        } else {
            let s = store.clone();
            blocking(move || s.next_seq("projects")).await?
        };
        let (s, p) = (store.clone(), prepared.clone());
        if let Some(project) = blocking(move || insert_with_id(&s, &p, candidate, now)).await? {
            return Ok(project);
        }
    }
    Err(Error::Conflict(MAX_ID_RETRIES_MESSAGE.into()))
}

/// Run the cascade of a tombstoned project, invalidate its groups' cache.
fn run_delete(store: &Store, cache: &Invalidator, id: Id) -> Result<DeleteCounts, Error> {
    let mut done = 0usize;
    let (counts, groups) = store.run_project_delete(id, |_| {
        done += 1;
        if done == 1 && failpoint::hit("project-delete-crash") {
            // Make the partial delete durable, then die like kill -9.
            let _ = store.flush();
            failpoint::crash_if("project-delete-crash");
        }
        if done == 1 && failpoint::hit("project-delete-panic") {
            // Once per process, so the resume after the restart can finish.
            static FIRED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
            if !FIRED.swap(true, std::sync::atomic::Ordering::SeqCst) {
                panic!("failpoint project-delete-panic");
            }
        }
    })?;
    store.flush()?;
    cache.invalidate(&groups);
    Ok(counts)
}

pub struct ProjectActor {
    deps: Deps,
    ids: Addr<IdActor>,
    cache: Invalidator,
}

impl Actor for ProjectActor {
    type Context = Context<Self>;

    /// Also runs when the actor is rebuilt after a panic: a delete that the
    /// panic interrupted is finished before the next request is handled
    /// (`ctx.wait` holds the mailbox until it is done).
    fn started(&mut self, ctx: &mut Context<Self>) {
        let (store, cache, log) = (
            self.deps.store.clone(),
            self.cache.clone(),
            self.deps.log.clone(),
        );
        let resume = tokio::task::spawn_blocking(move || resume_deletes(&store, &cache, &log));
        ctx.wait(resume.into_actor(self).map(|r, act, _| {
            if r.is_err() {
                slog::crit!(act.deps.log, "actor-panic"; "actor" => "project",
                    "panic" => "while resuming project deletes");
            }
        }));
    }
}

/// A handler panic stops the actor; actix's `Supervisor` builds a new one.
impl actix::Supervised for ProjectActor {}

impl Handler<Ping> for ProjectActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

impl ProjectActor {
    /// Run a request to its end before the next message is handled (saves
    /// and deletes never interleave); a panic inside it is caught, logged as
    /// `"actor-panic"`, counted, answered with an error, and the actor is
    /// stopped (its `Supervisor` restarts it).
    fn atomic<T: 'static>(
        &self,
        fut: impl std::future::Future<Output = Result<T, Error>> + 'static,
    ) -> AtomicResponse<Self, Result<T, Error>> {
        let fut = AssertUnwindSafe(fut).catch_unwind();
        AtomicResponse::new(Box::pin(fut.into_actor(self).map(|res, act, ctx| {
            match res {
                Ok(r) => r,
                Err(payload) => Err(super::contain_panic(
                    "project",
                    ctx,
                    &act.deps.log,
                    &act.deps.metrics,
                    payload,
                )
                .into()),
            }
        })))
    }
}

impl Handler<CreateProject> for ProjectActor {
    type Result = AtomicResponse<Self, Result<Project, Error>>;
    fn handle(&mut self, msg: CreateProject, _: &mut Context<Self>) -> Self::Result {
        let (store, ids, log) = (
            self.deps.store.clone(),
            self.ids.clone(),
            self.deps.log.clone(),
        );
        let config = self.deps.config.ids.clone();
        self.atomic(async move {
            let p = create_project(
                store,
                config,
                msg,
                rand::rngs::StdRng::from_entropy(),
                || {
                    let ids = ids.clone();
                    async move {
                        ids.send(NextId).await.map_err(|e| {
                            Error::Unavailable(format!("the ID generator does not answer: {e}"))
                        })?
                    }
                },
                crate::domain::now_ms(),
            )
            .await?;
            slog::info!(log, "project-created"; "project" => p.id, "org" => p.org, "slug" => &p.slug);
            Ok(p)
        })
    }
}

impl Handler<DeleteProject> for ProjectActor {
    type Result = AtomicResponse<Self, Result<DeleteCounts, Error>>;
    fn handle(&mut self, msg: DeleteProject, _: &mut Context<Self>) -> Self::Result {
        let (store, cache, log) = (
            self.deps.store.clone(),
            self.cache.clone(),
            self.deps.log.clone(),
        );
        self.atomic(blocking(move || {
            let id = msg.0;
            store.begin_project_delete(id)?;
            match run_delete(&store, &cache, id) {
                Ok(counts) => {
                    slog::info!(log, "project-deleted"; "project" => id,
                        "groups" => counts.groups, "links" => counts.links,
                        "assignees" => counts.assignees, "activities" => counts.activities,
                        "notification_settings" => counts.notification_settings);
                    Ok(counts)
                }
                Err(e) => {
                    // The tombstone stays: the project is gone for the API and
                    // the cascade resumes at the next start.
                    slog::error!(log, "project-delete-failed"; "project" => id, "error" => %e);
                    Err(e)
                }
            }
        }))
    }
}

/// Finish every delete a crash interrupted. Runs before the actor takes
/// requests, so nothing of a deleted project is visible once the daemon is up.
pub fn resume_deletes(store: &Store, cache: &Invalidator, log: &slog::Logger) {
    let pending = match store.pending_project_deletes() {
        Ok(p) => p,
        Err(e) => {
            slog::error!(log, "project-delete-resume-failed"; "error" => %e);
            return;
        }
    };
    for id in pending {
        match run_delete(store, cache, id) {
            Ok(c) => slog::info!(log, "project-delete-resumed"; "project" => id,
                "groups" => c.groups, "links" => c.links, "assignees" => c.assignees,
                "activities" => c.activities, "notification_settings" => c.notification_settings),
            Err(e) => {
                slog::error!(log, "project-delete-resume-failed"; "project" => id, "error" => %e)
            }
        }
    }
}

pub fn start(deps: &Deps, ids: Addr<IdActor>, cache: Invalidator) -> Addr<ProjectActor> {
    let log = deps.log.new(slog::o!("actor" => "project"));
    resume_deletes(&deps.store, &cache, &log);
    let deps = Deps {
        log,
        ..deps.clone()
    };
    actix::Supervisor::start(move |_| ProjectActor { deps, ids, cache })
}

#[cfg(test)]
mod tests;
