//! The unit tests' shared helpers (one place; integration tests have
//! `tests/it/common`).

use crate::actors::Deps;
use crate::config::Config;
use crate::domain::{Id, Project};
use crate::metrics::Metrics;
use crate::store::Store;
use std::sync::Arc;

/// What an actor is built from, on `config` and `store`, logging nowhere.
pub(crate) fn deps(config: Config, store: Store) -> Deps {
    Deps {
        config: Arc::new(config),
        store,
        metrics: Metrics::new(),
        log: slog::Logger::root(slog::Discard, slog::o!()),
    }
}

/// Insert a bare project `id` (org 1, slug `p{id}`, no teams).
pub(crate) fn project(s: &Store, id: Id) {
    s.insert_project(&Project {
        id,
        org: 1,
        slug: format!("p{id}"),
        name: "P".into(),
        teams: vec![],
        date_added: 0,
    })
    .unwrap();
}
