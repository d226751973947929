//! The VRRP advertisement: VRRPv2 (RFC 3768 section 5.3) and VRRPv3 (RFC 5798 section 5.2).
//!
//! ```text
//! v2:  | ver=2 | type=1 | VRID | priority | count | auth type | adver int (s) | checksum |
//!      | IPv4 addresses ... | 8 bytes of authentication data |
//! v3:  | ver=3 | type=1 | VRID | priority | count | rsvd(4) | max adver int (cs, 12 bits) | checksum |
//!      | IPv4 or IPv6 addresses ... |
//! ```
//!
//! Over IPv4, a v2 message always carries the 8 authentication bytes, zero when authentication
//! is off (RFC 3768 section 5.3.10). A v3 message has none (RFC 5798 section 5.2).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::checksum;
use super::{be16, IPPROTO_VRRP};
use crate::error::WireError;

/// The IPv4 multicast group of VRRP (RFC 3768 section 5.2.2, RFC 5798 section 5.1.1.2).
pub const MULTICAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 multicast group of VRRP (RFC 5798 section 5.1.2.2).
pub const MULTICAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// TTL / hop limit every advertisement is sent with and multicast receivers require
/// (RFC 3768 section 5.2.3, RFC 5798 section 5.1.1.3).
pub const VRRP_TTL: u8 = 255;
/// Length of the fixed VRRP header.
pub const HEADER_LEN: usize = 8;
/// Length of the VRRPv2 authentication data.
pub const AUTH_DATA_LEN: usize = 8;
/// The only VRRP packet type: ADVERTISEMENT.
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Largest v3 interval in centiseconds (12 bits, RFC 5798 section 5.2.7).
pub const MAX_V3_INTERVAL_CS: u16 = 0x0fff;

/// VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// RFC 3768, IPv4 only, interval in seconds, optional authentication.
    V2,
    /// RFC 5798, IPv4 and IPv6, interval in centiseconds, no authentication.
    V3,
}

impl Version {
    /// The value of the version nibble.
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// Address family of an instance, and so of every address in its adverts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4: 4-byte addresses.
    Ipv4,
    /// IPv6: 16-byte addresses.
    Ipv6,
}

impl Family {
    /// Length of one address of this family.
    pub fn addr_len(self) -> usize {
        match self {
            Family::Ipv4 => 4,
            Family::Ipv6 => 16,
        }
    }

    /// The family of `addr`.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }
}

/// VRRPv2 authentication type (RFC 3768 section 5.3.6; types 1 and 2 were deprecated by the
/// RFC but keepalived still speaks them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// 0: no authentication.
    None,
    /// 1: simple text password in the authentication data.
    Pass,
    /// 2: IPsec AH; the VRRP authentication data is zero.
    Ah,
}

impl AuthType {
    /// Wire value.
    pub fn number(self) -> u8 {
        match self {
            AuthType::None => 0,
            AuthType::Pass => 1,
            AuthType::Ah => 2,
        }
    }

    /// Decodes a wire value.
    pub fn from_number(n: u8) -> Result<AuthType, WireError> {
        match n {
            0 => Ok(AuthType::None),
            1 => Ok(AuthType::Pass),
            2 => Ok(AuthType::Ah),
            _ => Err(WireError::Malformed("unknown authentication type")),
        }
    }
}

/// What the checksum covers.
///
/// VRRPv2 sums the VRRP message only (RFC 3768 section 5.3.8). VRRPv3 adds the pseudo-header of
/// the IP layer (RFC 5798 section 5.2.8); keepalived does so over IPv4 too, while some other
/// implementations sum the message alone ("v3 checksum as v2").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumScope {
    /// The VRRP message alone.
    Message,
    /// The message plus the IPv4 pseudo-header.
    Ipv4Pseudo {
        /// IP source address.
        src: Ipv4Addr,
        /// IP destination address (the multicast group or the unicast peer).
        dst: Ipv4Addr,
    },
    /// The message plus the IPv6 pseudo-header.
    Ipv6Pseudo {
        /// IP source address.
        src: Ipv6Addr,
        /// IP destination address.
        dst: Ipv6Addr,
    },
}

