//! Tests of the LVS model: defaults, values, diagnostics, inheritance and dump fixed points.

use std::net::IpAddr;
use std::time::Duration;

use super::checker::{CheckerKind, DnsType};
use super::http::HttpProtocol;
use super::virtual_server::{Granularity, VsAddress};
use super::vs_group::GroupEntry;
use super::*;
use crate::{load_str, LoadOptions, Loaded, Severity};

fn load(text: &str) -> Loaded {
    load_str(
        "t.conf",
        text,
        &LoadOptions {
            skip_host_checks: true,
            ..Default::default()
        },
    )
}

/// Messages as `LINE: message` (0 when not tied to a line), for assertions.
fn msgs(l: &Loaded) -> Vec<String> {
    l.diagnostics
        .items()
        .iter()
        .map(|d| format!("{}: {}", d.origin.as_ref().map_or(0, |o| o.line), d.message))
        .collect()
}

/// The LVS part of the dump only (the other parts belong to other modules).
fn lvs_dump(l: &Loaded) -> String {
    let mut d = crate::dump::Dumper::new();
    l.config.lvs.dump(&mut d);
    d.finish()
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// A virtual server head with everything keepalived wants, so tests see only their own
/// diagnostics.
const HEAD: &str = "virtual_server 10.0.0.1 80 {\n protocol TCP\n lvs_sched rr\n lvs_method NAT\n";

pub(super) const RICH: &str = r#"
track_file tf1 {
    file /tmp/rka-tf1
}
SSL {
    password secret
    ca /etc/ssl/ca.pem
    certificate /etc/ssl/c.pem
    key /etc/ssl/k.pem
}
virtual_server_group G4 {
    10.1.0.1-10 80
    10.1.1.0/30 443
    10.1.2.250-10.1.3.5 8080
    10.1.4.4
    fwmark 7
}
virtual_server_group G6 {
    fd00::1-20 80
    fwmark 9 inet6
}
virtual_server 10.0.0.1 80 {
    delay_loop 6.5
    lb_algo sh
    hashed
    weight 2
    sh-port
    sh-fallback
    flag-3
    lb_kind DR
    persistence_timeout 50
    persistence_granularity 255.255.255.0
    persistence_engine sip
    protocol TCP
    ha_suspend
    virtualhost vs.example.com
    snmp_name web
    alpha
    omega
    quorum 3
    hysteresis 1
    quorum_up "/usr/bin/q up" nobody nogroup
    quorum_down /usr/bin/qdown
    inhibit_on_failure
    smtp_alert on
    connect_timeout 2
    retry 4
    delay_before_retry 0.5
    warmup 0
    sorry_server 10.0.9.9 80
    sorry_server_inhibit
    sorry_server_lvs_method NAT
    real_server 10.0.1.1 80 {
        weight 5
        lvs_method TUN type gue port 6080 remcsum
        inhibit_on_failure off
        notify_up "/usr/bin/up 'a b'"
        notify_down /usr/bin/down nobody
        uthreshold 100
        lthreshold 10
        smtp_alert off
        virtualhost rs.example.com
        snmp_name rs1
        alpha off
        delay_loop 3
        retry 2
        TCP_CHECK {
            connect_ip 10.0.1.2
            connect_port 8080
            bindto 10.0.0.254
            bind_port 40000
            bind_if lo
            fwmark 3
            connect_timeout 1.25
            log_all_failures
            alpha on
        }
        HTTP_GET {
            http_protocol 1.1
            fast_recovery
            virtualhost chk.example.com
            url {
                path /health
                digest 9B3A0C85A887A256D6939DA88AABD8CD
                status_code 200-299 404 503
                regex "^ok$"
                regex_no_match
                regex_options caseless multiline
                regex_stack 1024 65536
                regex_min_offset 2
                regex_max_offset 200
            }
            url {
                path /
                virtualhost url.example.com
            }
        }
        SSL_GET {
            enable_sni
            url {
                path /s
            }
        }
        SMTP_CHECK {
            helo_name mail.example.com
            host {
                connect_ip 10.0.1.3
                connect_port 25
            }
        }
        DNS_CHECK {
            type AAAA
            name example.com
        }
        MISC_CHECK {
            misc_path "/usr/bin/check -x 'two words'"
            misc_timeout 7
            misc_dynamic
            user nobody nogroup
        }
        UDP_CHECK {
            payload Ab12f 3 456
            require_reply 12xX
            min_reply_length 2
            max_reply_length 300
        }
        PING_CHECK {
        }
        FILE_CHECK {
            track_file tf1
            weight -3 reverse
        }
    }
    real_server 10.0.1.4 80 {
        MISC_CHECK {
            misc_path /bin/true
        }
    }
}
virtual_server fwmark 5 {
    lvs_sched mh
    mh-port
    lvs_method TUN
    ip_family inet6
    persistence_timeout
    persistence_granularity 64
    real_server fd00::5 0 {
        PING_CHECK {
        }
    }
}
virtual_server group G4 {
    protocol UDP
    ops
    lvs_sched wrr
    lvs_method NAT
    persistence_timeout 600
    real_server 10.2.0.1 53 {
        weight 3
        DNS_CHECK {
        }
    }
}
virtual_server fd00::80 443 {
    protocol SCTP
    lvs_sched twos
    lvs_method NAT
    real_server fd00::81 443 {
    }
}
"#;

#[test]
fn rich_config_has_no_diagnostics() {
    let l = load(RICH);
    // Only the checker's note on the SMTP_CHECK `host` block (keepalived's `-t` is silent).
    assert_eq!(
        msgs(&l),
        ["0: The SMTP_CHECK host block is deprecated. Please define additional checkers."]
    );
    assert!(l.diagnostics.items().iter().all(|d| d.runtime));
    assert_eq!(l.config.lvs.virtual_servers.len(), 4);
    assert_eq!(l.config.lvs.groups.len(), 2);
}

#[test]
fn rich_dump_is_a_fixed_point() {
    let first = load(RICH);
    let d1 = first.config.dump();
    let second = load(&d1);
    assert_eq!(msgs(&second), Vec::<String>::new(), "dump:\n{d1}");
    let d2 = second.config.dump();
    assert_eq!(d1, d2);
    assert_eq!(
        resolved(first.config.lvs.clone()),
        resolved(strip_origins(second.config.lvs.clone(), &first.config.lvs))
    );
}

/// Only the resolved values: what each level set explicitly is cleared, since the dump writes
/// resolved values explicitly.
fn resolved(mut l: LvsConfig) -> LvsConfig {
    for vs in &mut l.virtual_servers {
        vs.set.delay_loop = None;
        if let Some(s) = &mut vs.sorry_server {
            s.forwarding_set = None;
        }
        for rs in &mut vs.real_servers {
            rs.weight_set = None;
            rs.port_given = true;
            rs.forwarding_set = None;
            rs.inhibit_set = None;
            rs.alpha_set = None;
            for c in &mut rs.checkers {
                c.set = CheckTimers::default();
                c.alpha_set = None;
                match &mut c.kind {
                    CheckerKind::Misc(m) => m.misc_timeout = None,
                    CheckerKind::Http(h) => {
                        for u in &mut h.urls {
                            u.virtualhost_set = None;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    l
}

#[test]
fn rich_dump_snapshot() {
    insta::assert_snapshot!(lvs_dump(&load(RICH)));
}

/// The dump's lines differ from the source's, so compare models with the origins of `like`.
fn strip_origins(mut l: LvsConfig, like: &LvsConfig) -> LvsConfig {
    for (g, o) in l.groups.iter_mut().zip(&like.groups) {
        g.origin = o.origin.clone();
    }
    for (vs, o) in l.virtual_servers.iter_mut().zip(&like.virtual_servers) {
        vs.origin = o.origin.clone();
        for (rs, ro) in vs.real_servers.iter_mut().zip(&o.real_servers) {
            rs.origin = ro.origin.clone();
            for (c, co) in rs.checkers.iter_mut().zip(&ro.checkers) {
                c.origin = co.origin.clone();
            }
        }
    }
    l
}

/// `HEAD` + `body` + the closing brace.
fn vs(body: &str) -> Loaded {
    load(&format!("{HEAD}{body}}}\n"))
}

fn first_vs(l: &Loaded) -> &VirtualServer {
    l.config
        .lvs
        .virtual_servers
        .first()
        .expect("a virtual server")
}

fn first_checker(l: &Loaded) -> &Checker {
    first_vs(l).real_servers[0]
        .checkers
        .first()
        .expect("a checker")
}

#[test]
fn ssl_block() {
    let l = load("SSL {\n password p\n key /k\n bogus 1\n}\n");
    assert_eq!(msgs(&l), vec!["4: Unknown keyword 'bogus'"]);
    let s = l.config.lvs.ssl.clone().expect("ssl");
    assert_eq!(s.password.as_deref(), Some("p"));
    assert_eq!(s.key.as_deref(), Some("/k"));
    assert_eq!(s.ca, None);
}

#[test]
fn group_ranges_and_marks() {
    let l = load(
        "virtual_server_group G {\n 10.0.0.1-3 80\n 10.0.1.8/29 81\n fd00::a-1f 82\n 10.0.0.9\n fwmark 4 inet6\n 10.0.0.5-4 80\n 10.0.0.1 99999\n bad 1\n fwmark 0\n}\n",
    );
    assert_eq!(
        msgs(&l),
        vec![
            "7: invalid virtual server group address '10.0.0.5-4' - skipping",
            "8: 10.0.0.1 value '99999' out of range [0, 65535]",
            "9: invalid virtual server group address 'bad' - skipping",
            "10: fwmark value '0' out of range [1, 4294967295]",
        ]
    );
    let g = &l.config.lvs.groups[0];
    assert_eq!(
        g.entries,
        vec![
            GroupEntry::Range {
                first: ip("10.0.0.1"),
                last: ip("10.0.0.3"),
                port: 80
            },
            GroupEntry::Range {
                first: ip("10.0.1.8"),
                last: ip("10.0.1.15"),
                port: 81
            },
            GroupEntry::Range {
                first: ip("fd00::a"),
                last: ip("fd00::1f"),
                port: 82
            },
            GroupEntry::Range {
                first: ip("10.0.0.9"),
                last: ip("10.0.0.9"),
                port: 0
            },
            GroupEntry::Fwmark {
                mark: 4,
                family: Some(Family::Inet6)
            },
        ]
    );
}

#[test]
fn group_mixing_families_with_bare_fwmark_is_removed() {
    let l = load("virtual_server_group G {\n 10.0.0.1 80\n fd00::1 80\n fwmark 3\n}\n");
    assert_eq!(l.config.lvs.groups.len(), 0);
    assert_eq!(l.diagnostics.exit_code(), 5);
    assert!(msgs(&l)[0].starts_with("1: virtual server group G mixes"));
}

#[test]
fn missing_group_drops_the_virtual_server() {
    let l = load("virtual_server group NOPE {\n protocol TCP\n lvs_sched rr\n lvs_method NAT\n real_server 10.0.0.2 80 {\n }\n}\n");
    assert!(l.config.lvs.virtual_servers.is_empty());
    assert_eq!(
        msgs(&l),
        vec!["1: virtual_server_group NOPE does not exist - skipping virtual server"]
    );
    // keepalived 2.2.7 -t exits 0 on this.
    assert_eq!(l.diagnostics.exit_code(), 0);
}

#[test]
fn virtual_server_defaults_are_announced() {
    let l = load("virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n }\n}\n");
    assert_eq!(
        msgs(&l),
        vec![
            "0: Virtual server [10.0.0.1]:none:80: no protocol set - defaulting to UDP",
            "0: Virtual server [10.0.0.1]:udp:80: no scheduler set, setting default 'wlc'",
            "0: Virtual server [10.0.0.1]:udp:80: no forwarding method set, setting default NAT",
        ]
    );
    let v = first_vs(&l);
    assert_eq!(v.protocol, Some(Protocol::Udp));
    assert_eq!(v.scheduler, Scheduler::Wlc);
    assert_eq!(v.forwarding, ForwardingMethod::Nat);
    assert_eq!(v.delay_loop, Duration::from_secs(60));
    assert_eq!((v.quorum, v.hysteresis), (1, 0));
    assert_eq!(v.persistence_timeout, None);
    let rs = &v.real_servers[0];
    assert_eq!(rs.weight, 1);
    assert_eq!(rs.forwarding, ForwardingMethod::Nat);
}

#[test]
fn virtual_server_values() {
    let l = vs(" lb_algo lblcr\n lb_kind TUN type gre csum\n persistence_timeout\n persistence_granularity 255.255.0.0\n delay_loop 2.5\n ha_suspend\n real_server 10.0.0.2 80 {\n }\n");
    assert_eq!(msgs(&l), Vec::<String>::new());
    let v = first_vs(&l);
    // `lb_algo`/`lb_kind` are read as `lvs_sched`/`lvs_method`; HEAD's come first and lose.
    assert_eq!(v.scheduler, Scheduler::Lblcr);
    assert_eq!(
        v.forwarding,
        ForwardingMethod::Tun {
            tunnel: TunnelType::Gre,
            checksum: TunnelChecksum::Csum
        }
    );
    assert_eq!(v.persistence_timeout, Some(360));
    assert_eq!(
        v.persistence_granularity,
        Some(Granularity::V4("255.255.0.0".parse().expect("mask")))
    );
    assert_eq!(v.delay_loop, Duration::from_millis(2500));
    assert!(v.ha_suspend);
    assert_eq!(
        v.address,
        VsAddress::Ip {
            addr: ip("10.0.0.1"),
            port: 80
        }
    );
}

#[test]
fn invalid_virtual_server_values_are_warned_with_their_line() {
    let l = vs(" lvs_sched bogus\n lvs_method BOGUS\n delay_loop 0\n connect_timeout 0\n retry 0\n quorum 0\n hysteresis -1\n persistence_timeout 0\n persistence_granularity 255.0.255.x\n protocol ICMP\n ip_family inet5\n sh-port\n real_server 10.0.0.2 80 {\n }\n");
    let m = msgs(&l);
    let lines: Vec<&str> = m
        .iter()
        .map(|s| s.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        lines,
        vec!["5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16"],
        "{m:#?}"
    );
    assert!(m[0].contains("Invalid lvs_scheduler 'bogus'"));
    assert!(m[11].contains("sh-port only applies to sh scheduler"));
    let v = first_vs(&l);
    assert_eq!(v.scheduler, Scheduler::Rr);
    assert_eq!(v.quorum, 1);
    assert_eq!(v.persistence_timeout, None);
    assert_eq!(l.diagnostics.exit_code(), 5);
}

#[test]
fn bad_virtual_server_address_skips_the_block() {
    let l = load("virtual_server 10.0.0.1 70000 {\n real_server 10.0.0.2 80 {\n }\n}\nvirtual_server 10.0.0.x 80 {\n}\n");
    assert!(l.config.lvs.virtual_servers.is_empty());
    assert_eq!(
        msgs(&l),
        vec![
            "1: Invalid virtual server ip address/port 10.0.0.1/70000 - skipping",
            "5: invalid IP address '10.0.0.x'",
        ]
    );
}

#[test]
fn fwmark_with_protocol_is_warned_and_protocol_dropped() {
    let l = load("virtual_server fwmark 5 {\n protocol TCP\n lvs_sched rr\n lvs_method NAT\n real_server 10.0.0.2 80 {\n }\n}\n");
    assert_eq!(
        msgs(&l),
        vec!["0: Warning: Virtual server FWM 5: protocol specified for fwmark - protocol will be ignored"]
    );
    assert_eq!(first_vs(&l).protocol, None);
    assert_eq!(first_vs(&l).address, VsAddress::Fwmark(5));
}

#[test]
fn ops_needs_udp_and_zero_port_needs_persistence() {
    let l = load("virtual_server 10.0.0.1 {\n protocol TCP\n ops\n lvs_sched rr\n lvs_method NAT\n real_server 10.0.0.2 80 {\n }\n}\n");
    let m = msgs(&l);
    assert!(
        m[0].ends_with("one packet scheduling requires UDP - resetting"),
        "{m:?}"
    );
    assert!(
        m[1].ends_with("zero port only valid for persistent services - setting"),
        "{m:?}"
    );
    let v = first_vs(&l);
    assert!(!v.ops);
    assert_eq!(v.persistence_timeout, Some(DEFAULT_PERSISTENCE_TIMEOUT));
}

const DEFAULT_PERSISTENCE_TIMEOUT: u32 = virtual_server::DEFAULT_PERSISTENCE;

#[test]
fn scheduler_flags_follow_the_scheduler() {
    let l = vs(" lvs_sched mh\n mh-fallback\n mh-port\n sh-port\n flag-3\n real_server 10.0.0.2 80 {\n }\n");
    assert_eq!(
        msgs(&l),
        vec!["8: sh-port only applies to sh scheduler - ignoring"]
    );
    let f = first_vs(&l).sched_flags;
    assert!(f.flag1 && f.flag2 && f.flag3);
}

#[test]
fn tunnel_options() {
    let l = vs(" real_server 10.0.0.2 80 {\n  lvs_method TUN type gre remcsum\n }\n real_server 10.0.0.3 80 {\n  lvs_method TUN type gue\n }\n real_server 10.0.0.4 80 {\n  lvs_method TUN type gue port 5555 csum\n }\n");
    let m = msgs(&l);
    assert_eq!(
        m,
        vec![
            "6: gre tunnels do not support the remote checksum option",
            "9: gue tunnel requires a port",
        ]
    );
    let rs = &first_vs(&l).real_servers;
    assert_eq!(
        rs[0].forwarding,
        ForwardingMethod::Tun {
            tunnel: TunnelType::Gre,
            checksum: TunnelChecksum::NoCsum
        }
    );
    // The bad method is dropped, so the virtual server's NAT applies.
    assert_eq!(rs[1].forwarding, ForwardingMethod::Nat);
    assert_eq!(
        rs[2].forwarding,
        ForwardingMethod::Tun {
            tunnel: TunnelType::Gue { port: 5555 },
            checksum: TunnelChecksum::Csum
        }
    );
}

#[test]
fn real_server_rules() {
    let l = load("virtual_server 10.0.0.1 80 {\n protocol TCP\n lvs_sched rr\n lvs_method DR\n real_server 10.0.0.2 8080 {\n }\n real_server 10.0.0.2 80 {\n }\n real_server fd00::1 80 {\n }\n real_server fd00::2 80 {\n  lvs_method TUN\n }\n real_server 10.0.0.3 -1 {\n }\n}\n");
    assert_eq!(
        msgs(&l),
        vec![
            "14: Invalid real server ip address/port 10.0.0.3/-1 - skipping",
            "9: Address family of virtual server and real server fd00::1 don't match - skipping real server",
            "5: virtual server [10.0.0.1]:tcp:80 and real server [10.0.0.2]:8080 ports don't match - resetting",
            "7: VS [10.0.0.1]:tcp:80: real server [10.0.0.2]:80 is duplicated - removing second rs",
        ]
    );
    let rs = &first_vs(&l).real_servers;
    assert_eq!(rs.len(), 2);
    assert_eq!((rs[0].addr, rs[0].port), (ip("10.0.0.2"), 80));
    assert_eq!(
        rs[1].addr,
        ip("fd00::2"),
        "a tunnelled server may be of another family"
    );
}

#[test]
fn real_server_values_and_invalid_ones() {
    let l = vs(" real_server 10.0.0.2 80 {\n  weight -5\n  uthreshold -1\n  weight 7\n  uthreshold 10\n  lthreshold 20\n  notify_up \"/bin/up x\" u g\n  smtp_alert maybe\n }\n");
    assert_eq!(
        msgs(&l),
        vec![
            "6: invalid number '-5'",
            "7: invalid number '-1'",
            "12: invalid boolean 'maybe' for smtp_alert",
        ]
    );
    let rs = &first_vs(&l).real_servers[0];
    assert_eq!(rs.weight, 7);
    // keepalived takes an lthreshold above the uthreshold as given.
    assert_eq!((rs.uthreshold, rs.lthreshold), (10, 20));
    let up = rs.notify_up.clone().expect("notify_up");
    assert_eq!(up.command.argv, vec!["/bin/up", "x"]);
    assert_eq!(
        (up.user.as_deref(), up.group.as_deref()),
        (Some("u"), Some("g"))
    );
}

#[test]
fn no_real_servers_drops_the_virtual_server() {
    let l = vs("");
    assert!(l.config.lvs.virtual_servers.is_empty());
    assert_eq!(
        msgs(&l),
        vec!["1: Virtual server [10.0.0.1]:tcp:80 has no real servers - ignoring"]
    );
    // A sorry server alone does not keep it.
    let l = vs(" sorry_server 10.0.9.9 80\n");
    assert!(l.config.lvs.virtual_servers.is_empty());
    let l = vs(
        " sorry_server 10.0.9.9 80\n sorry_server_lvs_method DR\n real_server 10.0.0.2 80 {\n }\n",
    );
    let s = first_vs(&l).sorry_server.clone().expect("sorry server");
    assert_eq!(s.forwarding, ForwardingMethod::Dr);
    assert!(!s.inhibit);
}

#[test]
fn quorum_is_capped_by_the_total_weight() {
    let l = vs(" quorum 5\n hysteresis 2\n real_server 10.0.0.2 80 {\n  weight 2\n }\n");
    assert_eq!(
        msgs(&l),
        vec![
            "0: Warning - quorum 5 for [10.0.0.1]:tcp:80 exceeds total weight of real servers 2, reducing quorum to 2",
            "0: Virtual server [10.0.0.1]:tcp:80: hysteresis 2 >= quorum 2; setting hysteresis to 1",
        ]
    );
    let v = first_vs(&l);
    assert_eq!((v.quorum, v.hysteresis), (2, 1));
}

#[test]
fn checker_defaults_per_kind() {
    let l = vs(" real_server 10.0.0.2 80 {\n  TCP_CHECK {\n  }\n  HTTP_GET {\n   url {\n    path /\n   }\n  }\n  DNS_CHECK {\n  }\n  MISC_CHECK {\n   misc_path /bin/true\n  }\n  UDP_CHECK {\n  }\n }\n");
    assert_eq!(msgs(&l), Vec::<String>::new());
    let c = &first_vs(&l).real_servers[0].checkers;
    let s = Duration::from_secs;
    let t: Vec<(u32, Duration, Duration, Duration, Duration)> = c
        .iter()
        .map(|c| {
            (
                c.retry,
                c.delay_before_retry,
                c.delay_loop,
                c.connect_timeout,
                c.warmup,
            )
        })
        .collect();
    assert_eq!(
        t,
        vec![
            (1, s(1), s(60), s(5), s(60)),
            (1, s(3), s(60), s(5), s(60)),
            (3, s(60), s(60), s(5), s(60)),
            (0, s(1), s(60), s(5), s(60)),
            (1, s(1), s(60), s(5), s(60)),
        ]
    );
    let CheckerKind::Http(h) = &c[1].kind else {
        panic!("http")
    };
    assert_eq!(h.http_protocol, HttpProtocol::Http10);
    assert_eq!(h.urls[0].status_codes, vec![(200, 299)]);
    assert!(h.urls[0].status_ok(204) && !h.urls[0].status_ok(301));
    let CheckerKind::Dns(d) = &c[2].kind else {
        panic!("dns")
    };
    assert_eq!((d.query_type, d.name.as_str()), (DnsType::Soa, "."));
    let CheckerKind::Misc(m) = &c[3].kind else {
        panic!("misc")
    };
    assert_eq!(m.timeout, s(60));
    let CheckerKind::Udp(u) = &c[4].kind else {
        panic!("udp")
    };
    assert_eq!(
        (u.payload.clone(), u.min_reply_length, u.max_reply_length),
        (None, 0, 255)
    );
}

#[test]
fn inheritance_virtual_server_to_real_server_to_checker() {
    let l = vs(" delay_loop 10\n retry 5\n connect_timeout 2\n alpha\n virtualhost vs\n inhibit_on_failure\n real_server 10.0.0.2 80 {\n  retry 4\n  delay_before_retry 7\n  virtualhost rs\n  HTTP_GET {\n   retry 3\n   url {\n    path /\n   }\n  }\n  MISC_CHECK {\n   misc_path /bin/true\n  }\n }\n real_server 10.0.0.3 80 {\n  alpha off\n  inhibit_on_failure off\n  HTTP_GET {\n   url {\n    path /\n   }\n   url {\n    path /x\n    virtualhost u\n   }\n  }\n }\n");
    assert_eq!(msgs(&l), Vec::<String>::new());
    let v = first_vs(&l);
    let (a, b) = (&v.real_servers[0], &v.real_servers[1]);
    assert!(a.alpha && a.inhibit_on_failure);
    assert!(!b.alpha && !b.inhibit_on_failure);
    let h = &a.checkers[0];
    assert_eq!(h.retry, 3);
    assert_eq!(h.delay_before_retry, Duration::from_secs(7));
    assert_eq!(h.delay_loop, Duration::from_secs(10));
    assert_eq!(h.connect_timeout, Duration::from_secs(2));
    assert_eq!(h.warmup, Duration::from_secs(10));
    assert!(h.alpha);
    let CheckerKind::Http(http) = &h.kind else {
        panic!("http")
    };
    assert_eq!(http.urls[0].virtualhost.as_deref(), Some("rs"));
    let m = &a.checkers[1];
    assert_eq!(
        m.retry, 4,
        "the real server's retry beats MISC_CHECK's default of 0"
    );
    let CheckerKind::Misc(misc) = &m.kind else {
        panic!("misc")
    };
    assert_eq!(misc.timeout, Duration::from_secs(10));
    let CheckerKind::Http(http) = &b.checkers[0].kind else {
        panic!("http")
    };
    assert_eq!(http.urls[0].virtualhost.as_deref(), Some("vs"));
    assert_eq!(http.urls[1].virtualhost.as_deref(), Some("u"));
    assert!(!b.checkers[0].alpha);
    assert_eq!(b.checkers[0].retry, 5);
}

#[test]
fn inheritance_does_not_depend_on_keyword_order() {
    let l = vs(" real_server 10.0.0.2 80 {\n  TCP_CHECK {\n  }\n  delay_loop 4\n }\n delay_before_retry 9\n");
    let c = first_checker(&l);
    assert_eq!(c.delay_loop, Duration::from_secs(4));
    assert_eq!(c.delay_before_retry, Duration::from_secs(9));
}

#[test]
fn checker_options_and_invalid_values() {
    let l = vs(" real_server 10.0.0.2 80 {\n  TCP_CHECK {\n   connect_port 0\n   connect_ip 1.2.3\n   bind_port 70000\n   fwmark 0\n   warmup 0\n   delay_before_retry 0\n   connect_timeout 0\n   nb_get_retry 3\n   log_all_failures\n   bind_if eth9\n  }\n }\n");
    assert_eq!(
        msgs(&l),
        vec![
            "7: connect_port value '0' out of range [1, 65535]",
            "8: invalid IP address '1.2.3'",
            "9: bind_port value '70000' out of range [1, 65535]",
            "13: connect_timeout value '0' out of range",
            "14: Unknown keyword 'nb_get_retry'",
        ]
    );
    let c = first_checker(&l);
    assert_eq!(c.connect.fwmark, Some(0));
    assert_eq!(c.warmup, Duration::ZERO);
    assert_eq!(c.delay_before_retry, Duration::ZERO);
    assert_eq!(c.log_all_failures, Some(true));
    assert_eq!(c.connect.bind_if.as_deref(), Some("eth9"));
}

#[test]
fn misc_file_and_bfd_accept_only_their_options() {
    let l = load("track_file tf {\n file /tmp/rka-none\n}\nvirtual_server 10.0.0.1 80 {\n protocol TCP\n lvs_sched rr\n lvs_method NAT\n real_server 10.0.0.2 80 {\n  MISC_CHECK {\n   misc_path \"/bin/x 'a b'\"\n   connect_ip 1.1.1.1\n   connect_timeout 3\n   retry 2\n   misc_timeout 0\n   user nobody\n  }\n  FILE_CHECK {\n   track_file tf\n   retry 3\n   dynamic\n   weight 4\n  }\n  FILE_CHECK {\n  }\n  MISC_CHECK {\n  }\n }\n}\n");
    let m: Vec<String> = msgs(&l)
        .into_iter()
        .filter(|m| !m.starts_with("1:") && !m.starts_with("2:"))
        .collect();
    assert_eq!(
        m,
        vec![
            "11: Unknown keyword 'connect_ip'",
            "12: Unknown keyword 'connect_timeout'",
            "14: misc_timeout value '0' out of range [1, 4294967295]",
            "19: Unknown keyword 'retry'",
            "20: Unknown keyword 'dynamic'",
            "23: FILE_CHECK has no track_file specified - ignoring",
            "25: MISC_CHECK has no misc_path - skipping",
        ]
    );
    let c = &first_vs(&l).real_servers[0].checkers;
    assert_eq!(c.len(), 2);
    let CheckerKind::Misc(misc) = &c[0].kind else {
        panic!("misc")
    };
    assert_eq!(misc.path.argv, vec!["/bin/x", "a b"]);
    assert_eq!(misc.user.as_deref(), Some("nobody"));
    assert_eq!(c[0].retry, 2);
    let CheckerKind::File(f) = &c[1].kind else {
        panic!("file")
    };
    assert_eq!(
        (f.track_file.as_str(), f.weight, f.reverse),
        ("tf", Some(4), false)
    );
}

#[test]
fn missing_track_file_and_bfd_drop_the_checker() {
    let l = vs(" real_server 10.0.0.2 80 {\n  FILE_CHECK {\n   track_file nope\n  }\n  BFD_CHECK {\n   name b1\n  }\n  BFD_CHECK {\n  }\n  TCP_CHECK {\n  }\n }\n");
    assert_eq!(
        msgs(&l),
        vec![
            "12: BFD_CHECK has no name specified - ignoring",
            "6: track_file nope not found - FILE_CHECK ignored",
            "9: ([10.0.0.2]) BFD_CHECK - BFD b1 not configured",
        ]
    );
    assert_eq!(first_vs(&l).real_servers[0].checkers.len(), 1);
}

#[test]
fn http_url_values_and_errors() {
    let l = vs(" real_server 10.0.0.2 80 {\n  SSL_GET {\n   http_protocol 2.0\n   url {\n    path /a\n    digest xyz\n    status_code 99 700 200-100 201 300-302\n    regex_options caseless bogus\n    regex_stack 10 5\n    regex_min_offset 9\n    regex_max_offset 3\n   }\n   url {\n    digest 00112233445566778899aabbccddeeff\n   }\n  }\n  HTTP_GET {\n  }\n }\n");
    assert_eq!(
        msgs(&l),
        vec![
            "7: invalid http_protocol '2.0' (expected one of 1.0, 1.0C, 1.1)",
            "10: digest 'xyz' is not 32 hex digits - ignoring",
            "11: Invalid HTTP_GET status code '99'",
            "11: Invalid HTTP_GET status code '700'",
            "11: Invalid HTTP_GET status code '200-100'",
            "12: Unknown regex option 'bogus'",
            "17: HTTP/SSL_GET checker url has no path - ignoring",
            "21: HTTP/SSL_GET checker has no urls specified - ignoring",
        ]
    );
    let c = first_checker(&l);
    let CheckerKind::Http(h) = &c.kind else {
        panic!("http")
    };
    assert!(h.ssl);
    assert_eq!(c.delay_before_retry, Duration::from_secs(3));
    assert_eq!(h.urls.len(), 1);
    assert_eq!(h.urls[0].status_codes, vec![(201, 201), (300, 302)]);
    assert_eq!(h.urls[0].regex_options.len(), 1);
}

#[test]
fn an_invalid_regex_is_logged_by_the_checker_and_dropped() {
    // keepalived 2.2.7 (VM): `-t` says nothing; its checker logs PCRE2's refusal at load.
    // PCRE2 syntax the Rust regex crate lacks (look-behind) is no longer noted at all.
    let l = vs(" real_server 10.0.0.2 80 {\n  HTTP_GET {\n   url {\n    path /\n    regex \"a(\"\n   }\n   url {\n    path /b\n    regex \"(?<=a)b\"\n    regex_options ungreedy\n   }\n  }\n }\n");
    assert_eq!(
        msgs(&l),
        vec!["0: Invalid regex: 'a(' at offset 2: missing closing parenthesis"]
    );
    let d = &l.diagnostics.items()[0];
    assert!(d.runtime && d.lvs && !d.script, "{d:?}");
    assert_eq!(l.diagnostics.exit_code(), 0);
    let CheckerKind::Http(h) = &first_checker(&l).kind else {
        panic!("http")
    };
    assert_eq!(h.urls[0].regex, None);
    assert_eq!(h.urls[1].regex.as_deref(), Some("(?<=a)b"));
}

#[test]
fn udp_hex_strings() {
    let l = vs(" real_server 10.0.0.2 80 {\n  UDP_CHECK {\n   payload Ab12f 3 456 546443123\n   require_reply 1x X2 f\n   max_reply_length 70000\n  }\n  UDP_CHECK {\n   payload zz\n   require_reply\n   min_reply_length 9\n   max_reply_length 3\n  }\n }\n");
    assert_eq!(
        msgs(&l),
        vec![
            "9: max_reply_length value '70000' out of range [0, 65535]",
            "12: Invalid hex string for UDP_CHECK payload",
            "11: UDP_CHECK min_reply_length 9 is above max_reply_length 3 - resetting both",
        ]
    );
    let c = &first_vs(&l).real_servers[0].checkers;
    let CheckerKind::Udp(u) = &c[0].kind else {
        panic!("udp")
    };
    assert_eq!(
        u.payload.as_deref(),
        Some(&[0xab, 0x12, 0x0f, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03][..])
    );
    let r = u.require_reply.clone().expect("pattern");
    assert_eq!(r.bytes, vec![0x10, 0x02, 0x0f]);
    assert_eq!(r.mask, vec![0xf0, 0x0f, 0xff]);
    assert_eq!(r.to_conf(), "1xx20f");
    let CheckerKind::Udp(u) = &c[1].kind else {
        panic!("udp")
    };
    assert_eq!(u.require_reply, Some(checker::BytePattern::default()));
    assert_eq!((u.min_reply_length, u.max_reply_length), (0, 255));
}

#[test]
fn the_smtp_host_block_note_comes_once_per_smtp_check() {
    // keepalived 2.2.7 (the Debian sample's two SMTP_CHECKs of three host blocks: two lines).
    let host = "   host {\n    connect_ip 10.0.0.7\n   }\n";
    let l = vs(&format!(
        " real_server 10.0.0.2 80 {{\n  SMTP_CHECK {{\n{host}{host}{host}  }}\n }}\n\
          real_server 10.0.0.3 80 {{\n  SMTP_CHECK {{\n{host}{host}  }}\n }}\n"
    ));
    let notes = msgs(&l)
        .into_iter()
        .filter(|m| m.contains("host block is deprecated"))
        .count();
    assert_eq!(notes, 2);
}

#[test]
fn smtp_and_dns_options() {
    let l = vs(" real_server 10.0.0.2 25 {\n  SMTP_CHECK {\n   helo_name me\n   host {\n    connect_ip 10.0.0.7\n    bindto 10.0.0.1\n    bogus\n   }\n  }\n  DNS_CHECK {\n   type mx\n   type PTR\n   name example.org\n  }\n }\n");
    assert_eq!(
        msgs(&l),
        vec![
            "0: The SMTP_CHECK host block is deprecated. Please define additional checkers.",
            "11: Unknown keyword 'bogus'",
            "16: Unknown DNS check type PTR - ignoring",
            "6: virtual server [10.0.0.1]:tcp:80 and real server [10.0.0.2]:25 ports don't match - resetting",
        ]
        .into_iter()
        .filter(|m| !m.starts_with("6:"))
        .collect::<Vec<_>>()
    );
    let c = &first_vs(&l).real_servers[0].checkers;
    let CheckerKind::Smtp(s) = &c[0].kind else {
        panic!("smtp")
    };
    // keepalived 2.2.7 (VM): the SMTP_CHECK is a checker of the real server, and its `host`
    // block another one with the block's connection settings and the same HELO name.
    assert_eq!(s.helo_name.as_deref(), Some("me"));
    assert!(s.hosts.is_empty());
    assert_eq!(c[0].connect.connect_ip, None);
    let CheckerKind::Smtp(h) = &c[1].kind else {
        panic!("smtp host")
    };
    assert_eq!(h.helo_name.as_deref(), Some("me"));
    assert_eq!(c[1].connect.connect_ip, Some(ip("10.0.0.7")));
    assert_eq!(c[1].connect.bindto, Some(ip("10.0.0.1")));
    let d = l.diagnostics.items().first().expect("deprecation line");
    assert!(d.runtime && d.lvs, "{d:?}");
    let CheckerKind::Dns(d) = &c[2].kind else {
        panic!("dns")
    };
    assert_eq!(
        (d.query_type, d.name.as_str()),
        (DnsType::Mx, "example.org")
    );
}

#[test]
fn unknown_keywords_everywhere_are_warned() {
    let l = vs(" foo\n real_server 10.0.0.2 80 {\n  bar\n  PING_CHECK {\n   baz\n  }\n  HTTP_GET {\n   url {\n    path /\n    qux\n   }\n  }\n }\n");
    assert_eq!(
        msgs(&l),
        vec![
            "5: Unknown keyword 'foo'",
            "7: Unknown keyword 'bar'",
            "9: Unknown keyword 'baz'",
            "14: Unknown keyword 'qux'",
        ]
    );
}

#[test]
fn every_dump_parses_back_without_diagnostics() {
    for text in [RICH, "virtual_server fwmark 1 {\n lvs_sched rr\n lvs_method NAT\n real_server 10.0.0.2 0 {\n  alpha on\n }\n}\n"] {
        let d1 = load(text).config.dump();
        let again = load(&d1);
        assert_eq!(msgs(&again), Vec::<String>::new(), "{d1}");
        assert_eq!(again.config.dump(), d1);
    }
}

#[test]
fn bad_input_never_panics() {
    let cases = [
        "virtual_server\n",
        "virtual_server fwmark\n",
        "virtual_server group\n",
        "virtual_server 1.2.3.4 80 {\n real_server\n real_server 1.1.1.1 80 {\n  HTTP_GET {\n   url\n   url {\n    status_code\n    regex_stack\n   }\n  }\n  UDP_CHECK {\n   payload\n   require_reply x\n  }\n  MISC_CHECK {\n   misc_path\n   user\n  }\n }\n lvs_method TUN type\n lvs_method TUN type gue port\n lvs_method TUN type gue port x\n lvs_method TUN type foo\n quorum_up\n sorry_server\n}\n",
        "virtual_server_group\nvirtual_server_group G {\n 1.1.1.1-\n -5\n ::-ffff1\n 1.1.1.1/33\n fwmark 1 inet7\n}\nSSL {\n ca\n}\n",
    ];
    for c in cases {
        let l = load(c);
        assert!(!l.diagnostics.is_clean(), "{c}");
        let _ = l.config.dump();
    }
}

#[test]
fn severities_are_warnings_or_infos() {
    let l = load(RICH);
    assert!(l
        .diagnostics
        .items()
        .iter()
        .all(|d| d.severity <= Severity::Warning));
}

#[test]
fn host_checks_report_missing_bind_interfaces_as_information() {
    let text = format!("{HEAD} real_server 10.0.0.2 80 {{\n  TCP_CHECK {{\n   bind_if rka-no-such0\n  }}\n }}\n}}\n");
    let l = load_str("t.conf", &text, &LoadOptions::default());
    let d = &l.diagnostics.items()[0];
    assert_eq!(d.severity, Severity::Info);
    assert!(d.message.contains("rka-no-such0"));
}

/// The big configuration of the performance goal: 2,300 virtual servers of 16 real servers
/// with a TCP_CHECK each (about 160k lines).
fn big_config() -> String {
    let mut s = String::with_capacity(6 << 20);
    for v in 0..2300u32 {
        let (a, b) = (v / 250, v % 250);
        s.push_str(&format!(
            "virtual_server 10.{a}.{b}.1 80 {{\n delay_loop 5\n lvs_sched wrr\n lvs_method NAT\n protocol TCP\n"
        ));
        for r in 0..16 {
            s.push_str(&format!(
                " real_server 172.16.{a}.{} 8080 {{\n  weight 1\n  TCP_CHECK {{\n   connect_timeout 3\n  }}\n }}\n",
                (b * 16 + r) % 250
            ));
        }
        s.push_str("}\n");
    }
    s
}

#[test]
fn big_configuration_loads_cleanly() {
    let text = big_config();
    let start = std::time::Instant::now();
    let l = load(&text);
    let took = start.elapsed();
    assert!(
        l.diagnostics.is_clean(),
        "{:?}",
        l.diagnostics.items().first()
    );
    assert_eq!(l.config.lvs.virtual_servers.len(), 2300);
    assert!(l
        .config
        .lvs
        .virtual_servers
        .iter()
        .all(|v| v.real_servers.len() == 16));
    eprintln!("{} lines loaded in {took:?}", text.lines().count());
}

/// Where the time of the big load goes, stage by stage (`--ignored --nocapture`, release).
#[test]
#[ignore]
fn big_configuration_stage_times() {
    let text = big_config();
    let opts = LoadOptions {
        skip_host_checks: true,
        ..Default::default()
    };
    let mut diags = crate::Diagnostics::default();
    let t0 = std::time::Instant::now();
    let lines = crate::preprocess::Preprocessor::new(&opts).run_str("t.conf", &text, &mut diags);
    let t1 = std::time::Instant::now();
    let nodes = crate::tree::build(&lines, &mut diags);
    let t2 = std::time::Instant::now();
    let cfg = crate::Config::from_nodes(&nodes, &opts, &mut diags);
    let t3 = std::time::Instant::now();
    assert_eq!(cfg.lvs.virtual_servers.len(), 2300);
    eprintln!(
        "preprocess {:?}, tree {:?}, model {:?}",
        t1 - t0,
        t2 - t1,
        t3 - t2
    );
}

/// Loads `text` with host checks on, `global_defs { enable_script_security }` first when
/// `script_security`; returns the diagnostics and the LVS model.
fn security_diags(text: &str, script_security: bool) -> (Vec<(Severity, String)>, LvsConfig) {
    let global = if script_security {
        "global_defs {\n enable_script_security\n}\n"
    } else {
        ""
    };
    let l = load_str(
        "t.conf",
        &format!("{global}{text}"),
        &LoadOptions::default(),
    );
    let out = l
        .diagnostics
        .items()
        .iter()
        .map(|d| (d.severity, d.message.clone()))
        .collect();
    (out, l.config.lvs)
}

fn script_file(name: &str, mode: u32) -> String {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("rka-lvs-sec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    let p = dir.join(name);
    std::fs::write(&p, "#!/bin/sh\nexit 0\n").expect("write script");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    p.to_string_lossy().into_owned()
}

#[test]
fn scripts_without_script_security_are_a_violation_when_they_exist() {
    let safe = script_file("safe.sh", 0o755);
    let text = format!(
        "{HEAD} real_server 10.0.0.2 80 {{\n  MISC_CHECK {{\n   misc_path {safe}\n  }}\n }}\n}}\n"
    );
    let (d, _) = security_diags(&text, false);
    let root = rka_sys::host::effective_uid() == 0;
    if !root {
        return; // keepalived only reports this when running as root
    }
    let owned_by_root = std::fs::metadata(&safe)
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    if rka_sys::host::user_by_name(security::DEFAULT_SCRIPT_USER).is_none() {
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].0, Severity::Security);
        assert!(d[0].1.starts_with("SECURITY VIOLATION"));
        // Only a file another user can replace makes the script insecure.
        assert_eq!(d[0].1.contains("insecure"), !owned_by_root);
    }
    // A script that does not exist is not a violation (keepalived 2.2.7 behaves the same):
    // the running checker child only says why it is dropped.
    let text =
        format!("{HEAD} real_server 10.0.0.2 80 {{\n  notify_up /nonexistent/rka-x.sh\n }}\n}}\n");
    let (d, lvs) = security_diags(&text, false);
    assert_eq!(
        d,
        vec![(
            Severity::Info,
            "Script /nonexistent/rka-x.sh cannot be accessed - No such file or directory".into()
        )]
    );
    assert!(lvs.virtual_servers[0].real_servers[0].notify_up.is_none());
}

#[test]
fn scripts_that_cannot_run_are_dropped_as_keepalived_drops_them() {
    // keepalived 2.2.7 in the VM (Debian's misc_check samples): a MISC_CHECK whose program is
    // missing is disabled, and its real server stays in the table; a bare name off PATH, a
    // file nobody may execute, a missing quorum script are dropped too, MISC_CHECKs first.
    let noexec = script_file("noexec.sh", 0o644);
    let text = format!(
        "{HEAD} quorum_up /nonexistent/up.sh\n real_server 10.0.0.2 80 {{\n  \
         MISC_CHECK {{\n   misc_path \"/nonexistent/m.sh arg1 arg2\"\n  }}\n  \
         MISC_CHECK {{\n   misc_path rka-no-such-program\n  }}\n  \
         MISC_CHECK {{\n   misc_path {noexec}\n  }}\n  \
         MISC_CHECK {{\n   misc_path /bin/true\n  }}\n }}\n}}\n"
    );
    let (d, lvs) = security_diags(&text, false);
    let lines: Vec<&str> = d
        .iter()
        .filter(|(sev, _)| *sev == Severity::Info)
        .map(|(_, m)| m.as_str())
        .collect();
    assert_eq!(
        lines,
        [
            "Script /nonexistent/m.sh cannot be accessed - No such file or directory",
            "Disabling misc script '/nonexistent/m.sh' 'arg1' 'arg2' since not found/accessible",
            "Cannot find script rka-no-such-program in path - disabling",
            "Disabling misc script 'rka-no-such-program' since not found/accessible",
            "Script /nonexistent/up.sh cannot be accessed - No such file or directory",
        ]
    );
    let vs = &lvs.virtual_servers[0];
    assert!(vs.quorum_up.is_none());
    let left: Vec<&str> = vs.real_servers[0]
        .checkers
        .iter()
        .filter_map(|c| match &c.kind {
            CheckerKind::Misc(m) => Some(m.path.program()),
            _ => None,
        })
        .collect();
    assert_eq!(left, ["/bin/true"], "the runnable one is kept");
    // The checker child still says first that the default script user is missing.
    assert!(lvs.had_userless_scripts);
    let (_, lvs) = security_diags(
        &format!("{HEAD} real_server 10.0.0.2 80 {{\n  notify_up /nonexistent/x.sh\n }}\n}}\n"),
        false,
    );
    assert!(lvs.virtual_servers[0].real_servers[0].notify_up.is_none());
    assert!(security::needs_default_script_user(
        &lvs,
        &Default::default()
    ));
}

#[test]
fn script_security_refuses_userless_scripts_and_writable_root_scripts() {
    if rka_sys::host::user_by_name(security::DEFAULT_SCRIPT_USER).is_some() {
        return; // the host has the default script user: nothing is refused
    }
    let unsafe_script = script_file("unsafe.sh", 0o777);
    let text = format!(
        "{HEAD} quorum_up /bin/true\n real_server 10.0.0.2 80 {{\n  notify_up {unsafe_script} root\n  MISC_CHECK {{\n   misc_path /bin/true\n  }}\n  MISC_CHECK {{\n   misc_path {unsafe_script}\n   user root\n  }}\n }}\n}}\n"
    );
    let (d, lvs) = security_diags(&text, true);
    let sev: Vec<Severity> = d.iter().map(|x| x.0).collect();
    // keepalived -t is silent about insecure root scripts (exit 0): they are only disabled.
    assert_eq!(
        sev,
        vec![
            Severity::Warning,
            Severity::Info,
            Severity::Warning,
            Severity::Info
        ],
        "{d:?}"
    );
    assert!(d[0]
        .1
        .contains("Unable to set default user keepalived_script"));
    assert!(d[1].1.starts_with("Disabling script"));
    let v = &lvs.virtual_servers[0];
    assert!(v.quorum_up.is_none());
    assert!(v.real_servers[0].notify_up.is_none());
    assert!(v.real_servers[0].checkers.is_empty());
}

#[test]
fn ip_family_must_agree_with_the_addresses() {
    let l = vs(" ip_family inet6\n real_server 10.0.0.2 80 {\n }\n");
    assert_eq!(
        msgs(&l),
        vec!["1: Virtual server specified family inet6 conflicts with server family inet"]
    );
    assert_eq!(first_vs(&l).ip_family, None);
    let l = load("virtual_server fwmark 3 {\n ip_family inet\n lvs_sched rr\n lvs_method NAT\n real_server fd00::2 80 {\n }\n}\n");
    assert_eq!(
        msgs(&l),
        vec!["1: Virtual server specified family inet conflicts with server family inet6"]
    );
}

#[test]
fn virtual_server_flags_ignore_their_argument() {
    // keepalived reads `alpha`/`omega` on a virtual server as bare flags.
    let l = vs(" alpha maybe\n omega\n persistence_granularity 255.0.255.0\n real_server 10.0.0.2 80 {\n }\n");
    assert_eq!(msgs(&l), Vec::<String>::new());
    let v = first_vs(&l);
    assert!(v.alpha && v.omega);
    assert_eq!(
        v.persistence_granularity,
        Some(Granularity::V4("255.0.255.0".parse().expect("mask")))
    );
}

#[test]
fn retry_zero_is_only_for_checkers() {
    let l =
        vs(" retry 0\n real_server 10.0.0.2 80 {\n  retry 0\n  TCP_CHECK {\n   retry 0\n  }\n }\n");
    assert_eq!(
        msgs(&l),
        vec![
            "5: retry value '0' out of range [1, 4294967295]",
            "7: retry value '0' out of range [1, 4294967295]",
        ]
    );
    assert_eq!(first_checker(&l).retry, 0);
}

#[test]
fn group_family_mismatch_is_only_information() {
    let l = load("virtual_server_group G {\n fd00::1-a 80\n}\nvirtual_server group G {\n protocol TCP\n lvs_sched rr\n lvs_method NAT\n real_server 10.0.0.2 80 {\n }\n}\n");
    assert!(l.diagnostics.is_clean());
    assert_eq!(
        msgs(&l),
        vec!["8: Address family of virtual server and real server 10.0.0.2 don't match"]
    );
    assert_eq!(first_vs(&l).real_servers.len(), 1);
}

/// Prints the diagnostics and `-t` exit code of the file named by `RKA_LVS_CONF`, with host
/// checks, to compare with `keepalived -t -f FILE` while the daemon cannot be built.
#[test]
#[ignore]
fn exit_code_of_file() {
    let Some(path) = std::env::var_os("RKA_LVS_CONF") else {
        return;
    };
    let l = crate::load(std::path::Path::new(&path), &LoadOptions::default());
    for d in l.diagnostics.items() {
        eprintln!("{d}");
    }
    eprintln!("exit={}", l.diagnostics.exit_code());
}

#[test]
fn virtual_server_weight_is_the_real_servers_default() {
    let l = vs(" quorum 3\n real_server 10.0.0.2 80 {\n }\n real_server 10.0.0.3 80 {\n  weight 2\n }\n weight 5\n");
    assert_eq!(msgs(&l), Vec::<String>::new());
    let w: Vec<u32> = first_vs(&l).real_servers.iter().map(|r| r.weight).collect();
    assert_eq!(w, vec![5, 2]);
    // An invalid one is only logged, as keepalived does.
    let l = vs(" weight 0\n hashed\n real_server 10.0.0.2 80 {\n  lb_kind DR\n }\n");
    assert!(!l.diagnostics.is_clean());
    let sev: Vec<Severity> = l.diagnostics.items().iter().map(|d| d.severity).collect();
    assert_eq!(sev, vec![Severity::Info, Severity::Info, Severity::Warning]);
    assert_eq!(msgs(&l)[2], "8: Unknown keyword 'lb_kind'");
    assert_eq!(first_vs(&l).real_servers[0].weight, 1);
}

#[test]
fn fwmark_dr_and_tun_real_servers_have_no_port() {
    let l = load("virtual_server fwmark 4 {\n lvs_sched rr\n lvs_method DR\n real_server 10.0.0.2 80 {\n }\n real_server 10.0.0.3 80 {\n  lvs_method NAT\n }\n}\n");
    assert_eq!(
        msgs(&l),
        vec!["4: fwmark virtual server FWM 4, real server [10.0.0.2]:80 has port specified - clearing"]
    );
    let ports: Vec<u16> = first_vs(&l).real_servers.iter().map(|r| r.port).collect();
    assert_eq!(ports, vec![0, 80]);
}

#[test]
fn real_server_port_defaults_to_the_virtual_servers() {
    let l = load("virtual_server 10.0.0.1 80 {\n protocol TCP\n lvs_sched rr\n lvs_method DR\n real_server 10.0.0.2 {\n }\n real_server 10.0.0.3 {\n  lvs_method NAT\n }\n}\n");
    assert_eq!(msgs(&l), Vec::<String>::new());
    let ports: Vec<u16> = first_vs(&l).real_servers.iter().map(|r| r.port).collect();
    assert_eq!(ports, vec![80, 80]);
}

mod generated {
    //! Random virtual servers built from the real keywords with good and bad values: loading
    //! never panics and the dump is always a fixed point.
    use super::*;
    use proptest::prelude::*;

    const VS_LINES: &[&str] = &[
        "delay_loop 3",
        "delay_loop 0.25",
        "delay_loop x",
        "lvs_sched sh",
        "lvs_sched mh",
        "lb_algo wrr",
        "lvs_sched nope",
        "sh-port",
        "sh-fallback",
        "mh-port",
        "flag-1",
        "flag-3",
        "ops",
        "hashed",
        "lvs_method DR",
        "lb_kind TUN type gue port 9 csum",
        "lvs_method TUN type gre",
        "lvs_method NAT",
        "persistence_timeout",
        "persistence_timeout 70",
        "persistence_granularity 64",
        "persistence_granularity 255.255.255.0",
        "persistence_engine sip",
        "protocol TCP",
        "protocol UDP",
        "protocol SCTP",
        "ha_suspend",
        "virtualhost v",
        "snmp_name s",
        "alpha",
        "omega",
        "quorum 2",
        "quorum 0",
        "hysteresis 1",
        "quorum_up /bin/q a",
        "quorum_down \"/bin/q b\" nobody",
        "ip_family inet",
        "sorry_server 10.9.9.9 80",
        "sorry_server 10.9.9.9",
        "sorry_server_inhibit",
        "sorry_server_lvs_method DR",
        "inhibit_on_failure",
        "smtp_alert yes",
        "connect_timeout 2",
        "retry 3",
        "delay_before_retry 0.5",
        "warmup 0",
        "weight 3",
        "weight 0",
        "bogus 1",
    ];
    const RS_LINES: &[&str] = &[
        "weight 2", "weight -1", "lvs_method DR", "lvs_method TUN", "inhibit_on_failure off",
        "notify_up /bin/up", "notify_down \"/bin/d x\" u g", "uthreshold 5", "lthreshold 2",
        "smtp_alert no", "virtualhost r", "alpha on", "retry 0", "delay_loop 7",
        "warmup 1.5", "TCP_CHECK {\n connect_port 81\n retry 0\n }",
        "HTTP_GET {\n url {\n path /\n status_code 200 300-301\n }\n }",
        "SSL_GET {\n enable_sni\n url {\n path /x\n digest 00112233445566778899aabbccddeeff\n }\n }",
        "HTTP_GET {\n }", "MISC_CHECK {\n misc_path /bin/true\n misc_dynamic\n }",
        "MISC_CHECK {\n }", "DNS_CHECK {\n type TXT\n }",
        "UDP_CHECK {\n payload 0a0b\n require_reply x1\n }", "PING_CHECK {\n alpha off\n }",
        "SMTP_CHECK {\n host {\n connect_ip 10.0.0.9\n }\n }", "BFD_CHECK {\n name b\n }",
        "FILE_CHECK {\n track_file t\n }", "nope 3",
    ];

    fn block() -> impl Strategy<Value = String> {
        let head = prop::sample::select(vec![
            "virtual_server 10.0.0.1 80",
            "virtual_server 10.0.0.1",
            "virtual_server fwmark 3",
            "virtual_server group G",
            "virtual_server fd00::1 443",
        ]);
        let vs_lines = prop::collection::vec(prop::sample::select(VS_LINES.to_vec()), 0..12);
        let rs = (
            prop::sample::select(vec![
                "10.0.1.1 80",
                "10.0.1.2",
                "fd00::2 443",
                "10.0.1.1 81",
            ]),
            prop::collection::vec(prop::sample::select(RS_LINES.to_vec()), 0..6),
        );
        let rss = prop::collection::vec(rs, 0..4);
        (head, vs_lines, rss).prop_map(|(head, vs_lines, rss)| {
            let mut s = format!("virtual_server_group G {{\n 10.0.0.1-4 80\n}}\n{head} {{\n");
            for l in vs_lines {
                s.push_str(l);
                s.push('\n');
            }
            for (addr, lines) in rss {
                s.push_str(&format!("real_server {addr} {{\n"));
                for l in lines {
                    s.push_str(l);
                    s.push('\n');
                }
                s.push_str("}\n");
            }
            s.push_str("}\n");
            s
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn load_never_panics_and_dump_is_a_fixed_point(text in block()) {
            let first = load(&text);
            let d1 = lvs_dump(&first);
            let again = load(&d1);
            prop_assert_eq!(&lvs_dump(&again), &d1, "{}", text);
            prop_assert_eq!(
                resolved(first.config.lvs.clone()),
                resolved(strip_origins(again.config.lvs.clone(), &first.config.lvs)),
                "{}",
                d1
            );
            // The canonical text is clean except for the checks on other blocks.
            let m: Vec<String> = again
                .diagnostics
                .items()
                .iter()
                .filter(|d| d.severity > Severity::Info)
                .map(|d| d.to_string())
                .filter(|m| !m.contains("track_file") && !m.contains("BFD"))
                .collect();
            prop_assert!(m.is_empty(), "{:?}\n{}", m, d1);
        }
    }
}

#[test]
fn checker_and_smtp_host_need_their_block() {
    // keepalived 2.2.7 -t: 5 "Missing '{' at beginning of configuration block".
    let l = vs(" real_server 10.0.0.2 80 {\n  TCP_CHECK\n }\n");
    assert_eq!(l.diagnostics.exit_code(), 5);
    assert!(msgs(&l).iter().any(|m| m.contains("Missing '{'")));
    assert!(l.config.lvs.virtual_servers[0].real_servers[0]
        .checkers
        .is_empty());
    let l = vs(" real_server 10.0.0.2 80 {\n  SMTP_CHECK {\n   host\n  }\n }\n");
    assert!(msgs(&l).iter().any(|m| m.contains("Missing '{'")));
}

#[test]
fn regex_values_keepalived_does_not_check() {
    // keepalived 2.2.7 -t: 0 for words it cannot use after the regex_* keywords.
    let l = vs(" real_server 10.0.0.2 80 {\n  HTTP_GET {\n   url {\n    path /\n    regex_no_match xyz\n    regex_stack xyz\n    regex_min_offset xyz\n    regex_options xyz\n   }\n  }\n }\n");
    assert_eq!(l.diagnostics.exit_code(), 0, "{:?}", msgs(&l));
}

/// keepalived 2.2.7 -t, observed: the end-of-block notes come without a line number, in the
/// order protocol, one-packet scheduling, zero port, scheduler, forwarding method.
#[test]
fn end_of_block_notes_follow_keepalived_order() {
    let l = load(
        "virtual_server 10.0.0.1 0 {\n protocol TCP\n ops\n real_server 10.0.0.2 80 {\n }\n}\n",
    );
    assert_eq!(
        msgs(&l),
        vec![
            "0: Virtual server [10.0.0.1]:tcp:0: one packet scheduling requires UDP - resetting",
            "0: Virtual server [10.0.0.1]:tcp:0: zero port only valid for persistent services - setting",
            "0: Virtual server [10.0.0.1]:tcp:0: no scheduler set, setting default 'wlc'",
            "0: Virtual server [10.0.0.1]:tcp:0: no forwarding method set, setting default NAT",
        ]
    );
}

/// A running keepalived (not `-t`) warns once per script named without a path and found by
/// searching PATH, before the security line (observed: `misc_path "true 1"` and
/// `notify_up "sh -c true"`).
#[test]
fn a_script_found_by_path_search_is_noted_for_the_running_daemon() {
    let l = load_str(
        "t.conf",
        &format!("{HEAD} real_server 10.0.0.2 80 {{\n  MISC_CHECK {{\n   misc_path \"true 1\"\n  }}\n }}\n}}\n"),
        &LoadOptions::default(),
    );
    let notes: Vec<_> = l.diagnostics.items().iter().filter(|d| d.runtime).collect();
    let Some(found) = security::find_program("true") else {
        return; // no `true` in this PATH
    };
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].script);
    assert_eq!(
        notes[0].message,
        format!(
            "WARNING - script `true` resolved by path search to `{}`. Please specify full path.",
            found.display()
        )
    );
    // A full path is not noted.
    let l = load_str(
        "t.conf",
        &format!("{HEAD} real_server 10.0.0.2 80 {{\n  MISC_CHECK {{\n   misc_path \"{}\"\n  }}\n }}\n}}\n", found.display()),
        &LoadOptions::default(),
    );
    assert!(l.diagnostics.items().iter().all(|d| !d.runtime));
}
