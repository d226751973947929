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

/// mimalloc v3's number for `mi_option_allow_thp` (its `mimalloc.h`; libmimalloc-sys only
/// names the v2 options). Checked against its default by a test.
const MI_OPTION_ALLOW_THP: mi::mi_option_t = 43;

/// mimalloc v3's number for `mi_option_purge_delay` (milliseconds before freed pages go back
/// to the system; 0: at once). Checked against its default by a test.
const MI_OPTION_PURGE_DELAY: mi::mi_option_t = 15;

/// Keeps the daemon's heap in small pages and has freed pages go back to the system at once
/// (both halves below; the name predates the second).
///
/// mimalloc reserves its arena before `main` and asks the kernel for transparent huge pages
/// over it (`MADV_HUGEPAGE`): with THP in `madvise` mode (Debian's default) every 2 MiB of the
/// heap that is touched becomes resident at once, and stays so while any object lives in it.
/// Measured in the checker child with 36,800 real servers: 28 MB of huge pages, 62 MB resident
/// for 41 MB of live heap; 53 MB with small pages. This turns the hint off for the arenas to
/// come and takes it back (`MADV_NOHUGEPAGE`) over the arena already reserved. Processes the
/// daemon runs (scripts) are not affected: nothing is inherited.
///
/// It also has freed pages go back to the system at once (`purge_delay` 0, unless the
/// environment sets `MIMALLOC_PURGE_DELAY`). With the default delay (1 s, postponed each time
/// more pages become free) the checker child's probes, whose churn never stops, keep the
/// purge from ever running, and what the start-up freed (the configuration model, ~36 MB at
/// 36,800 real servers) stays partly resident. Measured with bench/checker-memory/host, 3
/// runs each: VmRSS 37.2-38.0 -> 27.6-28.1 MB, start-up peak 103-105 -> 76 MB; the CPU time of
/// 10,000 TCP_CHECKs a second over 40 s the same within noise (7.4-7.8 s both ways). This
/// works only over an arena reserved in small pages from the start (the parent starts its
/// children with `MIMALLOC_ALLOW_THP=0`); over huge pages it frees nothing.
///
/// Call first thing in `main`. Best effort: a failure leaves the allocator as it was.
pub fn use_small_pages() {
    // SAFETY: setting an option has no precondition; mimalloc reads it at its next arena
    // reservation.
    unsafe { mi::mi_option_set(MI_OPTION_ALLOW_THP, 0) };
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: as above; mimalloc reads this one each time it schedules a purge.
        unsafe { mi::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
    // SAFETY: a block from mi_malloc (or null), freed below; only its address is used.
    let probe = unsafe { mi::mi_malloc(16) };
    if probe.is_null() {
        return;
    }
    let addr = probe as usize;
    if let Some((start, end)) = mapping_containing(addr) {
        // SAFETY: [start, end) is a whole mapping of this process (the arena holding `probe`):
        // MADV_NOHUGEPAGE only changes how later faults in it are served, never its contents.
        unsafe {
            libc::madvise(start as *mut c_void, end - start, libc::MADV_NOHUGEPAGE);
        }
    }
    // SAFETY: `probe` came from mi_malloc above and is freed once.
    unsafe { mi::mi_free(probe) };
}

/// The bounds of the mapping holding `addr`, from `/proc/self/maps`.
fn mapping_containing(addr: usize) -> Option<(usize, usize)> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|line| {
        let range = line.split_whitespace().next()?;
        let (lo, hi) = range.split_once('-')?;
        let lo = usize::from_str_radix(lo, 16).ok()?;
        let hi = usize::from_str_radix(hi, 16).ok()?;
        (lo <= addr && addr < hi).then_some((lo, hi))
    })
}

/// The resident memory of this process by kind of mapping, from `/proc/self/smaps`: what a
/// memory profile shows beside the heap's own figures ([`heap_usage`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResidentByMapping {
    /// Resident bytes per mapping name: a file's name (with its permissions), `[stack]`,
    /// `[anon]` for anonymous memory (mimalloc's arenas, thread stacks)... largest first.
    pub mappings: Vec<(String, usize)>,
    /// Of the anonymous memory, the bytes in transparent huge pages.
    pub huge: usize,
}

