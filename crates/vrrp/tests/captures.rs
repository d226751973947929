//! Every frame captured from keepalived 2.2.7 (tests/data) decodes, and our encoders rebuild it
//! byte for byte.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rka_vrrp::packet::{decode_advert, encode_advert, SendParams};
use rka_vrrp::wire::arp::GratuitousArp;
use rka_vrrp::wire::ndp::UnsolicitedNa;
use rka_vrrp::wire::{ah, ipv4, vrrp};
use rka_vrrp::{Authentication, Family, V3ChecksumMode};

const FRAMES: &str = include_str!("data/keepalived-2.2.7-frames.txt");
const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn auth_for(vrid: u8) -> Authentication {
    match vrid {
        2 => Authentication::pass(b"secret12"),
        3 => Authentication::ah(b"ahkey"),
        _ => Authentication::None,
    }
}

#[test]
fn captured_frames_round_trip() {
    let mut seen = std::collections::BTreeMap::new();
    for line in FRAMES
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let mut parts = line.split_whitespace();
        let (kind, what, frame) = (
            parts.next().expect("kind"),
            parts.next().expect("id"),
            hex(parts.next().expect("hex")),
        );
        *seen.entry(kind).or_insert(0) += 1;
        match kind {
            "vrrp4" => {
                let vrid: u8 = what.parse().expect("vrid");
                let datagram = &frame[14..];
                let ip = ipv4::Packet::new_checked(datagram).expect("ip");
                let auth = auth_for(vrid);
                let src = IpAddr::V4(ip.src_addr());
                let (adv, ttl) = decode_advert(
                    Family::Ipv4,
                    src,
                    datagram,
                    &auth,
                    V3ChecksumMode::PseudoHeader,
                    None,
                )
                .expect("decode");
                assert_eq!((adv.repr.vrid, ttl), (vrid, 255));
                let seq = ah::Packet::new_checked(ip.payload())
                    .map(|a| a.sequence())
                    .unwrap_or(0);
                let params = SendParams {
                    src,
                    dst: IpAddr::V4(ip.dst_addr()),
                    ttl,
                    ident: ip.ident(),
                    ah_sequence: seq,
                    v3_checksum: V3ChecksumMode::PseudoHeader,
                };
                assert_eq!(
                    encode_advert(&adv.repr, &auth, &params).expect("encode"),
                    datagram,
                    "{line}"
                );
            }
            "vrrp6" => {
                let src: Ipv6Addr = "fe80::ff:fe00:1".parse().expect("addr");
                let payload = &frame[14 + 40..];
                let (adv, _) = decode_advert(
                    Family::Ipv6,
                    IpAddr::V6(src),
                    payload,
                    &Authentication::None,
                    V3ChecksumMode::PseudoHeader,
                    Some(vrrp::MULTICAST_V6),
                )
                .expect("decode");
                let params = SendParams {
                    src: IpAddr::V6(src),
                    dst: IpAddr::V6(vrrp::MULTICAST_V6),
                    ttl: 255,
                    ident: 0,
                    ah_sequence: 0,
                    v3_checksum: V3ChecksumMode::PseudoHeader,
                };
                assert_eq!(
                    encode_advert(&adv.repr, &Authentication::None, &params).expect("encode"),
                    payload
                );
            }
            "garp" => {
                let address: Ipv4Addr = what.parse().expect("addr");
                assert_eq!(GratuitousArp { mac: MAC, address }.to_frame(), frame);
            }
            "na" => {
                let address: Ipv6Addr = what.parse().expect("addr");
                let na = UnsolicitedNa {
                    mac: MAC,
                    address,
                    router: false,
                };
                assert_eq!(na.to_frame(), frame);
            }
            other => panic!("unknown kind {other}"),
        }
    }
    assert_eq!(seen.get("vrrp4"), Some(&10));
    assert_eq!(seen.get("vrrp6"), Some(&2));
    assert_eq!(seen.get("garp"), Some(&6));
    assert_eq!(seen.get("na"), Some(&2));
}
