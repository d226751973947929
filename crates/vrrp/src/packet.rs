//! Whole advertisements as they cross the socket: building the bytes to send and decoding the
//! bytes received, with IP header, AH and checksum handling.
//!
//! Over IPv4 the bytes are the whole IP datagram (keepalived sends with its own IP header, and a
//! raw IPv4 socket delivers the header too). Over IPv6 they are the VRRP message alone: the
//! kernel builds the header and, with `IPV6_CHECKSUM`, also fills and checks the checksum.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::auth::{constant_time_eq, Authentication};
use crate::error::WireError;
use crate::stats::DropReason;
use crate::wire::vrrp::{self, ChecksumScope, Family, Repr, Version};
use crate::wire::{ah, ipv4, IPPROTO_AH, IPPROTO_VRRP};

/// How a VRRPv3 checksum over IPv4 is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum V3ChecksumMode {
    /// With the IPv4 pseudo-header (RFC 5798 section 5.2.8; keepalived's behaviour).
    #[default]
    PseudoHeader,
    /// Over the VRRP message only, as in VRRPv2 (what some other implementations do).
    AsV2,
    /// With the IPv4 pseudo-header, but the VRRP multicast group (224.0.0.18) as its
    /// destination even for unicast adverts: keepalived's checksum before 1.3.6, which 2.2.7
    /// sends with `old_unicast_checksum` (and recognises on receipt unless told `never`).
    OldUnicast,
}

/// Per-datagram parameters of an advert to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendParams {
    /// Our source address.
    pub src: IpAddr,
    /// The multicast group or a unicast peer.
    pub dst: IpAddr,
    /// TTL / hop limit (255 unless `unicast_ttl` says otherwise).
    pub ttl: u8,
    /// IPv4 identification.
    pub ident: u16,
    /// AH sequence number (used with AH only).
    pub ah_sequence: u32,
    /// VRRPv3 over IPv4 checksum mode.
    pub v3_checksum: V3ChecksumMode,
}

/// The checksum scope for a message of `version` between `src` and `dst`.
pub fn checksum_scope(
    version: Version,
    src: IpAddr,
    dst: IpAddr,
    mode: V3ChecksumMode,
) -> ChecksumScope {
    match (version, src, dst) {
        (Version::V3, IpAddr::V4(src), IpAddr::V4(dst)) if mode == V3ChecksumMode::PseudoHeader => {
            ChecksumScope::Ipv4Pseudo { src, dst }
        }
        (Version::V3, IpAddr::V4(src), IpAddr::V4(_)) if mode == V3ChecksumMode::OldUnicast => {
            ChecksumScope::Ipv4Pseudo {
                src,
                dst: vrrp::MULTICAST_V4,
            }
        }
        (Version::V3, IpAddr::V6(src), IpAddr::V6(dst)) => ChecksumScope::Ipv6Pseudo { src, dst },
        _ => ChecksumScope::Message,
    }
}

