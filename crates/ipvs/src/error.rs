//! Errors of the IPVS client, with kernel errnos mapped to what they mean for IPVS.

/// An IPVS operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IpvsError {
    /// The kernel has no "IPVS" generic netlink family (ip_vs not loaded or not built).
    #[error("IPVS is not available in this kernel (generic netlink family \"IPVS\" not found)")]
    FamilyNotFound,
    /// EEXIST: the service or real server is already there.
    #[error("{op}: already exists")]
    Exists {
        /// The failed operation.
        op: String,
    },
    /// ESRCH: no such virtual service.
    #[error("{op}: no such virtual service")]
    ServiceNotFound {
        /// The failed operation.
        op: String,
    },
    /// ENOENT on a real-server operation: no such real server.
    #[error("{op}: no such real server")]
    DestNotFound {
        /// The failed operation.
        op: String,
    },
    /// ENOENT on a service add/edit: the scheduler or persistence engine module is missing.
    #[error("{op}: scheduler or persistence engine not found")]
    SchedulerNotFound {
        /// The failed operation.
        op: String,
    },
    /// EINVAL: the kernel rejected an argument.
    #[error("{op}: invalid argument")]
    InvalidArgument {
        /// The failed operation.
        op: String,
    },
    /// EPERM / EACCES: CAP_NET_ADMIN is required.
    #[error("{op}: permission denied")]
    PermissionDenied {
        /// The failed operation.
        op: String,
    },
    /// Any other errno.
    #[error("{op}: kernel error: {source}")]
    Kernel {
        /// The failed operation.
        op: String,
        /// The errno as an I/O error.
        source: std::io::Error,
    },
    /// The socket failed.
    #[error("netlink socket: {0}")]
    Io(#[from] std::io::Error),
    /// A reply could not be decoded.
    #[error("cannot decode IPVS reply: {0}")]
    Decode(String),
    /// The kernel answered something we did not ask for.
    #[error("netlink protocol error: {0}")]
    Protocol(String),
}

impl From<netlink_packet_core::DecodeError> for IpvsError {
    fn from(e: netlink_packet_core::DecodeError) -> Self {
        IpvsError::Decode(e.to_string())
    }
}

/// Which kind of object an operation touched, to give ENOENT its meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A service add or edit (ENOENT = scheduler / PE module missing).
    ServiceConfig,
    /// A service lookup or delete.
    Service,
    /// A real-server operation.
    Dest,
    /// Anything else.
    Other,
}

impl IpvsError {
    /// Maps a (positive) errno for the operation `op`.
    pub fn from_errno(errno: i32, target: Target, op: String) -> Self {
        match (errno, target) {
            (libc_errno::EEXIST, _) => IpvsError::Exists { op },
            (libc_errno::ESRCH, _) => IpvsError::ServiceNotFound { op },
            (libc_errno::ENOENT, Target::ServiceConfig) => IpvsError::SchedulerNotFound { op },
            (libc_errno::ENOENT, Target::Dest) => IpvsError::DestNotFound { op },
            (libc_errno::ENOENT, _) => IpvsError::ServiceNotFound { op },
            (libc_errno::EINVAL, _) => IpvsError::InvalidArgument { op },
            (libc_errno::EPERM | libc_errno::EACCES, _) => IpvsError::PermissionDenied { op },
            _ => IpvsError::Kernel {
                op,
                source: std::io::Error::from_raw_os_error(errno),
            },
        }
    }

    /// The "it is already in the state you want" outcomes keepalived treats as success:
    /// exists on add, not found on delete.
    pub fn is_benign_for(&self, adding: bool) -> bool {
        match self {
            IpvsError::Exists { .. } => adding,
            IpvsError::ServiceNotFound { .. } | IpvsError::DestNotFound { .. } => !adding,
            _ => false,
        }
    }
}

/// Linux errno values (stable ABI), kept here to avoid a libc dependency.
pub mod libc_errno {
    /// Operation not permitted.
    pub const EPERM: i32 = 1;
    /// No such file or directory.
    pub const ENOENT: i32 = 2;
    /// No such process.
    pub const ESRCH: i32 = 3;
    /// Permission denied.
    pub const EACCES: i32 = 13;
    /// File exists.
    pub const EEXIST: i32 = 17;
    /// Invalid argument.
    pub const EINVAL: i32 = 22;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enoent_meaning_depends_on_the_target() {
        let e = IpvsError::from_errno(2, Target::ServiceConfig, "add".into());
        assert!(matches!(e, IpvsError::SchedulerNotFound { .. }));
        let e = IpvsError::from_errno(2, Target::Dest, "del".into());
        assert!(matches!(e, IpvsError::DestNotFound { .. }));
        assert!(e.is_benign_for(false));
        assert!(!e.is_benign_for(true));
        let e = IpvsError::from_errno(17, Target::Service, "add".into());
        assert!(matches!(e, IpvsError::Exists { .. }));
        assert!(e.is_benign_for(true));
        let e = IpvsError::from_errno(3, Target::Dest, "add dest".into());
        assert!(matches!(e, IpvsError::ServiceNotFound { .. }));
        let e = IpvsError::from_errno(12, Target::Other, "x".into());
        assert!(e.to_string().contains("x: kernel error"));
    }
}
