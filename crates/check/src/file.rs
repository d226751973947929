//! FILE_CHECK: the first number in a tracked file gives the status or, with `dynamic`, a weight.
//!
//! With a weight of 0, a non-zero value is a failure and 0 is success. Otherwise the value is
//! multiplied by the weight (negated with `reverse`); with `dynamic` that product is reported
//! as the weight to add to the real server's, and a product at or below -2^31 is a failure.
//! The value is read as keepalived 2.2.7 reads it ([`parse_value`]): C's `strtol` with base 0
//! over the first 127 bytes (so `0x10` is 16 and `010` is 8); a file without a leading number,
//! an empty, missing or unreadable file reads as 0; a value out of range is ignored.
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

/// Most bytes read from a tracked file: keepalived 2.2.7 reads into a 128-byte buffer.
const MAX_READ: usize = 127;

/// The FILE_CHECK parameters (with the `track_file` they name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileParams {
    /// The `track_file`'s name, as keepalived's lines name it (empty when unnamed).
    pub name: String,
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
            name: String::new(),
            path: path.into(),
            weight: 1,
            reverse: false,
            dynamic: false,
        }
    }
}

/// A tracked file's value from its first bytes, as keepalived 2.2.7 reads it: C's `strtol`
/// with base 0 over at most 127 bytes, up to a NUL (leading white space, an optional sign,
/// `0x`/`0X` and a hexadecimal digit for hexadecimal, a leading `0` for octal, decimal
/// otherwise; the longest run of digits; no digits is 0). `Err` holds a value keepalived
/// rejects, logging "Invalid number N read from FILE - ignoring" and keeping the value it
/// had: one below -2^31 or above 2^31, or one that overflows 64 bits (then `i64::MIN` or
/// `i64::MAX`, as `strtol` returns).
pub fn parse_value(bytes: &[u8]) -> Result<i64, i64> {
    let b = &bytes[..bytes.len().min(MAX_READ)];
    let b = b.split(|&c| c == 0).next().unwrap_or_default();
    let mut i = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .unwrap_or(b.len());
    let neg = match b.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let hex = b.get(i) == Some(&b'0')
        && matches!(b.get(i + 1), Some(b'x' | b'X'))
        && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
    let (radix, digits) = match (hex, b.get(i)) {
        (true, _) => (16, b.get(i + 2..).unwrap_or_default()),
        (false, Some(b'0')) => (8, b.get(i..).unwrap_or_default()),
        _ => (10, b.get(i..).unwrap_or_default()),
    };
    // The magnitude, saturated just above i64's range.
    let limit = u128::from(i64::MAX.unsigned_abs()) + 2;
    let mut magnitude: u128 = 0;
    for &c in digits {
        let Some(d) = char::from(c).to_digit(radix) else {
            break;
        };
        magnitude = (magnitude * u128::from(radix) + u128::from(d)).min(limit);
    }
    let value = if neg {
        i64::try_from(-i128::try_from(magnitude).unwrap_or(i128::MAX)).map_err(|_| i64::MIN)?
    } else {
        i64::try_from(magnitude).map_err(|_| i64::MAX)?
    };
    if value < i64::from(i32::MIN) || value > i64::from(i32::MAX) + 1 {
        return Err(value);
    }
    Ok(value)
}

/// The value of the tracked file at `path` ([`parse_value`]); a file that cannot be opened
/// or read, or an empty one, reads as 0, as keepalived 2.2.7 reads it (its `track_file`
/// watcher treats a deleted file as 0 too).
pub async fn read_value(path: &Path) -> Result<i64, i64> {
    // One blocking hop for the open and the read (tokio::fs takes one for each).
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || read_value_now(&path))
        .await
        .unwrap_or(Ok(0))
}

/// [`read_value`] without a runtime: the reading at start, before any watcher runs (and the
/// one [`read_value`] runs on a blocking thread).
pub fn read_value_now(path: &Path) -> Result<i64, i64> {
    use std::io::Read as _;
    let Ok(f) = std::fs::File::open(path) else {
        return Ok(0);
    };
    let mut buf = Vec::with_capacity(MAX_READ);
    match f.take(MAX_READ as u64).read_to_end(&mut buf) {
        Ok(_) => parse_value(&buf),
        Err(_) => Ok(0),
    }
}

