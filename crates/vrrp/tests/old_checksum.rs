//! keepalived's old VRRPv3 unicast checksum (`old_unicast_checksum`): the IPv4 pseudo-header
//! with 224.0.0.18 as destination although the advert goes to a unicast peer.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use rka_vrrp::packet::{decode_advert, encode_advert, SendParams};
use rka_vrrp::wire::ipv4;
use rka_vrrp::{
    Action, Authentication, Family, Instance, InstanceConfig, State, V3ChecksumMode, Version,
};

/// The IPv4 datagram of an advert sent by Debian's keepalived 2.2.7 with
/// `old_unicast_checksum` (vrrp_version 3, VRID 51, priority 150, advert_int 1, unicast_src_ip
/// 10.77.0.1, unicast_peer 10.77.0.2, VIP 10.77.0.100/24), captured with tcpdump on the peer.
/// Its checksum 0x42d9 verifies only with 224.0.0.18 in the pseudo-header (10.77.0.2 gives
/// 0x189d).
const OLD: &str = "45c0002000020000ff70a60f0a4d00010a4d000231339601006442d90a4d0064";

const KEEPALIVED: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 1));
const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 2));
const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 100));

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn decode(bytes: &[u8], mode: V3ChecksumMode) -> Result<u8, rka_vrrp::DropReason> {
    decode_advert(
        Family::Ipv4,
        KEEPALIVED,
        bytes,
        &Authentication::None,
        mode,
        None,
    )
    .map(|(adv, _)| adv.repr.priority)
}

#[test]
fn the_capture_verifies_only_with_the_old_scope_and_re_encodes_byte_for_byte() {
    let bytes = hex(OLD);
    assert_eq!(decode(&bytes, V3ChecksumMode::OldUnicast), Ok(150));
    assert_eq!(
        decode(&bytes, V3ChecksumMode::PseudoHeader),
        Err(rka_vrrp::DropReason::BadChecksum)
    );
    let (adv, ttl) = decode_advert(
        Family::Ipv4,
        KEEPALIVED,
        &bytes,
        &Authentication::None,
        V3ChecksumMode::OldUnicast,
        None,
    )
    .expect("decode");
    let ip = ipv4::Packet::new_checked(&bytes[..]).expect("ip");
    let params = SendParams {
        src: KEEPALIVED,
        dst: ME,
        ttl,
        ident: ip.ident(),
        ah_sequence: 0,
        v3_checksum: V3ChecksumMode::OldUnicast,
    };
    assert_eq!(
        encode_advert(&adv.repr, &Authentication::None, &params).expect("encode"),
        bytes
    );
}

fn config(peers: bool) -> InstanceConfig {
    let mut c = InstanceConfig::new("VI_1", 51, ME, vec![VIP]);
    c.version = Version::V3;
    if peers {
        c.unicast_peers = vec![KEEPALIVED];
    }
    c
}

fn backup(cfg: InstanceConfig, now: Instant) -> Instance {
    let mut i = Instance::new(cfg, now).expect("config");
    i.handle_timeout(now);
    assert_eq!(i.state(), State::Backup);
    while i.poll_action().is_some() {}
    i
}

#[test]
fn a_unicast_backup_accepts_the_old_checksum_by_default() {
    let now = Instant::now();
    let mut i = backup(config(true), now);
    let timer = i.poll_timeout().expect("master-down timer");
    let later = now + std::time::Duration::from_millis(500);
    i.handle_packet(later, KEEPALIVED, 255, &hex(OLD));
    assert_eq!(i.stats().adverts_received, 1);
    assert_eq!(i.stats().dropped.bad_checksum, 0);
    assert!(
        i.poll_timeout().expect("timer") > timer,
        "the advert restarted the timer"
    );
    // Again: still accepted (the detection is logged once only).
    i.handle_packet(now, KEEPALIVED, 255, &hex(OLD));
    assert_eq!(i.stats().adverts_received, 2);
}

#[test]
fn old_unicast_checksum_never_and_multicast_do_not_accept_it() {
    let now = Instant::now();
    let mut never = config(true);
    never.detect_old_checksum = false;
    let mut multicast = config(false);
    multicast.skip_check_adv_addr = true;
    let mut as_v2 = config(true);
    as_v2.v3_checksum = V3ChecksumMode::AsV2;
    for cfg in [never, multicast, as_v2] {
        let mut i = backup(cfg, now);
        i.handle_packet(now, KEEPALIVED, 255, &hex(OLD));
        assert_eq!(i.stats().adverts_received, 0);
        assert_eq!(i.stats().dropped.bad_checksum, 1);
    }
}

#[test]
fn configured_old_checksum_sends_it_and_refuses_the_new_one() {
    let now = Instant::now();
    let mut cfg = config(true);
    cfg.v3_checksum = V3ChecksumMode::OldUnicast;
    cfg.priority = 200;
    let mut i = backup(cfg, now);
    // A new-style advert from the peer (keepalived with old_unicast_checksum logs "Invalid
    // VRRPv3 checksum" for it).
    let (adv, _) = decode_advert(
        Family::Ipv4,
        KEEPALIVED,
        &hex(OLD),
        &Authentication::None,
        V3ChecksumMode::OldUnicast,
        None,
    )
    .expect("decode");
    let new_style = encode_advert(
        &adv.repr,
        &Authentication::None,
        &SendParams {
            src: KEEPALIVED,
            dst: ME,
            ttl: 255,
            ident: 1,
            ah_sequence: 0,
            v3_checksum: V3ChecksumMode::PseudoHeader,
        },
    )
    .expect("encode");
    i.handle_packet(now, KEEPALIVED, 255, &new_style);
    assert_eq!(i.stats().dropped.bad_checksum, 1);
    // As master its own adverts carry the old checksum.
    let t = i.poll_timeout().expect("timer");
    i.handle_timeout(t);
    assert_eq!(i.state(), State::Master);
    let sent: Vec<Vec<u8>> = std::iter::from_fn(|| i.poll_action())
        .filter_map(|a| match a {
            Action::SendAdvert { bytes, .. } => Some(bytes),
            _ => None,
        })
        .collect();
    assert!(!sent.is_empty());
    for bytes in sent {
        let mine = |mode| {
            decode_advert(Family::Ipv4, ME, &bytes, &Authentication::None, mode, None).is_ok()
        };
        assert!(mine(V3ChecksumMode::OldUnicast));
        assert!(!mine(V3ChecksumMode::PseudoHeader));
    }
}
