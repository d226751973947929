//! The VRRP-side and global_defs model: parsing, defaults, validation, canonical dump.

use std::time::Duration;

use rka_config::model::addr::{Broadcast, RouteType, Scope};
use rka_config::model::vrrp::{AuthType, InitialState};
use rka_config::{load_str, LoadOptions, Loaded};

fn opts() -> LoadOptions {
    LoadOptions {
        skip_host_checks: true,
        ..Default::default()
    }
}

fn load(text: &str) -> Loaded {
    load_str("k.conf", text, &opts())
}

fn messages(l: &Loaded) -> Vec<String> {
    l.diagnostics
        .items()
        .iter()
        .map(|d| d.to_string())
        .collect()
}

const RICH: &str = r#"
net_namespace_ipvs
use_pid_dir
global_defs {
    router_id node1
    notification_email {
        ops@example.com
    }
    notification_email_from ka@example.com
    smtp_server 192.0.2.25 25
    smtp_connect_timeout 20
    vrrp_garp_master_delay 3
    vrrp_garp_master_refresh 60
    vrrp_garp_interval 0.001
    vrrp_gna_interval 0.000001
    vrrp_version 2
    vrrp_check_unicast_src
    vrrp_priority -5
    checker_priority 3
    vrrp_no_swap
    script_user nobody
    enable_script_security
    vrrp_notify_fifo /run/ka.fifo
    vrrp_notify_fifo_script "/usr/local/bin/fifo.sh arg" root
    lvs_timeouts tcp 900 tcpfin 120 udp 300
    lvs_sync_daemon eth0 inst VI_1 id 10 maxlen 1400 port 8848 ttl 2 group 224.0.0.81
    lvs_flush
    lvs_flush_on_stop VS
    dynamic_interfaces allow_if_changes
    max_auto_priority 50
    nftables keepalived
    nftables_counters
    reload_check_config /tmp/check.log
    startup_script /usr/local/bin/start.sh
    startup_script_timeout 20
    vrrp_startup_delay 5.5
    vrrp_cpu_affinity 0 1
    umask 077
    rkeepalived_http_listen [::1]:9100
}
linkbeat_interfaces {
    eth0
    eth1 ETHTOOL
}
track_group TG1 {
    group {
        VI_1
    }
}
static_ipaddress {
    192.0.2.10/24 dev eth0 scope global track_group TG1
    2001:db8::10/64 dev eth0 preferred_lft forever
}
static_routes {
    198.51.100.0/24 via 192.0.2.1 dev eth0 track_group TG1
    192.168.100.0/24 table 6909 no_track nexthop via 192.168.101.1 dev eth1 onlink weight 1 nexthop via 192.168.101.2 dev eth1 weight 2
    blackhole 203.0.113.0/24 no_track
}
static_rules {
    from 192.168.2.0/24 iif eth0 preference 100 table 1 track_group TG1
    from 192.168.28.0/24 to 192.168.29.0/26 table 100 iif eth0 oif eth1 tos 22 fwmark 24/12 preference 39 goto 40
    to 2001:db8:1::/112 from 2001:db8:2::/96 table 6908 uidrange 10000-19999 preference 101
}
vrrp_script chk_haproxy {
    script "/usr/bin/pgrep -x haproxy"
    interval 2
    timeout 3
    weight -20 reverse
    rise 2
    fall 3
    user nobody nogroup
    init_fail
}
track_file tf1 {
    file /run/ka/tf1
    weight -2
    init_file 5 overwrite
}
vrrp_track_process haproxy {
    process haproxy -f "/etc/h a.cfg"
    param_match partial
    weight 10 reverse
    quorum 2
    quorum_max 4
    delay 0.5
    full_command
}
garp_group {
    garp_interval 0.01
    gna_interval 0.02
    interfaces {
        eth0
        eth1
    }
}
vrrp_sync_group G1 {
    group {
        VI_1
        VI_6
    }
    track_interface {
        eth1 weight 10
    }
    track_script {
        chk_haproxy weight 5 noreverse
    }
    notify_master "/usr/local/bin/master.sh G1" nobody
    notify /usr/local/bin/notify.sh
    smtp_alert true
    sync_group_tracking_weight
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    use_vmac vrrp.51
    vmac_xmit_base
    dont_track_primary
    track_interface {
        eth1
        eth2 weight -10 reverse
    }
    track_script {
        chk_haproxy
    }
    track_file {
        tf1 weight 3
    }
    track_process {
        haproxy
    }
    track_bfd {
        bfd1 weight 4
    }
    mcast_src_ip 192.0.2.2
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass secret12
    }
    virtual_ipaddress {
        192.0.2.100/24 brd 192.0.2.255 dev eth0 label eth0:1 scope global
        192.0.2.101 dev eth1 use_vmac no_track
    }
    virtual_ipaddress_excluded {
        2001:db8::100/64 dev eth0 -nodad noprefixroute
    }
    promote_secondaries
    virtual_routes {
        src 192.0.2.100 to 192.168.109.0/24 via 192.0.2.254 dev eth0 metric 10 mtu 1400 ssthresh lock 107 features ecn
        blackhole 192.168.114.0/24 no_track
        0.0.0.0/0 via 192.0.2.1 table 100 no_track
    }
    virtual_rules {
        from 192.0.2.0/24 table 1 preference 200
        to 192.168.2.0/24 table 1 no_track priority 201
    }
    no_accept
    preempt_delay 10.5
    garp_master_repeat 3
    garp_extra_if all 100
    lower_prio_no_advert
    higher_prio_send_advert false
    down_timer_adverts 4
    debug 2
    notify_master /usr/local/bin/m.sh
    notify_backup "/usr/local/bin/b.sh arg1 'arg two'" nobody nogroup
    notify_fault /usr/local/bin/f.sh
    notify_stop /usr/local/bin/s.sh
    notify_deleted
    notify_master_rx_lower_pri /usr/local/bin/rx.sh
    notify_priority_changes true
    smtp_alert
    kernel_rx_buf_size 65536
}
vrrp_instance VI_6 {
    interface eth0
    virtual_router_id 52
    priority 100
    advert_int 0.5
    unicast_src_ip 2001:db8::2
    unicast_peer {
        2001:db8::3 min_ttl 250 max_ttl 255
        2001:db8::4
    }
    unicast_ttl 64
    unicast_fault_no_peer
    nopreempt
    strict_mode off
    virtual_ipaddress {
        fe80::100/64 dev eth0
        2001:db8::200/64
    }
}
"#;