/// Reads `/proc/self/smaps` ([`ResidentByMapping`]); empty when it cannot be read.
pub fn resident_by_mapping() -> ResidentByMapping {
    let Ok(text) = std::fs::read_to_string("/proc/self/smaps") else {
        return ResidentByMapping::default();
    };
    let mut sums: std::collections::BTreeMap<String, usize> = Default::default();
    let mut huge = 0;
    for m in crate::resident::parse_smaps(&text) {
        huge += m.anon_huge;
        let name = match m.path.as_str() {
            "" => "[anon]".to_string(),
            p if p.starts_with('/') => format!("{} {}", p.rsplit('/').next().unwrap_or(p), m.perms),
            p => p.to_string(),
        };
        *sums.entry(name).or_default() += m.rss;
    }
    let mut mappings: Vec<(String, usize)> = sums.into_iter().filter(|(_, b)| *b > 0).collect();
    mappings.sort_by_key(|m| std::cmp::Reverse(m.1));
    ResidentByMapping { mappings, huge }
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

/// Walks mimalloc's main heap (every thread's pages, abandoned ones included) and sums its
/// live blocks and pages: a heap profile of the process, for measurements and tests.
///
/// mimalloc reads the pages' counters without locking them: while other threads allocate
/// the figures are approximate. Costs a walk over every page; not for hot paths.
pub fn heap_usage() -> HeapUsage {
    let mut usage = HeapUsage::default();
    for u in heap_usage_by_block_size() {
        usage.live += u.live;
        usage.committed += u.committed;
        usage.pages += u.pages;
    }
    usage
}

/// The heap's pages of one block size (see [`heap_usage_by_block_size`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockSizeUsage {
    /// The size of a block in these pages, padding included.
    pub block_size: usize,
    /// Pages of this block size.
    pub pages: usize,
    /// Bytes in live blocks.
    pub live: usize,
    /// Bytes of the pages (their committed capacity).
    pub committed: usize,
}

impl BlockSizeUsage {
    /// Free bytes inside these pages: room their live blocks keep resident.
    pub fn slack(&self) -> usize {
        self.committed.saturating_sub(self.live)
    }
}

/// Room for the block sizes of one walk: mimalloc has about 75 size classes below its
/// huge blocks; the rest are counted together (block size 0).
const SIZE_CLASSES: usize = 256;

/// Adds one page (area) to its block size's entry in the vector behind `arg`, which has room
/// for [`SIZE_CLASSES`] entries and must not grow (the walk must not allocate).
unsafe extern "C" fn count_area_by_size(
    _heap: *const mi::mi_heap_t,
    area: *const mi::mi_heap_area_t,
    _block: *mut c_void,
    _block_size: usize,
    arg: *mut c_void,
) -> bool {
    // SAFETY: mimalloc passes a valid area for the duration of the call, and `arg` is the
    // vector that `heap_usage_by_block_size` lent for the walk (not otherwise touched
    // meanwhile).
    let (area, sizes) = unsafe { (&*area, &mut *arg.cast::<Vec<BlockSizeUsage>>()) };
    let at = match sizes
        .iter()
        .position(|u| u.block_size == area.full_block_size)
    {
        Some(i) => i,
        None if sizes.len() + 1 < SIZE_CLASSES => {
            sizes.push(BlockSizeUsage {
                block_size: area.full_block_size,
                ..Default::default()
            });
            sizes.len() - 1
        }
        // Full (within capacity: no allocation): the first entry, block size 0, takes it.
        None => 0,
    };
    if let Some(e) = sizes.get_mut(at) {
        e.live += area.used * area.full_block_size;
        e.committed += area.committed;
        e.pages += 1;
    }
    true
}

