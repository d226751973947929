//! Gratuitous ARP (RFC 5227 section 3, RFC 3768 section 6.4.2 step 3).
//!
//! keepalived announces each IPv4 virtual address with an ARP *request* broadcast on Ethernet
//! whose sender and target protocol addresses are both the VIP and whose target hardware
//! address is ff:ff:ff:ff:ff:ff.

use std::net::Ipv4Addr;

use super::{be16, emit_ethernet, MacAddr, ETHERTYPE_ARP, ETHERTYPE_IPV4, MAC_BROADCAST};
use crate::error::WireError;

/// Length of an Ethernet/IPv4 ARP body.
pub const ARP_LEN: usize = 28;
/// Length of a whole gratuitous ARP frame (Ethernet header + ARP, before link padding).
pub const FRAME_LEN: usize = 14 + ARP_LEN;

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// 1: request.
    Request,
    /// 2: reply.
    Reply,
}

/// A view of an Ethernet/IPv4 ARP body; accessors are safe after [`Packet::new_checked`].
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` after checking its length and that it is Ethernet/IPv4 ARP.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let b = buffer.as_ref();
        if b.len() < ARP_LEN {
            return Err(WireError::Truncated);
        }
        if be16(b, 0) != 1 || be16(b, 2) != ETHERTYPE_IPV4 || b[4] != 6 || b[5] != 4 {
            return Err(WireError::Malformed("not Ethernet/IPv4 ARP"));
        }
        Ok(Packet { buffer })
    }

    /// Operation, if known.
    pub fn operation(&self) -> Option<Operation> {
        match be16(self.buffer.as_ref(), 6) {
            1 => Some(Operation::Request),
            2 => Some(Operation::Reply),
            _ => None,
        }
    }

    /// Sender hardware address.
    pub fn sender_mac(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), 8)
    }

    /// Sender protocol address.
    pub fn sender_ip(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), 14)
    }

    /// Target hardware address.
    pub fn target_mac(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), 18)
    }

    /// Target protocol address.
    pub fn target_ip(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), 24)
    }
}

fn mac_at(b: &[u8], at: usize) -> MacAddr {
    let mut m = [0; 6];
    m.copy_from_slice(&b[at..at + 6]);
    m
}

fn ip_at(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

/// A gratuitous ARP announcement of `address` from `mac`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GratuitousArp {
    /// Hardware address of the sender (the interface's, or the VMAC).
    pub mac: MacAddr,
    /// The announced virtual address.
    pub address: Ipv4Addr,
}

impl GratuitousArp {
    /// Length of the frame.
    pub fn buffer_len(&self) -> usize {
        FRAME_LEN
    }

    /// Writes the whole Ethernet frame into `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let f = buf.get_mut(..FRAME_LEN).ok_or(WireError::BufferTooSmall)?;
        emit_ethernet(f, MAC_BROADCAST, self.mac, ETHERTYPE_ARP);
        let a = &mut f[14..];
        a[0..2].copy_from_slice(&1u16.to_be_bytes());
        a[2..4].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        a[4] = 6;
        a[5] = 4;
        a[6..8].copy_from_slice(&1u16.to_be_bytes());
        a[8..14].copy_from_slice(&self.mac);
        a[14..18].copy_from_slice(&self.address.octets());
        a[18..24].copy_from_slice(&MAC_BROADCAST);
        a[24..28].copy_from_slice(&self.address.octets());
        Ok(())
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

    // Frame sent by keepalived 2.2.7 for VIP 10.99.0.104 from 02:00:00:00:00:01.
    const CAPTURED: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x63,
        0x00, 0x68, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0x63, 0x00, 0x68,
    ];

    #[test]
    fn builds_keepalived_frame() {
        let garp = GratuitousArp {
            mac: [2, 0, 0, 0, 0, 1],
            address: Ipv4Addr::new(10, 99, 0, 104),
        };
        assert_eq!(garp.to_frame(), CAPTURED);
    }

    #[test]
    fn parses_keepalived_frame() {
        let p = Packet::new_checked(&CAPTURED[14..]).expect("arp");
        assert_eq!(p.operation(), Some(Operation::Request));
        assert_eq!(p.sender_mac(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(p.sender_ip(), p.target_ip());
        assert_eq!(p.target_mac(), MAC_BROADCAST);
        assert!(Packet::new_checked(&CAPTURED[14..30]).is_err());
    }
}