#[test]
fn rich_config_parses_without_diagnostics() {
    let l = load(RICH);
    assert!(l.diagnostics.is_clean(), "{:#?}", messages(&l));
    let v = &l.config.vrrp;
    assert_eq!(v.instances.len(), 2);
    assert_eq!(v.sync_groups[0].members.len(), 2);
    let i = v.instance("VI_1").expect("VI_1");
    assert_eq!(i.state, InitialState::Master);
    assert_eq!(i.priority, 150);
    assert_eq!(i.version, 2);
    assert!(!i.accept);
    assert_eq!(
        i.garp_master_delay,
        Duration::from_secs(3),
        "global default"
    );
    assert_eq!(i.garp_master_repeat, 3, "instance value");
    assert_eq!(i.garp_lower_prio_delay, Duration::from_secs(3));
    assert_eq!(i.garp_master_refresh, Duration::from_secs(60));
    assert_eq!(i.down_timer_adverts, 4);
    assert!(
        !i.check_unicast_src,
        "global vrrp_check_unicast_src means nothing to a multicast instance"
    );
    assert_eq!(
        i.authentication.as_ref().map(|a| (a.kind, a.pass.as_str())),
        Some((AuthType::Pass, "secret12"))
    );
    assert_eq!(
        i.virtual_ipaddress[0].broadcast.map(|b| b.to_string()),
        Some("192.0.2.255".into())
    );
    assert_eq!(i.virtual_ipaddress[0].scope, Some(Scope::Global));
    assert_eq!(i.virtual_ipaddress[1].use_vmac, Some(None));
    assert_eq!(i.virtual_routes[1].kind, RouteType::Blackhole);
    assert_eq!(i.track_interface[1].weight, Some(-10));
    assert_eq!(i.preempt_delay, Duration::from_millis(10_500));
    let j = v.instance("VI_6").expect("VI_6");
    assert_eq!(j.version, 3, "IPv6 instances use VRRPv3");
    assert_eq!(j.advert_int, Duration::from_millis(500));
    assert_eq!(j.unicast_peers[0].min_ttl, Some(250));
    assert!(j.check_unicast_src, "global vrrp_check_unicast_src");
    assert!(j.nopreempt);
    let g = &l.config.global;
    assert_eq!(g.simple.router_id.as_deref(), Some("node1"));
    assert_eq!(g.net_namespace_ipvs, Some(None));
    assert!(g.simple.use_pid_dir);
    assert_eq!(g.linkbeat_interfaces.len(), 2);
    assert_eq!(v.static_routes[1].nexthops.len(), 2);
    assert_eq!(v.static_rules.len(), 3);
    assert_eq!(
        v.track_processes[0].process,
        vec!["haproxy", "-f", "/etc/h a.cfg"]
    );
}

