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
}
