//! keepalived health checkers for rkeepalived.
//!
//! Each checker kind (`TCP_CHECK`, `HTTP_GET`, `SSL_GET`, `SMTP_CHECK`, `DNS_CHECK`,
//! `MISC_CHECK`, `UDP_CHECK`, `PING_CHECK`, `FILE_CHECK`, `BFD_CHECK`) has a parameter type and an
//! async probe returning [`ProbeResult`]. [`CheckerState`] is the sans-IO scheduler deciding when
//! to probe and when the verdict flips; [`driver::run_checker`] drives it on tokio.
//! [`genhash::genhash_main`] implements the `genhash` command line.
//!
//! This crate does not depend on the configuration model: the daemon maps parsed
//! configuration into these parameter types.

pub mod body_regex;
pub mod director;
pub mod dns;
pub mod driver;
pub mod error;
pub mod file;
pub mod genhash;
pub mod http;
pub mod misc;
pub mod net;
pub mod outcome;
pub mod ping;
pub mod probe;
pub mod schedule;
pub mod smtp;
pub mod state;
pub mod tcp;
pub mod tls;
pub mod udp;

pub use director::{Action, Director, DirectorSpec, Slot};
pub use driver::ProbeReport;
pub use error::ConfigError;
pub use net::ConnectOpts;
pub use outcome::{Failure, IoCause, ProbeResult, Reason, SetUpStep, Success};
pub use probe::{CheckKind, Probe};
pub use schedule::Schedule;
pub use state::{CheckerEvent, CheckerState, DownReason};
