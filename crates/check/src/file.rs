//! FILE_CHECK: the first number in a tracked file gives the status or, with `dynamic`, a weight.
//!
//! With a weight of 0, a non-zero value is a failure and 0 is success. Otherwise the value is
//! multiplied by the weight (negated with `reverse`); with `dynamic` that product is reported
//! as the weight to add to the real server's, and a product at or below -2^31 is a failure.
//! A file without a leading number reads as 0, like C's `strtol`.

use std::ffi::OsString;
use std::os::fd::{AsFd as _, AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::io::unix::AsyncFd;

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
    Ok(Success {
        weight: p.dynamic.then_some(product),
    })
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

#[derive(Debug)]
struct InotifyFd(Inotify);

impl AsRawFd for InotifyFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// Waits for changes of a file, watching its directory so that files replaced by rename or
/// created later are seen too.
#[derive(Debug)]
pub struct FileWatcher {
    fd: AsyncFd<InotifyFd>,
    name: OsString,
}

impl FileWatcher {
    /// Watch `path` (its directory must exist).
    pub fn new(path: &Path) -> std::io::Result<Self> {
        let name = path
            .file_name()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"))?
            .to_os_string();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        ino.add_watch(
            dir,
            AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_DELETE
                | AddWatchFlags::IN_MODIFY,
        )?;
        // `InotifyFd` owns its descriptor for its whole life, which is what registration
        // requires; the replacement constructor is `unsafe`, forbidden in this crate.
        #[allow(deprecated)]
        let fd = AsyncFd::new(InotifyFd(ino))?;
        Ok(FileWatcher { fd, name })
    }

    /// Wait until the watched file changes.
    pub async fn changed(&mut self) -> std::io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| fd.get_ref().0.read_events().map_err(std::io::Error::from)) {
                Ok(Ok(events)) => {
                    if events
                        .iter()
                        .any(|e| e.name.as_deref() == Some(self.name.as_os_str()))
                    {
                        return Ok(());
                    }
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
        assert_eq!(evaluate(&p, 3), Ok(Success { weight: None }));
        p.dynamic = true;
        assert_eq!(evaluate(&p, 3), Ok(Success { weight: Some(6) }));
        p.reverse = true;
        assert_eq!(evaluate(&p, 3), Ok(Success { weight: Some(-6) }));
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
        assert_eq!(probe(&p).await, Ok(Success { weight: Some(5) }));
        // Replacement by rename is seen too.
        let tmp = dir.path().join("status.new");
        std::fs::write(&tmp, "9").expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        tokio::time::timeout(Duration::from_secs(2), w.changed())
            .await
            .expect("rename seen")
            .expect("inotify");
        assert_eq!(probe(&p).await, Ok(Success { weight: Some(9) }));
    }
}
