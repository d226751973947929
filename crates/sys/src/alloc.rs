//! Asking the allocator (mimalloc, the daemon's global allocator) to give freed memory back.
//!
//! mimalloc keeps pages it has freed for a while (and keeps pages still holding a few live
//! objects for good), so a process that frees a large structure - the checker child dropping
//! its configuration model - still shows it in its resident set until the allocator purges.
//! [`release_free_memory`] forces that purge at the moments we know a lot was just freed.
//!
//! The functions act on mimalloc even where the process's global allocator is another one
//! (tests): they then only concern mimalloc's own, empty heaps, and do nothing harmful.

use libmimalloc_sys as mi;

/// Frees the calling thread's empty mimalloc pages, runs deferred frees and returns purgeable
/// memory to the operating system now (`mi_collect(true)`). Costs a walk over the thread's
/// heap: call it after dropping large structures, not per operation.
pub fn release_free_memory() {
    // SAFETY: mi_collect has no preconditions; it may be called from any thread at any time
    // and only touches mimalloc's own bookkeeping of the calling thread and the shared arenas.
    unsafe { mi::mi_collect(true) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releasing_after_freeing_mimalloc_memory_is_safe_and_repeatable() {
        // Allocate and free through mimalloc itself (the test binary's global allocator is
        // the system's), then release twice.
        let blocks: Vec<*mut std::ffi::c_void> =
            // SAFETY: mi_malloc returns a block or null; every non-null block is freed below.
            (0..1000).map(|_| unsafe { mi::mi_malloc(4096) }).collect();
        assert!(blocks.iter().all(|b| !b.is_null()));
        for b in blocks {
            // SAFETY: each block came from mi_malloc above and is freed once.
            unsafe { mi::mi_free(b) }
        }
        release_free_memory();
        release_free_memory();
    }
}
