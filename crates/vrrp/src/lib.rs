//! Sans-IO VRRP protocol core (RFC 3768 VRRPv2, RFC 5798 VRRPv3).
//!
//! Time and packets go in, actions come out; nothing here opens a socket or reads a clock.
//! See `README.md` for the calling contract, [`Instance`] for one virtual router and
//! [`SyncGroup`] for instances that change state together. [`wire`] holds the codecs.

pub mod action;
pub mod auth;
pub mod config;
pub mod debug;
pub mod error;
pub mod instance;
pub mod packet;
pub mod stats;
pub mod sync_group;
pub mod wire;

pub use action::{Action, Reason, State};
pub use auth::Authentication;
pub use config::{GarpConfig, GarpExtra, InitialState, InstanceConfig, TrackerConfig};
pub use error::{ConfigError, UnknownTracker, WireError};
pub use instance::Instance;
pub use packet::V3ChecksumMode;
pub use stats::{DropCounters, DropReason, Stats};
pub use sync_group::{GroupAction, SyncGroup};
pub use wire::vrrp::{Family, Version};
