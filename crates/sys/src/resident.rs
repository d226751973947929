//! Dropping the executable's pages that only the start-up needed from the resident set.
//!
//! A child of the daemon is a fresh `exec` of the binary: it maps the code and read-only
//! data it runs page by page, and the kernel maps each page's neighbours with it (fault
//! around: 64 KiB at a time on Debian's kernels). Loading the configuration runs code the
//! steady state never runs again (the lexer, the preprocessor, the model, the mapping), and
//! its pages stay counted in the process's resident set for good. [`release_executable_pages`]
//! unmaps them from this process after the load: the file's pages stay in the page cache
//! (shared with the parent and the other child), and those the process runs again come back
//! with a minor fault each. The shared libraries loaded with the executable (libc, libm, the
//! dynamic loader), recorded by [`record_startup_objects`] at the start of `main`, are dropped
//! the same way.

use std::ffi::c_void;

/// One mapping of `/proc/self/smaps`: its range, permissions (`r-xp`...), file or name
/// (`[stack]`; empty for anonymous memory), and its resident, private-copy (anonymous) and
/// transparent-huge-page sizes in bytes.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) perms: String,
    pub(crate) path: String,
    pub(crate) rss: usize,
    pub(crate) anonymous: usize,
    pub(crate) anon_huge: usize,
}

impl Mapping {
    fn writable(&self) -> bool {
        self.perms.as_bytes().get(1) == Some(&b'w')
    }

    /// Copy on write (not shared).
    fn private(&self) -> bool {
        self.perms.as_bytes().get(3) == Some(&b'p')
    }
}

/// Parses `/proc/self/smaps`'s text into its mappings (unparsable lines are skipped).
pub(crate) fn parse_smaps(text: &str) -> Vec<Mapping> {
    let mut out: Vec<Mapping> = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else {
            continue;
        };
        let kb = |w: Option<&str>| w.and_then(|v| v.parse::<usize>().ok()).unwrap_or(0) * 1024;
        match first {
            "Rss:" => {
                if let Some(m) = out.last_mut() {
                    m.rss = kb(words.next());
                }
            }
            "Anonymous:" => {
                if let Some(m) = out.last_mut() {
                    m.anonymous = kb(words.next());
                }
            }
            "AnonHugePages:" => {
                if let Some(m) = out.last_mut() {
                    m.anon_huge = kb(words.next());
                }
            }
            _ if first.contains('-') && !first.ends_with(':') => {
                let Some((lo, hi)) = first.split_once('-') else {
                    continue;
                };
                let (Ok(start), Ok(end)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                else {
                    continue;
                };
                let perms = words.next().unwrap_or("").to_string();
                // offset, device, inode, then the path (which may hold spaces).
                let path = words.skip(3).collect::<Vec<_>>().join(" ");
                out.push(Mapping {
                    start,
                    end,
                    perms,
                    path,
                    ..Default::default()
                });
            }
            _ => {}
        }
    }
    out
}

