//! Facts about the host the configuration is checked against: interfaces, users, files.

use std::ffi::CString;
use std::path::Path;

/// The C library's text for `errno` (as `strerror(3)` words it, "Connection refused"),
/// without Rust's ` (os error N)` suffix: keepalived's lines quote it.
pub fn strerror(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Returns the kernel index of the network interface `name`, or `None` when it does not exist
/// in the current network namespace.
pub fn interface_index(name: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(name).ok().filter(|&i| i != 0)
}

/// Returns true when `name` is a loopback interface (`IFF_LOOPBACK`).
pub fn interface_is_loopback(name: &str) -> bool {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return false;
    };
    addrs.filter(|a| a.interface_name == name).any(|a| {
        a.flags
            .contains(nix::net::if_::InterfaceFlags::IFF_LOOPBACK)
    })
}

/// A system user as `getpwnam(3)` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// Login name.
    pub name: String,
    /// Numeric user id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// Looks a user up by name.
pub fn user_by_name(name: &str) -> Option<UserInfo> {
    let u = nix::unistd::User::from_name(name).ok()??;
    Some(UserInfo {
        name: u.name,
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
    })
}

/// Looks a group up by name and returns its gid.
pub fn group_by_name(name: &str) -> Option<u32> {
    nix::unistd::Group::from_name(name)
        .ok()?
        .map(|g| g.gid.as_raw())
}

/// The effective user id of this process.
pub fn effective_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// The host name up to the first dot: keepalived's default config id.
pub fn short_hostname() -> String {
    let full = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    full.split('.').next().unwrap_or_default().to_string()
}

/// True when `path` names an executable regular file for the effective user (`access(X_OK)`).
pub fn is_executable(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    nix::unistd::access(c.as_c_str(), nix::unistd::AccessFlags::X_OK).is_ok()
}

/// Raises this process's open-files limit so that at least `want` descriptors can be open:
/// the soft limit up to the hard limit, and the hard limit too when privileged. Returns the
/// soft limit in force afterwards (it may stay below `want` when the system refuses).
pub fn raise_open_files(want: u64) -> std::io::Result<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(std::io::Error::from)?;
    if soft >= want {
        return Ok(soft);
    }
    if hard >= want {
        setrlimit(Resource::RLIMIT_NOFILE, want, hard).map_err(std::io::Error::from)?;
        return Ok(want);
    }
    // Above the hard limit: allowed with CAP_SYS_RESOURCE (bounded by fs.nr_open).
    match setrlimit(Resource::RLIMIT_NOFILE, want, want) {
        Ok(()) => Ok(want),
        Err(_) => {
            setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(std::io::Error::from)?;
            Ok(hard)
        }
    }
}

/// Sends signal number `signo` (including real-time signals, which `nix::sys::signal::Signal`
/// cannot name) to process `pid`.
pub fn send_signal(pid: u32, signo: i32) -> std::io::Result<()> {
    let pid = i32::try_from(pid).map_err(|_| std::io::Error::from_raw_os_error(libc::ESRCH))?;
    if pid <= 0 {
        return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
    }
    // SAFETY: kill(2) takes plain integers and has no memory-safety preconditions; a positive
    // pid targets exactly one process.
    let rc = unsafe { libc::kill(pid, signo) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strerror_has_no_rust_suffix() {
        assert_eq!(strerror(111), "Connection refused");
        assert_eq!(strerror(2), "No such file or directory");
    }

    #[test]
    fn loopback_exists_and_is_loopback() {
        assert!(interface_index("lo").is_some());
        assert!(interface_is_loopback("lo"));
        assert!(interface_index("no-such-if0").is_none());
    }

    #[test]
    fn open_files_limit_can_be_raised_to_the_hard_limit() {
        let (soft, hard) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                .expect("getrlimit");
        let got = raise_open_files(soft.min(hard)).expect("no change needed");
        assert!(got >= soft.min(hard));
        let got = raise_open_files(hard).expect("raise to the hard limit");
        assert_eq!(got, hard);
    }

    #[test]
    fn signal_zero_probes_a_live_process() {
        assert!(send_signal(std::process::id(), 0).is_ok());
        assert!(send_signal(0, 0).is_err());
    }

    #[test]
    fn root_user_resolves() {
        let root = user_by_name("root").expect("root exists");
        assert_eq!(root.uid, 0);
    }
}
