//! Bulk seeding for `bench/`: writes organizations, users, teams, projects, an
//! integration, groups and links straight through `synclink::store::Store`
//! while the daemon is stopped (seeding a million links through the HTTP API
//! would take most of the benchmark's time budget). The benchmark checks the
//! result through the admin API afterwards.
//!
//! ```text
//! seed base  --data DIR --users 8 --projects 4 --secret HEX --base-url URL --consumer-key KEY
//! seed links --data DIR --integration ID --projects 1,2,3 --groups 100000 --links-per-group 10
//! ```
//! Each prints one JSON object on standard output. Link `j` of the `g`-th
//! group made by one `links` call is to issue `{prefix}-{g * links_per_group + j + 1}`
//! (so every issue key is linked to exactly one group).

use clap::{Parser, Subcommand};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;
use synclink::domain::{
    now_ms, Email, Integration, IntegrationStatus, Link, Project, PROVIDER_JIRA_SERVER,
};
use synclink::store::snapshot::{Snapshot, SnapshotPolicy};
use synclink::store::Store;

#[derive(Parser)]
#[command(
    name = "seed",
    about = "Bulk-seed a synclink data directory (daemon stopped)"
)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One organization, users with verified emails, one team holding them,
    /// projects of that team, and an active integration installed in the
    /// organization with `sync_inbound_assignee = true`.
    Base {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 8)]
        users: usize,
        #[arg(long, default_value_t = 4)]
        projects: usize,
        /// The integration's webhook secret (hex).
        #[arg(long)]
        secret: String,
        #[arg(long, default_value = "https://jira.bench.example")]
        base_url: String,
        #[arg(long, default_value = "synclink-bench")]
        consumer_key: String,
        /// Skip the integration (it was imported through the API).
        #[arg(long)]
        no_integration: bool,
    },
    /// Groups spread round-robin over `projects`, each linked to
    /// `links_per_group` distinct issue keys.
    Links {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        integration: u64,
        /// Comma-separated project ids.
        #[arg(long, value_delimiter = ',')]
        projects: Vec<u64>,
        #[arg(long)]
        groups: usize,
        #[arg(long, default_value_t = 10)]
        links_per_group: usize,
        #[arg(long, default_value = "BENCH")]
        prefix: String,
    },
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("seed: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Res<()> {
    let started = Instant::now();
    let closed;
    let out = match args.cmd {
        Cmd::Base {
            data,
            users,
            projects,
            secret,
            base_url,
            consumer_key,
            no_integration,
        } => {
            let store = Store::open(&data)?;
            let v = base(
                &store,
                users,
                projects,
                (!no_integration).then_some((
                    secret.as_str(),
                    base_url.as_str(),
                    consumer_key.as_str(),
                )),
            )?;
            closed = close(store)?;
            v
        }
        Cmd::Links {
            data,
            integration,
            projects,
            groups,
            links_per_group,
            prefix,
        } => {
            let store = Store::open(&data)?;
            let v = links(
                &store,
                integration,
                &projects,
                groups,
                links_per_group,
                &prefix,
            )?;
            closed = close(store)?;
            v
        }
    };
    let mut out = out;
    out["seconds"] = json!(started.elapsed().as_secs_f64());
    // Included in `seconds`: the clean close and the snapshot reopen.
    let (secs, s) = closed;
    out["close_seconds"] = json!(secs);
    out["snapshot"] = json!(s.outcome());
    out["written_mib"] = json!(s.written() / (1024 * 1024));
    println!("{out}");
    Ok(())
}

/// End like a clean daemon shutdown: wait for a recount the open may have
/// started, save the counters, and reopen the database once so that sled
/// writes its snapshot now. The daemon's next start then neither replays
/// the bulk load nor recounts (docs/OPERATIONS.md, section 9).
fn close(store: Store) -> Res<(f64, Snapshot)> {
    let t0 = Instant::now();
    if !store.wait_counted(std::time::Duration::from_secs(600)) {
        return Err("the counters were not recounted within 600 s".into());
    }
    match store.close_and_snapshot(SnapshotPolicy::always())? {
        s @ Snapshot::Written { .. } => Ok((t0.elapsed().as_secs_f64(), s)),
        other => Err(format!("snapshot at close: {other:?}").into()),
    }
}

