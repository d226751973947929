//! Sans-IO VRRP protocol core (RFC 3768 VRRPv2, RFC 5798 VRRPv3).
//!
//! Time and packets go in, actions come out; nothing here opens a socket or reads a clock.

pub mod auth;
pub mod error;
pub mod packet;
pub mod stats;
pub mod wire;
