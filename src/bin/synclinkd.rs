//! `synclinkd`: the daemon. Thin: parse arguments, load config, run.

use clap::Parser;
use synclink::cli::DaemonArgs as Args;

/// mimalloc instead of glibc malloc: the webhook path allocates on the HTTP
/// workers and frees on the single writer (and back), the pattern where
/// glibc's per-thread arenas spend the most (bench/ANALYSIS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

fn main() -> ExitCode {
    synclink::alloc::purge_freed_memory_at_once();
    let args = Args::parse();
    let config = match synclink::config::Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("synclinkd: invalid configuration: {e}");
            return ExitCode::from(1);
        }
    };
    if args.check_config {
        println!("configuration ok");
        return ExitCode::SUCCESS;
    }
    if args.compact {
        return compact(&config.storage.path);
    }
    if args.remove_compacted {
        return remove_compacted(&config.storage.path);
    }
    let (log, guard) = synclink::logging::init(&config.log);
    let result = synclink::daemon::run(config, log.clone());
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            slog::crit!(log, "startup-failed"; "error" => %e);
            ExitCode::from(1)
        }
    };
    drop(log);
    drop(guard);
    code
}

fn remove_compacted(path: &std::path::Path) -> ExitCode {
    match synclink::store::compact::remove_compacted(path) {
        Ok(removed) => {
            for p in &removed {
                println!("removed {}", p.display());
            }
            if removed.is_empty() {
                println!("no old data directory beside {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "synclinkd: removing the old copies of {} failed: {e}",
                path.display()
            );
            ExitCode::from(1)
        }
    }
}

fn compact(path: &std::path::Path) -> ExitCode {
    match synclink::store::compact::compact(path) {
        Ok(c) => {
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            println!(
                "compacted {}: {} records in {} trees, {:.1} MiB -> {:.1} MiB; \
                 the old data directory is kept at {} (delete it once synclinkd runs)",
                path.display(),
                c.records,
                c.trees,
                mib(c.before_bytes),
                mib(c.after_bytes),
                c.kept.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("synclinkd: compaction of {} failed: {e}", path.display());
            ExitCode::from(1)
        }
    }
}
