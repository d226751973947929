//! FILE_CHECK: the first number in a tracked file gives the status or, with `dynamic`, a weight.
//!
//! With a weight of 0, a non-zero value is a failure and 0 is success. Otherwise the value is
//! multiplied by the weight (negated with `reverse`); with `dynamic` that product is reported
//! as the weight to add to the real server's, and a product at or below -2^31 is a failure.
//! A file without a leading number reads as 0, like C's `strtol`.
//!
//! [`FileWatcher`] follows a file for FILE_CHECK and the VRRP `track_file` alike (keepalived
//! 2.2.7 uses one mechanism for both): it wakes when the writer closes the file, not on each
//! write.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd as _, AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::outcome::{Failure, ProbeResult, Success};

/// Most bytes read from a tracked file.
const MAX_READ: u64 = 4096;

/// The FILE_CHECK parameters (with the `track_file` they name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileParams {
    /// The tracked file.
    pub path: PathBuf,
    /// The weight multiplier (default 1).
    pub weight: i64,
    /// `reverse`: negate the product.
    pub reverse: bool,
    /// `dynamic`: report the product as a weight.
    pub dynamic: bool,
}

impl FileParams {
    /// Track `path` with weight 1.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileParams {
            path: path.into(),
            weight: 1,
            reverse: false,
            dynamic: false,
        }
    }
}

/// The first number in `text`, after leading whitespace, with an optional sign; 0 if none.
/// Values are clamped to the 32-bit range.
pub fn first_number(text: &str) -> i64 {
    let t = text.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    let mut v: i64 = 0;
    for b in digits[..end].bytes() {
        v = v.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    let v = if neg { -v } else { v };
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX))
}

/// Judge a value read from the file.
pub fn evaluate(p: &FileParams, value: i64) -> ProbeResult {
    if p.weight == 0 {
        return if value == 0 {
            Ok(Success::default())
        } else {
            Err(Failure::new(format!(
                "{} holds {value}, a failure with weight 0",
                p.path.display()
            )))
        };
    }
    let mut product = value.saturating_mul(p.weight);
    if p.reverse {
        product = product.saturating_neg();
    }
    if p.dynamic && product <= i64::from(i32::MIN) {
        return Err(Failure::new(format!(
            "{} gives weight {product}, too low",
            p.path.display()
        )));
    }
    Ok(Success::weighted(p.dynamic.then_some(product)))
}

/// Read the file and judge it.
pub async fn probe(p: &FileParams) -> ProbeResult {
    use tokio::io::AsyncReadExt as _;
    let f = tokio::fs::File::open(&p.path)
        .await
        .map_err(|e| Failure::new(format!("cannot open {}: {e}", p.path.display())))?;
    let mut buf = Vec::new();
    f.take(MAX_READ)
        .read_to_end(&mut buf)
        .await
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", p.path.display())))?;
    evaluate(p, first_number(&String::from_utf8_lossy(&buf)))
}

/// How often a followed file is read while its directory cannot be watched (no inotify
/// instance left, or the directory does not exist yet).
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// `Inotify` as tokio's `AsyncFd` wants it.
#[derive(Debug)]
struct InotifyFd(Inotify);

impl AsRawFd for InotifyFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// What a [`DirWatch`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WatchEvent {
    /// The file may hold something new.
    Changed,
    /// The directory went away (deleted, moved, unmounted): the watch is gone.
    Lost,
}

/// One inotify watch on the directory of a file. Watching the directory, not the file, sees
/// the file created, written, replaced by a rename or deleted.
#[derive(Debug)]
struct DirWatch {
    fd: AsyncFd<InotifyFd>,
}