fn base(
    store: &Store,
    users: usize,
    projects: usize,
    integration: Option<(&str, &str, &str)>,
) -> Res<serde_json::Value> {
    let org = store.create_org("bench", "Bench")?;
    let team = store.create_team(org.id, "bench-team", "Bench team")?;
    let mut user_ids = Vec::new();
    let mut emails = Vec::new();
    for i in 0..users {
        let email = format!("bench-user-{i}@example.org");
        let u = store.create_user(
            &format!("Bench user {i}"),
            &[Email {
                email: email.clone(),
                verified: true,
            }],
        )?;
        store.add_team_member(team.id, u.id)?;
        user_ids.push(u.id);
        emails.push(email);
    }
    let mut project_ids = Vec::new();
    for i in 0..projects {
        let id = store.next_seq("projects")?;
        store.insert_project(&Project {
            id,
            org: org.id,
            slug: format!("bench-{i}"),
            name: format!("Bench {i}"),
            teams: vec![team.id],
            date_added: now_ms(),
        })?;
        project_ids.push(id);
    }
    let mut integ = serde_json::Value::Null;
    if let Some((secret, base_url, consumer_key)) = integration {
        let host = url::Url::parse(base_url)?
            .host_str()
            .unwrap_or_default()
            .to_string();
        let external_id: String = format!("{host}:{consumer_key}").chars().take(64).collect();
        let i = store.create_integration(Integration {
            id: 0,
            provider: PROVIDER_JIRA_SERVER.into(),
            external_id: external_id.clone(),
            name: "Bench Jira".into(),
            base_url: base_url.trim_end_matches('/').into(),
            verify_ssl: true,
            consumer_key: consumer_key.into(),
            private_key: String::new(),
            access_token: String::new(),
            access_token_secret: String::new(),
            webhook_secret: secret.into(),
            status: IntegrationStatus::Active,
            last_error: None,
            webhook: None,
            date_added: now_ms(),
        })?;
        store.put_installation(
            org.id,
            i.id,
            synclink::domain::Switches {
                sync_inbound_assignee: Some(true),
                ..Default::default()
            },
        )?;
        integ = json!({"id": i.id, "external_id": external_id});
    }
    Ok(json!({
        "org": org.id,
        "team": team.id,
        "users": user_ids,
        "emails": emails,
        "projects": project_ids,
        "integration": integ,
    }))
}

fn links(
    store: &Store,
    integration: u64,
    projects: &[u64],
    groups: usize,
    per_group: usize,
    prefix: &str,
) -> Res<serde_json::Value> {
    if projects.is_empty() {
        return Err("--projects is empty".into());
    }
    let now = now_ms();
    // Two writers: sled takes concurrent writers, and most of the time goes
    // to its log, not to CPU.
    let threads = 2;
    let made: Vec<Result<(u64, u64), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> Result<(u64, u64), String> {
                    let mut lo = u64::MAX;
                    let mut hi = 0;
                    for g in (t..groups).step_by(threads) {
                        let project = projects[g % projects.len()];
                        let group = store
                            .create_group(project, &format!("Bench group {g}"), now)
                            .map_err(|e| e.to_string())?;
                        lo = lo.min(group.id);
                        hi = hi.max(group.id);
                        for j in 0..per_group {
                            store
                                .create_link(&Link {
                                    group: group.id,
                                    integration,
                                    key: format!("{prefix}-{}", g * per_group + j + 1),
                                })
                                .map_err(|e| e.to_string())?;
                        }
                    }
                    Ok((lo, hi))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("seeding thread panicked".into()))
            })
            .collect()
    });
    let mut first = u64::MAX;
    let mut last = 0;
    for m in made {
        let (lo, hi) = m?;
        first = first.min(lo);
        last = last.max(hi);
    }
    Ok(json!({
        "groups": groups,
        "links": groups * per_group,
        "first_group": first,
        "last_group": last,
    }))
}
