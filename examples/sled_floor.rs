//! The storage floor of a webhook delivery, for `bench/` (ANALYSIS.md, "the
//! CPU budget"): what sled alone costs per delivery for the writes the spec
//! requires, with no HTTP, no parsing and no planning reads.
//!
//! Two runs over a fresh temporary data directory each, 1,000 groups, every
//! delivery flipping one group (assign, unassign, assign...) and advancing
//! its issue key's delivery state, in batches of `--batch` deliveries, each
//! batch ONE atomic write followed by a durable flush (`durability = "sync"`):
//!
//! - `store`: synclink's own write path, `Store::apply_sync_batch` (assignee,
//!   activity, delivery state and delivery-log chunk in one `apply_batch`,
//!   plus its read of each group's current assignee), then `Store::flush`.
//! - `raw`: bare sled, the same tree shape: per delivery one assignee insert
//!   or remove, one activity append and one delivery-state overwrite, with the
//!   record sizes measured from the `store` run's data, then `Db::flush`.
//!
//! Runs on `synclinkd`'s allocator with its settings (mimalloc, freed memory
//! returned at once): on glibc's malloc the same writes cost ~40% more.
//! Prints one JSON object: CPU time of the whole process (all of sled's
//! threads included) and wall time, per delivery. Usage:
//! `sled_floor [--deliveries N] [--batch N] [--groups N] [--durability sync|async]`.

/// The allocator `synclinkd` uses (sled allocates on every write).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use std::collections::BTreeMap;
use std::time::Instant;
use synclink::domain::plan::{Cause, Op, RECENT_CHANGELOG_IDS};
use synclink::domain::{Delivery, DeliveryOutcome, DeliveryState, Id, Project};
use synclink::store::sync::{LogBound, SyncWrite};
use synclink::store::Store;

#[derive(Parser)]
#[command(name = "sled_floor", about = "sled's cost per delivery, alone")]
struct Args {
    #[arg(long, default_value_t = 200_000)]
    deliveries: usize,
    /// Deliveries per atomic write (the daemon's mean at c=128 is ~52).
    #[arg(long, default_value_t = 52)]
    batch: usize,
    #[arg(long, default_value_t = 1_000)]
    groups: usize,
    /// `async`: no flush after each batch (the daemon's `async` flushes on a
    /// timer instead).
    #[arg(long, default_value = "sync", value_parser = ["sync", "async"])]
    durability: String,
}

/// CPU seconds of this process, all threads.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    // Fields after the command name (which is in parentheses).
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = 100.0; // USER_HZ on Linux
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / tick
}

struct Run {
    cpu_us: f64,
    wall_us: f64,
}

fn measure(n: usize, f: impl FnOnce()) -> Run {
    let (c0, t0) = (cpu_seconds(), Instant::now());
    f();
    Run {
        cpu_us: (cpu_seconds() - c0) * 1e6 / n as f64,
        wall_us: t0.elapsed().as_secs_f64() * 1e6 / n as f64,
    }
}

/// synclink's write path.
fn store_run(a: &Args, dir: &std::path::Path) -> Run {
    let s = Store::open(dir).expect("open the store");
    s.insert_project(&Project {
        id: 1,
        org: 1,
        slug: "p".into(),
        name: "P".into(),
        teams: vec![],
        date_added: 0,
    })
    .expect("project");
    let groups: Vec<Id> = (0..a.groups)
        .map(|i| s.create_group(1, &format!("g{i}"), 0).expect("group").id)
        .collect();
    let mut states: Vec<DeliveryState> = vec![DeliveryState::default(); a.groups];
    let mut assigned = vec![false; a.groups];
    let mut logged = 0usize;
    let mut seq = 0usize;
    let run = measure(a.deliveries, || {
        while seq < a.deliveries {
            let mut writes = Vec::with_capacity(a.batch);
            for _ in 0..a.batch.min(a.deliveries - seq) {
                let i = seq % a.groups;
                let (g, key) = (groups[i], format!("BENCH-{}", i + 1));
                let changelog = format!("{}", 1_000_000_000_000u64 + seq as u64);
                let st = &mut states[i];
                st.timestamp = Some(1_700_000_000_000 + seq as i64);
                st.changelog_id = Some(changelog.clone());
                st.recent_changelog_ids
                    .push(&changelog, RECENT_CHANGELOG_IDS);
                let op = if assigned[i] {
                    Op::Deassign {
                        group: g,
                        project: 1,
                    }
                } else {
                    Op::Assign {
                        group: g,
                        project: 1,
                        user: 7,
                        email: format!("user{}@example.org", i + 1),
                        replaces: None,
                    }
                };
                assigned[i] = !assigned[i];
                let outcome = if assigned[i] {
                    DeliveryOutcome::Assigned
                } else {
                    DeliveryOutcome::Unassigned
                };
                writes.push(SyncWrite {
                    ops: vec![op],
                    actor: None,
                    cause: Cause::Jira {
                        integration: 1,
                        source: Default::default(),
                    },
                    outbox: vec![],
                    moved: None,
                    state: Some((1, key.clone(), st.clone())),
                    delivery: Some(Delivery {
                        id: 0,
                        received: 1_700_000_000_000 + seq as i64,
                        integration: Some(1),
                        key: Some(key.clone()),
                        changelog_id: Some(changelog),
                        timestamp: st.timestamp,
                        outcome,
                        groups: vec![g],
                        reason: format!("{key} was assigned in Jira"),
                        source: Default::default(),
                    }),
                    now: 1_700_000_000_000 + seq as i64,
                });
                seq += 1;
            }
            let log = LogBound {
                count: logged,
                keep: 100_000,
                refused: 0,
            };
            let epoch = s.delete_epoch();
            let r = s
                .apply_sync_batch(&mut writes, log, Some(epoch))
                .expect("apply");
            logged = logged + writes.len() - r.pruned;
            if a.durability == "sync" {
                s.flush().expect("flush");
            }
        }
    });
    // Not measured: leave assignees behind, so their record size is known.
    let mut assign: Vec<SyncWrite> = groups
        .iter()
        .zip(&assigned)
        .filter(|(_, a)| !**a)
        .map(|(g, _)| SyncWrite {
            ops: vec![Op::Assign {
                group: *g,
                project: 1,
                user: 7,
                email: "user@example.org".into(),
                replaces: None,
            }],
            now: 1_700_000_000_000,
            ..Default::default()
        })
        .collect();
    s.apply_sync_batch(
        &mut assign,
        LogBound {
            count: 0,
            keep: usize::MAX,
            refused: 0,
        },
        None,
    )
    .expect("assign");
    run
}

