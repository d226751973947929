//! Counters exposed for metrics (in the spirit of the VRRP MIB, RFC 6527 section 5).

use crate::error::WireError;

/// Why a received advert was dropped (RFC 3768 / RFC 5798 section 7.1 receive checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Truncated, unknown version/type nibble, bad IP header, bad AH header.
    Malformed,
    /// The checksum does not verify.
    BadChecksum,
    /// The VRID is not this instance's.
    WrongVrid,
    /// TTL / hop limit is not 255.
    BadTtl,
    /// Authentication type or data mismatch, or AH ICV failure.
    AuthFailure,
    /// The VRRP version is not this instance's.
    VersionMismatch,
    /// A VRRPv2 advert with another interval than ours (or any zero interval).
    IntervalMismatch,
    /// The address list differs from our virtual addresses.
    AddressMismatch,
    /// Our own advert came back (multicast loopback).
    OwnAdvert,
}

impl From<WireError> for DropReason {
    fn from(e: WireError) -> DropReason {
        match e {
            WireError::BadChecksum => DropReason::BadChecksum,
            WireError::AuthFailure => DropReason::AuthFailure,
            _ => DropReason::Malformed,
        }
    }
}

/// Per-reason counts of dropped adverts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters {
    /// See [`DropReason::Malformed`].
    pub malformed: u64,
    /// See [`DropReason::BadChecksum`].
    pub bad_checksum: u64,
    /// See [`DropReason::WrongVrid`].
    pub wrong_vrid: u64,
    /// See [`DropReason::BadTtl`].
    pub bad_ttl: u64,
    /// See [`DropReason::AuthFailure`].
    pub auth_failure: u64,
    /// See [`DropReason::VersionMismatch`].
    pub version_mismatch: u64,
    /// See [`DropReason::IntervalMismatch`].
    pub interval_mismatch: u64,
    /// See [`DropReason::AddressMismatch`].
    pub address_mismatch: u64,
    /// See [`DropReason::OwnAdvert`].
    pub own_advert: u64,
}

impl DropCounters {
    /// Counts one drop.
    pub fn record(&mut self, reason: DropReason) {
        let c = match reason {
            DropReason::Malformed => &mut self.malformed,
            DropReason::BadChecksum => &mut self.bad_checksum,
            DropReason::WrongVrid => &mut self.wrong_vrid,
            DropReason::BadTtl => &mut self.bad_ttl,
            DropReason::AuthFailure => &mut self.auth_failure,
            DropReason::VersionMismatch => &mut self.version_mismatch,
            DropReason::IntervalMismatch => &mut self.interval_mismatch,
            DropReason::AddressMismatch => &mut self.address_mismatch,
            DropReason::OwnAdvert => &mut self.own_advert,
        };
        *c += 1;
    }

    /// Sum of all drops.
    pub fn total(&self) -> u64 {
        self.malformed
            + self.bad_checksum
            + self.wrong_vrid
            + self.bad_ttl
            + self.auth_failure
            + self.version_mismatch
            + self.interval_mismatch
            + self.address_mismatch
            + self.own_advert
    }
}

/// Activity counters of one instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Adverts accepted after every check.
    pub adverts_received: u64,
    /// Adverts sent (one per destination).
    pub adverts_sent: u64,
    /// Accepted adverts with priority 0.
    pub priority_zero_received: u64,
    /// Adverts sent with priority 0.
    pub priority_zero_sent: u64,
    /// Transitions into MASTER.
    pub became_master: u64,
    /// Transitions out of MASTER.
    pub released_master: u64,
    /// Dropped adverts by reason.
    pub dropped: DropCounters,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_each_reason_once() {
        let mut c = DropCounters::default();
        let all = [
            DropReason::Malformed,
            DropReason::BadChecksum,
            DropReason::WrongVrid,
            DropReason::BadTtl,
            DropReason::AuthFailure,
            DropReason::VersionMismatch,
            DropReason::IntervalMismatch,
            DropReason::AddressMismatch,
            DropReason::OwnAdvert,
        ];
        for r in all {
            c.record(r);
        }
        assert_eq!(c.total(), all.len() as u64);
        assert_eq!(c.bad_ttl, 1);
        assert_eq!(
            DropReason::from(WireError::Truncated),
            DropReason::Malformed
        );
    }
}
