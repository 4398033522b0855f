//! `CacheActor`: the group ownership cache (group → assignee or none).
//!
//! Read-through from the store, bounded by `cache.max_entries`; a cached
//! assignee lives `cache.ttl_secs`, a cached "no assignee" lives
//! `cache.negative_ttl_secs` (a moka `Expiry`).
//!
//! Writers invalidate directly through an [`Invalidator`] (moka is
//! concurrent): the single writer does it once per batch, project delete
//! once per deleted project's groups. A message to
//! this `SyncArbiter` actor would be forwarded by the system thread and
//! make the writer wait for two other threads to be scheduled. A lookup
//! that read the old value just before a write must not cache it after the
//! invalidation: every invalidation first bumps a counter, and a lookup
//! that saw the counter move between its store read and its insert drops
//! what it inserted (see [`Invalidator::invalidate`]).

use super::Deps;
use super::{guarded, Ping};
use crate::domain::Id;
use crate::store::StoreResult;
use actix::prelude::*;
use moka::sync::Cache;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
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
    invalidator: Invalidator,
}

/// Drops groups from the cache, from any thread, at once.
#[derive(Clone)]
pub struct Invalidator {
    cache: Cache<Id, Entry>,
    /// Invalidations so far (see the module docs).
    epoch: Arc<AtomicU64>,
    metrics: crate::metrics::Metrics,
}

impl Invalidator {
    /// Drop every cache entry about these groups (assign, deassign,
    /// delete). Call it after the write is in the store and before anyone
    /// is told about the write.
    pub fn invalidate(&self, groups: &[Id]) {
        if groups.is_empty() {
            return;
        }
        // Before the removals: a lookup that inserts after them sees it.
        self.epoch.fetch_add(1, SeqCst);
        for g in groups {
            self.cache.invalidate(g);
            self.metrics.cache_invalidations.inc();
        }
        self.publish_entries();
    }

    /// Set the `cache_entries` gauge to the cache's (approximate) size.
    fn publish_entries(&self) -> u64 {
        let n = self.cache.entry_count();
        self.metrics
            .cache_entries
            .set(n.try_into().unwrap_or(i64::MAX));
        n
    }

    fn epoch(&self) -> u64 {
        self.epoch.load(SeqCst)
    }

    /// Cache what a lookup read from the store, unless an invalidation
    /// happened since `seen` (the epoch before the read): a write may have
    /// landed after the read and been invalidated before this insert, so
    /// the value may be the old one.
    fn insert_read(&self, group: Id, v: Entry, seen: u64) {
        self.cache.insert(group, v);
        if self.epoch() != seen {
            self.cache.invalidate(&group);
        }
    }
}

impl Actor for CacheActor {
    type Context = SyncContext<Self>;
}

impl Handler<Ping> for CacheActor {
    type Result = ();
    fn handle(&mut self, _: Ping, _: &mut SyncContext<Self>) {}
}

/// Read-through lookup of a group's assignee.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<Lookup, crate::error::Error>")]
pub struct GetAssignee(pub Id);

/// Answer to [`GetAssignee`]: `cached` tells whether the answer came from
/// the cache (a hit) or from the store (a miss, now cached).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Lookup {
    pub cached: bool,
    pub assignee: Option<CachedAssignee>,
}

impl Handler<GetAssignee> for CacheActor {
    type Result = Result<Lookup, crate::error::Error>;
    fn handle(&mut self, msg: GetAssignee, ctx: &mut SyncContext<Self>) -> Self::Result {
        let deps = self.deps.clone();
        let inv = self.invalidator.clone();
        guarded("cache", ctx, &deps.log, &deps.metrics, || {
            lookup(&deps, &inv, msg.0)
        })?
    }
}

fn lookup(deps: &Deps, inv: &Invalidator, group: Id) -> StoreResult<Lookup> {
    if let Some(v) = inv.cache.get(&group) {
        deps.metrics.cache_hits.inc();
        return Ok(Lookup {
            cached: true,
            assignee: v,
        });
    }
    deps.metrics.cache_misses.inc();
    let seen = inv.epoch();
    deps.store.require_group(group)?;
    let v = deps
        .store
        .assignee_with_email(group)?
        .map(|(a, email)| CachedAssignee {
            user: a.user,
            email,
            date_added: a.date_added,
        });
    inv.insert_read(group, v.clone(), seen);
    inv.publish_entries();
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
        self.invalidator.cache.run_pending_tasks();
        let entries = self.invalidator.publish_entries();
        let m = &self.deps.metrics;
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

/// Start the cache actor (lookups and stats); the [`Invalidator`] is for
/// the writers (the single writer and project delete).
pub fn start(deps: &Deps) -> (Addr<CacheActor>, Invalidator) {
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
    let invalidator = Invalidator {
        cache: cache.clone(),
        epoch: Arc::default(),
        metrics: deps.metrics.clone(),
    };
    let inv = invalidator.clone();
    let addr = SyncArbiter::start(1, move || CacheActor {
        deps: deps.clone(),
        invalidator: inv.clone(),
    });
    (addr, invalidator)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn invalidator() -> Invalidator {
        let deps =
            crate::testing::deps(Config::default(), crate::store::Store::temporary().unwrap());
        Invalidator {
            cache: Cache::builder().max_capacity(100).build(),
            epoch: Arc::default(),
            metrics: deps.metrics.clone(),
        }
    }

    fn old() -> Entry {
        Some(CachedAssignee {
            user: 7,
            email: None,
            date_added: 1,
        })
    }

    #[test]
    fn a_read_overtaken_by_an_invalidation_is_not_kept() {
        let inv = invalidator();
        // The lookup reads (old value), the writer writes and invalidates,
        // then the lookup inserts: the old value must not stay cached.
        let seen = inv.epoch();
        inv.invalidate(&[1]);
        inv.insert_read(1, old(), seen);
        assert_eq!(inv.cache.get(&1), None);
        // Without an invalidation in between, the read is cached.
        let seen = inv.epoch();
        inv.insert_read(2, old(), seen);
        assert_eq!(inv.cache.get(&2), Some(old()));
        // An invalidation after the insert removes it, and counts.
        let before = inv.metrics.cache_invalidations.get();
        inv.invalidate(&[2, 3]);
        assert_eq!(inv.cache.get(&2), None);
        assert_eq!(inv.metrics.cache_invalidations.get(), before + 2);
        // Nothing to invalidate: the epoch does not move.
        let e = inv.epoch();
        inv.invalidate(&[]);
        assert_eq!(inv.epoch(), e);
    }
}
