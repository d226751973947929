//! Requests the client sends, each mapped to its message and to how its errors read.

use crate::error::Target;
use crate::message::IpvsMessage;
use crate::types::{DaemonState, DestKey, Destination, Service, ServiceKey, SyncDaemon, Timeouts};

/// One state-changing IPVS operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Add a virtual service.
    AddService(Service),
    /// Change a virtual service's scheduler, flags or persistence.
    EditService(Service),
    /// Remove a virtual service and its real servers.
    DelService(ServiceKey),
    /// Add a real server to a service.
    AddDest(ServiceKey, Destination),
    /// Change a real server's method, weight or thresholds.
    EditDest(ServiceKey, Destination),
    /// Remove a real server.
    DelDest(ServiceKey, DestKey),
    /// Start a sync daemon.
    AddDaemon(SyncDaemon),
    /// Stop a sync daemon.
    DelDaemon(DaemonState),
    /// Set connection timeouts.
    SetTimeouts(Timeouts),
    /// Zero the counters of one service, or of all.
    Zero(Option<ServiceKey>),
    /// Remove every virtual service.
    Flush,
}

impl Request {
    /// The message carrying this request.
    pub fn message(&self) -> IpvsMessage {
        match self {
            Request::AddService(s) => IpvsMessage::new_service(s),
            Request::EditService(s) => IpvsMessage::set_service(s),
            Request::DelService(k) => IpvsMessage::del_service(k),
            Request::AddDest(k, d) => IpvsMessage::new_dest(k, d),
            Request::EditDest(k, d) => IpvsMessage::set_dest(k, d),
            Request::DelDest(k, d) => IpvsMessage::del_dest(k, d),
            Request::AddDaemon(d) => IpvsMessage::new_daemon(d),
            Request::DelDaemon(s) => IpvsMessage::del_daemon(*s),
            Request::SetTimeouts(t) => IpvsMessage::set_config(t),
            Request::Zero(k) => IpvsMessage::zero(k.as_ref()),
            Request::Flush => IpvsMessage::flush(),
        }
    }

    /// What an ENOENT from the kernel refers to for this request.
    pub fn target(&self) -> Target {
        match self {
            Request::AddService(_) | Request::EditService(_) => Target::ServiceConfig,
            Request::DelService(_) | Request::Zero(Some(_)) => Target::Service,
            Request::AddDest(..) | Request::EditDest(..) | Request::DelDest(..) => Target::Dest,
            _ => Target::Other,
        }
    }

    /// A short description for error messages, e.g. `add real server 10.0.0.2:80 to TCP 10.0.0.1:80`.
    pub fn describe(&self) -> String {
        match self {
            Request::AddService(s) => format!("add service {}", s.key),
            Request::EditService(s) => format!("edit service {}", s.key),
            Request::DelService(k) => format!("delete service {k}"),
            Request::AddDest(k, d) => format!("add real server {} to {k}", d.key),
            Request::EditDest(k, d) => format!("edit real server {} of {k}", d.key),
            Request::DelDest(k, d) => format!("delete real server {d} from {k}"),
            Request::AddDaemon(d) => format!("start sync daemon {:?} on {}", d.state, d.interface),
            Request::DelDaemon(s) => format!("stop sync daemon {s:?}"),
            Request::SetTimeouts(_) => "set timeouts".to_string(),
            Request::Zero(Some(k)) => format!("zero counters of {k}"),
            Request::Zero(None) => "zero all counters".to_string(),
            Request::Flush => "flush".to_string(),
        }
    }

    /// True for requests that create something (EEXIST is then benign).
    pub fn is_add(&self) -> bool {
        matches!(
            self,
            Request::AddService(_) | Request::AddDest(..) | Request::AddDaemon(_)
        )
    }
}
