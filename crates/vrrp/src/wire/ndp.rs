//! Unsolicited Neighbor Advertisement (RFC 4861 section 7.2.6, RFC 5798 section 6.4.2 step 5):
//! the IPv6 counterpart of gratuitous ARP.
//!
//! keepalived sends, per virtual address, an ICMPv6 type 136 from the VIP itself to ff02::1
//! with hop limit 255, the Override flag (plus Router when forwarding is on), the VIP as target
//! and a target link-layer address option.

use std::net::Ipv6Addr;

use super::checksum;
use super::{emit_ethernet, MacAddr, ETHERTYPE_IPV6, IPPROTO_ICMPV6};
use crate::error::WireError;

/// ICMPv6 type of a Neighbor Advertisement.
pub const ICMPV6_NEIGHBOR_ADVERT: u8 = 136;
/// The all-nodes multicast group.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// Length of the ICMPv6 message: 24 bytes plus an 8-byte target link-layer option.
pub const ICMP_LEN: usize = 32;
/// Length of the IPv6 packet.
pub const IP_LEN: usize = 40 + ICMP_LEN;
/// Length of the whole Ethernet frame.
pub const FRAME_LEN: usize = 14 + IP_LEN;

/// Router flag.
const FLAG_ROUTER: u8 = 0x80;
/// Override flag.
const FLAG_OVERRIDE: u8 = 0x20;

/// An unsolicited Neighbor Advertisement announcing `address` at `mac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsolicitedNa {
    /// Hardware address of the sender, also carried in the target link-layer option.
    pub mac: MacAddr,
    /// The announced virtual address (also the IPv6 source).
    pub address: Ipv6Addr,
    /// Set the Router flag (keepalived does when IPv6 forwarding is on).
    pub router: bool,
}

impl UnsolicitedNa {
    /// Length of the Ethernet frame.
    pub fn buffer_len(&self) -> usize {
        FRAME_LEN
    }

    /// Writes the ICMPv6 message (checksum included) into `buf[..32]`; what a raw ICMPv6 socket
    /// would send.
    pub fn emit_icmp(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let m = buf.get_mut(..ICMP_LEN).ok_or(WireError::BufferTooSmall)?;
        m.fill(0);
        m[0] = ICMPV6_NEIGHBOR_ADVERT;
        m[4] = FLAG_OVERRIDE | if self.router { FLAG_ROUTER } else { 0 };
        m[8..24].copy_from_slice(&self.address.octets());
        m[24] = 2; // target link-layer address option
        m[25] = 1; // length in units of 8 bytes
        m[26..32].copy_from_slice(&self.mac);
        let sum = checksum::finish(checksum::accumulate(
            checksum::pseudo_header_v6(self.address, ALL_NODES, IPPROTO_ICMPV6, ICMP_LEN as u32),
            m,
        ));
        m[2..4].copy_from_slice(&sum.to_be_bytes());
        Ok(())
    }

    /// Writes the whole Ethernet frame into `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let f = buf.get_mut(..FRAME_LEN).ok_or(WireError::BufferTooSmall)?;
        let dst_mac = [0x33, 0x33, 0, 0, 0, 1];
        emit_ethernet(f, dst_mac, self.mac, ETHERTYPE_IPV6);
        let ip = &mut f[14..];
        ip[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
        ip[4..6].copy_from_slice(&(ICMP_LEN as u16).to_be_bytes());
        ip[6] = IPPROTO_ICMPV6;
        ip[7] = 255;
        ip[8..24].copy_from_slice(&self.address.octets());
        ip[24..40].copy_from_slice(&ALL_NODES.octets());
        self.emit_icmp(&mut ip[40..])
    }

    /// The frame as a vector.
    pub fn to_frame(&self) -> Vec<u8> {
        let mut v = vec![0; FRAME_LEN];
        // The buffer has exactly the right length, so emit cannot fail.
        let _ = self.emit(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn builds_keepalived_frames() {
        // Frames sent by keepalived 2.2.7 for fd99::106 and fe80::106 from 02:00:00:00:00:01.
        let cases = [
            ("fd99::106", "33330000000102000000000186dd6000000000203afffd990000000000000000000000000106ff0200000000000000000000000000018800575f20000000fd9900000000000000000000000001060201020000000001"),
            ("fe80::106", "33330000000102000000000186dd6000000000203afffe800000000000000000000000000106ff0200000000000000000000000000018800559120000000fe8000000000000000000000000001060201020000000001"),
        ];
        for (addr, frame) in cases {
            let na = UnsolicitedNa {
                mac: [2, 0, 0, 0, 0, 1],
                address: addr.parse().expect("addr"),
                router: false,
            };
            assert_eq!(na.to_frame(), hex(frame), "{addr}");
        }
    }

    #[test]
    fn router_flag_changes_flags_and_checksum() {
        let na = UnsolicitedNa {
            mac: [2, 0, 0, 0, 0, 1],
            address: "fd99::106".parse().expect("addr"),
            router: true,
        };
        let f = na.to_frame();
        assert_eq!(f[14 + 40 + 4], 0xa0);
        let icmp = &f[14 + 40..];
        let sum = checksum::accumulate(
            checksum::pseudo_header_v6(na.address, ALL_NODES, IPPROTO_ICMPV6, ICMP_LEN as u32),
            icmp,
        );
        assert_eq!(checksum::finish(sum), 0);
    }
}