/// Builds the bytes of an advert: an IPv4 datagram, or an IPv6 payload.
///
/// `repr.auth_type` and `repr.auth_data` are overwritten from `auth`.
pub fn encode_advert(
    repr: &Repr,
    auth: &Authentication,
    p: &SendParams,
) -> Result<Vec<u8>, WireError> {
    let mut repr = repr.clone();
    repr.auth_type = auth.auth_type();
    repr.auth_data = match auth {
        Authentication::Pass(data) => *data,
        _ => [0; vrrp::AUTH_DATA_LEN],
    };
    if repr.version == Version::V3 && !matches!(auth, Authentication::None) {
        return Err(WireError::OutOfRange("VRRPv3 has no authentication"));
    }
    let scope = checksum_scope(repr.version, p.src, p.dst, p.v3_checksum);
    match (p.src, p.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let ah_len = if matches!(auth, Authentication::Ah(_)) {
                ah::HEADER_LEN
            } else {
                0
            };
            let vrrp_len = repr.buffer_len();
            let ip = ipv4::Repr {
                src,
                dst,
                protocol: if ah_len > 0 { IPPROTO_AH } else { IPPROTO_VRRP },
                payload_len: ah_len + vrrp_len,
                ttl: p.ttl,
                tos: ipv4::TOS_INTERNETWORK_CONTROL,
                ident: p.ident,
            };
            let mut out = vec![0; ipv4::HEADER_LEN + ah_len + vrrp_len];
            ip.emit(&mut out)?;
            repr.emit(&mut out[ipv4::HEADER_LEN + ah_len..], &scope)?;
            if let Authentication::Ah(key) = auth {
                let ah = ah::Repr {
                    next_header: IPPROTO_VRRP,
                    spi: u32::from(src),
                    sequence: p.ah_sequence,
                };
                ah.emit(&mut out[ipv4::HEADER_LEN..])?;
                ah::fill_icv(key, &mut out)?;
            }
            Ok(out)
        }
        (IpAddr::V6(_), IpAddr::V6(_)) => {
            if !matches!(auth, Authentication::None) {
                return Err(WireError::OutOfRange("authentication over IPv6"));
            }
            repr.to_bytes(&scope)
        }
        _ => Err(WireError::OutOfRange(
            "source and destination families differ",
        )),
    }
}

/// A received advert that passed structural, checksum and authentication checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedAdvert {
    /// The decoded message.
    pub repr: Repr,
    /// IP source address.
    pub src: IpAddr,
}

/// Decodes received bytes (see the module documentation for what they hold).
///
/// `src` and `ttl` come from the socket (for IPv4 the header's values win); `ipv6_dst` is the
/// destination to verify an IPv6 checksum against (None: trust the kernel's check).
pub fn decode_advert(
    family: Family,
    src: IpAddr,
    bytes: &[u8],
    auth: &Authentication,
    v3_checksum: V3ChecksumMode,
    ipv6_dst: Option<Ipv6Addr>,
) -> Result<(ReceivedAdvert, u8), DropReason> {
    match family {
        Family::Ipv4 => decode_v4(bytes, auth, v3_checksum),
        Family::Ipv6 => {
            let packet =
                vrrp::Packet::new_checked(bytes, Family::Ipv6).map_err(DropReason::from)?;
            let scope = match (ipv6_dst, src) {
                (Some(dst), IpAddr::V6(src)) => ChecksumScope::Ipv6Pseudo { src, dst },
                _ => ChecksumScope::Message,
            };
            let repr = if ipv6_dst.is_some() {
                Repr::parse(&packet, &scope)
            } else {
                Repr::parse_trusting_checksum(&packet)
            }
            .map_err(DropReason::from)?;
            Ok((ReceivedAdvert { repr, src }, 0))
        }
    }
    .and_then(|(adv, ttl)| {
        if !matches!(auth, Authentication::None) && adv.repr.version == Version::V3 {
            return Err(DropReason::AuthFailure);
        }
        Ok((adv, ttl))
    })
}

