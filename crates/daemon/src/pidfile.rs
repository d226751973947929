//! Pidfiles with keepalived's defaults and "already running" detection.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::logging::Role;

/// The network namespace given with `-s`, which moves the default pidfiles.
static NAMESPACE: OnceLock<Option<String>> = OnceLock::new();

/// Records the `-s` namespace once, at start, before any default pidfile path is asked for.
pub fn set_namespace(name: Option<&str>) {
    let _ = NAMESPACE.set(name.map(str::to_string));
}

/// The network namespace recorded by [`set_namespace`] (`-s` or `net_namespace`).
pub fn namespace() -> Option<String> {
    NAMESPACE.get().cloned().flatten()
}

/// keepalived 2.2.7's (Debian) default pidfile of each process: `/run/keepalived.pid`,
/// `/run/vrrp.pid`, `/run/checkers.pid`, or the same names in `/run/keepalived/NAME/` when
/// running in network namespace NAME (`-s`).
pub fn default_path(role: Role) -> PathBuf {
    default_path_in(role, NAMESPACE.get().and_then(|n| n.as_deref()))
}

/// [`default_path`] for an explicit namespace.
pub fn default_path_in(role: Role, namespace: Option<&str>) -> PathBuf {
    default_path_for(role, namespace, None, false)
}

/// keepalived 2.2.7's default pidfile of `role` given the `-s` namespace, the `instance NAME`
/// keyword and `use_pid_dir` (observed): `instance foo` names the files `keepalived_foo.pid`,
/// `vrrp_foo.pid`, `checkers_foo.pid` and puts them in `/run/keepalived/` (as `use_pid_dir`
/// does with the usual names); a namespace puts them in `/run/keepalived/NAME/`.
pub fn default_path_for(
    role: Role,
    namespace: Option<&str>,
    instance: Option<&str>,
    use_pid_dir: bool,
) -> PathBuf {
    let stem = match role {
        Role::Parent => "keepalived",
        Role::Vrrp => "vrrp",
        Role::Checker => "checkers",
    };
    let name = match instance {
        Some(i) => format!("{stem}_{i}.pid"),
        None => format!("{stem}.pid"),
    };
    match namespace {
        Some(ns) => Path::new(PID_DIR).join(ns).join(name),
        None if instance.is_some() || use_pid_dir => Path::new(PID_DIR).join(name),
        None => Path::new("/run").join(name),
    }
}

/// The directory keepalived keeps namespaced pidfiles in (`/run/keepalived/NAME/`).
pub const PID_DIR: &str = "/run/keepalived";

/// An owned pidfile, removed when dropped, with the directories keepalived removes with it.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    /// Directories to remove (when empty) after the file, innermost first: those between the
    /// file and [`PID_DIR`], that directory included. keepalived 2.2.7 removes
    /// `/run/keepalived/NAME` and then `/run/keepalived` itself when it is empty (observed,
    /// even when `/run/keepalived` existed before it started).
    prune: Vec<PathBuf>,
}

/// The directories between `path` and `root` (both included, innermost first) when `path`
/// lies under `root`; nothing otherwise (a pidfile given with `-p`/`-r`/`-c` elsewhere).
fn dirs_to_prune(path: &Path, root: &Path) -> Vec<PathBuf> {
    if !path.starts_with(root) || path == root {
        return Vec::new();
    }
    path.ancestors()
        .skip(1)
        .take_while(|d| d.starts_with(root))
        .map(Path::to_path_buf)
        .collect()
}