#[test]
fn dump_is_a_fixed_point() {
    let first = load(RICH).config.dump();
    let second_load = load(&first);
    assert!(
        second_load.diagnostics.is_clean(),
        "{:#?}",
        messages(&second_load)
    );
    let second = second_load.config.dump();
    assert_eq!(first, second);
}

#[test]
fn rich_dump_snapshot() {
    insta::assert_snapshot!("rich_vrrp_dump", load(RICH).config.dump());
}

#[test]
fn minimal_instance_snapshot() {
    let l = load("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1/24\n }\n}\n");
    assert!(l.diagnostics.is_clean(), "{:#?}", messages(&l));
    insta::assert_snapshot!("minimal_vrrp_dump", l.config.dump());
}

#[test]
fn instance_defaults() {
    let l = load("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n");
    let i = &l.config.vrrp.instances[0];
    assert_eq!(i.state, InitialState::Backup);
    assert_eq!(i.priority, 100);
    assert_eq!(i.advert_int, Duration::from_secs(1));
    assert_eq!(i.version, 2);
    assert!(i.accept);
    assert!(!i.nopreempt);
    assert_eq!(i.garp_master_delay, Duration::from_secs(5));
    assert_eq!(i.garp_master_repeat, 5);
    assert_eq!(i.down_timer_adverts, 3);
    assert_eq!(i.unicast_ttl, 255);
    assert_eq!(i.virtual_ipaddress[0].prefix.len, 32);
}

#[test]
fn invalid_values_are_warned_with_their_line() {
    let l = load(
        "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 300\n\
         authentication {\n auth_type PASS\n auth_pass 1234567890\n }\n\
         virtual_ipaddress {\n 10.0.0.1/24\n 10.0.0.2 foo\n fe80::1\n }\n bogus 1\n}\n",
    );
    let m = messages(&l);
    assert!(
        m.iter()
            .any(|s| s.starts_with("(k.conf: Line 4)") && s.contains("Priority not valid")),
        "{m:#?}"
    );
    assert!(
        m.iter()
            .any(|s| s == "(k.conf: Line 7) Truncating auth_pass to 8 characters"),
        "{m:#?}"
    );
    assert!(
        m.iter()
            .any(|s| s.starts_with("(k.conf: Line 11)") && s.contains("'foo'")),
        "{m:#?}"
    );
    assert!(
        m.iter()
            .any(|s| s.starts_with("(k.conf: Line 12)") && s.contains("address family must match")),
        "{m:#?}"
    );
    assert!(
        m.iter()
            .any(|s| s == "(k.conf: Line 14) Unknown keyword 'bogus'"),
        "{m:#?}"
    );
    assert_eq!(l.diagnostics.exit_code(), 5);
    let i = &l.config.vrrp.instances[0];
    assert_eq!(i.priority, 100);
    assert_eq!(
        i.authentication.as_ref().map(|a| a.pass.as_str()),
        Some("12345678")
    );
    assert_eq!(i.virtual_ipaddress.len(), 2);
}

#[test]
fn instance_without_vrid_is_dropped() {
    let l = load("vrrp_instance VI_1 {\n interface eth0\n}\n");
    assert!(l.config.vrrp.instances.is_empty());
    assert_eq!(l.diagnostics.exit_code(), 5);
}

#[test]
fn advert_int_is_rounded_per_version() {
    let l = load("vrrp_instance A {\n interface eth0\n virtual_router_id 1\n advert_int 1.5\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n\
                  vrrp_instance B {\n interface eth0\n virtual_router_id 2\n version 3\n advert_int 0.015\n virtual_ipaddress {\n 10.0.0.2\n }\n}\n");
    let m = messages(&l);
    assert!(
        m.contains(
            &"(A) VRRPv2 advertisement interval 1.500000s must be an integer. rounding".to_string()
        ),
        "{m:#?}"
    );
    assert!(
        m.contains(
            &"(B) VRRPv3 advertisement interval 0.015000s must be in units of 10ms - rounding"
                .to_string()
        ),
        "{m:#?}"
    );
    assert_eq!(
        l.config.vrrp.instances[0].advert_int,
        Duration::from_secs(2)
    );
    assert_eq!(
        l.config.vrrp.instances[1].advert_int,
        Duration::from_millis(20)
    );
}

