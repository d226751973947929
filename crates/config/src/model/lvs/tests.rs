//! Tests of the LVS model: defaults, values, diagnostics, inheritance and dump fixed points.

use std::net::IpAddr;
use std::time::Duration;

use super::checker::{CheckerKind, DnsType};
use super::http::HttpProtocol;
use super::virtual_server::{Granularity, VsAddress};
use super::vs_group::GroupEntry;
use super::*;
use crate::{load_str, Loaded, LoadOptions, Severity};

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
    assert_eq!(msgs(&l), Vec::<String>::new());
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