/// Why a pidfile could not be created.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    /// A live process already holds it.
    #[error("daemon is already running (pid {pid}, pidfile {path})")]
    AlreadyRunning {
        /// The live process.
        pid: i32,
        /// The pidfile.
        path: PathBuf,
    },
    /// The file could not be written.
    #[error("cannot write pidfile {path}: {source}")]
    Io {
        /// The pidfile.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// The pid recorded in `path` when that process is alive.
pub fn running_pid(path: &Path) -> Option<i32> {
    let text = fs::read_to_string(path).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    if pid <= 0 || pid == std::process::id() as i32 {
        return None;
    }
    // A live process answers signal 0; a stale pidfile names a dead or reused pid. Treat a
    // reused pid as stale unless the process is one of ours.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).ok()?;
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let comm = comm.trim();
    (comm.starts_with("rkeepalived") || comm.starts_with("keepalived")).then_some(pid)
}

impl PidFile {
    /// Writes our pid to `path`, refusing when a live daemon already owns it.
    pub fn create(path: &Path) -> Result<PidFile, PidFileError> {
        PidFile::create_pruning(path, Path::new(PID_DIR))
    }

    /// [`PidFile::create`]; when `path` lies under `root`, the directories up to `root` are
    /// removed with the file when they are left empty.
    pub fn create_pruning(path: &Path, root: &Path) -> Result<PidFile, PidFileError> {
        if let Some(pid) = running_pid(path) {
            return Err(PidFileError::AlreadyRunning {
                pid,
                path: path.to_path_buf(),
            });
        }
        if let Some(dir) = path.parent() {
            let _ = fs::create_dir_all(dir);
        }
        let io_err = |source| PidFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        fs::write(path, format!("{}\n", std::process::id())).map_err(io_err)?;
        // keepalived's pidfiles are world-readable whatever the umask (0177 by default).
        fs::set_permissions(path, fs::Permissions::from_mode(0o644)).map_err(io_err)?;
        Ok(PidFile {
            path: path.to_path_buf(),
            prune: dirs_to_prune(path, root),
        })
    }

    /// The pidfile's path.
    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Removes `path` when it names `pid` (the supervisor cleans up after a child that was
/// killed before it could remove its own pidfile).
pub fn remove_if_owned_by(path: &Path, pid: u32) {
    let named = fs::read_to_string(path)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok());
    if named == Some(pid) {
        let _ = fs::remove_file(path);
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Only remove the file if it still names us (a successor may have taken over).
        if fs::read_to_string(&self.path)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
            == Some(std::process::id())
        {
            let _ = fs::remove_file(&self.path);
        }
        // A directory still holding another process's pidfile (a child's, the parent's)
        // stays: the last one out removes it.
        for d in &self.prune {
            if fs::remove_dir(d).is_err() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_write_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("k.pid");
        {
            let f = PidFile::create(&p).expect("create");
            assert_eq!(
                fs::read_to_string(f.path()).expect("read").trim(),
                std::process::id().to_string()
            );
        }
        assert!(!p.exists());
    }

    #[test]
    fn the_namespace_directories_go_with_the_last_pidfile() {
        let run = tempfile::tempdir().expect("tempdir");
        let root = run.path().join("keepalived");
        let ns = root.join("blue");
        let parent = PidFile::create_pruning(&ns.join("keepalived.pid"), &root).expect("create");
        let child = PidFile::create_pruning(&ns.join("vrrp.pid"), &root).expect("create");
        drop(child);
        assert!(ns.is_dir(), "the parent's pidfile is still there");
        drop(parent);
        assert!(
            !root.exists(),
            "keepalived removes /run/keepalived/NAME and /run/keepalived"
        );
        // Another daemon's files keep /run/keepalived; a pidfile elsewhere prunes nothing.
        fs::create_dir_all(&root).expect("mkdir");
        fs::write(root.join("other.pid"), "1\n").expect("write");
        drop(PidFile::create_pruning(&ns.join("keepalived.pid"), &root).expect("create"));
        assert!(!ns.exists() && root.is_dir());
        let outside = run.path().join("k.pid");
        drop(PidFile::create_pruning(&outside, &root).expect("create"));
        assert!(run.path().is_dir() && root.is_dir());
        assert_eq!(dirs_to_prune(&root, &root), Vec::<PathBuf>::new());
        assert_eq!(
            dirs_to_prune(&root.join("k.pid"), &root),
            vec![root.clone()]
        );
    }

    #[test]
    fn instance_and_use_pid_dir_name_and_place_the_pidfiles() {
        let p = |role, ns, inst, dir| default_path_for(role, ns, inst, dir);
        assert_eq!(
            p(Role::Parent, None, Some("foo"), false),
            PathBuf::from("/run/keepalived/keepalived_foo.pid")
        );
        assert_eq!(
            p(Role::Checker, None, Some("foo"), false),
            PathBuf::from("/run/keepalived/checkers_foo.pid")
        );
        assert_eq!(
            p(Role::Vrrp, None, None, true),
            PathBuf::from("/run/keepalived/vrrp.pid")
        );
        assert_eq!(
            p(Role::Vrrp, Some("blue"), Some("foo"), true),
            PathBuf::from("/run/keepalived/blue/vrrp_foo.pid")
        );
        assert_eq!(
            p(Role::Vrrp, None, None, false),
            PathBuf::from("/run/vrrp.pid")
        );
    }

    #[test]
    fn defaults_follow_keepalived_and_the_namespace() {
        assert_eq!(
            default_path_in(Role::Parent, None),
            PathBuf::from("/run/keepalived.pid")
        );
        assert_eq!(
            default_path_in(Role::Vrrp, None),
            PathBuf::from("/run/vrrp.pid")
        );
        assert_eq!(
            default_path_in(Role::Checker, Some("blue")),
            PathBuf::from("/run/keepalived/blue/checkers.pid")
        );
    }

    #[test]
    fn pidfiles_are_world_readable_under_a_tight_umask() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("k.pid");
        let _f = PidFile::create(&p).expect("create");
        let mode = fs::metadata(&p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }

    #[test]
    fn only_the_named_pid_removes_a_pidfile() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("v.pid");
        fs::write(&p, "4242\n").expect("write");
        remove_if_owned_by(&p, 4243);
        assert!(p.exists());
        remove_if_owned_by(&p, 4242);
        assert!(!p.exists());
    }

    #[test]
    fn stale_pidfile_is_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("k.pid");
        fs::write(&p, "999999999\n").expect("write");
        let _f = PidFile::create(&p).expect("stale file is taken over");
    }

    #[test]
    fn live_foreign_process_is_not_ours() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("k.pid");
        // pid 1 is alive but is not a keepalived: not "already running".
        fs::write(&p, "1\n").expect("write");
        assert!(running_pid(&p).is_none());
    }
}
