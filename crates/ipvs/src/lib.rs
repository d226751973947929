//! IPVS over generic netlink: codecs, client and the desired-state reconciler.
//!
//! - [`attr`]: the attributes of `linux/ip_vs.h` and their byte orders;
//! - [`types`]: typed [`Service`], [`Destination`], [`SyncDaemon`], [`Timeouts`], [`Info`];
//! - [`message`]: commands and messages (a `netlink-packet-generic` family);
//! - [`client`]: a batching client with per-request error mapping ([`IpvsError`]);
//! - [`reconcile`]: the minimal operations from the kernel's table to the desired one.

pub mod attr;
pub mod client;
pub mod error;
pub mod message;
pub mod reconcile;
pub mod request;
pub mod types;

pub use client::Client;
pub use error::IpvsError;
pub use message::{Command, IpvsMessage};
pub use reconcile::{diff, DestEntry, Dests, Table};
pub use request::Request;
pub use types::{
    DaemonState, DestKey, Destination, Family, ForwardMethod, Info, Protocol, Service, ServiceKey,
    Stats, SyncDaemon, Timeouts, Tunnel, TunnelType,
};