/// Mean value size per record kind (first key byte) of tree `sync`.
fn record_sizes(dir: &std::path::Path) -> BTreeMap<u8, usize> {
    let db = sled::open(dir).expect("reopen with sled");
    let t = db.open_tree("sync").expect("tree sync");
    let mut sum: BTreeMap<u8, (usize, usize)> = BTreeMap::new();
    for kv in t.iter() {
        let (k, v) = kv.expect("scan");
        let e = sum.entry(k[0]).or_default();
        e.0 += v.len();
        e.1 += 1;
    }
    sum.into_iter().map(|(k, (s, n))| (k, s / n)).collect()
}

/// Bare sled: the three writes a delivery must make, sized like synclink's.
fn raw_run(a: &Args, dir: &std::path::Path, sizes: [usize; 3]) -> Run {
    // synclinkd's sled settings, without synclink's trees and records.
    let db = synclink::store::sled_config(dir).open().expect("open sled");
    let t = db.open_tree("sync").expect("tree");
    let [assignee, activity, state] = sizes.map(|n| vec![0x5au8; n]);
    let key = |tag: u8, a: u64, b: Option<u64>| {
        let mut k = vec![tag];
        k.extend_from_slice(&a.to_be_bytes());
        if let Some(b) = b {
            k.extend_from_slice(&b.to_be_bytes());
        }
        k
    };
    let mut assigned = vec![false; a.groups];
    let mut seq = 0usize;
    measure(a.deliveries, || {
        while seq < a.deliveries {
            let mut b = sled::Batch::default();
            for _ in 0..a.batch.min(a.deliveries - seq) {
                let i = seq % a.groups;
                let g = 1_000 + i as u64;
                if assigned[i] {
                    b.remove(key(b'a', g, None));
                } else {
                    b.insert(key(b'a', g, None), assignee.as_slice());
                }
                assigned[i] = !assigned[i];
                let id = db.generate_id().expect("id");
                b.insert(key(b'c', g, Some(id)), activity.as_slice());
                b.insert(key(b's', i as u64, None), state.as_slice());
                seq += 1;
            }
            t.apply_batch(b).expect("apply");
            if a.durability == "sync" {
                db.flush().expect("flush");
            }
        }
    })
}

fn main() {
    let a = Args::parse();
    // As `synclinkd` does at start.
    synclink::alloc::purge_freed_memory_at_once();
    let tmp = std::env::temp_dir().join(format!("sled-floor-{}", std::process::id()));
    let (store_dir, raw_dir) = (tmp.join("store"), tmp.join("raw"));
    let store = store_run(&a, &store_dir);
    let sizes = record_sizes(&store_dir);
    let pick = |tag: u8, fallback: usize| sizes.get(&tag).copied().unwrap_or(fallback);
    let raw_sizes = [pick(b'a', 32), pick(b'c', 140), pick(b's', 300)];
    let raw = raw_run(&a, &raw_dir, raw_sizes);
    let _ = std::fs::remove_dir_all(&tmp);
    println!(
        "{}",
        serde_json::json!({
            "deliveries": a.deliveries,
            "batch": a.batch,
            "groups": a.groups,
            "durability": a.durability,
            "record_sizes_by_tag": sizes.iter().map(|(k, v)| ((*k as char).to_string(), *v)).collect::<BTreeMap<_, _>>(),
            "store_cpu_us_per_delivery": store.cpu_us,
            "store_wall_us_per_delivery": store.wall_us,
            "raw_cpu_us_per_delivery": raw.cpu_us,
            "raw_wall_us_per_delivery": raw.wall_us,
            "raw_value_sizes": raw_sizes,
        })
    );
}
