//! Property tests: decoding never panics, emit/parse round-trips.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use proptest::prelude::*;
use rka_vrrp::packet::{decode_advert, encode_advert, SendParams};
use rka_vrrp::wire::vrrp::{self, AuthType, ChecksumScope, Family, Packet, Repr};
use rka_vrrp::wire::{ah, arp, ipv4};
use rka_vrrp::{Authentication, Instance, InstanceConfig, V3ChecksumMode, Version};

fn auths() -> Vec<Authentication> {
    vec![
        Authentication::None,
        Authentication::pass(b"pw"),
        Authentication::ah(b"key"),
    ]
}

fn repr_strategy() -> impl Strategy<Value = Repr> {
    let v4 = (
        any::<u8>(),
        any::<u8>(),
        1u16..=255,
        prop::collection::vec(any::<[u8; 4]>(), 0..20),
        any::<[u8; 8]>(),
        0u8..3,
    )
        .prop_map(|(vrid, priority, secs, addrs, auth_data, auth)| Repr {
            version: Version::V2,
            family: Family::Ipv4,
            vrid,
            priority,
            auth_type: [AuthType::None, AuthType::Pass, AuthType::Ah][usize::from(auth)],
            interval_cs: secs * 100,
            addresses: addrs.into_iter().map(IpAddr::from).collect(),
            auth_data,
        });
    let v3_4 = (
        any::<u8>(),
        any::<u8>(),
        0u16..=0x0fff,
        prop::collection::vec(any::<[u8; 4]>(), 0..20),
    )
        .prop_map(|(vrid, priority, interval_cs, addrs)| Repr {
            version: Version::V3,
            family: Family::Ipv4,
            vrid,
            priority,
            auth_type: AuthType::None,
            interval_cs,
            addresses: addrs.into_iter().map(IpAddr::from).collect(),
            auth_data: [0; 8],
        });
    let v3_6 = (
        any::<u8>(),
        any::<u8>(),
        0u16..=0x0fff,
        prop::collection::vec(any::<[u8; 16]>(), 0..10),
    )
        .prop_map(|(vrid, priority, interval_cs, addrs)| Repr {
            version: Version::V3,
            family: Family::Ipv6,
            vrid,
            priority,
            auth_type: AuthType::None,
            interval_cs,
            addresses: addrs.into_iter().map(IpAddr::from).collect(),
            auth_data: [0; 8],
        });
    prop_oneof![v4, v3_4, v3_6]
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        for family in [Family::Ipv4, Family::Ipv6] {
            if let Ok(p) = Packet::new_checked(&bytes[..], family) {
                let _ = p.address(usize::from(p.addr_count()));
                let _ = p.auth_data();
                let _ = Repr::parse(&p, &ChecksumScope::Message);
                let _ = Repr::parse_trusting_checksum(&p);
            }
            for auth in auths() {
                let src = match family { Family::Ipv4 => IpAddr::V4(Ipv4Addr::LOCALHOST), Family::Ipv6 => IpAddr::V6(Ipv6Addr::LOCALHOST) };
                let _ = decode_advert(family, src, &bytes, &auth, V3ChecksumMode::PseudoHeader, Some(vrrp::MULTICAST_V6));
                let _ = decode_advert(family, src, &bytes, &auth, V3ChecksumMode::AsV2, None);
            }
        }
        if let Ok(ip) = ipv4::Packet::new_checked(&bytes[..]) {
            let _ = (ip.payload(), ip.verify_checksum(), ip.src_addr());
            let _ = ah::verify_icv(b"k", &bytes);
        }
        if let Ok(a) = arp::Packet::new_checked(&bytes[..]) {
            let _ = (a.operation(), a.sender_ip(), a.target_mac());
        }
    }

    #[test]
    fn instances_survive_arbitrary_datagrams(mut bytes in prop::collection::vec(any::<u8>(), 22..120), proto in prop_oneof![Just(112u8), Just(51u8)]) {
        // Make it look like IPv4 so the checks go deeper.
        bytes[0] = 0x45;
        let len = bytes.len() as u16;
        bytes[2..4].copy_from_slice(&len.to_be_bytes());
        bytes[9] = proto;
        let now = Instant::now();
        for auth in auths() {
            let mut c = InstanceConfig::new("P", bytes[21], IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), vec![]);
            c.vrid = c.vrid.max(1);
            c.auth = auth;
            c.skip_check_adv_addr = true;
            let mut i = Instance::new(c, now).expect("config");
            i.handle_timeout(now);
            i.handle_packet(now, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 255, &bytes);
            prop_assert_eq!(i.stats().adverts_received + i.stats().dropped.total(), 1);
        }
    }

    #[test]
    fn emit_parse_round_trip(repr in repr_strategy(), as_v2 in any::<bool>()) {
        let (src, dst) = match repr.family {
            Family::Ipv4 => (IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)), IpAddr::V4(vrrp::MULTICAST_V4)),
            Family::Ipv6 => (IpAddr::V6("fe80::1".parse().expect("addr")), IpAddr::V6(vrrp::MULTICAST_V6)),
        };
        let mode = if as_v2 { V3ChecksumMode::AsV2 } else { V3ChecksumMode::PseudoHeader };
        let scope = rka_vrrp::packet::checksum_scope(repr.version, src, dst, mode);
        let bytes = repr.to_bytes(&scope).expect("emit");
        prop_assert_eq!(bytes.len(), repr.buffer_len());
        let parsed = Repr::parse(&Packet::new_checked(&bytes[..], repr.family).expect("checked"), &scope).expect("parse");
        let mut expected = repr.clone();
        if repr.version == Version::V3 { expected.auth_data = [0; 8]; }
        prop_assert_eq!(&parsed, &expected);

        // Through the datagram layer too, with a matching authentication.
        let auth = match (repr.version, repr.auth_type) {
            (Version::V2, AuthType::Pass) => Authentication::Pass(repr.auth_data),
            (Version::V2, AuthType::Ah) => Authentication::ah(b"key"),
            _ => Authentication::None,
        };
        let p = SendParams { src, dst, ttl: 255, ident: 1, ah_sequence: 1, v3_checksum: mode };
        let datagram = encode_advert(&repr, &auth, &p).expect("encode");
        let ipv6_dst = match dst { IpAddr::V6(d) => Some(d), IpAddr::V4(_) => None };
        let (adv, _) = decode_advert(repr.family, src, &datagram, &auth, mode, ipv6_dst).expect("decode");
        prop_assert_eq!(adv.repr.addresses, repr.addresses);
        prop_assert_eq!(adv.repr.priority, repr.priority);
    }
}
