//! Receive checks, counters and MASTER reactions of a single instance.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use rka_vrrp::packet::{encode_advert, SendParams};
use rka_vrrp::wire::vrrp::{self, AuthType, Family, Repr};
use rka_vrrp::{Action, Authentication, Instance, InstanceConfig, State, V3ChecksumMode, Version};

const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100));

fn config() -> InstanceConfig {
    InstanceConfig::new("VI_1", 7, ME, vec![VIP])
}

fn advert(vrid: u8, prio: u8, interval_cs: u16, addrs: Vec<IpAddr>) -> Repr {
    Repr {
        version: Version::V2,
        family: Family::Ipv4,
        vrid,
        priority: prio,
        auth_type: AuthType::None,
        interval_cs,
        addresses: addrs,
        auth_data: [0; 8],
    }
}

fn bytes(repr: &Repr, auth: &Authentication, src: IpAddr, ttl: u8) -> Vec<u8> {
    let p = SendParams {
        src,
        dst: IpAddr::V4(vrrp::MULTICAST_V4),
        ttl,
        ident: 9,
        ah_sequence: 3,
        v3_checksum: V3ChecksumMode::PseudoHeader,
    };
    encode_advert(repr, auth, &p).expect("encode")
}

fn drain(i: &mut Instance) -> Vec<Action> {
    std::iter::from_fn(|| i.poll_action()).collect()
}

/// An instance past startup, in BACKUP.
fn backup(cfg: InstanceConfig, now: Instant) -> Instance {
    let mut i = Instance::new(cfg, now).expect("config");
    i.handle_timeout(now);
    assert_eq!(i.state(), State::Backup);
    drain(&mut i);
    i
}

/// An instance that became MASTER by timing out.
fn master(cfg: InstanceConfig, now: Instant) -> (Instance, Instant) {
    let mut i = backup(cfg, now);
    let t = i.poll_timeout().expect("timer");
    i.handle_timeout(t);
    assert_eq!(i.state(), State::Master);
    drain(&mut i);
    (i, t)
}

#[test]
fn drop_counters_by_reason() {
    let now = Instant::now();
    let mut i = backup(config(), now);
    let good = advert(7, 100, 100, vec![VIP]);
    let none = Authentication::None;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (bytes(&good, &none, PEER, 254), "bad_ttl"),
        (
            bytes(&advert(8, 100, 100, vec![VIP]), &none, PEER, 255),
            "wrong_vrid",
        ),
        (
            bytes(&good, &Authentication::pass(b"x"), PEER, 255),
            "auth_failure",
        ),
        (
            bytes(&advert(7, 100, 200, vec![VIP]), &none, PEER, 255),
            "interval_mismatch",
        ),
        (
            bytes(&advert(7, 100, 100, vec![PEER]), &none, PEER, 255),
            "address_mismatch",
        ),
        (bytes(&good, &none, ME, 255), "own_advert"),
        (vec![0x45, 0, 0], "malformed"),
    ];
    for (b, _) in &cases {
        i.handle_packet(now, PEER, 255, b);
    }
    let mut v3 = good.clone();
    v3.version = Version::V3;
    i.handle_packet(now, PEER, 255, &bytes(&v3, &none, PEER, 255));
    let mut corrupt = bytes(&good, &none, PEER, 255);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    i.handle_packet(now, PEER, 255, &corrupt);
    let d = i.stats().dropped;
    assert_eq!(
        (
            d.bad_ttl,
            d.wrong_vrid,
            d.auth_failure,
            d.interval_mismatch,
            d.address_mismatch,
            d.own_advert,
            d.malformed
        ),
        (1, 1, 1, 1, 1, 1, 1)
    );
    assert_eq!((d.version_mismatch, d.bad_checksum), (1, 1));
    assert_eq!(i.stats().adverts_received, 0);
    i.handle_packet(now, PEER, 255, &bytes(&good, &none, PEER, 255));
    assert_eq!(i.stats().adverts_received, 1);
}

#[test]
fn skip_check_adv_addr_accepts_other_lists() {
    let now = Instant::now();
    let mut c = config();
    c.skip_check_adv_addr = true;
    let mut i = backup(c, now);
    i.handle_packet(
        now,
        PEER,
        255,
        &bytes(
            &advert(7, 100, 100, vec![PEER, VIP]),
            &Authentication::None,
            PEER,
            255,
        ),
    );
    assert_eq!(i.stats().adverts_received, 1);
}