impl DirWatch {
    /// Watches `dir`; fails when inotify is unavailable or `dir` is not a directory.
    fn new(dir: &Path) -> std::io::Result<DirWatch> {
        let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        ino.add_watch(
            dir,
            // Written files are read when closed, not on every write: keepalived 2.2.7 does
            // the same (observed), so a writer that truncates first causes no 0 blip.
            AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_DELETE
                | AddWatchFlags::IN_MOVED_FROM
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_DELETE_SELF
                | AddWatchFlags::IN_MOVE_SELF
                | AddWatchFlags::IN_ONLYDIR,
        )?;
        // `AsyncFd`'s safe constructors are deprecated for types that could hand out another
        // descriptor over time; `InotifyFd` owns its descriptor for its whole life, which is
        // the contract of the `unsafe` replacement (and `unsafe` is kept to crates/sys).
        #[allow(deprecated)]
        let fd = AsyncFd::with_interest(InotifyFd(ino), Interest::READABLE)?;
        Ok(DirWatch { fd })
    }

    /// Waits for an event that concerns the file `name` (events about its neighbours are
    /// skipped; a lost event queue counts as a change).
    async fn next(&mut self, name: &OsStr) -> WatchEvent {
        let gone = AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF
            | AddWatchFlags::IN_IGNORED
            | AddWatchFlags::IN_UNMOUNT;
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                return WatchEvent::Lost;
            };
            let events = match guard.try_io(|fd| fd.get_ref().0.read_events().map_err(Into::into)) {
                Ok(Ok(events)) => events,
                Ok(Err(_)) => return WatchEvent::Lost,
                Err(_would_block) => continue,
            };
            let mut changed = false;
            for ev in events {
                if ev.mask.intersects(gone) {
                    return WatchEvent::Lost;
                }
                if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW)
                    || ev.name.as_deref() == Some(name)
                {
                    changed = true;
                }
            }
            if changed {
                return WatchEvent::Changed;
            }
        }
    }
}

/// Follows a file for FILE_CHECK and `track_file`: [`FileWatcher::changed`] returns whenever
/// the file may hold something new. The file's directory is watched with inotify, so a change
/// is seen as soon as the writer closes the file, a rename puts a new file in place, or the
/// file is created or deleted. While the directory cannot be watched (it does not exist yet,
/// it went away, or inotify is exhausted) the file is read every [`POLL_INTERVAL`] instead,
/// and the watch is tried again each time.
///
/// Create the watcher, then read the file, then wait: no change between the two is missed.
#[derive(Debug)]
pub struct FileWatcher {
    path: PathBuf,
    dir: PathBuf,
    name: OsString,
    watch: Option<DirWatch>,
    warned: bool,
}

impl FileWatcher {
    /// Follows `path`, watching its directory at once when it can. Fails only when `path`
    /// names no file (`/`, `..`).
    pub fn new(path: &Path) -> std::io::Result<Self> {
        let name = path
            .file_name()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"))?
            .to_os_string();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut w = FileWatcher {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            name,
            watch: None,
            warned: false,
        };
        w.watch_directory();
        Ok(w)
    }

    /// Tries to watch the directory; the first failure is logged.
    fn watch_directory(&mut self) {
        match DirWatch::new(&self.dir) {
            Ok(w) => self.watch = Some(w),
            Err(e) if !self.warned => {
                self.warned = true;
                tracing::warn!(
                    "cannot watch {} ({e}) - reading it every {}ms",
                    self.path.display(),
                    POLL_INTERVAL.as_millis()
                );
            }
            Err(_) => {}
        }
    }

