//! Test-only failpoints.
//!
//! `SYNCLINK_FAILPOINTS=name[,name...]` (read once at first use) makes
//! [`hit`] return true at the named points, so integration tests can
//! simulate a crash part-way through an operation against the real binary.
//! With the variable unset every check is a single atomic load. Operators
//! never set it; it is documented in docs/TESTING.md.

use std::sync::OnceLock;

static ACTIVE: OnceLock<Vec<String>> = OnceLock::new();

fn active() -> &'static [String] {
    ACTIVE.get_or_init(|| {
        std::env::var("SYNCLINK_FAILPOINTS")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// True when the failpoint `name` is armed.
pub fn hit(name: &str) -> bool {
    let a = active();
    !a.is_empty() && a.iter().any(|n| n == name)
}

/// Abort the whole process (like `kill -9`: no destructors, no flush) when
/// the failpoint `name` is armed.
pub fn crash_if(name: &str) {
    if hit(name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}
