//! Batches of the single writer: one atomic write gives exactly what
//! applying the deliveries one by one gives, and one failing delivery does
//! not fail the others.

use super::batch::Work;
use super::{Error, SyncActor, SyncReply};
use crate::actors::flusher::Commit;
use crate::config::{Config, Durability};
use crate::domain::plan::{Change, SyncCommand};
use crate::domain::{
    Delivery, DeliveryOutcome, Email, Id, Integration, IntegrationStatus, Link, Project,
};
use crate::store::sync::DeliveryFilter;
use crate::store::Store;
use crate::testing::deps;
use std::time::Duration;

const INT_EXT: &str = "jira.example.org:t";

struct World {
    integration: Id,
    g1: Id,
    g2: Id,
    bob: Id,
}

fn world(store: &Store) -> World {
    let org = store.create_org("acme", "Acme").unwrap();
    let team = store.create_team(org.id, "backend", "Backend").unwrap();
    let bob = store
        .create_user(
            "Bob",
            &[Email {
                email: "bob@example.org".into(),
                verified: true,
            }],
        )
        .unwrap();
    store.add_team_member(team.id, bob.id).unwrap();
    store
        .insert_project(&Project {
            id: 100,
            org: org.id,
            slug: "backend".into(),
            name: "Backend".into(),
            teams: vec![team.id],
            date_added: 0,
        })
        .unwrap();
    let g1 = store.create_group(100, "g1", 0).unwrap().id;
    let g2 = store.create_group(100, "g2", 0).unwrap().id;
    let i = store
        .create_integration(Integration {
            status: IntegrationStatus::Active,
            date_added: 1,
            ..crate::domain::integration::sample(INT_EXT)
        })
        .unwrap();
    store
        .put_installation(
            org.id,
            i.id,
            crate::domain::Switches {
                sync_inbound_assignee: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    for (g, key) in [(g1, "APP-1"), (g2, "APP-2")] {
        store
            .create_link(&Link {
                group: g,
                integration: i.id,
                key: key.into(),
            })
            .unwrap();
    }
    World {
        integration: i.id,
        g1,
        g2,
        bob: bob.id,
    }
}

/// A SyncActor value (not started: the test calls it directly) over a
/// fresh store, with a running cache actor.
fn actor(log_max: usize) -> (SyncActor, World) {
    let store = Store::temporary().unwrap();
    let w = world(&store);
    let mut config = Config::default();
    config.storage.delivery_log_max = log_max;
    let d = deps(config, store.clone());
    let commit = Commit::start(
        store,
        d.metrics.clone(),
        crate::logging::discard(),
        Durability::Async,
        Duration::from_millis(10),
    );
    let cache = crate::actors::cache::start(&d).1;
    let outbox = crate::actors::outbox::start(&d, commit.clone());
    let a = SyncActor {
        log: d.log.clone(),
        cache,
        commit,
        outbox,
        deps: d,
        delivery_count: None,
        queue: Default::default(),
    };
    (a, w)
}

fn inbound(integration: Id, key: &str, cl: &str, ts: i64, assign: bool) -> Work {
    Work::Inbound {
        cmd: SyncCommand {
            received: ts,
            integration,
            key: key.into(),
            changelog_id: Some(cl.into()),
            timestamp: Some(ts),
            assignee: Some(if assign {
                Change::Assign("BOB@example.org".into())
            } else {
                Change::Unassign
            }),
            status: None,
            source: Default::default(),
            moved: None,
        },
        log: crate::logging::discard(),
    }
}

fn record(outcome: DeliveryOutcome) -> Work {
    Work::Record(Delivery {
        id: 0,
        received: 1,
        integration: None,
        key: Some("APP-9".into()),
        changelog_id: None,
        timestamp: None,
        outcome,
        groups: vec![],
        reason: "refused".into(),
        source: Default::default(),
    })
}

/// The mixed workload: same key (duplicates, stale, equal timestamps),
/// another key, a vanished integration in the middle, an early outcome.
fn workload(w: &World) -> Vec<Work> {
    let i = w.integration;
    vec![
        inbound(i, "APP-1", "1", 10, true),
        inbound(i, "APP-1", "1", 10, true),
        inbound(i, "APP-1", "2", 5, false),
        inbound(999_999, "APP-1", "7", 30, false),
        inbound(i, "APP-1", "3", 20, false),
        record(DeliveryOutcome::BadToken),
        inbound(i, "APP-1", "4", 20, false),
        inbound(i, "APP-2", "1", 1, true),
        inbound(i, "APP-2", "2", 2, true),
        inbound(i, "APP-1", "5", 25, true),
    ]
}

type Summary = Vec<Result<(DeliveryOutcome, Vec<Id>, String), String>>;

fn summary(rs: &[Result<SyncReply, Error>]) -> Summary {
    rs.iter()
        .map(|r| match r {
            Ok(r) => Ok((r.outcome, r.groups.clone(), r.reason.clone())),
            Err(e) => Err(e.to_string()),
        })
        .collect()
}

/// Everything the writes left behind, ids aside.
fn state(a: &SyncActor, w: &World) -> String {
    let s = &a.deps.store;
    let log: Vec<_> = s
        .list_deliveries(&DeliveryFilter::default(), 1000, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|d| (d.outcome, d.key, d.changelog_id, d.groups, d.reason))
        .collect();
    let acts: Vec<_> = [w.g1, w.g2]
        .iter()
        .flat_map(|g| s.list_activity(*g).unwrap())
        .map(|a| (a.group, a.kind, a.data))
        .collect();
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        s.get_assignee(w.g1).unwrap().map(|a| a.user),
        s.get_assignee(w.g2).unwrap().map(|a| a.user),
        s.delivery_state(w.integration, "APP-1").unwrap(),
        s.delivery_state(w.integration, "APP-2").unwrap(),
        log,
        acts
    )
}

/// Build the actors inside a running actix system, then call `f` off its
/// thread (a SyncArbiter's dispatcher runs on the system thread, which the
/// blocking cache invalidation must not hold).
fn with_system<T: Send + 'static>(setup: impl FnOnce() -> T, f: impl FnOnce(T) + Send + 'static) {
    actix::System::new().block_on(async move {
        let t = setup();
        tokio::task::spawn_blocking(move || f(t)).await.unwrap();
    });
}