fn decode_v4(
    bytes: &[u8],
    auth: &Authentication,
    mode: V3ChecksumMode,
) -> Result<(ReceivedAdvert, u8), DropReason> {
    let ip = ipv4::Packet::new_checked(bytes).map_err(DropReason::from)?;
    let src = IpAddr::V4(ip.src_addr());
    let dst: Ipv4Addr = ip.dst_addr();
    let ttl = ip.ttl();
    let message = match (ip.protocol(), auth) {
        (IPPROTO_AH, Authentication::Ah(key)) => {
            let ahp = ah::Packet::new_checked(ip.payload()).map_err(DropReason::from)?;
            if ahp.next_header() != IPPROTO_VRRP {
                return Err(DropReason::Malformed);
            }
            ah::verify_icv(key, ip.datagram()).map_err(DropReason::from)?;
            &ip.payload()[ah::HEADER_LEN..]
        }
        (IPPROTO_AH, _) => return Err(DropReason::AuthFailure),
        (IPPROTO_VRRP, Authentication::Ah(_)) => return Err(DropReason::AuthFailure),
        (IPPROTO_VRRP, _) => ip.payload(),
        _ => return Err(DropReason::Malformed),
    };
    let packet = vrrp::Packet::new_checked(message, Family::Ipv4).map_err(DropReason::from)?;
    let scope = checksum_scope(packet.version(), src, IpAddr::V4(dst), mode);
    let repr = Repr::parse(&packet, &scope).map_err(DropReason::from)?;
    if repr.version == Version::V2 {
        // RFC 3768 section 7.1: the authentication type must match ours, then the data.
        if repr.auth_type != auth.auth_type() {
            return Err(DropReason::AuthFailure);
        }
        if let Authentication::Pass(pass) = auth {
            if !constant_time_eq(&repr.auth_data, pass) {
                return Err(DropReason::AuthFailure);
            }
        }
    }
    Ok((ReceivedAdvert { repr, src }, ttl))
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

    const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1));
    const MCAST: IpAddr = IpAddr::V4(vrrp::MULTICAST_V4);

    fn params(ident: u16, seq: u32) -> SendParams {
        SendParams {
            src: SRC,
            dst: MCAST,
            ttl: 255,
            ident,
            ah_sequence: seq,
            v3_checksum: V3ChecksumMode::PseudoHeader,
        }
    }

    fn v2(vrid: u8, prio: u8, addrs: &[[u8; 4]]) -> Repr {
        Repr {
            version: Version::V2,
            family: Family::Ipv4,
            vrid,
            priority: prio,
            auth_type: vrrp::AuthType::None,
            interval_cs: 100,
            addresses: addrs.iter().map(|a| IpAddr::from(*a)).collect(),
            auth_data: [0; 8],
        }
    }

    // IP datagrams sent by keepalived 2.2.7 (Ethernet header removed).
    const V2_NONE: &str =
        "45c0002800010000ff70d02e0a630001e000001221016401000170340a6300650000000000000000";
    const V2_PASS: &str =
        "45c0002c00010000ff70d02a0a630001e0000012210265020101f5850a6300660a6300ca7365637265743132";
    const V2_AH: &str = "45c0004000010000ff33d0530a630001e0000012700400000a630001000000016f37cb8332c8670985e65dee2103660102016c300a6300670000000000000000";
    const V3_V4: &str = "45c0002000010000ff70d0360a630001e000001231046701006471d80a630068";

    #[test]
    fn encodes_like_keepalived() {
        let none = encode_advert(
            &v2(1, 100, &[[10, 99, 0, 101]]),
            &Authentication::None,
            &params(1, 0),
        )
        .expect("enc");
        assert_eq!(none, hex(V2_NONE));
        let pass = encode_advert(
            &v2(2, 101, &[[10, 99, 0, 102], [10, 99, 0, 202]]),
            &Authentication::pass(b"secret12"),
            &params(1, 0),
        )
        .expect("enc");
        assert_eq!(pass, hex(V2_PASS));
        let ah = encode_advert(
            &v2(3, 102, &[[10, 99, 0, 103]]),
            &Authentication::ah(b"ahkey"),
            &params(1, 1),
        )
        .expect("enc");
        assert_eq!(ah, hex(V2_AH));
        let mut r3 = v2(4, 103, &[[10, 99, 0, 104]]);
        r3.version = Version::V3;
        let v3 = encode_advert(&r3, &Authentication::None, &params(1, 0)).expect("enc");
        assert_eq!(v3, hex(V3_V4));
    }

    #[test]
    fn decodes_keepalived_adverts() {
        let (adv, ttl) = decode_advert(
            Family::Ipv4,
            SRC,
            &hex(V2_NONE),
            &Authentication::None,
            V3ChecksumMode::PseudoHeader,
            None,
        )
        .expect("none");
        assert_eq!(
            (adv.repr.vrid, adv.repr.priority, ttl, adv.src),
            (1, 100, 255, SRC)
        );
        let (adv, _) = decode_advert(
            Family::Ipv4,
            SRC,
            &hex(V2_PASS),
            &Authentication::pass(b"secret12"),
            V3ChecksumMode::PseudoHeader,
            None,
        )
        .expect("pass");
        assert_eq!(adv.repr.addresses.len(), 2);
        let (adv, _) = decode_advert(
            Family::Ipv4,
            SRC,
            &hex(V2_AH),
            &Authentication::ah(b"ahkey"),
            V3ChecksumMode::PseudoHeader,
            None,
        )
        .expect("ah");
        assert_eq!(adv.repr.vrid, 3);
        let (adv, _) = decode_advert(
            Family::Ipv4,
            SRC,
            &hex(V3_V4),
            &Authentication::None,
            V3ChecksumMode::PseudoHeader,
            None,
        )
        .expect("v3");
        assert_eq!(adv.repr.version, Version::V3);
    }

    #[test]
    fn auth_failures() {
        let dec = |bytes: &str, auth: &Authentication| {
            decode_advert(
                Family::Ipv4,
                SRC,
                &hex(bytes),
                auth,
                V3ChecksumMode::PseudoHeader,
                None,
            )
            .map(|_| ())
        };
        assert_eq!(
            dec(V2_PASS, &Authentication::pass(b"secret13")),
            Err(DropReason::AuthFailure)
        );
        assert_eq!(
            dec(V2_PASS, &Authentication::None),
            Err(DropReason::AuthFailure)
        );
        assert_eq!(
            dec(V2_NONE, &Authentication::pass(b"secret12")),
            Err(DropReason::AuthFailure)
        );
        assert_eq!(
            dec(V2_AH, &Authentication::ah(b"other")),
            Err(DropReason::AuthFailure)
        );
        assert_eq!(
            dec(V2_AH, &Authentication::None),
            Err(DropReason::AuthFailure)
        );
        assert_eq!(
            dec(V2_NONE, &Authentication::ah(b"ahkey")),
            Err(DropReason::AuthFailure)
        );
    }

    #[test]
    fn v3_checksum_modes() {
        let (adv, _) = decode_advert(
            Family::Ipv4,
            SRC,
            &hex(V3_V4),
            &Authentication::None,
            V3ChecksumMode::PseudoHeader,
            None,
        )
        .expect("v3");
        let mut p = params(1, 0);
        p.v3_checksum = V3ChecksumMode::AsV2;
        let as_v2 = encode_advert(&adv.repr, &Authentication::None, &p).expect("enc");
        assert_ne!(as_v2, hex(V3_V4));
        let dec = |mode| {
            decode_advert(Family::Ipv4, SRC, &as_v2, &Authentication::None, mode, None).map(|_| ())
        };
        assert_eq!(dec(V3ChecksumMode::AsV2), Ok(()));
        assert_eq!(
            dec(V3ChecksumMode::PseudoHeader),
            Err(DropReason::BadChecksum)
        );
    }

    #[test]
    fn ipv6_payload() {
        let bytes =
            hex("3106690200326a6ffd990000000000000000000000000106fe800000000000000000000000000106");
        let src: IpAddr = "fe80::ff:fe00:1".parse().expect("addr");
        let (adv, _) = decode_advert(
            Family::Ipv6,
            src,
            &bytes,
            &Authentication::None,
            V3ChecksumMode::PseudoHeader,
            Some(vrrp::MULTICAST_V6),
        )
        .expect("v6");
        assert_eq!(adv.repr.priority, 105);
        let p = SendParams {
            src,
            dst: IpAddr::V6(vrrp::MULTICAST_V6),
            ..params(0, 0)
        };
        assert_eq!(
            encode_advert(&adv.repr, &Authentication::None, &p).expect("enc"),
            bytes
        );
        let mut bad = bytes.clone();
        bad[7] ^= 1;
        let checked = decode_advert(
            Family::Ipv6,
            src,
            &bad,
            &Authentication::None,
            V3ChecksumMode::PseudoHeader,
            Some(vrrp::MULTICAST_V6),
        );
        assert_eq!(checked.map(|_| ()), Err(DropReason::BadChecksum));
        let trusted = decode_advert(
            Family::Ipv6,
            src,
            &bad,
            &Authentication::None,
            V3ChecksumMode::PseudoHeader,
            None,
        );
        assert!(trusted.is_ok());
    }
}
