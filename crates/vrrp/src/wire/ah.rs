//! The IPsec Authentication Header (RFC 2402) as keepalived uses it for VRRPv2 `auth_type AH`
//! (RFC 2338 section 5.3.6.2; dropped by RFC 3768 but still spoken).
//!
//! ```text
//! | next header=112 | payload len=4 | reserved (2) | SPI (4) | sequence (4) | ICV (12) |
//! ```
//!
//! The SPI is the sender's IPv4 address, the sequence number counts adverts, and the ICV is an
//! HMAC-MD5-96 keyed with `auth_pass` over the whole IP datagram with the IP type of service,
//! flags/fragment offset and header checksum zeroed, and the ICV itself zeroed. keepalived 2.2.7
//! leaves the TTL in (it is always 255), which captures confirm.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use md5::Md5;

use super::{be32, ipv4, IPPROTO_AH};
use crate::error::WireError;

/// Length of the AH header with its 96-bit ICV.
pub const HEADER_LEN: usize = 24;
/// Length of the truncated HMAC-MD5 (RFC 2403).
pub const ICV_LEN: usize = 12;
/// Offset of the ICV in the AH header.
const ICV_OFFSET: usize = 12;

/// A view of an AH header; accessors are safe after [`Packet::new_checked`].
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without validation.
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer` after checking it holds a 24-byte header with payload length 4.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        // Payload length counts 32-bit words minus 2: (24 / 4) - 2 = 4.
        if b[1] != 4 {
            return Err(WireError::Malformed("AH payload length is not 4"));
        }
        Ok(Packet { buffer })
    }

    /// Protocol of what follows the header.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Security parameters index (keepalived: the sender's address).
    pub fn spi(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }

    /// Sequence number.
    pub fn sequence(&self) -> u32 {
        be32(self.buffer.as_ref(), 8)
    }

    /// The 96-bit integrity check value.
    pub fn icv(&self) -> [u8; ICV_LEN] {
        let mut icv = [0; ICV_LEN];
        icv.copy_from_slice(&self.buffer.as_ref()[ICV_OFFSET..ICV_OFFSET + ICV_LEN]);
        icv
    }

    /// What follows the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

/// An AH header before its ICV is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Protocol of the payload (112).
    pub next_header: u8,
    /// Security parameters index.
    pub spi: u32,
    /// Sequence number.
    pub sequence: u32,
}

impl Repr {
    /// Header length.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header with a zero ICV.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let h = buf.get_mut(..HEADER_LEN).ok_or(WireError::BufferTooSmall)?;
        h.fill(0);
        h[0] = self.next_header;
        h[1] = 4;
        h[4..8].copy_from_slice(&self.spi.to_be_bytes());
        h[8..12].copy_from_slice(&self.sequence.to_be_bytes());
        Ok(())
    }
}

/// Computes the ICV of `datagram` (an IPv4 header without options, then AH, then VRRP).
pub fn compute_icv(key: &[u8], datagram: &[u8]) -> Result<[u8; ICV_LEN], WireError> {
    let ip = ipv4::Packet::new_checked(datagram)?;
    if ip.protocol() != IPPROTO_AH {
        return Err(WireError::BadIpHeader("not an AH datagram"));
    }
    let hl = ip.header_len();
    let mut copy = ip.datagram().to_vec();
    if copy.len() < hl + HEADER_LEN {
        return Err(WireError::Truncated);
    }
    // RFC 2402 section 3.3.3.1.1.1: mutable fields are zeroed for the computation.
    copy[1] = 0; // type of service
    copy[6] = 0; // flags and fragment offset
    copy[7] = 0;
    copy[10] = 0; // header checksum
    copy[11] = 0;
    copy[hl + ICV_OFFSET..hl + ICV_OFFSET + ICV_LEN].fill(0);
    let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(key)
        .map_err(|_| WireError::OutOfRange("HMAC key"))?;
    mac.update(&copy);
    let full = mac.finalize().into_bytes();
    let mut icv = [0; ICV_LEN];
    icv.copy_from_slice(&full[..ICV_LEN]);
    Ok(icv)
}

/// Fills the ICV of an AH datagram built with a zero ICV.
pub fn fill_icv(key: &[u8], datagram: &mut [u8]) -> Result<(), WireError> {
    let icv = compute_icv(key, datagram)?;
    let hl = ipv4::Packet::new_checked(&*datagram)?.header_len();
    datagram[hl + ICV_OFFSET..hl + ICV_OFFSET + ICV_LEN].copy_from_slice(&icv);
    Ok(())
}

/// Checks the ICV of a received AH datagram in constant time.
pub fn verify_icv(key: &[u8], datagram: &[u8]) -> Result<(), WireError> {
    let ip = ipv4::Packet::new_checked(datagram)?;
    let ah = Packet::new_checked(ip.payload())?;
    let expected = compute_icv(key, datagram)?;
    if crate::auth::constant_time_eq(&expected, &ah.icv()) {
        Ok(())
    } else {
        Err(WireError::AuthFailure)
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

    // IP datagram of a keepalived 2.2.7 advert with `auth_type AH`, `auth_pass ahkey`.
    const CAPTURED: &str = "45c0004000010000ff33d0530a630001e0000012700400000a630001000000016f37cb8332c8670985e65dee2103660102016c300a6300670000000000000000";

    #[test]
    fn parses_keepalived_header() {
        let d = hex(CAPTURED);
        let ip = ipv4::Packet::new_checked(&d[..]).expect("ip");
        let ah = Packet::new_checked(ip.payload()).expect("ah");
        assert_eq!(ah.next_header(), 112);
        assert_eq!(ah.spi(), 0x0a63_0001);
        assert_eq!(ah.sequence(), 1);
        assert_eq!(ah.payload().len(), 20);
    }

    #[test]
    fn verifies_keepalived_icv() {
        let d = hex(CAPTURED);
        assert_eq!(verify_icv(b"ahkey", &d), Ok(()));
        assert_eq!(verify_icv(b"ahkez", &d), Err(WireError::AuthFailure));
        let mut tampered = d.clone();
        let last = tampered.len() - 9;
        tampered[last] ^= 1;
        assert_eq!(verify_icv(b"ahkey", &tampered), Err(WireError::AuthFailure));
    }

    #[test]
    fn recomputes_keepalived_icv() {
        let d = hex(CAPTURED);
        let mut zeroed = d.clone();
        zeroed[20 + 12..20 + 24].fill(0);
        fill_icv(b"ahkey", &mut zeroed).expect("fill");
        assert_eq!(zeroed, d);
    }

    #[test]
    fn ttl_is_not_masked() {
        let d = hex(CAPTURED);
        let mut other_ttl = d.clone();
        other_ttl[8] = 254;
        assert_eq!(
            verify_icv(b"ahkey", &other_ttl),
            Err(WireError::AuthFailure)
        );
        let mut other_tos = d;
        other_tos[1] = 0;
        assert_eq!(verify_icv(b"ahkey", &other_tos), Ok(()));
    }
}