#[test]
fn cross_references_are_checked() {
    let l = load(
        "vrrp_script chk {\n script /bin/true\n}\n\
         vrrp_sync_group G {\n group {\n VI_1\n VI_9\n }\n}\n\
         vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n track_script {\n chk\n nonexist\n }\n\
         track_file {\n nofile\n }\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n\
         vrrp_instance VI_2 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n 10.0.0.2\n }\n}\n",
    );
    let m = messages(&l);
    assert!(
        m.contains(
            &"(k.conf: Line 15) (VI_1) track script nonexist not found, ignoring...".to_string()
        ),
        "{m:#?}"
    );
    assert!(
        m.contains(
            &"(k.conf: Line 18) (VI_1) track file nofile not found, ignoring...".to_string()
        ),
        "{m:#?}"
    );
    assert!(
        m.contains(
            &"Virtual router VI_9 specified in sync group G doesn't exist - ignoring".to_string()
        ),
        "{m:#?}"
    );
    assert!(
        m.contains(
            &"Sync group G has only 1 virtual router(s) - this probably isn't what you want"
                .to_string()
        ),
        "{m:#?}"
    );
    assert!(
        m.contains(&"VI_1 and VI_2 both use VRID 51 with IPv4 on interface eth0".to_string()),
        "{m:#?}"
    );
    let i = &l.config.vrrp.instances[0];
    assert_eq!(i.track_script.len(), 1);
    assert!(i.track_file.is_empty());
}

#[test]
fn strict_mode_enforces_rfc_rules() {
    let l = load(
        "global_defs {\n vrrp_strict\n}\n\
         vrrp_instance VI_1 {\n state MASTER\n interface eth0\n virtual_router_id 1\n priority 200\n preempt_delay 5\n\
         authentication {\n auth_type PASS\n auth_pass x\n }\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n",
    );
    let i = &l.config.vrrp.instances[0];
    assert!(i.strict_mode);
    assert!(!i.accept, "no_accept unless priority 255");
    assert!(i.authentication.is_none());
    assert_eq!(i.preempt_delay, Duration::ZERO);
    assert_eq!(i.state, InitialState::Backup);
    assert!(i.lower_prio_no_advert);
    assert_eq!(l.diagnostics.exit_code(), 5);
}

#[test]
fn static_entries_and_track_groups() {
    let l = load(
        "track_group TG {\n group {\n VI_1\n NOPE\n }\n}\n\
         static_ipaddress {\n 10.1.0.1/24 dev eth0 brd - track_group TG\n 10.1.0.2/24 track_group MISSING\n}\n\
         vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n",
    );
    let m = messages(&l);
    assert!(
        m.iter()
            .any(|s| s.starts_with("(k.conf: Line 4)") && s.contains("NOPE")),
        "{m:#?}"
    );
    assert!(
        m.contains(&"track_group MISSING not found".to_string()),
        "{m:#?}"
    );
    let v = &l.config.vrrp;
    assert_eq!(v.static_track_groups[0].members.len(), 1);
    assert_eq!(
        v.static_ipaddress[0].broadcast,
        Some(Broadcast::ClearHostBits)
    );
    assert_eq!(v.static_ipaddress[0].track_group.as_deref(), Some("TG"));
    assert_eq!(v.static_ipaddress[1].track_group, None);
}

#[test]
fn unknown_global_keyword_is_warned_but_extension_is_not() {
    let l = load("global_defs {\n rkeepalived_http_listen 127.0.0.1:9000\n no_such_thing\n}\n");
    let m = messages(&l);
    assert_eq!(
        m,
        vec!["(k.conf: Line 3) Unknown keyword 'no_such_thing'".to_string()]
    );
}

