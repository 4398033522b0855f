//! `CacheActor`: the group ownership cache (group → assignee or none).
//!
//! Read-through from the store, bounded by `cache.max_entries`; a cached
//! assignee lives `cache.ttl_secs`, a cached "no assignee" lives
//! `cache.negative_ttl_secs` (a moka `Expiry`). One thread: a lookup's store
//! read and its insert happen between two messages, so an invalidation sent
//! after a write can never be overtaken by a lookup that read the old value.

use super::supervisor::Deps;
use super::{guarded, Ping};
use crate::domain::Id;
use crate::store::{StoreError, StoreResult};
use actix::prelude::*;
use moka::sync::Cache;
use std::time::{Duration, Instant};

/// What the cache holds for one group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CachedAssignee {
    pub user: Id,
    pub email: Option<String>,
    /// ms since the epoch.
    pub date_added: i64,
}

type Entry = Option<CachedAssignee>;

struct TtlByKind {
    positive: Duration,
    negative: Duration,
}

impl TtlByKind {
    fn ttl(&self, v: &Entry) -> Option<Duration> {
        Some(if v.is_some() {
            self.positive
        } else {
            self.negative
        })
    }
}

impl moka::Expiry<Id, Entry> for TtlByKind {
    fn expire_after_create(&self, _: &Id, v: &Entry, _: Instant) -> Option<Duration> {
        self.ttl(v)
    }
    fn expire_after_update(
        &self,
        _: &Id,
        v: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.ttl(v)
    }
}

pub struct CacheActor {
    deps: Deps,
    cache: Cache<Id, Entry>,
}

impl Actor for CacheActor {
    type Context = SyncContext<Self>;
}

impl Handler<Ping> for CacheActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut SyncContext<Self>) {}
}

/// Drop every cache entry about these groups (assign, deassign, delete).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct InvalidateGroups(pub Vec<Id>);

impl Handler<InvalidateGroups> for CacheActor {
    type Result = ();
    fn handle(&mut self, msg: InvalidateGroups, ctx: &mut SyncContext<Self>) {
        let deps = self.deps.clone();
        let cache = self.cache.clone();
        let _ = guarded("cache", ctx, &deps.log, &deps.metrics, || {
            for g in &msg.0 {
                cache.invalidate(g);
                deps.metrics.cache_invalidations.inc();
            }
            deps.metrics
                .cache_entries
                .set(cache.entry_count().try_into().unwrap_or(i64::MAX));
        });
    }
}

/// Read-through lookup of a group's assignee.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<Lookup, LookupError>")]
pub struct GetAssignee(pub Id);

/// Answer to [`GetAssignee`]: `cached` tells whether the answer came from
/// the cache (a hit) or from the store (a miss, now cached).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Lookup {
    pub cached: bool,
    pub assignee: Option<CachedAssignee>,
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Panic(#[from] super::ActorPanic),
}

impl Handler<GetAssignee> for CacheActor {
    type Result = Result<Lookup, LookupError>;
    fn handle(&mut self, msg: GetAssignee, ctx: &mut SyncContext<Self>) -> Self::Result {
        let deps = self.deps.clone();
        let cache = self.cache.clone();
        guarded("cache", ctx, &deps.log, &deps.metrics, || {
            lookup(&deps, &cache, msg.0)
        })?
        .map_err(LookupError::from)
    }
}

fn lookup(deps: &Deps, cache: &Cache<Id, Entry>, group: Id) -> StoreResult<Lookup> {
    if let Some(v) = cache.get(&group) {
        deps.metrics.cache_hits.inc();
        return Ok(Lookup {
            cached: true,
            assignee: v,
        });
    }
    deps.metrics.cache_misses.inc();
    deps.store.require_group(group)?;
    let v = deps
        .store
        .assignee_with_email(group)?
        .map(|(a, email)| CachedAssignee {
            user: a.user,
            email,
            date_added: a.date_added,
        });
    cache.insert(group, v.clone());
    deps.metrics
        .cache_entries
        .set(cache.entry_count().try_into().unwrap_or(i64::MAX));
    Ok(Lookup {
        cached: false,
        assignee: v,
    })
}

/// Cache statistics for `GET /v1/cache`.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "CacheStats")]
pub struct Stats;

#[derive(Debug, Clone, serde::Serialize, actix::MessageResponse)]
pub struct CacheStats {
    pub entries: u64,
    pub max_entries: u64,
    pub ttl_secs: u64,
    pub negative_ttl_secs: u64,
    pub hits: u64,
    pub misses: u64,
    pub invalidations: u64,
}

impl Handler<Stats> for CacheActor {
    type Result = CacheStats;
    fn handle(&mut self, _: Stats, _: &mut SyncContext<Self>) -> CacheStats {
        self.cache.run_pending_tasks();
        let entries = self.cache.entry_count();
        let m = &self.deps.metrics;
        m.cache_entries.set(entries.try_into().unwrap_or(i64::MAX));
        let c = &self.deps.config.cache;
        CacheStats {
            entries,
            max_entries: c.max_entries,
            ttl_secs: c.ttl_secs,
            negative_ttl_secs: c.negative_ttl_secs,
            hits: m.cache_hits.get(),
            misses: m.cache_misses.get(),
            invalidations: m.cache_invalidations.get(),
        }
    }
}

pub fn start(deps: &Deps) -> Addr<CacheActor> {
    let deps = deps.clone();
    let c = &deps.config.cache;
    // Built once: a restarted actor keeps the same cache.
    let cache: Cache<Id, Entry> = Cache::builder()
        .max_capacity(c.max_entries)
        .expire_after(TtlByKind {
            positive: Duration::from_secs(c.ttl_secs),
            negative: Duration::from_secs(c.negative_ttl_secs),
        })
        .build();
    SyncArbiter::start(1, move || CacheActor {
        deps: deps.clone(),
        cache: cache.clone(),
    })
}
