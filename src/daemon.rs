//! `synclinkd` start-up and shutdown: open the store, start the actors in
//! order, bind both listeners, then serve until a signal.

use crate::actors::{supervisor, Deps};
use crate::config::Config;
use crate::http::request_log::RequestLog;
use crate::http::{self, AppState};
use crate::lifecycle;
use crate::lifecycle::{Lifecycle, Phase};
use crate::metrics::Metrics;
use crate::store::Store;
use actix_web::{middleware, web, App, HttpServer};
use slog::{error, info, o};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot open the store at {path}: {source}")]
    Store {
        path: String,
        source: crate::store::StoreError,
    },
    #[error("cannot bind {what} {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Run the daemon until it is told to stop. Returns when shut down cleanly.
pub fn run(config: Config, log: slog::Logger) -> Result<(), DaemonError> {
    let started = Instant::now();
    let store = Store::open(&config.storage.path).map_err(|source| DaemonError::Store {
        path: config.storage.path.display().to_string(),
        source,
    })?;
    // sled's recovery (replaying the log since the last open) leaves freed
    // buffers in glibc's heap (measured with 1M links: 91 -> 80 MiB
    // resident after start).
    trim_heap();
    spawn_heap_trimmer();
    let counts = match store.counts_origin {
        crate::store::counts::CountsOrigin::Loaded => "loaded",
        crate::store::counts::CountsOrigin::Counted => "counted",
        crate::store::counts::CountsOrigin::Recounting => "recounting",
    };
    info!(log, "store-opened"; "path" => %config.storage.path.display(),
          "schema_version" => crate::store::SCHEMA_VERSION, "counts" => counts,
          "open_ms" => started.elapsed().as_millis() as u64);
    let config = Arc::new(config);
    let metrics = Metrics::new();
    let system = actix_web::rt::System::new();
    let result = system.block_on(serve(config, store.clone(), metrics, log.clone(), started));
    // Stop the actors (their threads drop their store handles).
    drop(system);
    exit_on_next_signal();
    // The last write is done: save the counters (the clean-shutdown marker)
    // and flush; after a large write volume, reopen the database once so
    // that the next start does not replay it (store::snapshot).
    let t0 = Instant::now();
    match store.close_and_snapshot(crate::store::snapshot::SnapshotPolicy::daemon()) {
        Ok(s) => {
            info!(log, "store-snapshot"; "outcome" => s.outcome(),
                  "written_mib" => s.written() / (1024 * 1024),
                  "ms" => t0.elapsed().as_millis() as u64)
        }
        Err(e) => error!(log, "flush-failed"; "error" => %e),
    }
    if result.is_ok() {
        info!(log, "shutdown-complete"; "uptime_secs" => started.elapsed().as_secs());
    }
    result
}

/// With the actix system gone nobody reads tokio's signal streams any more,
/// so the closing steps (flush, the snapshot reopen: up to 15 s) would
/// ignore a second SIGTERM/SIGINT. From here on one exits at once with
/// 128 + signal, like `"shutdown-forced"` (no log record: only
/// async-signal-safe calls in the handler). Safe for the store: sled
/// recovers as after a crash, and the snapshot is written by rename.
fn exit_on_next_signal() {
    extern "C" fn on_signal(sig: libc::c_int) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(128 + sig) }
    }
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: installs a handler that only calls _exit.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

/// Hand free heap memory back to the OS. `synclinkd` runs on mimalloc
/// (`src/bin/synclinkd.rs`): `mi_collect(true)` purges the pages its
/// arenas hold freed; tests and tools on glibc get `malloc_trim`. Each call
/// is harmless under the other allocator.
fn trim_heap() {
    // SAFETY: mi_collect only releases mimalloc's own unused pages.
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap memory; no pointer is
    // touched.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How often [`spawn_heap_trimmer`] hands free heap memory back.
const HEAP_TRIM_PERIOD: std::time::Duration = std::time::Duration::from_secs(1);

/// glibc keeps memory freed by the many threads (HTTP workers, actors,
/// sled's IO pool) in its per-thread arenas; under a webhook load that is
/// 15-30 MiB of the peak with 1M links. A thread trims the heap once a
/// second (about a millisecond of CPU each time; no throughput change
/// measured; docs/OPERATIONS.md section 9).
fn spawn_heap_trimmer() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let _ = std::thread::Builder::new()
        .name("synclink-trim".into())
        .spawn(|| loop {
            std::thread::sleep(HEAP_TRIM_PERIOD);
            trim_heap();
        });
}