#[test]
fn parse_is_fast_on_large_configs() {
    let mut text = String::new();
    for n in 0..4000 {
        text.push_str(&format!(
            "vrrp_instance VI_{n} {{\n interface eth0\n virtual_router_id {}\n priority 100\n advert_int 1\n\
             virtual_ipaddress {{\n 10.{}.{}.1/24 dev eth0\n 10.{}.{}.2/24\n }}\n track_script {{\n chk\n }}\n}}\n",
            n % 255 + 1, n / 256, n % 256, n / 256, n % 256
        ));
    }
    text.push_str("vrrp_script chk {\n script /bin/true\n}\n");
    let start = std::time::Instant::now();
    let l = load(&text);
    let took = start.elapsed();
    assert_eq!(l.config.vrrp.instances.len(), 4000);
    // A generous bound for debug builds on a loaded machine; release is far faster.
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn trackers_defaults_and_errors() {
    let l = load(
        "track_file tf {\n file /tmp/x\n}\ntrack_file nofile {\n weight 2\n}\n\
         vrrp_track_process p {\n process nginx\n quorum 3\n quorum_max 1\n}\n\
         vrrp_script s {\n interval 2\n}\nvrrp_script t {\n script /bin/true\n weight 300\n}\n",
    );
    let v = &l.config.vrrp;
    assert_eq!(v.track_files.len(), 1);
    assert_eq!(v.track_files[0].weight, 1);
    assert_eq!(v.track_processes[0].weight, 1);
    assert_eq!(v.track_processes[0].quorum, 3);
    assert_eq!(
        v.track_processes[0].quorum_max, None,
        "quorum_max < quorum is dropped"
    );
    assert_eq!(
        v.scripts.len(),
        1,
        "a vrrp_script without script is removed"
    );
    assert_eq!(
        v.scripts[0].weight, 0,
        "an out-of-range weight keeps the default"
    );
    let lines: Vec<u32> = l
        .diagnostics
        .items()
        .iter()
        .filter_map(|d| d.origin.as_ref().map(|o| o.line))
        .collect();
    assert_eq!(lines, vec![4, 7, 12, 17]);
}

#[test]
fn keepalived_227_keyword_placement() {
    let l = load(
        "global_defs {\n use_pid_dir\n child_wait_time 3\n}\nchild_wait_time 7\n\
         vrrp_sync_group G {\n group {\n A\n B\n }\n notify_deleted\n}\n\
         vrrp_instance A {\n interface eth0\n virtual_router_id 1\n notify_deleted\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n\
         vrrp_instance B {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress {\n 10.0.0.2\n }\n}\n",
    );
    let m = messages(&l);
    assert_eq!(
        m,
        vec![
            "(k.conf: Line 2) Unknown keyword 'use_pid_dir'".to_string(),
            "(k.conf: Line 3) Unknown keyword 'child_wait_time'".to_string(),
            "(k.conf: Line 11) Unknown keyword 'notify_deleted'".to_string(),
        ]
    );
    assert_eq!(l.config.global.simple.child_wait_time, 7);
    assert!(!l.config.global.simple.use_pid_dir);
    assert_eq!(l.config.vrrp.instances[0].notifies.deleted, Some(None));
}

#[test]
fn route_and_rule_checks() {
    let l = load(
        "static_routes {\n 10.9.0.0/16 gw 10.0.0.1 dev eth0\n 10.8.0.0/16 via 10.0.0.1\n}\n\
         static_rules {\n from 10.0.0.0/8 table 5\n to 10.1.0./24 table 5\n from 10.2.0.0/16 table 6 preference 7 track_group X\n}\n",
    );
    let m = messages(&l);
    assert!(
        m.contains(
            &"(k.conf: Line 2) \"gw\" for routes is deprecated. Please use \"via\"".to_string()
        ),
        "{m:#?}"
    );
    assert!(m.contains(&"(k.conf: Line 3) Warning - cannot track route 10.8.0.0/16 with no interface specified, not tracking".to_string()), "{m:#?}");
    assert!(m.contains(&"(k.conf: Line 6) Rule has no preference specified - setting to 16384. This is probably not what you want.".to_string()), "{m:#?}");
    assert!(
        m.contains(
            &"(k.conf: Line 7) VRRP parsed invalid IP 10.1.0./24. skipping IP...".to_string()
        ),
        "{m:#?}"
    );
    assert!(
        m.contains(
            &"(k.conf: Line 8) Static rule cannot have track_group if dev/iif not specified"
                .to_string()
        ),
        "{m:#?}"
    );
    let v = &l.config.vrrp;
    assert!(v.static_routes[1].no_track);
    assert_eq!(v.static_rules.len(), 2);
    assert_eq!(v.static_rules[0].preference, Some(16384));
    assert_eq!(v.static_rules[1].track_group, None);
}
