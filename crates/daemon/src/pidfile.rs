//! Pidfiles with keepalived's defaults and "already running" detection.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::logging::Role;

/// keepalived 2.2.7's (Debian) default pidfile of each process.
pub fn default_path(role: Role) -> PathBuf {
    PathBuf::from(match role {
        Role::Parent => "/run/keepalived.pid",
        Role::Vrrp => "/run/vrrp.pid",
        Role::Checker => "/run/checkers.pid",
    })
}

/// An owned pidfile, removed when dropped.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
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
        if let Some(pid) = running_pid(path) {
            return Err(PidFileError::AlreadyRunning {
                pid,
                path: path.to_path_buf(),
            });
        }
        if let Some(dir) = path.parent() {
            let _ = fs::create_dir_all(dir);
        }
        fs::write(path, format!("{}\n", std::process::id())).map_err(|source| {
            PidFileError::Io {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Ok(PidFile {
            path: path.to_path_buf(),
        })
    }

    /// The pidfile's path.
    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
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
