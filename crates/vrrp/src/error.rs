//! Error types of the crate.

use thiserror::Error;

/// Why a packet could not be decoded or encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum WireError {
    /// The buffer is shorter than the headers and fields it announces.
    #[error("packet truncated")]
    Truncated,
    /// The VRRP version nibble is neither 2 nor 3.
    #[error("unsupported VRRP version {0}")]
    BadVersion(u8),
    /// The VRRP type nibble is not 1 (ADVERTISEMENT).
    #[error("unsupported VRRP packet type {0}")]
    BadType(u8),
    /// The checksum does not verify.
    #[error("bad checksum")]
    BadChecksum,
    /// A field holds a value the protocol does not allow.
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    /// The IP header is not the one expected (version, protocol or options).
    #[error("unexpected IP header: {0}")]
    BadIpHeader(&'static str),
    /// The authentication data does not match the configured key.
    #[error("authentication failure")]
    AuthFailure,
    /// The value cannot be represented on the wire (e.g. an interval out of range).
    #[error("value out of range: {0}")]
    OutOfRange(&'static str),
    /// The output buffer is too small for the representation.
    #[error("output buffer too small")]
    BufferTooSmall,
}

/// Why an instance or sync group configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// The virtual router id must be 1..=255.
    #[error("virtual router id must be 1..255, got {0}")]
    BadVrid(u8),
    /// The priority must be 1..=255.
    #[error("priority must be 1..255, got {0}")]
    BadPriority(u8),
    /// The advertisement interval does not fit the protocol version.
    #[error("advert interval out of range for this VRRP version")]
    BadInterval,
    /// `garp_extra_if` needs a non-zero period.
    #[error("garp_extra_if interval must not be zero")]
    ZeroGarpExtraInterval,
    /// `down_timer_adverts` must be 1..=100.
    #[error("down_timer_adverts must be 1..100, got {0}")]
    BadDownTimerAdverts(u32),
    /// An address does not belong to the instance's address family, or
    /// VRRPv2 was asked to carry IPv6.
    #[error("address {0} does not match the instance address family")]
    FamilyMismatch(std::net::IpAddr),
    /// The configured multicast group is not a multicast address.
    #[error("{0} is not a multicast address")]
    NotMulticast(std::net::IpAddr),
    /// Authentication is only defined for VRRPv2 over IPv4 (RFC 3768 section 5.3.6).
    #[error("authentication requires VRRP version 2 over IPv4")]
    AuthNotAllowed,
    /// An advert carries at most 255 addresses.
    #[error("{0} virtual addresses; an advert carries at most 255")]
    TooManyAddresses(usize),
    /// A sync group needs at least one member.
    #[error("sync group has no members")]
    EmptySyncGroup,
    /// Two members of a sync group share a VRID and family.
    #[error("sync group has two members with VRID {0}")]
    DuplicateMember(u8),
}

/// A tracker update named an object the instance does not track.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("instance does not track {0:?}")]
pub struct UnknownTracker(pub String);
