//! Zero-copy packet codecs, in the smoltcp style: a checked `Packet<T: AsRef<[u8]>>` view whose
//! accessors cannot panic once `new_checked` succeeded, and a validated `Repr` with `parse`,
//! `emit` and `buffer_len`.

pub mod ah;
pub mod arp;
pub mod checksum;
pub mod ipv4;
pub mod ndp;
pub mod vrrp;

/// IP protocol number of VRRP (RFC 3768 section 5.2.4, RFC 5798 section 5.1.1.4).
pub const IPPROTO_VRRP: u8 = 112;
/// IP protocol number of the IPsec Authentication Header (RFC 2402).
pub const IPPROTO_AH: u8 = 51;
/// IP protocol number of ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;

/// An Ethernet (EUI-48) hardware address.
pub type MacAddr = [u8; 6];

/// Ethernet broadcast address.
pub const MAC_BROADCAST: MacAddr = [0xff; 6];

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Reads a big-endian u16 at `at`; callers have checked the length.
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Reads a big-endian u32 at `at`; callers have checked the length.
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Writes a 14-byte Ethernet II header.
pub(crate) fn emit_ethernet(buf: &mut [u8], dst: MacAddr, src: MacAddr, ethertype: u16) {
    buf[0..6].copy_from_slice(&dst);
    buf[6..12].copy_from_slice(&src);
    buf[12..14].copy_from_slice(&ethertype.to_be_bytes());
}