#[test]
fn one_batch_equals_one_delivery_at_a_time() {
    with_system(
        || (actor(100), actor(100)),
        |((mut batched, w), (mut seq, w2))| {
            let rb = batched.run_batch(workload(&w));
            let rs: Vec<_> = workload(&w2)
                .into_iter()
                .flat_map(|item| seq.run_batch(vec![item]))
                .collect();
            assert_eq!(summary(&rb), summary(&rs));
            assert_eq!(state(&batched, &w), state(&seq, &w2));

            use DeliveryOutcome::*;
            let outcomes: Vec<_> = rb.iter().map(|r| r.as_ref().map(|r| r.outcome)).collect();
            let want = [
                Assigned, Duplicate, Stale, Failed, Unassigned, BadToken, Unchanged, Assigned,
                Unchanged, Assigned,
            ];
            for (i, (got, want)) in outcomes.iter().zip(want).enumerate() {
                if i == 3 {
                    // The vanished integration fails alone, as a bad reference.
                    assert!(matches!(got, Err(Error::BadRequest(_))), "{got:?}");
                } else {
                    assert_eq!(got.as_ref().ok(), Some(&want), "delivery {i}");
                }
            }
            let s = &batched.deps.store;
            assert_eq!(s.get_assignee(w.g1).unwrap().unwrap().user, w.bob);
            assert_eq!(s.get_assignee(w.g2).unwrap().unwrap().user, w.bob);
            // assigned, unassigned, assigned again: three activities, unique ids.
            let acts = s.list_activity(w.g1).unwrap();
            assert_eq!(acts.len(), 3);
            let st = s.delivery_state(w.integration, "APP-1").unwrap().unwrap();
            assert_eq!(st.timestamp, Some(25));
            assert_eq!(
                st.recent_changelog_ids.iter().collect::<Vec<_>>(),
                vec!["1", "3", "4", "5"]
            );
            // Nine entries (the failure is logged by the HTTP handler), in
            // arrival order; one ticket for the whole batch.
            let log = s
                .list_deliveries(&DeliveryFilter::default(), 100, usize::MAX)
                .unwrap();
            assert_eq!(log.len(), 9);
            assert!(log.windows(2).all(|p| p[0].id > p[1].id));
            let tickets: std::collections::BTreeSet<_> =
                rb.iter().flatten().map(|r| r.ticket).collect();
            assert_eq!(tickets.len(), 1);
            // The bad-token entry went to the refused part of the log.
            assert_eq!(batched.delivery_count, Some((8, 1)));
        },
    );
}

#[test]
fn a_batch_prunes_the_delivery_log_in_its_atomic_write() {
    with_system(
        || actor(3),
        |(mut a, _w)| {
            let outcomes = [
                DeliveryOutcome::NoAffectedGroups,
                DeliveryOutcome::BadRequest,
                DeliveryOutcome::MissingChangelog,
            ];
            let r = a.run_batch(outcomes.iter().map(|o| record(*o)).collect());
            assert!(r.iter().all(Result::is_ok));
            // More new entries than the bound at once, then a second batch.
            let r = a.run_batch((0..5).map(|_| record(DeliveryOutcome::Stale)).collect());
            assert!(r.iter().all(Result::is_ok));
            let r = a.run_batch(vec![record(DeliveryOutcome::Duplicate)]);
            let newest = r[0].as_ref().unwrap().delivery.unwrap();
            // The bound (3) is what the log shows...
            let log = a
                .deps
                .store
                .list_deliveries(&DeliveryFilter::default(), 100, 3)
                .unwrap();
            let got: Vec<_> = log.iter().map(|d| d.outcome).collect();
            assert_eq!(
                got,
                vec![
                    DeliveryOutcome::Duplicate,
                    DeliveryOutcome::Stale,
                    DeliveryOutcome::Stale
                ]
            );
            assert_eq!(log[0].id, newest);
            // ...while whole chunks are pruned: the first batch's chunk went
            // with the second batch; the second's (5) stays until dropping
            // it would leave fewer than 3.
            assert_eq!(a.delivery_count, Some((6, 0)));
            assert_eq!(a.deps.store.delivery_count().unwrap(), 6);
            let r = a.run_batch((0..3).map(|_| record(DeliveryOutcome::Stale)).collect());
            assert!(r.iter().all(Result::is_ok));
            // 9 entries: both older chunks go, the new chunk is the bound.
            assert_eq!(a.delivery_count, Some((3, 0)));
            assert_eq!(a.deps.store.delivery_count().unwrap(), 3);
        },
    );
}
