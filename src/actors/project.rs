//! `ProjectActor`: project save (slug rules, snowflake ID) and cascading
//! delete. One thread, so saves and deletes never race each other.

use super::cache::Invalidator;
use super::id::{block_on, IdActor, NextId};
use super::Deps;
use super::{guarded, Ping};
use crate::config::IdsConfig;
use crate::domain::{slug, Id, Project};
use crate::error::Error;
use crate::failpoint;
use crate::store::project_delete::DeleteCounts;
use crate::store::Store;
use actix::prelude::*;
use rand::Rng;

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

/// The save rules, with the ID source and the random source injected.
pub fn create_project<R: Rng + ?Sized>(
    store: &Store,
    ids: &IdsConfig,
    req: CreateProject,
    rng: &mut R,
    mut next_id: impl FnMut() -> Result<Id, Error>,
    now: i64,
) -> Result<Project, Error> {
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
    let mut id = None;
    for _ in 0..=ids.max_retries {
        let candidate = if ids.use_snowflake {
            next_id()?
        } else {
            store.next_seq("projects")?
        };
        if !store.project_id_used(candidate)? && !failpoint::hit("project-id-collision") {
            id = Some(candidate);
            break;
        }
    }
    let id = id.ok_or_else(|| Error::Conflict(MAX_ID_RETRIES_MESSAGE.into()))?;
    let p = Project {
        id,
        org,
        slug,
        name,
        teams: unique_teams,
        date_added: now,
    };
    store.insert_project(&p)?;
    store.flush()?;
    Ok(p)
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
    type Context = SyncContext<Self>;

    /// Also runs when the actor is rebuilt after a panic: a delete that the
    /// panic interrupted is finished before the next request is handled.
    fn started(&mut self, _: &mut SyncContext<Self>) {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            resume_deletes(&self.deps.store, &self.cache, &self.deps.log)
        }));
        if r.is_err() {
            slog::crit!(self.deps.log, "actor-panic"; "actor" => "project",
                "panic" => "while resuming project deletes");
        }
    }
}

impl Handler<Ping> for ProjectActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut SyncContext<Self>) {}
}

impl Handler<CreateProject> for ProjectActor {
    type Result = Result<Project, Error>;
    fn handle(&mut self, msg: CreateProject, ctx: &mut SyncContext<Self>) -> Self::Result {
        let (log, metrics) = (self.deps.log.clone(), self.deps.metrics.clone());
        guarded("project", ctx, &log, &metrics, || {
            if msg.name == "panic-now" && failpoint::hit("project-panic") {
                panic!("failpoint project-panic");
            }
            let ids = self.ids.clone();
            let p = create_project(
                &self.deps.store,
                &self.deps.config.ids,
                msg,
                &mut rand::thread_rng(),
                || match block_on(ids.send(NextId)) {
                    Ok(r) => Ok(r?),
                    Err(e) => Err(Error::Unavailable(format!(
                        "the ID generator does not answer: {e}"
                    ))),
                },
                crate::domain::now_ms(),
            )?;
            slog::info!(log, "project-created"; "project" => p.id, "org" => p.org, "slug" => &p.slug);
            Ok(p)
        })?
    }
}

impl Handler<DeleteProject> for ProjectActor {
    type Result = Result<DeleteCounts, Error>;
    fn handle(&mut self, msg: DeleteProject, ctx: &mut SyncContext<Self>) -> Self::Result {
        let (log, metrics) = (self.deps.log.clone(), self.deps.metrics.clone());
        guarded("project", ctx, &log, &metrics, || {
            let id = msg.0;
            let store = &self.deps.store;
            store.begin_project_delete(id)?;
            match run_delete(store, &self.cache, id) {
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
        })?
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
    SyncArbiter::start(1, move || ProjectActor {
        deps: deps.clone(),
        ids: ids.clone(),
        cache: cache.clone(),
    })
}

#[cfg(test)]
#[path = "project_tests.rs"]
mod tests;
