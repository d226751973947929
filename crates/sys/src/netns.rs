//! Network namespaces: entering one by name (`-s NAME`, tests).

use std::fs::File;
use std::io;
use std::path::PathBuf;

use nix::sched::{setns, CloneFlags};

/// The bind-mount path `ip netns add NAME` creates for a named namespace.
pub fn named_path(name: &str) -> PathBuf {
    PathBuf::from("/run/netns").join(name)
}

/// Moves the calling thread into the named network namespace. Sockets the thread opens
/// afterwards live in that namespace; other threads are not affected.
pub fn enter_named(name: &str) -> io::Result<()> {
    if name.is_empty() || name.contains('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "invalid namespace name",
        ));
    }
    let f = File::open(named_path(name))?;
    setns(f, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
}

/// A throwaway named network namespace, deleted on drop. For tests and labs: it never touches
/// the host's own interfaces.
#[derive(Debug)]
pub struct ScratchNs {
    name: String,
}

impl ScratchNs {
    /// Creates `NAME` (deleting a stale one of the same name first) with `lo` up.
    pub fn create(name: &str) -> io::Result<Self> {
        let _ = run_ip(&["netns", "del", name]);
        run_ip(&["netns", "add", name])?;
        let ns = ScratchNs {
            name: name.to_string(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip ARGS...` inside the namespace.
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        let mut v = vec!["-n", self.name.as_str()];
        v.extend_from_slice(args);
        run_ip(&v)
    }
}

impl Drop for ScratchNs {
    fn drop(&mut self) {
        let _ = run_ip(&["netns", "del", &self.name]);
    }
}

/// Runs the `ip` command and turns a failure into an error carrying its stderr.
pub fn run_ip(args: &[&str]) -> io::Result<()> {
    let out = std::process::Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Whether privileged tests (root, namespaces) can run here. Returns `Ok(false)` with a printed
/// reason when they cannot, and panics under `CI=true`, where a skipped privileged suite is a
/// failure.
pub fn privileged_tests_available(suite: &str) -> bool {
    let reason = if nix::unistd::geteuid().as_raw() != 0 {
        Some("not running as root".to_string())
    } else {
        static PROBES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match ScratchNs::create(&format!("rka-probe-{}-{n}", std::process::id())) {
            Ok(_) => None,
            Err(e) => Some(format!("cannot create a network namespace: {e}")),
        }
    };
    match reason {
        None => true,
        Some(r) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{suite}: privileged suite cannot run under CI=true: {r}")
        }
        Some(r) => {
            eprintln!("{suite}: SKIPPED: {r}");
            false
        }
    }
}
