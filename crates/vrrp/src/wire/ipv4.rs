//! The IPv4 header (RFC 791) as far as VRRP needs it: adverts are sent with our own header
//! (TOS 0xc0, TTL 255, protocol 112 or 51) and received with the kernel's in front.

use std::net::Ipv4Addr;

use super::{be16, checksum};
use crate::error::WireError;

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;
/// Type of service keepalived puts on adverts (DSCP CS6, "internetwork control").
pub const TOS_INTERNETWORK_CONTROL: u8 = 0xc0;

/// A view of an IPv4 datagram; accessors are safe after [`Packet::new_checked`].
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without validation.
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer` after checking version 4, the header length and the total length.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[0] >> 4 != 4 {
            return Err(WireError::BadIpHeader("not IPv4"));
        }
        let ihl = usize::from(b[0] & 0x0f) * 4;
        if ihl < HEADER_LEN {
            return Err(WireError::BadIpHeader("header length under 20"));
        }
        let total = usize::from(be16(b, 2));
        if total < ihl || b.len() < total {
            return Err(WireError::Truncated);
        }
        Ok(Packet { buffer })
    }

    /// Header length in bytes.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[0] & 0x0f) * 4
    }

    /// Total length field.
    pub fn total_len(&self) -> usize {
        usize::from(be16(self.buffer.as_ref(), 2))
    }

    /// Type of service byte.
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    /// Identification field.
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[8]
    }

    /// Protocol of the payload.
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[9]
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = self.buffer.as_ref();
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }

    /// Whether the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(&self.buffer.as_ref()[..self.header_len()]) == 0
    }

    /// The payload, up to the total length (link padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.total_len()]
    }

    /// The datagram up to the total length.
    pub fn datagram(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.total_len()]
    }
}

/// An option-less IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Payload protocol.
    pub protocol: u8,
    /// Payload length.
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// Type of service.
    pub tos: u8,
    /// Identification (keepalived counts it up per advert).
    pub ident: u16,
}

impl Repr {
    /// Header length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header (no fragmentation flags, checksum filled) into `buf[..20]`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let total = u16::try_from(HEADER_LEN + self.payload_len)
            .map_err(|_| WireError::OutOfRange("IPv4 datagram over 65535 bytes"))?;
        let h = buf.get_mut(..HEADER_LEN).ok_or(WireError::BufferTooSmall)?;
        h.fill(0);
        h[0] = 0x45;
        h[1] = self.tos;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[4..6].copy_from_slice(&self.ident.to_be_bytes());
        h[8] = self.ttl;
        h[9] = self.protocol;
        h[12..16].copy_from_slice(&self.src.octets());
        h[16..20].copy_from_slice(&self.dst.octets());
        let sum = checksum::checksum(h);
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_header_roundtrip() {
        // Header of a v3 advert sent by keepalived 2.2.7 (id 1, TTL 255, protocol 112).
        let captured = [
            0x45, 0xc0, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0xd0, 0x36, 0x0a, 0x63,
            0x00, 0x01, 0xe0, 0x00, 0x00, 0x12,
        ];
        let mut full = captured.to_vec();
        full.extend_from_slice(&[0; 12]);
        let p = Packet::new_checked(&full[..]).expect("valid");
        assert!(p.verify_checksum());
        assert_eq!(p.ttl(), 255);
        assert_eq!(p.protocol(), 112);
        assert_eq!(p.payload().len(), 12);
        let repr = Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            protocol: 112,
            payload_len: 12,
            ttl: 255,
            tos: TOS_INTERNETWORK_CONTROL,
            ident: 1,
        };
        let mut out = [0u8; 20];
        repr.emit(&mut out).expect("emit");
        assert_eq!(out, captured);
    }

    #[test]
    fn rejects_bad_headers() {
        assert!(Packet::new_checked(&[0x45u8; 10][..]).is_err());
        let mut h = [0u8; 20];
        h[0] = 0x65;
        assert!(Packet::new_checked(&h[..]).is_err());
        h[0] = 0x44;
        assert!(Packet::new_checked(&h[..]).is_err());
        h[0] = 0x45;
        h[3] = 40; // total length beyond the buffer
        assert!(Packet::new_checked(&h[..]).is_err());
    }
}
