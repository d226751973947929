//! Observability keepalived lacks: a control socket in each child, a Prometheus and JSON HTTP
//! endpoint in the parent, and `rkeepalivedctl` (see `README.md` beside this file).
//!
//! - [`protocol`]: the JSON-lines protocol, socket paths and the blocking client;
//! - [`server`]: the control socket a child listens on; requests reach the child's runtime as
//!   [`crate::child::Control::Observe`] and are answered from the runtime's own state;
//! - [`vrrp`] / [`checker`]: the answers of each runtime (status, drain/undrain);
//! - [`metrics`]: Prometheus text built with prometheus-client from the children's status;
//! - [`http`]: the parent's `rkeepalived_http_listen` endpoint (`/metrics`, `/status`).

pub mod checker;
pub mod http;
pub mod metrics;
// Also compiled into `rkeepalivedctl`, which uses the client half the daemon does not.
#[allow(dead_code)]
pub mod protocol;
pub mod server;
pub mod vrrp;

use tokio::sync::oneshot;

/// What a runtime is asked through the control socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// Its state.
    Status,
    /// Set (`drained: true`) or clear the drained flag of a real server.
    Drain {
        /// The virtual server, as the operator wrote it.
        vs: String,
        /// The real server, as the operator wrote it.
        rs: String,
        /// Drain or undrain.
        drained: bool,
    },
}

/// What a runtime answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The VRRP child's state.
    Vrrp(protocol::VrrpStatus),
    /// The checker child's state.
    Checker(protocol::CheckerStatus),
    /// Drain/undrain done: whether the flag changed.
    Drained {
        /// False when the real server already was in the asked state.
        changed: bool,
    },
}

/// Where a runtime sends its answer (or why it cannot answer).
pub type AnswerTx = oneshot::Sender<Result<Answer, String>>;
