//! Golden-byte tests for every IPVS command.
//!
//! The `IPVSADM_*` payloads were captured from Debian's ipvsadm 1.31 talking to a 6.1
//! kernel (`strace -e trace=sendmsg -xx` inside the rka-vmtest VM); they are the bytes
//! after the 16-byte netlink header. The others are built by hand from the layout of
//! `linux/ip_vs.h`: a 4-byte genl header {cmd, version 1, 0, 0} then attributes
//! {u16 len, u16 type, value, pad to 4}.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rka_ipvs::client::encode;
use rka_ipvs::types::svc_flags;
use rka_ipvs::{
    Command, DaemonState, DestKey, Destination, Family, ForwardMethod, IpvsMessage, Protocol,
    Service, ServiceKey, SyncDaemon, Timeouts, Tunnel, TunnelType,
};

const FAMILY: u16 = 0x1e;
const REQ_ACK: u16 = 0x0001 | 0x0004;
const REQ_DUMP: u16 = 0x0001 | 0x0300;

/// Encodes with a fixed family id and sequence number and checks the netlink header by
/// hand; returns the bytes after it.
fn payload(msg: IpvsMessage, flags: u16) -> Vec<u8> {
    let bytes = encode(msg, FAMILY, flags, 0x0102_0304);
    let len = u32::try_from(bytes.len()).expect("len");
    assert_eq!(bytes[0..4], len.to_ne_bytes(), "nlmsg_len");
    assert_eq!(bytes[4..6], FAMILY.to_ne_bytes(), "nlmsg_type = family id");
    assert_eq!(bytes[6..8], flags.to_ne_bytes(), "nlmsg_flags");
    assert_eq!(bytes[8..12], 0x0102_0304u32.to_ne_bytes(), "nlmsg_seq");
    assert_eq!(bytes[12..16], [0, 0, 0, 0], "nlmsg_pid");
    bytes[16..].to_vec()
}

/// One attribute, built by hand: header, value, zero padding.
fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = u16::try_from(4 + value.len()).expect("attr len");
    let mut v = Vec::new();
    v.extend_from_slice(&len.to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(value);
    while v.len() & 3 != 0 {
        v.push(0);
    }
    v
}

fn nest(kind: u16, parts: &[Vec<u8>]) -> Vec<u8> {
    attr(kind | 0x8000, &parts.concat())
}