#[test]
fn unicast_ttl_only_checked_in_strict_mode() {
    let now = Instant::now();
    let mut c = config();
    c.unicast_peers = vec![PEER];
    let mut lax = backup(c.clone(), now);
    lax.handle_packet(
        now,
        PEER,
        64,
        &bytes(
            &advert(7, 100, 100, vec![VIP]),
            &Authentication::None,
            PEER,
            64,
        ),
    );
    assert_eq!(lax.stats().adverts_received, 1);
    c.strict = true;
    let mut strict = backup(c, now);
    strict.handle_packet(
        now,
        PEER,
        64,
        &bytes(
            &advert(7, 100, 100, vec![VIP]),
            &Authentication::None,
            PEER,
            64,
        ),
    );
    assert_eq!(strict.stats().dropped.bad_ttl, 1);
}

#[test]
fn pass_and_ah_authentication_accepted() {
    let now = Instant::now();
    for auth in [
        Authentication::pass(b"secret12"),
        Authentication::ah(b"ahkey"),
    ] {
        let mut c = config();
        c.auth = auth.clone();
        let mut i = backup(c, now);
        i.handle_packet(
            now,
            PEER,
            255,
            &bytes(&advert(7, 100, 100, vec![VIP]), &auth, PEER, 255),
        );
        assert_eq!(i.stats().adverts_received, 1, "{auth:?}");
    }
}

#[test]
fn master_answers_lower_priority_with_advert_and_garp() {
    let now = Instant::now();
    let (mut i, t) = master(config(), now);
    i.handle_packet(
        t,
        PEER,
        255,
        &bytes(
            &advert(7, 50, 100, vec![VIP]),
            &Authentication::None,
            PEER,
            255,
        ),
    );
    let acts = drain(&mut i);
    assert!(matches!(acts[0], Action::SendAdvert { priority: 100, .. }));
    assert_eq!(
        acts[1],
        Action::SendGratuitous {
            addresses: vec![VIP],
            count: 5
        }
    );
    assert_eq!(
        acts[2],
        Action::LowerPriorityAdvert {
            src: PEER,
            priority: 50
        }
    );
    assert_eq!(i.state(), State::Master);

    let mut c = config();
    c.lower_prio_no_advert = true;
    let (mut quiet, t) = master(c, now);
    quiet.handle_packet(
        t,
        PEER,
        255,
        &bytes(
            &advert(7, 50, 100, vec![VIP]),
            &Authentication::None,
            PEER,
            255,
        ),
    );
    // Silent on the wire, but still reported.
    assert_eq!(
        drain(&mut quiet),
        vec![Action::LowerPriorityAdvert {
            src: PEER,
            priority: 50
        }]
    );
}

#[test]
fn master_yields_to_higher_priority() {
    let now = Instant::now();
    let (mut i, t) = master(config(), now);
    i.handle_packet(
        t,
        PEER,
        255,
        &bytes(
            &advert(7, 200, 100, vec![VIP]),
            &Authentication::None,
            PEER,
            255,
        ),
    );
    let acts = drain(&mut i);
    assert_eq!(acts[0], Action::RemoveVips);
    assert!(matches!(
        acts[1],
        Action::StateChanged {
            from: State::Master,
            to: State::Backup,
            ..
        }
    ));
    assert_eq!(i.poll_timeout(), Some(t + i.master_down_interval()));

    let mut c = config();
    c.higher_prio_send_advert = true;
    let (mut loud, t) = master(c, now);
    loud.handle_packet(
        t,
        PEER,
        255,
        &bytes(
            &advert(7, 200, 100, vec![VIP]),
            &Authentication::None,
            PEER,
            255,
        ),
    );
    let acts = drain(&mut loud);
    assert!(matches!(acts[0], Action::SendAdvert { priority: 100, .. }));
    assert_eq!(acts[1], Action::RemoveVips);
}

#[test]
fn master_answers_priority_zero_at_once() {
    let now = Instant::now();
    let (mut i, t) = master(config(), now);
    let later = t + Duration::from_millis(300);
    i.handle_packet(
        later,
        PEER,
        255,
        &bytes(
            &advert(7, 0, 100, vec![VIP]),
            &Authentication::None,
            PEER,
            255,
        ),
    );
    assert!(matches!(
        drain(&mut i)[..],
        [Action::SendAdvert { priority: 100, .. }]
    ));
    assert_eq!(i.poll_timeout(), Some(later + Duration::from_secs(1)));
}

