//! Kernel errors, typed.

/// What went wrong talking to the kernel.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object already exists (EEXIST). keepalived treats this as success when adding.
    #[error("already exists")]
    Exists,
    /// The object does not exist (ENOENT/ESRCH/EADDRNOTAVAIL). Success when deleting.
    #[error("not found")]
    NotFound,
    /// The interface does not exist (ENODEV).
    #[error("no such device")]
    NoDevice,
    /// Any other errno the kernel answered with.
    #[error("kernel error: {0}")]
    Kernel(std::io::Error),
    /// The netlink socket failed.
    #[error("netlink socket: {0}")]
    Io(std::io::Error),
    /// A reply the library could not understand.
    #[error("netlink protocol: {0}")]
    Protocol(String),
}

impl Error {
    /// Maps an rtnetlink error to a typed error.
    pub(crate) fn from_rtnl(e: rtnetlink::Error) -> Error {
        match e {
            rtnetlink::Error::NetlinkError(msg) => {
                let errno = msg.raw_code().abs();
                match errno {
                    libc_errno::EEXIST => Error::Exists,
                    libc_errno::ENOENT | libc_errno::ESRCH | libc_errno::EADDRNOTAVAIL => {
                        Error::NotFound
                    }
                    libc_errno::ENODEV => Error::NoDevice,
                    n => Error::Kernel(std::io::Error::from_raw_os_error(n)),
                }
            }
            other => Error::Protocol(other.to_string()),
        }
    }
}

/// The errno values we distinguish (Linux numbers; this crate is Linux-only).
mod libc_errno {
    pub const ENOENT: i32 = 2;
    pub const ESRCH: i32 = 3;
    pub const EEXIST: i32 = 17;
    pub const ENODEV: i32 = 19;
    pub const EADDRNOTAVAIL: i32 = 99;
}