async fn serve(
    config: Arc<Config>,
    store: Store,
    metrics: Metrics,
    log: slog::Logger,
    started: Instant,
) -> Result<(), DaemonError> {
    let lifecycle = Lifecycle::default();
    // Before anything else, so that a signal during start-up is not lost.
    let signals = lifecycle::Signals::install()?;
    let deps = Deps {
        config: config.clone(),
        store: store.clone(),
        metrics: metrics.clone(),
        log: log.clone(),
    };
    let actors = supervisor::start_all(&deps);
    let state = AppState {
        config: config.clone(),
        lookup: actors.lookup.clone(),
        store,
        actors,
        slots: Arc::new(http::webhook::Slots::new(
            config.http.max_inflight,
            metrics.clone(),
        )),
        metrics,
        log: log.clone(),
        started,
        lifecycle: lifecycle.clone(),
    };

    // Admin API on the Unix socket.
    let socket = config.admin.socket.clone();
    if socket.exists() {
        std::fs::remove_file(&socket)?;
    }
    let admin_state = web::Data::new(state.clone());
    let body_limit = config.http.max_body_bytes;
    let admin = HttpServer::new(move || {
        App::new()
            .app_data(admin_state.clone())
            .app_data(http::error::json_config(body_limit))
            .app_data(http::error::path_config())
            .app_data(http::error::query_config())
            .wrap(middleware::NormalizePath::trim())
            .wrap(RequestLog::new("admin"))
            .configure(http::admin::configure)
            .default_service(web::to(http::error::no_route))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(config.http.shutdown_timeout_secs)
    .bind_uds(&socket)
    .map_err(|source| DaemonError::Bind {
        what: "admin socket",
        addr: socket.display().to_string(),
        source,
    })?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            &socket,
            std::fs::Permissions::from_mode(config.admin.mode()),
        )?;
    }
    info!(log, "admin-listening"; "socket" => %socket.display());

    // Public listener.
    let public_state = web::Data::new(state.clone());
    let public = HttpServer::new(move || {
        App::new()
            .app_data(public_state.clone())
            // This worker's own WebhookActor (started on its first delivery).
            .app_data(web::Data::new(public_state.actors.webhook.for_worker()))
            .app_data(web::PayloadConfig::new(body_limit))
            .wrap(RequestLog::new("public"))
            .configure(http::public::configure)
    })
    .workers(config.http.workers())
    .disable_signals()
    .shutdown_timeout(config.http.shutdown_timeout_secs)
    .bind(&config.http.listen)
    .map_err(|source| DaemonError::Bind {
        what: "http listener",
        addr: config.http.listen.clone(),
        source,
    })?;
    for addr in public.addrs() {
        info!(log, "http-listening"; "addr" => %addr, "workers" => config.http.workers());
    }

    let admin = admin.run();
    let public = public.run();
    // Store open, both listeners bound: ready (READY=1 under systemd).
    lifecycle.set(Phase::Ready);
    info!(log, "ready"; "startup_ms" => started.elapsed().as_millis() as u64);
    lifecycle::notify_ready(
        &log,
        &format!(
            "ready: http {}, admin {}",
            config.http.listen,
            socket.display()
        ),
    );
    actix_web::rt::spawn(lifecycle::handle_signals(
        signals,
        vec![admin.handle(), public.handle()],
        lifecycle.clone(),
        config.http.shutdown_timeout_secs,
        log.clone(),
    ));
    if let Some(period) = lifecycle::watchdog_period() {
        let actors = state.actors.clone();
        actix_web::rt::spawn(lifecycle::watchdog(
            period,
            lifecycle.clone(),
            log.clone(),
            move |t| {
                let actors = actors.clone();
                async move { actors.all_alive(t).await }
            },
            {
                let log = log.clone();
                move || lifecycle::notify(&log, &[sd_notify::NotifyState::Watchdog])
            },
        ));
    }
    let log2 = log.new(o!());
    let (a, p) = futures_util::future::join(admin, public).await;
    lifecycle.set(Phase::ShuttingDown);
    let _ = std::fs::remove_file(&socket);
    a?;
    p?;
    info!(log2, "listeners-closed");
    // Nothing new comes in: the supervisor drains the writer, settles the
    // last group commit and stops the actors (bounded by the shutdown
    // timeout; a hung supervisor cannot hold the exit).
    let within = std::time::Duration::from_secs(config.http.shutdown_timeout_secs);
    let _ = state
        .actors
        .supervisor
        .send(supervisor::Shutdown { within })
        .timeout(within + std::time::Duration::from_secs(1))
        .await;
    lifecycle::failpoint_slow_shutdown(&log2).await;
    Ok(())
}