    /// Waits until the file may have changed; read it after each return. It does not fail
    /// (a lost watch falls back to reading every [`POLL_INTERVAL`]): the `Result` is kept for
    /// callers that propagate it.
    pub async fn changed(&mut self) -> std::io::Result<()> {
        match self.watch.as_mut() {
            Some(w) => {
                if w.next(&self.name).await == WatchEvent::Lost {
                    // Read once more now: the file may have changed with its directory.
                    self.watch = None;
                }
            }
            None => tokio::time::sleep(POLL_INTERVAL).await,
        }
        if self.watch.is_none() {
            self.watch_directory();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(first_number("  42\n"), 42);
        assert_eq!(first_number("-7 foo"), -7);
        assert_eq!(first_number("abc"), 0);
        assert_eq!(first_number(""), 0);
        assert_eq!(first_number("99999999999999999999"), i64::from(i32::MAX));
    }

    #[test]
    fn weights() {
        let mut p = FileParams::new("/x");
        p.weight = 0;
        assert!(evaluate(&p, 0).is_ok());
        assert!(evaluate(&p, 3).is_err());
        p.weight = 2;
        assert_eq!(evaluate(&p, 3), Ok(Success::weighted(None)));
        p.dynamic = true;
        assert_eq!(evaluate(&p, 3), Ok(Success::weighted(Some(6))));
        p.reverse = true;
        assert_eq!(evaluate(&p, 3), Ok(Success::weighted(Some(-6))));
        p.reverse = false;
        assert!(evaluate(&p, i64::from(i32::MIN)).is_err());
    }

    #[tokio::test]
    async fn watch_and_read() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("status");
        let mut p = FileParams::new(&path);
        p.dynamic = true;
        assert!(probe(&p).await.is_err(), "missing file");
        let mut w = FileWatcher::new(&path).expect("watch");
        std::fs::write(&path, "5\n").expect("write");
        tokio::time::timeout(Duration::from_secs(2), w.changed())
            .await
            .expect("change seen")
            .expect("inotify");
        assert_eq!(probe(&p).await, Ok(Success::weighted(Some(5))));
        // Replacement by rename is seen too.
        let tmp = dir.path().join("status.new");
        std::fs::write(&tmp, "9").expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        tokio::time::timeout(Duration::from_secs(2), w.changed())
            .await
            .expect("rename seen")
            .expect("inotify");
        assert_eq!(probe(&p).await, Ok(Success::weighted(Some(9))));
    }

    #[tokio::test]
    async fn directory_watch_sees_only_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("prio");
        let name = OsStr::new("prio");
        let mut w = DirWatch::new(dir.path()).expect("watch");
        let quiet = Duration::from_millis(200);
        // A neighbour changing wakes nobody.
        std::fs::write(dir.path().join("other"), "1").expect("write");
        assert!(tokio::time::timeout(quiet, w.next(name)).await.is_err());
        // Created, rewritten, replaced by a rename, deleted: each one is seen.
        std::fs::write(&path, "5\n").expect("write");
        assert_eq!(w.next(name).await, WatchEvent::Changed);
        let tmp = dir.path().join("prio.tmp");
        std::fs::write(&tmp, "7\n").expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        assert_eq!(w.next(name).await, WatchEvent::Changed);
        std::fs::remove_file(&path).expect("rm");
        assert_eq!(w.next(name).await, WatchEvent::Changed);
        // The directory itself going away ends the watch.
        drop(dir);
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(2), w.next(name))
                .await
                .expect("event"),
            WatchEvent::Lost
        );
    }

    #[tokio::test]
    async fn a_file_is_polled_until_its_directory_can_be_watched() {
        let top = tempfile::tempdir().expect("tempdir");
        let dir = top.path().join("later");
        let path = dir.join("status");
        let mut w = FileWatcher::new(&path).expect("watcher");
        assert!(w.watch.is_none(), "no directory yet");
        // Unwatched: woken every poll interval, not sooner.
        let start = std::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(2), w.changed())
            .await
            .expect("poll")
            .expect("changed");
        assert!(start.elapsed() >= POLL_INTERVAL);
        // The directory appears: the next wake-up watches it, and changes are seen at once.
        std::fs::create_dir(&dir).expect("mkdir");
        tokio::time::timeout(Duration::from_secs(2), w.changed())
            .await
            .expect("poll")
            .expect("changed");
        assert!(w.watch.is_some(), "watched once the directory exists");
        std::fs::write(&path, "3").expect("write");
        tokio::time::timeout(Duration::from_millis(300), w.changed())
            .await
            .expect("seen before the next poll")
            .expect("changed");
        // The directory goes away: woken at once, then polled again.
        std::fs::remove_file(&path).expect("rm");
        std::fs::remove_dir(&dir).expect("rmdir");
        for _ in 0..3 {
            if w.watch.is_none() {
                break;
            }
            tokio::time::timeout(Duration::from_millis(300), w.changed())
                .await
                .expect("woken")
                .expect("changed");
        }
        assert!(w.watch.is_none(), "watch lost with the directory");
    }

    #[test]
    fn a_path_without_a_file_name_is_refused() {
        assert!(FileWatcher::new(Path::new("/")).is_err());
    }
}