/// [`heap_usage`] by block size, most free space first: which size classes keep partly used
/// pages resident (a heap profile's finer view; same caveats). Block size 0 gathers the
/// sizes beyond the first 255 met (huge blocks, each in a page of its own).
pub fn heap_usage_by_block_size() -> Vec<BlockSizeUsage> {
    let mut sizes: Vec<BlockSizeUsage> = Vec::with_capacity(SIZE_CLASSES);
    sizes.push(BlockSizeUsage::default());
    // SAFETY: a null heap means the main heap; the visitor only reads the area it is given
    // and writes `sizes` within its capacity (no allocation during the walk); `sizes`
    // outlives the call.
    unsafe {
        mi::mi_heap_visit_blocks(
            std::ptr::null_mut(),
            false,
            Some(count_area_by_size),
            std::ptr::addr_of_mut!(sizes).cast(),
        );
    }
    sizes.retain(|u| u.pages > 0);
    sizes.sort_by_key(|u| std::cmp::Reverse(u.slack()));
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mimalloc's statistics are the process's: the tests that allocate through it or read
    /// them run one at a time (the test harness runs tests on parallel threads).
    static MIMALLOC: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        MIMALLOC
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[test]
    fn releasing_after_freeing_mimalloc_memory_is_safe_and_repeatable() {
        let _serial = serial();
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
    fn small_pages_are_asked_for_and_the_resident_set_is_read_by_mapping() {
        let _serial = serial();
        // The option numbers are mimalloc v3's: both options at their documented defaults
        // (unless the environment overrides them) before they are set.
        // SAFETY: reading an option has no precondition.
        let (delay, thp) = unsafe {
            (
                mi::mi_option_get(MI_OPTION_PURGE_DELAY),
                mi::mi_option_get(MI_OPTION_ALLOW_THP),
            )
        };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(delay, 1000, "mi_option_purge_delay");
        }
        if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
            assert_eq!(thp, 1, "mi_option_allow_thp");
        }
        use_small_pages();
        // SAFETY: reading an option has no precondition.
        assert_eq!(unsafe { mi::mi_option_get(MI_OPTION_ALLOW_THP) }, 0);
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: reading an option has no precondition.
            assert_eq!(unsafe { mi::mi_option_get(MI_OPTION_PURGE_DELAY) }, 0);
        }
        let r = resident_by_mapping();
        assert!(
            r.mappings.iter().any(|(n, b)| n == "[stack]" && *b > 0),
            "{r:?}"
        );
        let total: usize = r.mappings.iter().map(|(_, b)| b).sum();
        assert!(total > 0 && r.huge <= total, "{r:?}");
        assert!(
            r.mappings.windows(2).all(|w| w[0].1 >= w[1].1),
            "largest first"
        );
        let block = Box::new(0u8);
        let addr = std::ptr::addr_of!(*block) as usize;
        let (lo, hi) = mapping_containing(addr).expect("the heap block's mapping");
        assert!(lo <= addr && addr < hi);
        assert_eq!(mapping_containing(0), None);
    }

    #[test]
    fn heap_usage_by_block_size_finds_the_pages_of_each_size() {
        let _serial = serial();
        // 3000-byte blocks (a size class of their own here: the test binary's global
        // allocator is the system's), every other one freed: their pages hold free room.
        let blocks: Vec<*mut c_void> =
            // SAFETY: mi_malloc returns a block or null; every non-null block is freed below.
            (0..200).map(|_| unsafe { mi::mi_malloc(3000) }).collect();
        assert!(blocks.iter().all(|b| !b.is_null()));
        for b in blocks.iter().step_by(2) {
            // SAFETY: each block came from mi_malloc above and is freed once (odd ones below).
            unsafe { mi::mi_free(*b) }
        }
        let sizes = heap_usage_by_block_size();
        let ours = sizes
            .iter()
            .find(|u| (3000..3200).contains(&u.block_size))
            .copied()
            .expect("the 3000-byte blocks' size class");
        assert!(ours.live >= 100 * 3000, "{ours:?}");
        assert!(ours.slack() >= 90 * 3000, "{ours:?}");
        assert_eq!(ours.slack(), ours.committed - ours.live);
        assert!(ours.pages >= 1);
        assert!(
            sizes.windows(2).all(|w| w[0].slack() >= w[1].slack()),
            "most free first"
        );
        // heap_usage is their sum.
        let total = heap_usage();
        assert_eq!(sizes.iter().map(|u| u.pages).sum::<usize>(), total.pages);
        for b in blocks.iter().skip(1).step_by(2) {
            // SAFETY: as above, the blocks not freed yet.
            unsafe { mi::mi_free(*b) }
        }
    }

    #[test]
    fn heap_usage_counts_live_mimalloc_blocks() {
        let _serial = serial();
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
