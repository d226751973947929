//! Asking the allocator (mimalloc, the daemon's global allocator) to give freed memory back.
//!
//! mimalloc keeps pages it has freed for a while (and keeps pages still holding a few live
//! objects for good), so a process that frees a large structure - the checker child dropping
//! its configuration model - still shows it in its resident set until the allocator purges.
//! [`release_free_memory`] forces that purge at the moments we know a lot was just freed.
//!
//! The functions act on mimalloc even where the process's global allocator is another one
//! (tests): they then only concern mimalloc's own, empty heaps, and do nothing harmful.

use std::ffi::c_void;

use libmimalloc_sys as mi;

/// Frees the calling thread's empty mimalloc pages, runs deferred frees and returns purgeable
/// memory to the operating system now (`mi_collect(true)`). Costs a walk over the thread's
/// heap: call it after dropping large structures, not per operation.
pub fn release_free_memory() {
    // SAFETY: mi_collect has no preconditions; it may be called from any thread at any time
    // and only touches mimalloc's own bookkeeping of the calling thread and the shared arenas.
    unsafe { mi::mi_collect(true) }
}

/// What mimalloc's heap holds, from a walk over its pages (see [`heap_usage`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeapUsage {
    /// Bytes in live blocks (each counted at its size class, as the allocator holds it).
    pub live: usize,
    /// Bytes of the pages holding blocks (their committed capacity); `committed - live` is
    /// free space inside pages that live blocks keep resident.
    pub committed: usize,
    /// Pages in use.
    pub pages: usize,
}

/// Adds one page (area) to the [`HeapUsage`] behind `arg`.
unsafe extern "C" fn count_area(
    _heap: *const mi::mi_heap_t,
    area: *const mi::mi_heap_area_t,
    _block: *mut c_void,
    _block_size: usize,
    arg: *mut c_void,
) -> bool {
    // SAFETY: mimalloc passes a valid area for the duration of the call, and `arg` is the
    // `HeapUsage` that `heap_usage` lent for the walk (not otherwise touched meanwhile).
    let (area, usage) = unsafe { (&*area, &mut *arg.cast::<HeapUsage>()) };
    usage.live += area.used * area.full_block_size;
    usage.committed += area.committed;
    usage.pages += 1;
    true
}

/// Walks mimalloc's main heap (every thread's pages, abandoned ones included) and sums its
/// live blocks and pages: a heap profile of the process, for measurements and tests.
///
/// mimalloc reads the pages' counters without locking them: while other threads allocate
/// the figures are approximate. Costs a walk over every page; not for hot paths.
pub fn heap_usage() -> HeapUsage {
    let mut usage = HeapUsage::default();
    // SAFETY: a null heap means the main heap; the visitor only reads the area it is given
    // and writes `usage`, which outlives the call.
    unsafe {
        mi::mi_heap_visit_blocks(
            std::ptr::null_mut(),
            false,
            Some(count_area),
            std::ptr::addr_of_mut!(usage).cast(),
        );
    }
    usage
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

    #[test]
    fn heap_usage_counts_live_mimalloc_blocks() {
        // The test binary's global allocator is the system's: only these blocks are mimalloc's.
        let before = heap_usage();
        let blocks: Vec<*mut c_void> =
            // SAFETY: mi_malloc returns a block or null; every non-null block is freed below.
            (0..256).map(|_| unsafe { mi::mi_malloc(1024) }).collect();
        assert!(blocks.iter().all(|b| !b.is_null()));
        let during = heap_usage();
        assert!(
            during.live >= before.live + 256 * 1024,
            "{before:?} -> {during:?}"
        );
        assert!(during.committed >= during.live);
        assert!(during.pages > 0);
        for b in blocks {
            // SAFETY: each block came from mi_malloc above and is freed once.
            unsafe { mi::mi_free(b) }
        }
        let after = heap_usage();
        assert!(after.live < during.live, "{during:?} -> {after:?}");
    }
}