/// keepalived's line for a value [`parse_value`] rejects.
pub fn invalid_value_line(value: i64, path: &Path) -> String {
    format!(
        "Invalid number {value} read from {} - ignoring",
        path.display()
    )
}

/// The verdict on the file as it is now, read without a runtime: the state a FILE_CHECK
/// starts in, as keepalived 2.2.7 reads its tracked files before it programs the table (a
/// failing file starts its checker down, a dynamic weight applies from the start, neither
/// logged). A value out of range is logged and judged as 0, keepalived's starting value.
pub fn judge_now(p: &FileParams) -> ProbeResult {
    let value = read_value_now(&p.path).unwrap_or_else(|bad| {
        tracing::info!("{}", invalid_value_line(bad, &p.path));
        0
    });
    evaluate(p, value)
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

/// Read the file and judge it (a value out of range judged as 0, keepalived's starting value).
pub async fn probe(p: &FileParams) -> ProbeResult {
    evaluate(p, read_value(&p.path).await.unwrap_or(0))
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
    fn values_are_read_as_strtol_with_base_0() {
        let v = |t: &str| parse_value(t.as_bytes());
        assert_eq!(v("  42\n"), Ok(42));
        assert_eq!(v("\t-7 foo"), Ok(-7));
        assert_eq!(v("+5"), Ok(5));
        assert_eq!(v("abc"), Ok(0));
        assert_eq!(v(""), Ok(0));
        assert_eq!(v("-"), Ok(0));
        // Hexadecimal and octal, as strtol(buf, NULL, 0).
        assert_eq!(v("0x10"), Ok(16));
        assert_eq!(v("-0X1f\n"), Ok(-31));
        assert_eq!(v("010"), Ok(8));
        assert_eq!(v("08"), Ok(0), "8 is no octal digit: the number is the 0");
        assert_eq!(v("0x"), Ok(0), "no hexadecimal digit: the 0 alone");
        assert_eq!(v("0xg"), Ok(0));
        // Up to a NUL, and within the first 127 bytes.
        assert_eq!(v("12\x0034"), Ok(12));
        let long = format!("{}7", " ".repeat(127));
        assert_eq!(v(&long), Ok(0));
        let long = format!("{}7", " ".repeat(126));
        assert_eq!(v(&long), Ok(7));
        // keepalived's range: -2^31 ..= 2^31; beyond it the value is rejected (ignored).
        assert_eq!(v("-2147483648"), Ok(-2_147_483_648));
        assert_eq!(v("2147483648"), Ok(2_147_483_648));
        assert_eq!(v("2147483649"), Err(2_147_483_649));
        assert_eq!(v("-2147483649"), Err(-2_147_483_649));
        assert_eq!(v("99999999999999999999"), Err(i64::MAX));
        assert_eq!(v("-99999999999999999999"), Err(i64::MIN));
    }

    #[tokio::test]
    async fn a_missing_or_empty_file_reads_as_0() {
        let dir = tempfile::tempdir().expect("tmp");
        let missing = dir.path().join("none");
        assert_eq!(read_value(&missing).await, Ok(0));
        assert_eq!(read_value_now(&missing), Ok(0));
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "").expect("write");
        assert_eq!(read_value(&empty).await, Ok(0));
        std::fs::write(&empty, "0x20\n").expect("write");
        assert_eq!(read_value(&empty).await, Ok(32));
        assert_eq!(read_value_now(&empty), Ok(32));
        // A FILE_CHECK of weight 0 on a missing file passes (its value is 0).
        let mut p = FileParams::new(&missing);
        p.weight = 0;
        assert!(probe(&p).await.is_ok());
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
        assert_eq!(
            probe(&p).await,
            Ok(Success::weighted(Some(0))),
            "a missing file reads as 0"
        );
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