#[test]
fn unicast_adverts_go_to_each_peer() {
    let now = Instant::now();
    let mut c = config();
    let third = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 3));
    c.unicast_peers = vec![PEER, third];
    c.version = Version::V3;
    let mut i = Instance::new(c, now).expect("config");
    i.handle_timeout(now);
    let t = i.poll_timeout().expect("timer");
    i.handle_timeout(t);
    let dsts: Vec<IpAddr> = drain(&mut i)
        .into_iter()
        .filter_map(|a| match a {
            Action::SendAdvert { dst, bytes, .. } => {
                // The v3 checksum covers the pseudo-header with the unicast destination.
                let ip = rka_vrrp::wire::ipv4::Packet::new_checked(&bytes[..]).expect("ip");
                let IpAddr::V4(d) = dst else { panic!("v4") };
                assert_eq!(ip.dst_addr(), d);
                let p = vrrp::Packet::new_checked(ip.payload(), Family::Ipv4).expect("vrrp");
                let IpAddr::V4(s) = ME else { panic!("v4") };
                assert!(p.verify_checksum(&vrrp::ChecksumScope::Ipv4Pseudo { src: s, dst: d }));
                Some(dst)
            }
            _ => None,
        })
        .collect();
    assert_eq!(dsts, vec![PEER, third]);
}

#[test]
fn ipv6_instance_round_trip() {
    let now = Instant::now();
    let me: IpAddr = "fe80::1".parse().expect("addr");
    let peer: IpAddr = "fe80::2".parse().expect("addr");
    let vip: IpAddr = "2001:db8::100".parse().expect("addr");
    let mut a = Instance::new(InstanceConfig::new("V6", 9, me, vec![vip]), now).expect("config");
    let mut bcfg = InstanceConfig::new("V6", 9, peer, vec![vip]);
    bcfg.priority = 50;
    let mut b = Instance::new(bcfg, now).expect("config");
    a.handle_timeout(now);
    b.handle_timeout(now);
    let t = a.poll_timeout().expect("timer");
    a.handle_timeout(t);
    let sent = drain(&mut a).into_iter().find_map(|x| match x {
        Action::SendAdvert {
            bytes, dst, ttl, ..
        } => Some((bytes, dst, ttl)),
        _ => None,
    });
    let (bytes, dst, ttl) = sent.expect("advert");
    assert_eq!(dst, IpAddr::V6(vrrp::MULTICAST_V6));
    assert_eq!(ttl, 255);
    b.handle_packet(t, me, 255, &bytes);
    assert_eq!(b.stats().adverts_received, 1);
    b.handle_packet(t, me, 64, &bytes);
    assert_eq!(b.stats().dropped.bad_ttl, 1);
}

#[test]
fn shutdown_from_backup_sends_nothing() {
    let now = Instant::now();
    let mut i = backup(config(), now);
    i.shutdown(now);
    let acts = drain(&mut i);
    assert!(acts
        .iter()
        .all(|a| !matches!(a, Action::SendAdvert { .. } | Action::RemoveVips)));
    assert_eq!(i.state(), State::Stop);
    assert_eq!(i.poll_timeout(), None);
    i.shutdown(now);
    assert!(drain(&mut i).is_empty());
}

#[test]
fn ah_sequence_and_ip_ident_count_up() {
    let now = Instant::now();
    let mut c = config();
    c.auth = Authentication::ah(b"ahkey");
    let (mut i, t) = master(c, now);
    i.handle_timeout(t + Duration::from_secs(1));
    i.handle_timeout(t + Duration::from_secs(2));
    let seqs: Vec<(u16, u32)> = drain(&mut i)
        .into_iter()
        .filter_map(|a| match a {
            Action::SendAdvert { bytes, .. } => {
                let ip = rka_vrrp::wire::ipv4::Packet::new_checked(&bytes[..]).expect("ip");
                let ah = rka_vrrp::wire::ah::Packet::new_checked(ip.payload()).expect("ah");
                rka_vrrp::wire::ah::verify_icv(b"ahkey", &bytes).expect("icv");
                Some((ip.ident(), ah.sequence()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(seqs, vec![(2, 2), (3, 3)]);
}