/// The files mapped when [`record_startup_objects`] ran: the executable and the shared
/// libraries the dynamic loader mapped before `main`.
static STARTUP_OBJECTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Records the files this process has mapped (its executable and the shared libraries loaded
/// with it), for [`release_executable_pages`]. Call first thing in `main`, before anything
/// can load a library at run time (`dlopen`, as the name service modules are): the objects
/// loaded before `main` are never unloaded, so no other mapping can ever take the place of
/// theirs. Only the first call records.
pub fn record_startup_objects() {
    let Ok(text) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    let mut paths: Vec<String> = parse_smaps(&text)
        .into_iter()
        .filter(|m| m.path.starts_with('/'))
        .map(|m| m.path)
        .collect();
    paths.sort();
    paths.dedup();
    let _ = STARTUP_OBJECTS.set(paths);
}

/// The mappings that may be dropped: those of a file of `objects` (the executable and the
/// libraries loaded with it), private, read-only, holding no private copy of a page (a
/// relocated page of read-only data is a private copy: dropping it would bring back the
/// file's unrelocated bytes) and resident.
fn droppable<'a>(maps: &'a [Mapping], objects: &'a [String]) -> impl Iterator<Item = &'a Mapping> {
    maps.iter().filter(move |m| {
        m.private()
            && !m.writable()
            && m.anonymous == 0
            && m.rss > 0
            && objects.binary_search(&m.path).is_ok()
    })
}

/// Unmaps from this process the resident pages of its executable's code and read-only data,
/// and of the libraries recorded by [`record_startup_objects`] (see the module's
/// documentation); returns how many bytes were resident in the mappings dropped. Only those
/// objects' mappings are touched: they live as long as the process, so no other mapping can
/// take their place between reading `/proc/self/smaps` and the `madvise` (a library loaded
/// later could be unloaded meanwhile). Best effort: nothing is done when `/proc` cannot be
/// read.
///
/// Costs a read of `/proc/self/smaps` and, afterwards, a minor fault per 64 KiB of code run
/// again: call it after a load, not often.
pub fn release_executable_pages() -> usize {
    // Without a record (a program that did not make one), the executable alone.
    let own: [String; 1];
    let objects: &[String] = match STARTUP_OBJECTS.get() {
        Some(o) => o,
        None => {
            let exe = std::fs::read_link("/proc/self/exe");
            let Some(exe) = exe.ok().and_then(|p| p.to_str().map(String::from)) else {
                return 0;
            };
            own = [exe];
            &own
        }
    };
    let Ok(text) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    let maps = parse_smaps(&text);
    let mut released = 0;
    for m in droppable(&maps, objects) {
        // SAFETY: [start, end) is a whole private mapping of the executable or of a library
        // loaded with it, which stay mapped for the life of the process; it is read-only and
        // holds no private copy of any page, so every page dropped reads back from the file
        // with the same bytes on its next access. MADV_DONTNEED only removes the page-table
        // entries.
        let r =
            unsafe { libc::madvise(m.start as *mut c_void, m.end - m.start, libc::MADV_DONTNEED) };
        if r == 0 {
            released += m.rss;
        }
    }
    released
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0a0000000-55d0a0100000 r--p 00000000 08:01 123 /usr/sbin/rkeepalived
Size:               1024 kB
Rss:                 512 kB
Anonymous:             0 kB
55d0a0100000-55d0a0500000 r-xp 00100000 08:01 123 /usr/sbin/rkeepalived
Rss:                4096 kB
Anonymous:             0 kB
55d0a0500000-55d0a0540000 r--p 00500000 08:01 123 /usr/sbin/rkeepalived
Rss:                 256 kB
Anonymous:           200 kB
55d0a0540000-55d0a0560000 rw-p 00540000 08:01 123 /usr/sbin/rkeepalived
Rss:                  64 kB
Anonymous:            64 kB
7f0000000000-7f0000100000 r-xp 00000000 08:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                1024 kB
Anonymous:             0 kB
7f0000200000-7f0000300000 rw-p 00000000 00:00 0
Rss:                1024 kB
Anonymous:          1024 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Rss:                 132 kB
Anonymous:           132 kB
";

    #[test]
    fn only_the_executables_clean_read_only_mappings_are_dropped() {
        let maps = parse_smaps(SMAPS);
        assert_eq!(maps.len(), 7);
        assert_eq!(maps[6].path, "[stack]");
        let exe = ["/usr/sbin/rkeepalived".to_string()];
        let picked: Vec<(usize, usize)> =
            droppable(&maps, &exe).map(|m| (m.start, m.rss)).collect();
        // The read-only data and the code; not the relocated read-only data (private
        // copies), the writable data, a library, the heap or the stack.
        assert_eq!(
            picked,
            vec![
                (0x55d0_a000_0000, 512 * 1024),
                (0x55d0_a010_0000, 4096 * 1024)
            ]
        );
        assert_eq!(
            droppable(&maps, &["/usr/sbin/other".to_string()]).count(),
            0
        );
        // With the libraries loaded at start-up: libc's code too (sorted, as recorded).
        let objects = [
            "/usr/lib/x86_64-linux-gnu/libc.so.6".to_string(),
            "/usr/sbin/rkeepalived".to_string(),
        ];
        assert_eq!(droppable(&maps, &objects).count(), 3);
        // A shared mapping of a file is not dropped.
        let shared = parse_smaps(
            "7f0000000000-7f0000100000 r--s 00000000 08:01 99 /usr/sbin/rkeepalived\nRss: 4 kB\n",
        );
        assert_eq!(droppable(&shared, &exe).count(), 0);
    }

    #[test]
    fn releasing_this_process_executable_pages_keeps_it_running() {
        // The test binary drops its own code pages and goes on running that code.
        fn work(n: u64) -> u64 {
            (1..=n).map(|i| i * i % 7).sum()
        }
        let before = work(1000);
        record_startup_objects();
        let released = release_executable_pages();
        assert_eq!(work(1000), before);
        let maps = parse_smaps(&std::fs::read_to_string("/proc/self/smaps").expect("smaps"));
        let exe = std::fs::read_link("/proc/self/exe").expect("exe");
        let exe = exe.to_str().expect("utf-8 path");
        assert!(
            maps.iter().any(|m| m.path == exe),
            "the test binary's mappings"
        );
        assert!(released > 0, "a running binary has resident code to drop");
        // Again, at once: the pages run since came back, and go again.
        release_executable_pages();
        assert_eq!(work(1000), before);
    }
}
