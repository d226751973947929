//! Property tests: what we encode we decode to the same value, and no byte string makes a
//! decoder panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{Emitable, ParseableParametrized};
use netlink_packet_generic::GenlHeader;
use proptest::prelude::*;
use rka_ipvs::attr::Attr;
use rka_ipvs::{
    DaemonState, Destination, Family, ForwardMethod, IpvsMessage, Protocol, Service, ServiceKey,
    SyncDaemon, Tunnel, TunnelType,
};

fn encode_nest(attrs: &[Attr]) -> Vec<u8> {
    let mut buf = vec![0u8; attrs.buffer_len()];
    attrs.emit(&mut buf);
    buf
}

fn arb_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ]
}

fn arb_key() -> impl Strategy<Value = ServiceKey> {
    prop_oneof![
        (
            arb_addr(),
            prop::sample::select(vec![Protocol::Tcp, Protocol::Udp, Protocol::Sctp]),
            any::<u16>()
        )
            .prop_map(|(addr, protocol, port)| ServiceKey::Addr {
                addr,
                protocol,
                port
            }),
        (prop::bool::ANY, 1u32..).prop_map(|(v6, mark)| ServiceKey::Fwmark {
            family: if v6 { Family::Inet6 } else { Family::Inet },
            mark
        }),
    ]
}

fn arb_service() -> impl Strategy<Value = Service> {
    (
        arb_key(),
        "[a-z]{1,15}",
        0u32..0x40,
        any::<u32>(),
        any::<u8>(),
        prop::option::of("[a-z]{1,15}"),
    )
        .prop_map(|(key, sched, flags, timeout, prefix, pe)| {
            let mut s = Service::new(key, &sched);
            s.flags = flags & !0x2; // HASHED is the kernel's own bit
            s.timeout = timeout;
            s.prefix_len = match key.family() {
                Family::Inet => prefix % 33,
                Family::Inet6 => prefix % 129,
            };
            s.pe_name = pe;
            s
        })
}

fn arb_dest() -> impl Strategy<Value = Destination> {
    let methods = vec![
        ForwardMethod::Masq,
        ForwardMethod::Local,
        ForwardMethod::Tunnel,
        ForwardMethod::DirectRoute,
        ForwardMethod::Bypass,
    ];
    (
        arb_addr(),
        any::<u16>(),
        prop::sample::select(methods),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<(bool, bool, u16, u16)>(),
    )
        .prop_map(
            |(addr, port, method, weight, u, l, (tun, gre, tport, tflags))| {
                let mut d = Destination::new(addr, port, method, weight);
                d.upper_threshold = u;
                d.lower_threshold = l;
                if method == ForwardMethod::Tunnel && tun {
                    let kind = if gre {
                        TunnelType::Gre
                    } else {
                        TunnelType::Gue
                    };
                    d.tunnel = Some(Tunnel {
                        kind,
                        port: tport,
                        flags: tflags,
                    });
                }
                d
            },
        )
}

proptest! {
    #[test]
    fn service_round_trips(s in arb_service()) {
        let parsed = Service::parse(&encode_nest(&s.attrs()));
        prop_assert_eq!(parsed.ok(), Some(s));
    }

    #[test]
    fn destination_round_trips(d in arb_dest(), v6 in any::<bool>()) {
        let fam = if v6 { Family::Inet6 } else { Family::Inet };
        let parsed = Destination::parse(&encode_nest(&d.attrs()), fam);
        prop_assert_eq!(parsed.ok(), Some(d));
    }

    #[test]
    fn daemon_round_trips(
        backup in any::<bool>(),
        ifname in "[a-z0-9]{1,15}",
        sync_id in any::<u32>(),
        max_len in prop::option::of(any::<u16>()),
        group in prop::option::of(arb_addr()),
        port in prop::option::of(any::<u16>()),
        ttl in prop::option::of(any::<u8>()),
    ) {
        let d = SyncDaemon {
            state: if backup { DaemonState::Backup } else { DaemonState::Master },
            interface: ifname,
            sync_id,
            max_len,
            group,
            port,
            ttl,
        };
        prop_assert_eq!(SyncDaemon::parse(&encode_nest(&d.attrs())).ok(), Some(d));
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), cmd in 0u8..20) {
        let _ = Service::parse(&bytes);
        let _ = Destination::parse(&bytes, Family::Inet);
        let _ = SyncDaemon::parse(&bytes);
        let _ = rka_ipvs::Stats::parse(&bytes, true);
        let header = GenlHeader { cmd, version: 1 };
        if let Ok(m) = IpvsMessage::parse_with_param(&bytes[..], header) {
            let _ = m.timeouts();
            let _ = m.info();
        }
    }
}
