//! The command line of `synclinkd` (its man page and shell completions are
//! generated from it at build time, `build.rs`).

use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "synclinkd",
    version,
    about = "synclink daemon: Jira assignee sync"
)]
pub struct DaemonArgs {
    /// TOML configuration file (default: the embedded defaults).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Validate the configuration and exit (0 valid, 1 invalid).
    #[arg(long)]
    pub check_config: bool,
    /// With the daemon stopped: copy the database into a fresh data
    /// directory to give back the disk space sled's log holds, keep the old
    /// one beside it, and exit (docs/OPERATIONS.md, "Disk").
    #[arg(long, conflicts_with = "check_config")]
    pub compact: bool,
    /// Remove the old data directories `--compact` kept beside
    /// `storage.path` (`<path>.pre-compact-*`), and exit. Safe while the
    /// daemon runs (docs/OPERATIONS.md, "Disk").
    #[arg(long, conflicts_with_all = ["check_config", "compact"])]
    pub remove_compacted: bool,
}