impl ChecksumScope {
    fn initial(&self, len: usize) -> u32 {
        match *self {
            ChecksumScope::Message => 0,
            ChecksumScope::Ipv4Pseudo { src, dst } => {
                checksum::pseudo_header_v4(src, dst, IPPROTO_VRRP, len as u16)
            }
            ChecksumScope::Ipv6Pseudo { src, dst } => {
                checksum::pseudo_header_v6(src, dst, IPPROTO_VRRP, len as u32)
            }
        }
    }
}

/// Length of a message of `version`/`family` carrying `count` addresses.
pub fn message_len(version: Version, family: Family, count: usize) -> usize {
    let auth = if version == Version::V2 && family == Family::Ipv4 {
        AUTH_DATA_LEN
    } else {
        0
    };
    HEADER_LEN + count * family.addr_len() + auth
}

/// A read/write view of a VRRP message; every accessor is safe after [`Packet::new_checked`].
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    family: Family,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without validation; accessors may panic on a short buffer.
    pub fn new_unchecked(buffer: T, family: Family) -> Packet<T> {
        Packet { buffer, family }
    }

    /// Wraps `buffer` after checking that it holds a whole message: known version and type,
    /// and room for every announced address (and the v2 authentication data).
    pub fn new_checked(buffer: T, family: Family) -> Result<Packet<T>, WireError> {
        let packet = Packet::new_unchecked(buffer, family);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates the buffer; see [`Packet::new_checked`].
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let version = match b[0] >> 4 {
            2 => Version::V2,
            3 => Version::V3,
            v => return Err(WireError::BadVersion(v)),
        };
        if b[0] & 0x0f != TYPE_ADVERTISEMENT {
            return Err(WireError::BadType(b[0] & 0x0f));
        }
        if version == Version::V2 && self.family == Family::Ipv6 {
            return Err(WireError::Malformed("VRRPv2 is IPv4 only"));
        }
        if b.len() < message_len(version, self.family, usize::from(b[3])) {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Consumes the view and returns the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Address family the view was created for.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Protocol version.
    pub fn version(&self) -> Version {
        if self.buffer.as_ref()[0] >> 4 == 2 {
            Version::V2
        } else {
            Version::V3
        }
    }

    /// Virtual router identifier.
    pub fn vrid(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    /// Priority of the sender (0 = stopping, 255 = address owner).
    pub fn priority(&self) -> u8 {
        self.buffer.as_ref()[2]
    }

    /// Number of addresses in the message.
    pub fn addr_count(&self) -> u8 {
        self.buffer.as_ref()[3]
    }

    /// Raw v2 authentication type byte (reserved bits + high interval bits in v3).
    pub fn auth_type_raw(&self) -> u8 {
        self.buffer.as_ref()[4]
    }

    /// Advertisement interval in centiseconds (v2 seconds are scaled by 100).
    pub fn interval_cs(&self) -> u16 {
        let b = self.buffer.as_ref();
        match self.version() {
            Version::V2 => u16::from(b[5]) * 100,
            Version::V3 => be16(b, 4) & MAX_V3_INTERVAL_CS,
        }
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// Length of the message, excluding any trailing padding in the buffer.
    pub fn message_len(&self) -> usize {
        message_len(self.version(), self.family, usize::from(self.addr_count()))
    }

    /// The `i`th address, or `None` past the count.
    pub fn address(&self, i: usize) -> Option<IpAddr> {
        if i >= usize::from(self.addr_count()) {
            return None;
        }
        let b = self.buffer.as_ref();
        let len = self.family.addr_len();
        let at = HEADER_LEN + i * len;
        let bytes = b.get(at..at + len)?;
        match self.family {
            Family::Ipv4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
            Family::Ipv6 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        }
    }

    /// The 8 bytes of v2 authentication data, if the message has them.
    pub fn auth_data(&self) -> Option<[u8; AUTH_DATA_LEN]> {
        if self.version() != Version::V2 || self.family != Family::Ipv4 {
            return None;
        }
        let end = self.message_len();
        let b = self.buffer.as_ref().get(end - AUTH_DATA_LEN..end)?;
        <[u8; AUTH_DATA_LEN]>::try_from(b).ok()
    }

    /// Whether the checksum verifies under `scope`.
    pub fn verify_checksum(&self, scope: &ChecksumScope) -> bool {
        let len = self.message_len();
        let msg = &self.buffer.as_ref()[..len];
        checksum::finish(checksum::accumulate(scope.initial(len), msg)) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Recomputes and stores the checksum under `scope`.
    pub fn fill_checksum(&mut self, scope: &ChecksumScope) {
        let len = self.message_len();
        let b = self.buffer.as_mut();
        b[6] = 0;
        b[7] = 0;
        let sum = checksum::finish(checksum::accumulate(scope.initial(len), &b[..len]));
        b[6..8].copy_from_slice(&sum.to_be_bytes());
    }
}

/// A decoded, validated advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    /// Protocol version.
    pub version: Version,
    /// Family of the addresses.
    pub family: Family,
    /// Virtual router identifier (1..=255).
    pub vrid: u8,
    /// Sender priority.
    pub priority: u8,
    /// Authentication type (always [`AuthType::None`] for v3).
    pub auth_type: AuthType,
    /// Advertisement interval in centiseconds; v2 carries whole seconds.
    pub interval_cs: u16,
    /// The virtual addresses, all of `family`.
    pub addresses: Vec<IpAddr>,
    /// v2 authentication data (the password for PASS, zero otherwise; ignored for v3).
    pub auth_data: [u8; AUTH_DATA_LEN],
}

impl Repr {
    /// Decodes and validates `packet`, checking its checksum under `scope`.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Packet<T>,
        scope: &ChecksumScope,
    ) -> Result<Repr, WireError> {
        packet.check_len()?;
        if !packet.verify_checksum(scope) {
            return Err(WireError::BadChecksum);
        }
        Repr::parse_trusting_checksum(packet)
    }

    /// Decodes `packet` without verifying its checksum: for IPv6, where the kernel already
    /// checked it (`IPV6_CHECKSUM`) and the destination address is not at hand.
    pub fn parse_trusting_checksum<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, WireError> {
        packet.check_len()?;
        let version = packet.version();
        let auth_type = match version {
            Version::V2 => AuthType::from_number(packet.auth_type_raw())?,
            Version::V3 => AuthType::None,
        };
        let mut addresses = Vec::with_capacity(usize::from(packet.addr_count()));
        for i in 0..usize::from(packet.addr_count()) {
            addresses.push(packet.address(i).ok_or(WireError::Truncated)?);
        }
        Ok(Repr {
            version,
            family: packet.family(),
            vrid: packet.vrid(),
            priority: packet.priority(),
            auth_type,
            interval_cs: packet.interval_cs(),
            addresses,
            auth_data: packet.auth_data().unwrap_or([0; AUTH_DATA_LEN]),
        })
    }

    /// Length of the emitted message.
    pub fn buffer_len(&self) -> usize {
        message_len(self.version, self.family, self.addresses.len())
    }

    /// Checks that the representation can be put on the wire.
    pub fn validate(&self) -> Result<(), WireError> {
        if self.addresses.len() > 255 {
            return Err(WireError::OutOfRange("more than 255 addresses"));
        }
        if self.addresses.iter().any(|a| Family::of(a) != self.family) {
            return Err(WireError::OutOfRange("address of the wrong family"));
        }
        match self.version {
            Version::V2 => {
                if self.family != Family::Ipv4 {
                    return Err(WireError::OutOfRange("VRRPv2 is IPv4 only"));
                }
                if self.interval_cs % 100 != 0 || self.interval_cs / 100 > 255 {
                    return Err(WireError::OutOfRange(
                        "v2 interval must be whole seconds 0..255",
                    ));
                }
            }
            Version::V3 => {
                if self.interval_cs > MAX_V3_INTERVAL_CS {
                    return Err(WireError::OutOfRange("v3 interval over 4095 centiseconds"));
                }
                if self.auth_type != AuthType::None {
                    return Err(WireError::OutOfRange("VRRPv3 has no authentication"));
                }
            }
        }
        Ok(())
    }

    /// Writes the message into the start of `buf`, checksum included.
    pub fn emit(&self, buf: &mut [u8], scope: &ChecksumScope) -> Result<(), WireError> {
        self.validate()?;
        let len = self.buffer_len();
        let out = buf.get_mut(..len).ok_or(WireError::BufferTooSmall)?;
        out.fill(0);
        out[0] = (self.version.number() << 4) | TYPE_ADVERTISEMENT;
        out[1] = self.vrid;
        out[2] = self.priority;
        out[3] = self.addresses.len() as u8;
        match self.version {
            Version::V2 => {
                out[4] = self.auth_type.number();
                out[5] = (self.interval_cs / 100) as u8;
            }
            Version::V3 => out[4..6].copy_from_slice(&self.interval_cs.to_be_bytes()),
        }
        let mut at = HEADER_LEN;
        for addr in &self.addresses {
            match addr {
                IpAddr::V4(a) => out[at..at + 4].copy_from_slice(&a.octets()),
                IpAddr::V6(a) => out[at..at + 16].copy_from_slice(&a.octets()),
            }
            at += self.family.addr_len();
        }
        if self.version == Version::V2 {
            out[at..at + AUTH_DATA_LEN].copy_from_slice(&self.auth_data);
        }
        Packet::new_unchecked(out, self.family).fill_checksum(scope);
        Ok(())
    }

    /// Emits into a new vector.
    pub fn to_bytes(&self, scope: &ChecksumScope) -> Result<Vec<u8>, WireError> {
        let mut v = vec![0; self.buffer_len()];
        self.emit(&mut v, scope)?;
        Ok(v)
    }
}

/// Peeks at the VRID of a VRRP message, for demultiplexing before full validation.
pub fn peek_vrid(message: &[u8]) -> Option<u8> {
    message.get(1).copied()
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

    const SRC4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

    // VRRP payloads of adverts captured from keepalived 2.2.7 (whole frames: tests/captures.rs).
    const V2_NONE: &str = "21016401000170340a6300650000000000000000";

    #[test]
    fn v2_no_auth_capture() {
        let bytes = hex(V2_NONE);
        let p = Packet::new_checked(&bytes[..], Family::Ipv4).expect("valid");
        assert_eq!(p.version(), Version::V2);
        assert_eq!(p.vrid(), 1);
        assert_eq!(p.priority(), 100);
        assert_eq!(p.addr_count(), 1);
        assert_eq!(p.interval_cs(), 100);
        assert_eq!(p.checksum(), 0x7034);
        assert_eq!(
            p.address(0),
            Some(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 101)))
        );
        assert_eq!(p.address(1), None);
        assert_eq!(p.auth_data(), Some([0; 8]));
        let repr = Repr::parse(&p, &ChecksumScope::Message).expect("parse");
        assert_eq!(repr.auth_type, AuthType::None);
        assert_eq!(repr.to_bytes(&ChecksumScope::Message).expect("emit"), bytes);
    }

    #[test]
    fn v2_pass_capture() {
        let bytes = hex("210265020101f5850a6300660a6300ca7365637265743132");
        let p = Packet::new_checked(&bytes[..], Family::Ipv4).expect("valid");
        let repr = Repr::parse(&p, &ChecksumScope::Message).expect("parse");
        assert_eq!(repr.auth_type, AuthType::Pass);
        assert_eq!(&repr.auth_data, b"secret12");
        assert_eq!(repr.addresses.len(), 2);
        assert_eq!(repr.to_bytes(&ChecksumScope::Message).expect("emit"), bytes);
    }

    #[test]
    fn v3_ipv4_pseudo_header_capture() {
        // keepalived default: the pseudo-header is included (multicast destination).
        let bytes = hex("31046701006471d80a630068");
        let p = Packet::new_checked(&bytes[..], Family::Ipv4).expect("valid");
        let scope = ChecksumScope::Ipv4Pseudo {
            src: SRC4,
            dst: MULTICAST_V4,
        };
        let repr = Repr::parse(&p, &scope).expect("parse");
        assert_eq!(repr.interval_cs, 100);
        assert_eq!(repr.priority, 103);
        assert!(!p.verify_checksum(&ChecksumScope::Message));
        assert_eq!(repr.to_bytes(&scope).expect("emit"), bytes);
        // The same message summed as v2 does would carry another checksum.
        let as_v2 = repr.to_bytes(&ChecksumScope::Message).expect("emit");
        assert_ne!(as_v2, bytes);
        let p2 = Packet::new_checked(&as_v2[..], Family::Ipv4).expect("valid");
        assert!(Repr::parse(&p2, &ChecksumScope::Message).is_ok());
        assert_eq!(Repr::parse(&p2, &scope), Err(WireError::BadChecksum));
    }

    #[test]
    fn v3_ipv4_unicast_capture() {
        // Unicast to 10.99.0.2: the pseudo-header uses the unicast destination; 150 cs.
        let bytes = hex("31056801009646520a630069");
        let p = Packet::new_checked(&bytes[..], Family::Ipv4).expect("valid");
        let scope = ChecksumScope::Ipv4Pseudo {
            src: SRC4,
            dst: Ipv4Addr::new(10, 99, 0, 2),
        };
        let repr = Repr::parse(&p, &scope).expect("parse");
        assert_eq!(repr.interval_cs, 150);
        assert_eq!(repr.to_bytes(&scope).expect("emit"), bytes);
    }

    #[test]
    fn v3_ipv6_capture() {
        let bytes =
            hex("3106690200326a6ffd990000000000000000000000000106fe800000000000000000000000000106");
        let p = Packet::new_checked(&bytes[..], Family::Ipv6).expect("valid");
        let src: Ipv6Addr = "fe80::ff:fe00:1".parse().expect("addr");
        let scope = ChecksumScope::Ipv6Pseudo {
            src,
            dst: MULTICAST_V6,
        };
        let repr = Repr::parse(&p, &scope).expect("parse");
        assert_eq!(repr.interval_cs, 50);
        assert_eq!(
            repr.addresses[1],
            "fe80::106".parse::<IpAddr>().expect("addr")
        );
        assert_eq!(p.auth_data(), None);
        assert_eq!(repr.to_bytes(&scope).expect("emit"), bytes);
    }

    #[test]
    fn rejects_truncated_and_unknown() {
        assert_eq!(
            Packet::new_checked(&[0x21u8, 1, 100][..], Family::Ipv4).err(),
            Some(WireError::Truncated)
        );
        // count says 2 addresses but only one is present
        let bytes = hex("2101640200017034 0a630065 0000000000000000"
            .replace(' ', "")
            .as_str());
        assert_eq!(
            Packet::new_checked(&bytes[..], Family::Ipv4).err(),
            Some(WireError::Truncated)
        );
        let mut ok = hex(V2_NONE);
        ok[0] = 0x41;
        assert_eq!(
            Packet::new_checked(&ok[..], Family::Ipv4).err(),
            Some(WireError::BadVersion(4))
        );
        ok[0] = 0x22;
        assert_eq!(
            Packet::new_checked(&ok[..], Family::Ipv4).err(),
            Some(WireError::BadType(2))
        );
        ok[0] = 0x21;
        ok[4] = 7;
        let p = Packet::new_checked(&ok[..], Family::Ipv4).expect("len ok");
        assert!(Repr::parse(&p, &ChecksumScope::Message).is_err());
    }

    #[test]
    fn emit_refuses_unrepresentable() {
        let repr = Repr {
            version: Version::V2,
            family: Family::Ipv4,
            vrid: 1,
            priority: 100,
            auth_type: AuthType::None,
            interval_cs: 150,
            addresses: vec![],
            auth_data: [0; 8],
        };
        assert!(repr.to_bytes(&ChecksumScope::Message).is_err());
        let v3 = Repr {
            version: Version::V3,
            interval_cs: 5000,
            ..repr
        };
        assert!(v3.to_bytes(&ChecksumScope::Message).is_err());
        let mut small = [0u8; 4];
        let ok = Repr {
            version: Version::V3,
            interval_cs: 100,
            ..v3
        };
        assert_eq!(
            ok.emit(&mut small, &ChecksumScope::Message),
            Err(WireError::BufferTooSmall)
        );
    }
}