fn genl(cmd: u8, attrs: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![cmd, 1, 0, 0];
    v.extend(attrs.concat());
    v
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn tcp80() -> ServiceKey {
    ServiceKey::Addr {
        addr: v4(10, 0, 0, 1),
        protocol: Protocol::Tcp,
        port: 80,
    }
}

fn tcp80_key_attrs() -> Vec<Vec<u8>> {
    vec![
        attr(1, &2u16.to_ne_bytes()),
        attr(2, &6u16.to_ne_bytes()),
        attr(3, &[10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        attr(4, &[0, 80]),
    ]
}

const IPVSADM_ADD_SERVICE_RR: &[u8] = b"\x01\x01\x00\x00\x54\x00\x01\x80\x06\x00\x01\x00\x02\x00\x00\x00\x06\x00\x02\x00\x06\x00\x00\x00\x14\x00\x03\x00\x0a\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x06\x00\x04\x00\x00\x50\x00\x00\x07\x00\x06\x00\x72\x72\x00\x00\x0c\x00\x07\x00\x00\x00\x00\x00\xff\xff\xff\xff\x08\x00\x08\x00\x00\x00\x00\x00\x08\x00\x09\x00\xff\xff\xff\xff";
const IPVSADM_EDIT_SERVICE_WRR_P300: &[u8] = b"\x02\x01\x00\x00\x54\x00\x01\x80\x06\x00\x01\x00\x02\x00\x00\x00\x06\x00\x02\x00\x06\x00\x00\x00\x14\x00\x03\x00\x0a\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x06\x00\x04\x00\x00\x50\x00\x00\x08\x00\x06\x00\x77\x72\x72\x00\x0c\x00\x07\x00\x01\x00\x00\x00\xff\xff\xff\xff\x08\x00\x08\x00\x2c\x01\x00\x00\x08\x00\x09\x00\xff\xff\xff\xff";
const IPVSADM_ADD_FWMARK_SH_PORT: &[u8] = b"\x01\x01\x00\x00\x38\x00\x01\x80\x06\x00\x01\x00\x02\x00\x00\x00\x08\x00\x05\x00\x07\x00\x00\x00\x07\x00\x06\x00\x73\x68\x00\x00\x0c\x00\x07\x00\x10\x00\x00\x00\xff\xff\xff\xff\x08\x00\x08\x00\x00\x00\x00\x00\x08\x00\x09\x00\xff\xff\xff\xff";
const IPVSADM_ADD_UDP6_P60_M64: &[u8] = b"\x01\x01\x00\x00\x54\x00\x01\x80\x06\x00\x01\x00\x0a\x00\x00\x00\x06\x00\x02\x00\x11\x00\x00\x00\x14\x00\x03\x00\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x06\x00\x04\x00\x00\x35\x00\x00\x07\x00\x06\x00\x72\x72\x00\x00\x0c\x00\x07\x00\x01\x00\x00\x00\xff\xff\xff\xff\x08\x00\x08\x00\x3c\x00\x00\x00\x08\x00\x09\x00\x40\x00\x00\x00";
/// The DEST nest of `ipvsadm -a -t 10.0.0.1:80 -r 10.0.0.2:8080 -m -w 3` (after the
/// service nest, which ipvsadm sends in full).
const IPVSADM_DEST_MASQ_W3: &[u8] = b"\x60\x00\x02\x80\x06\x00\x0b\x00\x02\x00\x00\x00\x14\x00\x01\x00\x0a\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x06\x00\x02\x00\x1f\x90\x00\x00\x08\x00\x03\x00\x00\x00\x00\x00\x08\x00\x04\x00\x03\x00\x00\x00\x05\x00\x0d\x00\x00\x00\x00\x00\x06\x00\x0e\x00\x00\x00\x00\x00\x06\x00\x0f\x00\x00\x00\x00\x00\x08\x00\x05\x00\x00\x00\x00\x00\x08\x00\x06\x00\x00\x00\x00\x00";
/// The DEST nest of `ipvsadm -e -t 10.0.0.1:80 -r 10.0.0.2:8080 -g -w 5 -x 100 -y 10`
/// (ipvsadm sends the service port for DR).
const IPVSADM_DEST_DR_W5_X100_Y10: &[u8] = b"\x60\x00\x02\x80\x06\x00\x0b\x00\x02\x00\x00\x00\x14\x00\x01\x00\x0a\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x06\x00\x02\x00\x00\x50\x00\x00\x08\x00\x03\x00\x03\x00\x00\x00\x08\x00\x04\x00\x05\x00\x00\x00\x05\x00\x0d\x00\x00\x00\x00\x00\x06\x00\x0e\x00\x00\x00\x00\x00\x06\x00\x0f\x00\x00\x00\x00\x00\x08\x00\x05\x00\x64\x00\x00\x00\x08\x00\x06\x00\x0a\x00\x00\x00";
const IPVSADM_ZERO: &[u8] = b"\x10\x01\x00\x00";
const IPVSADM_FLUSH: &[u8] = b"\x11\x01\x00\x00";
const IPVSADM_SET_10_20_30: &[u8] = b"\x0c\x01\x00\x00\x08\x00\x04\x00\x0a\x00\x00\x00\x08\x00\x05\x00\x14\x00\x00\x00\x08\x00\x06\x00\x1e\x00\x00\x00";
const IPVSADM_START_MASTER_LO_5: &[u8] = b"\x09\x01\x00\x00\x1c\x00\x03\x80\x08\x00\x01\x00\x01\x00\x00\x00\x07\x00\x02\x00\x6c\x6f\x00\x00\x08\x00\x03\x00\x05\x00\x00\x00";

#[test]
fn new_service_matches_ipvsadm() {
    let s = Service::new(tcp80(), "rr");
    assert_eq!(
        payload(IpvsMessage::new_service(&s), REQ_ACK),
        IPVSADM_ADD_SERVICE_RR
    );
}

#[test]
fn set_service_matches_ipvsadm() {
    let mut s = Service::new(tcp80(), "wrr");
    s.flags = svc_flags::PERSISTENT;
    s.timeout = 300;
    assert_eq!(
        payload(IpvsMessage::set_service(&s), REQ_ACK),
        IPVSADM_EDIT_SERVICE_WRR_P300
    );
}

#[test]
fn fwmark_service_with_sched_flag_matches_ipvsadm() {
    let mut s = Service::new(
        ServiceKey::Fwmark {
            family: Family::Inet,
            mark: 7,
        },
        "sh",
    );
    s.flags = svc_flags::SCHED2;
    assert_eq!(
        payload(IpvsMessage::new_service(&s), REQ_ACK),
        IPVSADM_ADD_FWMARK_SH_PORT
    );
}

#[test]
fn ipv6_service_netmask_is_a_prefix_length() {
    let addr = IpAddr::V6("2001:db8::1".parse::<Ipv6Addr>().expect("v6"));
    let mut s = Service::new(
        ServiceKey::Addr {
            addr,
            protocol: Protocol::Udp,
            port: 53,
        },
        "rr",
    );
    s.flags = svc_flags::PERSISTENT;
    s.timeout = 60;
    s.prefix_len = 64;
    assert_eq!(
        payload(IpvsMessage::new_service(&s), REQ_ACK),
        IPVSADM_ADD_UDP6_P60_M64
    );
}

#[test]
fn ipv4_netmask_is_network_order() {
    let mut s = Service::new(tcp80(), "rr");
    s.prefix_len = 24;
    let p = payload(IpvsMessage::new_service(&s), REQ_ACK);
    assert_eq!(p[p.len() - 8..], [8, 0, 9, 0, 255, 255, 255, 0]);
}

#[test]
fn del_service_carries_only_the_key() {
    let expected = genl(3, &[nest(1, &tcp80_key_attrs())]);
    assert_eq!(
        payload(IpvsMessage::del_service(&tcp80()), REQ_ACK),
        expected
    );
    // fwmark key: AF + FWMARK.
    let fw = ServiceKey::Fwmark {
        family: Family::Inet6,
        mark: 9,
    };
    let expected = genl(
        3,
        &[nest(
            1,
            &[attr(1, &10u16.to_ne_bytes()), attr(5, &9u32.to_ne_bytes())],
        )],
    );
    assert_eq!(payload(IpvsMessage::del_service(&fw), REQ_ACK), expected);
}

#[test]
fn get_service_dump_and_single() {
    assert_eq!(
        payload(IpvsMessage::get_service(None), REQ_DUMP),
        genl(4, &[])
    );
    let expected = genl(4, &[nest(1, &tcp80_key_attrs())]);
    assert_eq!(
        payload(IpvsMessage::get_service(Some(&tcp80())), REQ_ACK),
        expected
    );
}

fn dest_nest_of(p: &[u8]) -> &[u8] {
    // genl header (4) + service nest (its own length, padded).
    let svc_len = usize::from(u16::from_ne_bytes([p[4], p[5]]));
    &p[4 + ((svc_len + 3) & !3)..]
}

#[test]
fn new_dest_matches_ipvsadm() {
    let d = Destination::new(v4(10, 0, 0, 2), 8080, ForwardMethod::Masq, 3);
    let p = payload(IpvsMessage::new_dest(&tcp80(), &d), REQ_ACK);
    assert_eq!(p[..4], [5, 1, 0, 0]);
    assert_eq!(
        p[4..8],
        [0x30, 0, 1, 0x80],
        "service key nest: 4 + 8 + 8 + 20 + 8"
    );
    assert_eq!(dest_nest_of(&p), IPVSADM_DEST_MASQ_W3);
}

#[test]
fn set_dest_matches_ipvsadm() {
    let mut d = Destination::new(v4(10, 0, 0, 2), 80, ForwardMethod::DirectRoute, 5);
    d.upper_threshold = 100;
    d.lower_threshold = 10;
    let p = payload(IpvsMessage::set_dest(&tcp80(), &d), REQ_ACK);
    assert_eq!(p[..4], [6, 1, 0, 0]);
    assert_eq!(dest_nest_of(&p), IPVSADM_DEST_DR_W5_X100_Y10);
}

#[test]
fn gue_tunnel_attributes() {
    let mut d = Destination::new(v4(10, 0, 0, 2), 80, ForwardMethod::Tunnel, 1);
    d.tunnel = Some(Tunnel {
        kind: TunnelType::Gue,
        port: 6080,
        flags: 1,
    });
    let p = payload(IpvsMessage::new_dest(&tcp80(), &d), REQ_ACK);
    let dest = dest_nest_of(&p);
    let expected = nest(
        2,
        &[
            attr(11, &2u16.to_ne_bytes()),
            attr(1, &[10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            attr(2, &[0, 80]),
            attr(3, &2u32.to_ne_bytes()),
            attr(4, &1u32.to_ne_bytes()),
            attr(13, &[1]),
            attr(14, &6080u16.to_be_bytes()),
            attr(15, &1u16.to_ne_bytes()),
            attr(5, &0u32.to_ne_bytes()),
            attr(6, &0u32.to_ne_bytes()),
        ],
    );
    assert_eq!(dest, expected);
}

#[test]
fn del_dest_and_get_dest() {
    let key = DestKey {
        addr: v4(10, 0, 0, 2),
        port: 8080,
    };
    let expected = genl(
        7,
        &[
            nest(1, &tcp80_key_attrs()),
            nest(
                2,
                &[
                    attr(11, &2u16.to_ne_bytes()),
                    attr(1, &[10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
                    attr(2, &[0x1f, 0x90]),
                ],
            ),
        ],
    );
    assert_eq!(
        payload(IpvsMessage::del_dest(&tcp80(), &key), REQ_ACK),
        expected
    );
    let expected = genl(8, &[nest(1, &tcp80_key_attrs())]);
    assert_eq!(payload(IpvsMessage::get_dest(&tcp80()), REQ_DUMP), expected);
}

#[test]
fn daemon_commands() {
    let d = SyncDaemon {
        state: DaemonState::Master,
        interface: "lo".into(),
        sync_id: 5,
        max_len: None,
        group: None,
        port: None,
        ttl: None,
    };
    assert_eq!(
        payload(IpvsMessage::new_daemon(&d), REQ_ACK),
        IPVSADM_START_MASTER_LO_5
    );
    let full = SyncDaemon {
        state: DaemonState::Backup,
        interface: "eth1".into(),
        sync_id: 1,
        max_len: Some(1472),
        group: Some(v4(224, 0, 0, 81)),
        port: Some(8848),
        ttl: Some(2),
    };
    let expected = genl(
        9,
        &[nest(
            3,
            &[
                attr(1, &2u32.to_ne_bytes()),
                attr(2, b"eth1\0"),
                attr(3, &1u32.to_ne_bytes()),
                attr(4, &1472u16.to_ne_bytes()),
                attr(5, &[224, 0, 0, 81]),
                attr(7, &8848u16.to_ne_bytes()),
                attr(8, &[2]),
            ],
        )],
    );
    assert_eq!(payload(IpvsMessage::new_daemon(&full), REQ_ACK), expected);
    let expected = genl(10, &[nest(3, &[attr(1, &1u32.to_ne_bytes())])]);
    assert_eq!(
        payload(IpvsMessage::del_daemon(DaemonState::Master), REQ_ACK),
        expected
    );
    assert_eq!(payload(IpvsMessage::get_daemon(), REQ_DUMP), genl(11, &[]));
}

#[test]
fn config_info_zero_flush() {
    let t = Timeouts {
        tcp: 10,
        tcp_fin: 20,
        udp: 30,
    };
    assert_eq!(
        payload(IpvsMessage::set_config(&t), REQ_ACK),
        IPVSADM_SET_10_20_30
    );
    assert_eq!(payload(IpvsMessage::get_config(), REQ_ACK), genl(13, &[]));
    assert_eq!(payload(IpvsMessage::get_info(), REQ_ACK), genl(15, &[]));
    assert_eq!(payload(IpvsMessage::zero(None), REQ_ACK), IPVSADM_ZERO);
    assert_eq!(
        payload(IpvsMessage::zero(Some(&tcp80())), REQ_ACK),
        genl(16, &[nest(1, &tcp80_key_attrs())])
    );
    assert_eq!(payload(IpvsMessage::flush(), REQ_ACK), IPVSADM_FLUSH);
}

#[test]
fn command_numbers_round_trip() {
    for n in 1..=17u8 {
        let c = Command::from_u8(n).expect("known command");
        assert_eq!(c as u8, n);
    }
    assert!(Command::from_u8(0).is_err());
    assert!(Command::from_u8(18).is_err());
}

fn stats_nest(kind: u16, wide: bool, base: u64) -> Vec<u8> {
    let mut parts = Vec::new();
    for i in 1..=10u16 {
        let v = base + u64::from(i);
        if wide || i == 4 || i == 5 {
            parts.push(attr(i, &v.to_ne_bytes()));
        } else {
            parts.push(attr(i, &u32::try_from(v).expect("small").to_ne_bytes()));
        }
    }
    parts.push(attr(11, &[])); // IPVS_STATS_ATTR_PAD
    nest(kind, &parts)
}

#[test]
fn service_reply_parses() {
    // A dump entry as the kernel sends it: key, sched, flags (HASHED set), timeout,
    // netmask, stats and stats64, plus an attribute from the future.
    let mut parts = tcp80_key_attrs();
    parts.push(attr(6, b"wlc\0"));
    let mut flags = (svc_flags::PERSISTENT | svc_flags::HASHED)
        .to_ne_bytes()
        .to_vec();
    flags.extend_from_slice(&u32::MAX.to_ne_bytes());
    parts.push(attr(7, &flags));
    parts.push(attr(8, &360u32.to_ne_bytes()));
    parts.push(attr(9, &[255, 255, 255, 0]));
    parts.push(stats_nest(10, false, 0));
    parts.push(stats_nest(12, true, 100));
    parts.push(attr(99, &[1, 2, 3, 4]));
    let svc = Service::parse(&parts.concat()).expect("parse");
    assert_eq!(svc.key, tcp80());
    assert_eq!(svc.scheduler, "wlc");
    assert_eq!(svc.flags, svc_flags::PERSISTENT);
    assert_eq!(svc.timeout, 360);
    assert_eq!(svc.prefix_len, 24);
    let stats = svc.stats.expect("stats");
    assert_eq!(
        (stats.conns, stats.inbytes, stats.outbps),
        (101, 104, 110),
        "STATS64 wins"
    );
}

#[test]
fn dest_reply_parses() {
    let parts = [
        attr(1, &[10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        attr(2, &[0x1f, 0x90]),
        attr(3, &0x0002_0000u32.to_ne_bytes()), // method bits plus an unrelated flag bit
        attr(4, &7u32.to_ne_bytes()),
        attr(5, &50u32.to_ne_bytes()),
        attr(6, &5u32.to_ne_bytes()),
        attr(7, &3u32.to_ne_bytes()),
        attr(8, &4u32.to_ne_bytes()),
        attr(9, &1u32.to_ne_bytes()),
        stats_nest(10, false, 0),
        attr(11, &2u16.to_ne_bytes()),
        attr(13, &[2]),
        attr(14, &[0, 0]),
        attr(15, &0u16.to_ne_bytes()),
    ];
    let d = Destination::parse(&parts.concat(), Family::Inet).expect("parse");
    assert_eq!(
        d.key,
        DestKey {
            addr: v4(10, 0, 0, 2),
            port: 8080
        }
    );
    assert_eq!(d.method, ForwardMethod::Masq);
    assert_eq!((d.weight, d.upper_threshold, d.lower_threshold), (7, 50, 5));
    assert_eq!(
        (d.active_conns, d.inactive_conns, d.persist_conns),
        (3, 4, 1)
    );
    assert_eq!(d.stats.map(|s| s.conns), Some(1));
}

#[test]
fn truncated_replies_are_errors_not_panics() {
    let full = nest(1, &tcp80_key_attrs());
    for cut in 0..full.len() {
        // Every prefix either parses or reports an error; none may panic.
        let _ = Service::parse(&full[4..cut.max(4)]);
        let _ = Destination::parse(&full[..cut], Family::Inet);
    }
    assert!(Service::parse(&[8, 0, 1, 0, 2]).is_err());
    assert!(
        Service::parse(&attr(1, &99u16.to_ne_bytes())).is_err(),
        "unknown family"
    );
}
