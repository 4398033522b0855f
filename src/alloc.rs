//! Allocator settings. `synclinkd` runs on mimalloc (`src/bin/synclinkd.rs`,
//! built without transparent huge pages); these are its runtime options.

use libmimalloc_sys::mi_option_t;

/// `mi_option_purge_delay` in the mimalloc (v3) that `libmimalloc-sys`
/// bundles (`mimalloc.h`, enum `mi_option_e`).
const MI_OPTION_PURGE_DELAY: mi_option_t = 15;

/// Its default in that release: freed pages go back to the OS 1 s later.
const DEFAULT_PURGE_DELAY_MS: std::ffi::c_long = 1000;

/// Return freed memory to the OS at once instead of a second later: under a
/// webhook load the delayed pages are what lifts the peak RSS (bench/
/// ANALYSIS.md); no throughput change measured. Written only when the
/// option still reads its documented default, so another mimalloc release
/// (where 15 could be another option) is left alone. Returns whether it
/// was set.
pub fn purge_freed_memory_at_once() -> bool {
    // SAFETY: reads and writes of mimalloc's option table only.
    unsafe {
        if libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) == DEFAULT_PURGE_DELAY_MS {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
            return true;
        }
    }
    false
}

/// `mi_option_generic_collect` in the same release: every N allocations
/// that take mimalloc's slow path, a thread collects its own heap (frees
/// the blocks other threads handed back to it, returns empty pages).
const MI_OPTION_GENERIC_COLLECT: mi_option_t = 34;

/// Its default there: 10,000.
const DEFAULT_GENERIC_COLLECT: std::ffi::c_long = 10_000;

/// What we set: mimalloc counts slow-path allocations in steps of 1,000,
/// so anything at or below 1,000 means "at every step", ten times as often
/// as the default.
const GENERIC_COLLECT: std::ffi::c_long = 1_000;

/// Collect each thread's heap ten times as often as mimalloc's default.
/// sled frees most of its cache nodes on another thread than the one that
/// allocated them (epoch-based reclamation), and such blocks only become
/// reusable when the owning thread collects; between collections its pages
/// stay resident. With 1M links this lowered the peak under a webhook load
/// by 10-14 MiB with no CPU change measured (bench/rss-notes.md). Note that
/// `mi_collect` collects only the calling thread's heap, so a trimmer thread
/// cannot do this for the others. Written only when the option still reads
/// its documented default (see [`purge_freed_memory_at_once`]). Returns
/// whether it was set.
pub fn collect_thread_heaps_more_often() -> bool {
    // SAFETY: reads and writes of mimalloc's option table only.
    unsafe {
        if libmimalloc_sys::mi_option_get(MI_OPTION_GENERIC_COLLECT) == DEFAULT_GENERIC_COLLECT {
            libmimalloc_sys::mi_option_set(MI_OPTION_GENERIC_COLLECT, GENERIC_COLLECT);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_where_we_expect_it() {
        // The bundled release documents a default of 1000 ms for option 15;
        // if this fails after a mimalloc upgrade, look up the new number.
        assert!(purge_freed_memory_at_once());
        // SAFETY: a read of mimalloc's option table.
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) },
            0
        );
        assert!(!purge_freed_memory_at_once(), "set once, then left alone");
    }

    #[test]
    fn the_generic_collect_option_is_where_we_expect_it() {
        // Option 34 documents a default of 10,000 in the bundled release.
        assert!(collect_thread_heaps_more_often());
        // SAFETY: a read of mimalloc's option table.
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_GENERIC_COLLECT) },
            GENERIC_COLLECT
        );
        assert!(
            !collect_thread_heaps_more_often(),
            "set once, then left alone"
        );
    }
}
