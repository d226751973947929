//! The dumps keepalived writes on signals, with keepalived 2.2.7's file names and layout
//! (sections, labels, JSON keys; compared with the files it writes for the same
//! configuration):
//!
//! - SIGUSR1: the VRRP child writes `/tmp/keepalived.data` (`Global definitions`,
//!   `VRRP Topology`, `VRRP Sockpool`); the parent writes `/tmp/keepalived_parent.data`
//!   (`Global definitions`, with the startup and shutdown scripts).
//! - SIGUSR2 / SIGRTMAX-1: `/tmp/keepalived.stats`, one block per instance.
//! - SIGRTMIN+2: `/tmp/keepalived.json`, an array of `{"data": ..., "stats": ...}`.
//!
//! Files are created with the process umask (0177 unless `-u`/`umask`), as keepalived's.
//!
//! `data_use_instance` puts the instance name and the network namespace into the names of the
//! `.data` files (only those), as keepalived 2.2.7 does (observed): `instance foo` gives
//! `keepalived.foo.data`, namespace `ns` `keepalived.ns.data`, both `keepalived.ns_foo.data`
//! (`keepalived_parent.…`, `keepalived_check.…` alike); `-i ID` plays no part.

use std::fmt::Write as _;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rka_config::Config;
use serde_json::{json, Value};

use super::engine::Engine;

/// Where the data dump goes.
pub const DATA_FILE: &str = "/tmp/keepalived.data";
/// Where the parent's data dump goes.
pub const PARENT_DATA_FILE: &str = "/tmp/keepalived_parent.data";
/// Where the statistics go.
pub const STATS_FILE: &str = "/tmp/keepalived.stats";
/// Where the JSON dump goes.
pub const JSON_FILE: &str = "/tmp/keepalived.json";

/// What `data_use_instance` inserts into the `.data` file names of this process (see the
/// module documentation); `None`: keepalived's plain names.
static DATA_NAME: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// The part of the `.data` file names that `data_use_instance` adds for `instance` and
/// `namespace`, as keepalived 2.2.7 names them; `None` without the keyword or without either.
pub fn data_name_part(
    data_use_instance: bool,
    instance: Option<&str>,
    namespace: Option<&str>,
) -> Option<String> {
    if !data_use_instance {
        return None;
    }
    match (namespace, instance) {
        (Some(ns), Some(i)) => Some(format!("{ns}_{i}")),
        (Some(ns), None) => Some(ns.to_string()),
        (None, Some(i)) => Some(i.to_string()),
        (None, None) => None,
    }
}

/// `base` (`/tmp/NAME.data`) with `part` inserted before `.data`.
pub fn data_file_named(base: &str, part: Option<&str>) -> String {
    match (part, base.strip_suffix(".data")) {
        (Some(part), Some(stem)) => format!("{stem}.{part}.data"),
        _ => base.to_string(),
    }
}

/// Records how this process names its `.data` files, from the configuration it loaded (at
/// start and on each reload) and its network namespace (`-s` / `net_namespace`).
pub fn set_data_naming(global: &rka_config::model::global::GlobalDefs) {
    let namespace = crate::pidfile::namespace();
    let part = data_name_part(
        global.simple.data_use_instance,
        global.simple.instance.as_deref(),
        namespace
            .as_deref()
            .or(global.simple.net_namespace.as_deref()),
    );
    if let Ok(mut d) = DATA_NAME.lock() {
        *d = part;
    }
}

/// The path of the `.data` file `base` for this process (see [`set_data_naming`]).
pub fn data_path(base: &str) -> String {
    let part = DATA_NAME.lock().ok().and_then(|d| d.clone());
    data_file_named(base, part.as_deref())
}

fn write(path: &str, text: &str) {
    if let Err(e) = std::fs::write(path, text) {
        tracing::error!("cannot write {path}: {e}");
    }
}

/// The wall-clock time of `t`, an engine [`Instant`], in seconds since the Unix epoch
/// (keepalived prints its transition times so, with microseconds).
pub fn unix_seconds(t: Instant) -> f64 {
    let (now, wall) = (Instant::now(), SystemTime::now());
    let at = if t <= now {
        wall.checked_sub(now - t)
    } else {
        wall.checked_add(t - now)
    };
    at.and_then(|w| w.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `SECS.MICROS (Sun Nov 22 09:45:01.911596 2026)`, as keepalived's data dump prints a time
/// (UTC here; keepalived uses the local time zone).
fn time_text(unix: f64) -> String {
    let micros = (unix * 1e6).round() as i64;
    let (secs, frac) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
    let t = crate::utc::Utc::from_unix(secs);
    format!("{secs}.{frac:06} ({})", t.ctime(Some(frac)))
}

/// The current master's address and priority as keepalived reports them: known only while
/// BACKUP (a MASTER reports priority 0 and no address).
fn master_seen(i: &rka_vrrp::Instance) -> Option<(std::net::IpAddr, u8)> {
    if i.state() != rka_vrrp::State::Backup {
        return None;
    }
    Some((i.master_address()?, i.master_priority()?))
}

/// An address as keepalived's dumps show it: `ADDR/LEN dev IF scope SCOPE`, then `set`
/// while installed and `nftable_set` while also in the no_accept nftables set.
fn vip_text(v: &super::mapping::VipPlan, held: bool, in_nft_set: bool) -> String {
    let scope = match v.spec.scope {
        rka_netif::Scope::Global => "global".to_string(),
        rka_netif::Scope::Site => "site".to_string(),
        rka_netif::Scope::Link => "link".to_string(),
        rka_netif::Scope::Host => "host".to_string(),
        rka_netif::Scope::Nowhere => "nowhere".to_string(),
        rka_netif::Scope::Other(n) => n.to_string(),
    };
    format!(
        "{}/{} dev {} scope {scope}{}{}",
        v.spec.addr,
        v.spec.prefix_len,
        v.ifname,
        if held { " set" } else { "" },
        if held && in_nft_set {
            " nftable_set"
        } else {
            ""
        }
    )
}

/// The `virtual_ipaddress` and `virtual_ipaddress_excluded` lines of an instance.
fn vip_lines(
    member: &super::unit::Member,
    model: Option<&rka_config::model::vrrp::instance::VrrpInstance>,
) -> (Vec<String>, Vec<String>) {
    let held = member.holds_vips;
    // Every address of a no_accept instance is in the drop set while held.
    let nft = !member.plan.firewall.is_empty();
    let excluded = |a: std::net::IpAddr| {
        model.is_some_and(|m| {
            m.virtual_ipaddress_excluded
                .iter()
                .any(|x| x.prefix.addr == a)
                && !m.virtual_ipaddress.iter().any(|x| x.prefix.addr == a)
        })
    };
    let (mut vips, mut evips) = (Vec::new(), Vec::new());
    for v in &member.plan.vips {
        let line = vip_text(v, held, nft);
        if excluded(v.spec.addr) {
            evips.push(line);
        } else {
            vips.push(line);
        }
    }
    (vips, evips)
}

fn yes(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// A script's argv as keepalived's dump quotes it; `resolve` shows the program by its real
/// path, as keepalived does for the startup and shutdown scripts (`/usr/bin/true` for
/// `/bin/true` on a merged-/usr system).
fn script_line(s: &rka_config::model::global::UserScript, resolve: bool) -> String {
    s.command
        .argv
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let shown = (resolve && i == 0)
                .then(|| std::fs::canonicalize(a).ok())
                .flatten()
                .map_or_else(|| a.clone(), |p| p.display().to_string());
            format!("'{shown}'")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `UID:GID` of `user` (its primary group unless `group` is given), `0:0` when unknown, as
/// keepalived prints who runs a script or owns a FIFO.
fn uid_gid(user: Option<&(String, Option<String>)>) -> String {
    let Some((name, group)) = user else {
        return "0:0".to_string();
    };
    let Some(u) = nix::unistd::User::from_name(name).ok().flatten() else {
        return "0:0".to_string();
    };
    let gid = group
        .as_deref()
        .and_then(|g| nix::unistd::Group::from_name(g).ok().flatten())
        .map_or(u.gid, |g| g.gid);
    format!("{}:{}", u.uid, gid)
}

/// Seconds with keepalived's six decimals (`0.500000`).
fn secs6(d: std::time::Duration) -> String {
    format!("{:.6}", d.as_secs_f64())
}

/// The `Global definitions` section every process's data dump starts with, with keepalived
/// 2.2.7's labels and order (compared with its dumps of a minimal and of a configuration
/// setting every keyword). `parent` is the parent's variant: its startup and shutdown
/// scripts, the configured `default_interface` and GARP lower-priority values only (a child
/// shows them resolved). Lines for features rkeepalived does not have say what is true of it
/// (SNMP and DBus disabled); keepalived's libnftnl version line has no counterpart and is
/// left out.
pub fn global_text(config: &Config, parent: bool) -> String {
    let g = &config.global;
    let s = &g.simple;
    let mut out = String::from("------< Global definitions >------\n");
    let mut line = |t: String| {
        out.push(' ');
        out.push_str(&t);
        out.push('\n');
    };
    let hostname = || {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let default_user = crate::vrrp::notify::default_script_user(config);
    line(format!(
        "Network namespace = {}",
        s.net_namespace.as_deref().unwrap_or("(default)")
    ));
    line(format!(
        "Network namespace ipvs = {}",
        g.net_namespace_ipvs
            .as_ref()
            .and_then(|n| n.as_deref())
            .unwrap_or("(main namespace)")
    ));
    let named = |own: &Option<String>, default: &str| {
        own.clone()
            .or_else(|| s.process_names.then(|| default.to_string()))
    };
    for (label, name) in [
        ("VRRP", named(&s.vrrp_process_name, "keepalived_vrrp")),
        ("LVS", named(&s.checker_process_name, "keepalived_lvs")),
        ("BFD", named(&s.bfd_process_name, "keepalived_bfd")),
    ] {
        if let Some(n) = name {
            line(format!("{label} process name = {n}"));
        }
    }
    line(format!(
        "Router ID = {}",
        s.router_id.clone().unwrap_or_else(hostname)
    ));
    if let Some(smtp) = &g.smtp_server {
        line(format!("Smtp server = {}", smtp.host));
        line(format!("Smtp server port = {}", smtp.port));
        line(format!(
            "Smtp HELO name = {}",
            s.smtp_helo_name.clone().unwrap_or_else(hostname)
        ));
        line(format!(
            "Smtp server connection timeout = {}",
            s.smtp_connect_timeout.as_secs()
        ));
    }
    if let Some(from) = &s.notification_email_from {
        line(format!("Email notification from = {from}"));
    }
    if !g.notification_email.is_empty() {
        line("Email notification to:".into());
        for to in &g.notification_email {
            line(format!("  {to}"));
        }
    }
    let alert = |v: Option<bool>| match v {
        None => "unset",
        Some(true) => "on",
        Some(false) => "off",
    };
    line(format!("Default smtp_alert = {}", alert(s.smtp_alert)));
    line(format!(
        "Default smtp_alert_vrrp = {}",
        alert(s.smtp_alert_vrrp)
    ));
    line(format!(
        "Default smtp_alert_checker = {}",
        alert(s.smtp_alert_checker)
    ));
    line(format!(
        "Checkers log all failures = {}",
        yes(s.checker_log_all_failures)
    ));
    match &g.reload_check_config {
        None => line("No test config before reload".into()),
        Some(f) => line(format!(
            "Test config before reload, log to {}",
            f.as_deref().unwrap_or("(none)")
        )),
    }
    if parent {
        // The parent's scripts run as root unless they name a user.
        let who = |sc: &rka_config::model::global::UserScript| {
            let own = sc.user.clone().map(|u| (u, sc.group.clone()));
            uid_gid(own.as_ref())
        };
        if let Some(sc) = &s.startup_script {
            line(format!(
                "Startup script = {}, uid:gid {}, timeout {}",
                script_line(sc, true),
                who(sc),
                s.startup_script_timeout
            ));
        }
        if let Some(sc) = &s.shutdown_script {
            // keepalived writes no comma before this one's timeout.
            line(format!(
                "Shutdown script = {}, uid:gid {} timeout {}",
                script_line(sc, true),
                who(sc),
                s.shutdown_script_timeout
            ));
        }
    }
    line(format!(
        "Dynamic interfaces = {}",
        yes(g.dynamic_interfaces.is_some())
    ));
    if let Some(allow) = g.dynamic_interfaces {
        line(format!("Allow interface changes = {}", yes(allow)));
    }
    if !parent {
        line(format!(
            "Default interface = {}",
            s.default_interface.as_deref().unwrap_or("eth0")
        ));
    }
    if s.no_email_faults {
        line("Send emails for fault transitions = off".into());
    }
    if let Some(t) = &g.lvs_timeouts {
        if let Some(v) = t.tcp {
            line(format!("LVS TCP timeout = {v}"));
        }
        if let Some(v) = t.tcp_fin {
            line(format!("LVS TCP FIN timeout = {v}"));
        }
        if let Some(v) = t.udp {
            // keepalived 2.2.7 labels the UDP timeout so too.
            line(format!("LVS TCP timeout = {v}"));
        }
    }
    line(format!(
        "Disable local IGMP = {}",
        if s.disable_local_igmp { "yes" } else { "no" }
    ));
    if let Some(d) = &g.lvs_sync_daemon {
        if let Some(i) = &d.instance {
            line(format!("LVS syncd vrrp name = {i}"));
        }
        line(format!("LVS syncd interface = {}", d.interface));
        if let Some(id) = d.sync_id {
            line(format!("LVS syncd syncid = {id}"));
        }
    }
    line(format!("LVS flush = {}", yes(s.lvs_flush)));
    line(format!(
        "LVS flush on stop = {}",
        match g.lvs_flush_on_stop {
            None => "disabled",
            Some(rka_config::model::global::LvsFlushOnStop::All) => "enabled",
            Some(rka_config::model::global::LvsFlushOnStop::VirtualServers) => "VS",
        }
    ));
    for (label, fifo, script) in [
        ("Global", &s.notify_fifo, &s.notify_fifo_script),
        ("VRRP", &s.vrrp_notify_fifo, &s.vrrp_notify_fifo_script),
        ("LVS", &s.lvs_notify_fifo, &s.lvs_notify_fifo_script),
    ] {
        if let Some(f) = fifo {
            let own = f.user.clone().map(|u| (u, f.group.clone()));
            line(format!(
                "{label} notify fifo = {}, uid:gid {}",
                f.path,
                uid_gid(own.as_ref().or(default_user.as_ref()))
            ));
        }
        if let Some(sc) = script {
            let own = sc.user.clone().map(|u| (u, sc.group.clone()));
            line(format!(
                "{label} notify fifo script = {}, uid:gid {}",
                script_line(sc, false),
                uid_gid(own.as_ref().or(default_user.as_ref()))
            ));
        }
    }
    line(format!(
        "FIFO write vrrp states on reload = {}",
        yes(s.fifo_write_vrrp_states_on_reload)
    ));
    line(format!(
        "VRRP notify priority changes = {}",
        yes(s.vrrp_notify_priority_changes)
    ));
    line(format!("VRRP IPv4 mcast group = {}", s.vrrp_mcast_group4));
    line(format!("VRRP IPv6 mcast group = {}", s.vrrp_mcast_group6));
    line(format!(
        "Gratuitous ARP delay = {}",
        s.vrrp_garp_master_delay.as_secs()
    ));
    line(format!(
        "Gratuitous ARP repeat = {}",
        s.vrrp_garp_master_repeat
    ));
    line(format!(
        "Gratuitous ARP refresh timer = {}",
        s.vrrp_garp_master_refresh.as_secs()
    ));
    line(format!(
        "Gratuitous ARP refresh repeat = {}",
        s.vrrp_garp_master_refresh_repeat
    ));
    // The parent shows what was configured (keepalived's "unset" is u32::MAX); a child the
    // value in force (the master delay and repeat by default).
    let (lower_delay, lower_repeat) = if parent {
        (
            s.vrrp_garp_lower_prio_delay
                .map_or(u64::from(u32::MAX), |d| d.as_secs()),
            s.vrrp_garp_lower_prio_repeat.unwrap_or(u32::MAX),
        )
    } else {
        (
            s.vrrp_garp_lower_prio_delay
                .unwrap_or(s.vrrp_garp_master_delay)
                .as_secs(),
            s.vrrp_garp_lower_prio_repeat
                .unwrap_or(s.vrrp_garp_master_repeat),
        )
    };
    line(format!(
        "Gratuitous ARP lower priority delay = {lower_delay}"
    ));
    line(format!(
        "Gratuitous ARP lower priority repeat = {lower_repeat}"
    ));
    line(format!(
        "Num adverts before down = {}",
        s.vrrp_down_timer_adverts
    ));
    let (extra_kind, extra_secs) = match &g.vrrp_garp_extra_if {
        Some(e) => (if e.all { "i/f" } else { "VMAC" }, e.interval.as_secs()),
        None => ("VMAC", 0),
    };
    line(format!(
        "Gratuitous ARP for each secondary {extra_kind} = {extra_secs}s"
    ));
    line(format!(
        "Send advert after receive lower priority advert = {}",
        yes(!s.vrrp_lower_prio_no_advert.unwrap_or(false))
    ));
    line(format!(
        "Send advert after receive higher priority advert = {}",
        yes(s.vrrp_higher_prio_send_advert.unwrap_or(false))
    ));
    line(format!(
        "Gratuitous ARP interval = {}",
        secs6(s.vrrp_garp_interval)
    ));
    line(format!(
        "Gratuitous NA interval = {}",
        secs6(s.vrrp_gna_interval)
    ));
    line(format!(
        "VRRP default protocol version = {}",
        s.vrrp_version
    ));
    if let Some(t) = &g.nftables {
        line(format!(
            "nftables table name = {}",
            t.name.as_deref().unwrap_or("keepalived")
        ));
        line(format!(
            "nftables base chain priority = {}",
            s.nftables_priority.unwrap_or(-1)
        ));
        if s.nftables_ifindex {
            line("nftables force use ifindex for link local IPv6".into());
        }
    }
    line(format!(
        "nftables {} counters",
        if s.nftables_counters {
            "with"
        } else {
            "without"
        }
    ));
    line(format!(
        "VRRP check unicast_src = {}",
        yes(s.vrrp_check_unicast_src)
    ));
    line(format!(
        "VRRP skip check advert addresses = {}",
        yes(s.vrrp_skip_check_adv_addr)
    ));
    line(format!("VRRP strict mode = {}", yes(s.vrrp_strict)));
    line(format!(
        "Max auto priority = {}",
        g.max_auto_priority.unwrap_or(0)
    ));
    line(format!(
        "Min auto priority delay = {} usecs",
        s.min_auto_priority_delay.unwrap_or(1_000_000)
    ));
    for (label, nice, no_swap, rt, cpus, rttime) in [
        (
            "VRRP",
            s.vrrp_priority,
            s.vrrp_no_swap,
            s.vrrp_rt_priority,
            &g.vrrp_cpu_affinity,
            s.vrrp_rlimit_rttime,
        ),
        (
            "Checker",
            s.checker_priority,
            s.checker_no_swap,
            s.checker_rt_priority,
            &g.checker_cpu_affinity,
            s.checker_rlimit_rttime,
        ),
        (
            "BFD",
            s.bfd_priority,
            s.bfd_no_swap,
            s.bfd_rt_priority,
            &g.bfd_cpu_affinity,
            s.bfd_rlimit_rttime,
        ),
    ] {
        line(format!("{label} process priority = {}", nice.unwrap_or(0)));
        line(format!("{label} don't swap = {}", yes(no_swap)));
        line(format!("{label} realtime priority = {}", rt.unwrap_or(0)));
        if !cpus.is_empty() {
            let list: String = cpus.iter().map(|c| format!("{c} ")).collect();
            line(format!("{label} CPU Affinity = {list}"));
        }
        line(format!(
            "{label} realtime limit = {}",
            rttime.unwrap_or(crate::procattr::DEFAULT_RLIMIT_RTTIME_US)
        ));
    }
    // rkeepalived has no SNMP agent and no DBus interface, whatever the configuration says.
    for what in ["vrrp", "checker", "RFCv2", "RFCv3", "traps"] {
        line(format!("SNMP {what} disabled"));
    }
    line(format!(
        "SNMP socket = {}",
        s.snmp_socket
            .clone()
            .unwrap_or_else(|| "default (unix:/var/agentx/master)".to_string())
    ));
    line("DBus disabled".into());
    line(format!(
        "DBus service name = {}",
        s.dbus_service_name.as_deref().unwrap_or("")
    ));
    line(format!(
        "Script security {}",
        if s.enable_script_security {
            "enabled"
        } else {
            "disabled"
        }
    ));
    line(format!(
        "Default script uid:gid {}",
        uid_gid(default_user.as_ref())
    ));
    let bufs = |v: Option<u32>| v.unwrap_or(0);
    for (name, size, force) in [
        (
            "vrrp_netlink_cmd_rcv_bufs",
            s.vrrp_netlink_cmd_rcv_bufs,
            s.vrrp_netlink_cmd_rcv_bufs_force,
        ),
        (
            "vrrp_netlink_monitor_rcv_bufs",
            s.vrrp_netlink_monitor_rcv_bufs,
            s.vrrp_netlink_monitor_rcv_bufs_force,
        ),
        (
            "process_monitor_rcv_bufs",
            s.process_monitor_rcv_bufs,
            s.process_monitor_rcv_bufs_force,
        ),
        (
            "lvs_netlink_cmd_rcv_bufs",
            s.lvs_netlink_cmd_rcv_bufs,
            s.lvs_netlink_cmd_rcv_bufs_force,
        ),
        (
            "lvs_netlink_monitor_rcv_bufs",
            s.lvs_netlink_monitor_rcv_bufs,
            s.lvs_netlink_monitor_rcv_bufs_force,
        ),
    ] {
        line(format!("{name} = {}", bufs(size)));
        line(format!("{name}_force = {}", u8::from(force)));
    }
    line(format!(
        "rs_init_notifies = {}",
        u8::from(s.rs_init_notifies)
    ));
    line(format!(
        "no_checker_emails = {}",
        u8::from(s.no_checker_emails)
    ));
    line(format!("rx_bufs_multiples = {}", s.vrrp_rx_bufs_multiplier));
    let mask = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    nix::sys::stat::umask(mask);
    line(format!("umask = 0{:o}", mask.bits()));
    if let Some(d) = s.vrrp_startup_delay {
        let secs = d.as_secs_f64();
        line(if d.subsec_nanos() == 0 {
            format!("vrrp_startup_delay = {}", d.as_secs())
        } else {
            format!("vrrp_startup_delay = {secs:.6}")
        });
    }
    if s.log_unknown_vrids {
        line("log_unknown_vrids".into());
    }
    if let Some(p) = &s.vmac_prefix {
        line(format!("VMAC prefix = {p}"));
    }
    out
}

/// Writes the parent's data dump (SIGUSR1 to the parent).
pub fn write_parent_data(config: &Config) {
    write(&data_path(PARENT_DATA_FILE), &global_text(config, true));
}

fn auth_name(a: &rka_vrrp::Authentication) -> (&'static str, u8) {
    match a {
        rka_vrrp::Authentication::None => ("none", 0),
        rka_vrrp::Authentication::Pass(_) => ("PASS", 1),
        rka_vrrp::Authentication::Ah(_) => ("IPSEC_AH", 2),
    }
}

fn state_code(s: rka_vrrp::State) -> u8 {
    match s {
        rka_vrrp::State::Init => 0,
        rka_vrrp::State::Backup => 1,
        rka_vrrp::State::Master => 2,
        rka_vrrp::State::Fault => 3,
        rka_vrrp::State::Stop => 98,
    }
}

fn interval_text(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} sec", d.as_secs())
    } else {
        format!("{} milli-sec", d.as_millis())
    }
}

/// The configuration model of instance `name` (accept mode, promote_secondaries...).
fn model<'a>(
    engine: &'a Engine,
    name: &str,
) -> Option<&'a rka_config::model::vrrp::instance::VrrpInstance> {
    engine.config.vrrp.instances.iter().find(|i| i.name == name)
}

/// The data dump: global definitions, then every sync group and instance with its state and
/// settings, then the sockets.
pub fn data_text(engine: &Engine) -> String {
    let mut out = global_text(&engine.config, false);
    out.push_str("------< VRRP Topology >------\n");
    // keepalived's socket pool: one entry per interface, family and unicast/multicast.
    let mut sockets: Vec<(SockKey, Vec<(String, u8)>)> = Vec::new();
    for unit in &engine.units {
        for (m, member) in unit.members.iter().enumerate() {
            let c = &member.plan.core;
            let inst = unit.core.member(m);
            let state = unit.state(m);
            let model = model(engine, &c.name);
            let _ = writeln!(out, " VRRP Instance = {}", c.name);
            let _ = writeln!(out, "   VRRP Version = {}", c.version.number());
            if let Some(g) = &unit.group {
                let _ = writeln!(out, "   Sync group = {}", g.name);
            }
            let _ = writeln!(out, "   State = {}", state.as_str());
            if let Some((addr, prio)) = inst.and_then(master_seen) {
                let _ = writeln!(out, "   Master router = {addr}");
                let _ = writeln!(out, "   Master priority = {prio}");
            }
            let _ = writeln!(out, "   Wantstate = {}", state.as_str());
            if let Some(t) = inst.and_then(rka_vrrp::Instance::last_transition) {
                let _ = writeln!(out, "   Last transition = {}", time_text(unix_seconds(t)));
            }
            if let Some(i) = inst {
                let _ = writeln!(
                    out,
                    "   Master down timer = {} usecs",
                    i.master_down_interval().as_micros()
                );
            }
            let _ = writeln!(out, "   Interface = {}", member.plan.interface);
            let _ = writeln!(out, "   Using src_ip = {}", c.source);
            if member.plan.unicast {
                let _ = writeln!(out, "   Unicast peers = {}", c.unicast_peers.len());
                for p in &c.unicast_peers {
                    let _ = writeln!(out, "     {p}");
                }
            } else {
                let group =
                    c.multicast_group
                        .map(|g| g.to_string())
                        .unwrap_or_else(|| match c.family {
                            rka_vrrp::Family::Ipv4 => "224.0.0.18".into(),
                            rka_vrrp::Family::Ipv6 => "ff02::12".into(),
                        });
                let _ = writeln!(out, "   Multicast address {group}");
            }
            let garp = &c.garp;
            let _ = writeln!(
                out,
                "   Gratuitous ARP delay = {}",
                garp.master_delay.as_secs()
            );
            let _ = writeln!(out, "   Gratuitous ARP repeat = {}", garp.master_repeat);
            let _ = writeln!(
                out,
                "   Gratuitous ARP refresh = {}",
                garp.master_refresh.map(|d| d.as_secs()).unwrap_or(0)
            );
            let _ = writeln!(
                out,
                "   Gratuitous ARP refresh repeat = {}",
                garp.master_refresh_repeat
            );
            let _ = writeln!(
                out,
                "   Gratuitous ARP lower priority delay = {}",
                garp.lower_prio_delay.as_secs()
            );
            let _ = writeln!(
                out,
                "   Gratuitous ARP lower priority repeat = {}",
                garp.lower_prio_repeat
            );
            let _ = writeln!(out, "   Down timer adverts = {}", c.down_timer_adverts);
            let _ = writeln!(
                out,
                "   Send advert after receive lower priority advert = {}",
                yes(!c.lower_prio_no_advert)
            );
            let _ = writeln!(
                out,
                "   Send advert after receive higher priority advert = {}",
                yes(c.higher_prio_send_advert)
            );
            let _ = writeln!(out, "   Virtual Router ID = {}", c.vrid);
            let _ = writeln!(out, "   Priority = {}", c.priority);
            if let Some(i) = inst {
                let _ = writeln!(out, "   Effective priority = {}", i.priority());
            }
            let _ = writeln!(
                out,
                "   Advert interval = {}",
                interval_text(c.advert_interval)
            );
            if let Some(m) = model {
                let _ = writeln!(
                    out,
                    "   Accept = {}",
                    if m.accept { "enabled" } else { "disabled" }
                );
            }
            let _ = writeln!(
                out,
                "   Preempt = {}",
                if c.nopreempt { "disabled" } else { "enabled" }
            );
            if !c.preempt_delay.is_zero() {
                let _ = writeln!(
                    out,
                    "   Preempt delay = {} secs",
                    c.preempt_delay.as_secs_f64()
                );
            }
            if let Some(m) = model {
                let _ = writeln!(
                    out,
                    "   Promote_secondaries = {}",
                    if m.promote_secondaries {
                        "enabled"
                    } else {
                        "disabled"
                    }
                );
            }
            let _ = writeln!(out, "   Authentication type = {}", auth_name(&c.auth).0);
            let (vips, evips) = vip_lines(member, model);
            if !vips.is_empty() {
                let _ = writeln!(out, "   Virtual IP ({}):", vips.len());
                for v in &vips {
                    let _ = writeln!(out, "     {v}");
                }
            }
            if !evips.is_empty() {
                out.push_str("   Virtual IP Excluded :\n");
                for v in &evips {
                    let _ = writeln!(out, "     {v}");
                }
            }
            let key = SockKey {
                interface: member.plan.interface.clone(),
                ipv6: c.family == rka_vrrp::Family::Ipv6,
                unicast: member.plan.unicast,
                ah: matches!(c.auth, rka_vrrp::Authentication::Ah(_)),
            };
            match sockets.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => v.push((c.name.clone(), c.vrid)),
                None => sockets.push((key, vec![(c.name.clone(), c.vrid)])),
            }
        }
    }
    out.push_str("------< VRRP Sockpool >------\n");
    for (key, members) in &sockets {
        let _ = writeln!(out, " Interface = {}", key.interface);
        let _ = writeln!(
            out,
            "   Family = {}",
            if key.ipv6 { "IPv6" } else { "IPv4" }
        );
        if !key.ah {
            out.push_str("   Protocol = VRRP\n");
        }
        let _ = writeln!(
            out,
            "   Type = {}",
            if key.unicast { "Unicast" } else { "Multicast" }
        );
        let _ = writeln!(out, "   VRRP instances");
        for (name, vrid) in members {
            let _ = writeln!(out, "     {name} vrid {vrid}");
        }
    }
    let mut groups = false;
    for unit in &engine.units {
        if let Some(g) = &unit.group {
            if !groups {
                out.push_str("------< VRRP Sync groups >------\n");
                groups = true;
            }
            let _ = writeln!(
                out,
                " VRRP Sync Group = {}, {}",
                g.name,
                unit.state(0).as_str()
            );
            let count = |want: rka_vrrp::State| {
                (0..unit.members.len())
                    .filter(|&m| unit.state(m) == want)
                    .count()
            };
            let _ = writeln!(
                out,
                "   Num member fault {}, num member init {}",
                count(rka_vrrp::State::Fault),
                count(rka_vrrp::State::Init)
            );
            out.push_str("   VRRP member instances :\n");
            for m in &g.members {
                let _ = writeln!(out, "     {m}");
            }
        }
    }
    // Interfaces an instance tracks (`track_interface`, its own or its sync group's) list
    // it with the tracking weight; the interface it runs on with weight 0.
    let mut trackers: Vec<(String, Vec<(String, i32)>)> = Vec::new();
    let mut add = |ifname: &str, inst: &str, weight: i32| match trackers
        .iter_mut()
        .find(|(k, _)| k == ifname)
    {
        Some((_, v)) => {
            if !v.iter().any(|(n, _)| n == inst) {
                v.push((inst.to_string(), weight));
            }
        }
        None => trackers.push((ifname.to_string(), vec![(inst.to_string(), weight)])),
    };
    for (key, members) in &sockets {
        let ifname = &key.interface;
        for (name, _) in members {
            if let Some(m) = model(engine, name) {
                for t in &m.track_interface {
                    add(&t.name, name, t.weight.unwrap_or(0));
                }
            }
            for g in &engine.config.vrrp.sync_groups {
                if g.members.iter().any(|(n, _)| n == name) {
                    for t in &g.track_interface {
                        add(&t.name, name, t.weight.unwrap_or(0));
                    }
                }
            }
            add(ifname, name, 0);
        }
    }
    out.push_str(&interfaces_text(&trackers));
    out
}

/// What keepalived's socket pool tells its sockets apart by.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SockKey {
    interface: String,
    ipv6: bool,
    unicast: bool,
    /// IPsec AH (IP protocol 51) rather than VRRP (112).
    ah: bool,
}

/// One interface as the `Interfaces` section shows it.
#[derive(Debug, Default)]
struct Interface {
    name: String,
    v4: Option<std::net::Ipv4Addr>,
    /// The first link-local address (keepalived shows only that one).
    v6: Option<std::net::Ipv6Addr>,
    mac: Option<[u8; 6]>,
    mac_broadcast: Option<[u8; 6]>,
    flags: Option<nix::net::if_::InterfaceFlags>,
}

/// A link-layer address as keepalived prints one.
fn mac_text(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// keepalived's name of an ARPHRD_* hardware type.
fn hw_type_name(t: u32) -> &'static str {
    match t {
        1 => "ETHERNET",
        772 => "LOOPBACK",
        _ => "UNKNOWN",
    }
}

/// MTU and hardware type of `name` from `/sys/class/net`, only when that sysfs shows this
/// process's network namespace: its entry must have the interface's index and MAC (after
/// `-s`, `/sys` still shows the namespace it was mounted in, and a value of another
/// namespace's interface would be wrong). `None` when unknown.
fn sysfs_link(name: &str, index: Option<u32>, mac: Option<[u8; 6]>) -> Option<(u32, u32)> {
    if name.contains('/') || name.starts_with('.') {
        return None;
    }
    let dir = std::path::Path::new("/sys/class/net").join(name);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
    let number = |f: &str| read(f).and_then(|t| t.trim().parse::<u32>().ok());
    if number("ifindex")? != index? {
        return None;
    }
    let shown = read("address").unwrap_or_default();
    let ours = mac.map_or_else(|| "00:00:00:00:00:00".to_string(), |m| mac_text(&m));
    if !shown.trim().eq_ignore_ascii_case(&ours) {
        return None;
    }
    Some((number("mtu")?, number("type")?))
}

/// The `Interfaces` section: every interface of the namespace (from getifaddrs, which reads
/// the current network namespace even under `-s`), with the instances that use or track it
/// and their weights.
fn interfaces_text(users: &[(String, Vec<(String, i32)>)]) -> String {
    use nix::net::if_::InterfaceFlags as F;
    let mut list: Vec<Interface> = Vec::new();
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            let i = match list.iter().position(|i| i.name == a.interface_name) {
                Some(i) => i,
                None => {
                    list.push(Interface {
                        name: a.interface_name.clone(),
                        ..Interface::default()
                    });
                    list.len() - 1
                }
            };
            let entry = &mut list[i];
            entry.flags.get_or_insert(a.flags);
            let Some(addr) = a.address else { continue };
            if let Some(v4) = addr.as_sockaddr_in() {
                entry.v4.get_or_insert(v4.ip());
            } else if let Some(v6) = addr.as_sockaddr_in6() {
                let ip = v6.ip();
                if ip.segments()[0] & 0xffc0 == 0xfe80 {
                    entry.v6.get_or_insert(ip);
                }
            } else if let Some(link) = addr.as_link_addr() {
                if let Some(mac) = link.addr().filter(|m| m.iter().any(|b| *b != 0)) {
                    entry.mac = Some(mac);
                    entry.mac_broadcast = a
                        .broadcast
                        .as_ref()
                        .and_then(|b| b.as_link_addr())
                        .and_then(|l| l.addr());
                }
            }
        }
    }
    let mut out = String::from("------< Interfaces >------\n");
    for i in &list {
        let flags = i.flags.unwrap_or(F::empty());
        let index = rka_sys::host::interface_index(&i.name);
        let _ = writeln!(out, " Name = {}", i.name);
        if let Some(index) = index {
            let _ = writeln!(out, "   index = {index}");
        }
        let none = || "(none)".to_string();
        let _ = writeln!(
            out,
            "   IPv4 address = {}",
            i.v4.map(|a| a.to_string()).unwrap_or_else(none)
        );
        let _ = writeln!(
            out,
            "   IPv6 address = {}",
            i.v6.map(|a| a.to_string()).unwrap_or_else(none)
        );
        if let Some(mac) = i.mac {
            let _ = writeln!(out, "   MAC = {}", mac_text(&mac));
            if let Some(b) = i.mac_broadcast {
                let _ = writeln!(out, "   MAC broadcast = {}", mac_text(&b));
            }
        }
        let mut state = vec![if flags.contains(F::IFF_UP) {
            "UP"
        } else {
            "DOWN"
        }];
        if flags.contains(F::IFF_RUNNING) {
            state.push("RUNNING");
        }
        if !flags.contains(F::IFF_BROADCAST) {
            state.push("no broadcast");
        }
        if flags.contains(F::IFF_LOOPBACK) {
            state.push("loopback");
        }
        if !flags.contains(F::IFF_MULTICAST) {
            state.push("no multicast");
        }
        let _ = writeln!(out, "   State = {}", state.join(", "));
        if let Some((mtu, hw)) = sysfs_link(&i.name, index, i.mac) {
            let _ = writeln!(out, "   MTU = {mtu}");
            let _ = writeln!(out, "   HW Type = {}", hw_type_name(hw));
        }
        // Link state comes from rka-netif's netlink link events, never from polling.
        out.push_str("   NIC netlink status update\n");
        if let Some((_, members)) = users.iter().find(|(n, _)| *n == i.name) {
            let _ = writeln!(out, "   Tracking VRRP instances :");
            for (name, weight) in members {
                let _ = writeln!(out, "     {name}, weight {weight}");
            }
        }
    }
    out
}

/// Writes the data dump.
pub fn write_data(engine: &Engine) {
    write(&data_path(DATA_FILE), &data_text(engine));
}

/// The statistics of every instance, in keepalived's layout. Our finer drop reasons are
/// folded into keepalived's counters (checksum, VRID, version and own-advert drops count
/// as `Length`/`Invalid Type` errors).
pub fn stats_text(engine: &Engine) -> String {
    let mut out = String::new();
    for unit in &engine.units {
        for (m, member) in unit.members.iter().enumerate() {
            let Some(i) = unit.core.member(m) else {
                continue;
            };
            let s = i.stats();
            let d = &s.dropped;
            let _ = writeln!(out, "VRRP Instance: {}", member.plan.core.name);
            let _ = writeln!(out, "  Advertisements:");
            let _ = writeln!(out, "    Received: {}", s.adverts_received);
            let _ = writeln!(out, "    Sent: {}", s.adverts_sent);
            let _ = writeln!(out, "  Became master: {}", s.became_master);
            let _ = writeln!(out, "  Released master: {}", s.released_master);
            let _ = writeln!(out, "  Packet Errors:");
            let _ = writeln!(out, "    Length: {}", d.malformed + d.bad_checksum);
            let _ = writeln!(out, "    TTL: {}", d.bad_ttl);
            let _ = writeln!(out, "    Invalid Type: {}", d.version_mismatch);
            let _ = writeln!(out, "    Advertisement Interval: {}", d.interval_mismatch);
            let _ = writeln!(out, "    Address List: {}", d.address_mismatch);
            let _ = writeln!(out, "  Authentication Errors:");
            let _ = writeln!(out, "    Invalid Type: 0");
            let _ = writeln!(out, "    Type Mismatch: 0");
            let _ = writeln!(out, "    Failure: {}", d.auth_failure);
            let _ = writeln!(out, "  Priority Zero:");
            let _ = writeln!(out, "    Received: {}", s.priority_zero_received);
            let _ = writeln!(out, "    Sent: {}", s.priority_zero_sent);
        }
    }
    out
}

/// Writes the statistics, then resets every counter when `clear`.
pub fn write_stats(engine: &mut Engine, clear: bool) {
    write(STATS_FILE, &stats_text(engine));
    if clear {
        engine.foreign_drops = 0;
        for unit in &mut engine.units {
            unit.core.clear_stats();
        }
    }
}

/// The JSON dump: an array with one `{"data": {...}, "stats": {...}}` object per instance,
/// with keepalived's key names.
pub fn json_value(engine: &Engine) -> Value {
    let mut items = Vec::new();
    for unit in &engine.units {
        for (m, member) in unit.members.iter().enumerate() {
            let Some(i) = unit.core.member(m) else {
                continue;
            };
            let c = &member.plan.core;
            let model = model(engine, &c.name);
            let s = i.stats();
            let d = &s.dropped;
            let (vips, evips) = vip_lines(member, model);
            let state = state_code(i.state());
            let mut item = json!({
                "data": {
                    "iname": c.name,
                    "dont_track_primary": u8::from(model.is_some_and(|m| m.dont_track_primary)),
                    "skip_check_adv_addr": u8::from(c.skip_check_adv_addr),
                    "strict_mode": u8::from(c.strict),
                    "vmac_ifname": member.plan.vmac.as_ref().map(|v| v.name.clone()).unwrap_or_default(),
                    "ifp_ifname": member.plan.interface,
                    "master_priority": master_seen(i).map_or(0, |(_, p)| p),
                    "last_transition": i.last_transition().map_or(0.0, unix_seconds),
                    "garp_delay": c.garp.master_delay.as_secs(),
                    "garp_refresh": c.garp.master_refresh.map(|d| d.as_secs()).unwrap_or(0),
                    "garp_rep": c.garp.master_repeat,
                    "garp_refresh_rep": c.garp.master_refresh_repeat,
                    "garp_lower_prio_delay": c.garp.lower_prio_delay.as_secs(),
                    "garp_lower_prio_rep": c.garp.lower_prio_repeat,
                    "lower_prio_no_advert": u8::from(c.lower_prio_no_advert),
                    "higher_prio_send_advert": u8::from(c.higher_prio_send_advert),
                    "vrid": c.vrid,
                    "base_priority": c.priority,
                    "effective_priority": i.priority(),
                    "vipset": member.holds_vips,
                    "promote_secondaries": model.is_some_and(|m| m.promote_secondaries),
                    "adver_int": c.advert_interval.as_secs_f64(),
                    "master_adver_int": i.master_adver_interval().as_secs_f64(),
                    "accept": u8::from(model.is_some_and(|m| m.accept)),
                    "nopreempt": c.nopreempt,
                    "preempt_delay": c.preempt_delay.as_secs(),
                    "state": state,
                    "wantstate": state,
                    "version": c.version.number(),
                    "smtp_alert": model.and_then(|m| m.smtp_alert).unwrap_or(false),
                    "notify_deleted": false,
                    "vips": vips,
                    "auth_type": auth_name(&c.auth).1,
                },
                "stats": {
                    "advert_rcvd": s.adverts_received,
                    "advert_sent": s.adverts_sent,
                    "become_master": s.became_master,
                    "release_master": s.released_master,
                    "packet_len_err": d.malformed + d.bad_checksum,
                    "advert_interval_err": d.interval_mismatch,
                    "ip_ttl_err": d.bad_ttl,
                    "invalid_type_rcvd": d.version_mismatch,
                    "addr_list_err": d.address_mismatch,
                    "invalid_authtype": 0,
                    "authtype_mismatch": 0,
                    "auth_failure": d.auth_failure,
                    "pri_zero_rcvd": s.priority_zero_received,
                    "pri_zero_sent": s.priority_zero_sent,
                },
            });
            if !evips.is_empty() {
                item["data"]["evips"] = json!(evips);
            }
            items.push(item);
        }
    }
    Value::Array(items)
}

/// Writes the JSON dump.
pub fn write_json(engine: &Engine) {
    let mut text = json_value(engine).to_string();
    text.push('\n');
    write(JSON_FILE, &text);
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testutil::config as load;

    #[test]
    fn global_definitions_as_keepalived_labels_them() {
        let cfg = load(
            "global_defs {\n router_id obs1\n startup_script \"/s.sh arg1\"\n startup_script_timeout 3\n shutdown_script /t.sh\n}\n",
        );
        let child = global_text(&cfg, false);
        assert!(child.starts_with("------< Global definitions >------\n"));
        assert!(child.contains(" Router ID = obs1\n"));
        assert!(child.contains(" No test config before reload\n"));
        assert!(!child.contains("Startup script"));
        let parent = global_text(&cfg, true);
        assert!(parent.contains(" Startup script = '/s.sh' 'arg1', uid:gid 0:0, timeout 3\n"));
        assert!(parent.contains(" Shutdown script = '/t.sh', uid:gid 0:0 timeout 10\n"));
        assert!(parent.contains(" umask = 0"));
    }

    #[test]
    fn global_definitions_carry_keepalived_lines_with_the_configured_values() {
        let cfg = load(
            "global_defs {\n router_id r1\n notification_email {\n  a@x\n  b@x\n }\n \
             notification_email_from lb@x\n smtp_server 10.0.0.5 2525\n smtp_helo_name h\n \
             smtp_connect_timeout 20\n dynamic_interfaces allow_if_changes\n \
             lvs_timeouts tcp 100 tcpfin 20 udp 30\n lvs_flush_on_stop VS\n \
             vrrp_garp_lower_prio_delay 7\n vrrp_garp_interval 0.5\n \
             vrrp_garp_extra_if all 30\n nftables kd\n nftables_counters\n \
             min_auto_priority_delay 2000\n checker_rt_priority 20\n \
             checker_rlimit_rttime 20000\n checker_cpu_affinity 0\n process_names\n \
             vrrp_netlink_cmd_rcv_bufs 100000\n vrrp_netlink_cmd_rcv_bufs_force\n \
             rs_init_notifies\n vrrp_startup_delay 2\n log_unknown_vrids\n vmac_prefix vx\n \
             dbus_service_name x.y\n}\n",
        );
        let child = global_text(&cfg, false);
        for want in [
            " Network namespace ipvs = (main namespace)\n",
            " VRRP process name = keepalived_vrrp\n LVS process name = keepalived_lvs\n",
            " Router ID = r1\n Smtp server = 10.0.0.5\n Smtp server port = 2525\n",
            " Smtp HELO name = h\n Smtp server connection timeout = 20\n",
            " Email notification from = lb@x\n Email notification to:\n   a@x\n   b@x\n",
            " Dynamic interfaces = true\n Allow interface changes = true\n",
            " Default interface = eth0\n",
            " LVS TCP timeout = 100\n LVS TCP FIN timeout = 20\n LVS TCP timeout = 30\n",
            " LVS flush on stop = VS\n",
            " Gratuitous ARP lower priority delay = 7\n Gratuitous ARP lower priority repeat = 5\n",
            " Gratuitous ARP for each secondary i/f = 30s\n",
            " Gratuitous ARP interval = 0.500000\n Gratuitous NA interval = 0.000000\n",
            " nftables table name = kd\n nftables base chain priority = -1\n nftables with counters\n",
            " Min auto priority delay = 2000 usecs\n",
            " Checker realtime priority = 20\n Checker CPU Affinity = 0 \n Checker realtime limit = 20000\n",
            " SNMP vrrp disabled\n",
            " DBus disabled\n DBus service name = x.y\n",
            " Default script uid:gid 0:0\n",
            " vrrp_netlink_cmd_rcv_bufs = 100000\n vrrp_netlink_cmd_rcv_bufs_force = 1\n",
            " rs_init_notifies = 1\n no_checker_emails = 0\n rx_bufs_multiples = 3\n",
            " vrrp_startup_delay = 2\n log_unknown_vrids\n VMAC prefix = vx\n",
        ] {
            assert!(child.contains(want), "{want:?} in\n{child}");
        }
        // The parent: no default interface line, the lower-priority values as configured
        // (keepalived's "unset" for the repeat).
        let parent = global_text(&cfg, true);
        assert!(!parent.contains("Default interface"), "{parent}");
        assert!(
            parent.contains(" Gratuitous ARP lower priority repeat = 4294967295\n"),
            "{parent}"
        );
        // A minimal configuration: keepalived's defaults, no optional line.
        let min = global_text(&load(""), false);
        for absent in [
            "Smtp",
            "Email",
            "Allow interface",
            "LVS TCP",
            "nftables table",
            "VMAC prefix",
        ] {
            assert!(!min.contains(absent), "{absent} in\n{min}");
        }
        assert!(min.contains(" Gratuitous ARP for each secondary VMAC = 0s\n"));
        assert!(min.contains(" nftables without counters\n"));
        assert!(min.contains(" VRRP realtime limit = 10000\n"));
    }

    #[test]
    fn interfaces_section_lists_loopback_with_its_users() {
        let text = interfaces_text(&[("lo".to_string(), vec![("VI_1".to_string(), 0)])]);
        assert!(text.starts_with("------< Interfaces >------\n"), "{text}");
        let lo: Vec<&str> = text
            .lines()
            .skip_while(|l| *l != " Name = lo")
            .take_while(|l| *l == " Name = lo" || !l.starts_with(" Name = "))
            .collect();
        assert!(lo.contains(&"   IPv4 address = 127.0.0.1"), "{text}");
        // keepalived shows link-local IPv6 addresses only, and lo's flags and type so.
        assert!(lo.contains(&"   IPv6 address = (none)"), "{text}");
        assert!(
            lo.contains(&"   State = UP, RUNNING, no broadcast, loopback, no multicast"),
            "{text}"
        );
        assert!(lo.contains(&"   HW Type = LOOPBACK"), "{text}");
        assert!(lo.iter().any(|l| l.starts_with("   MTU = ")), "{text}");
        assert!(lo.contains(&"     VI_1, weight 0"), "{text}");
    }

    #[test]
    fn times_print_as_keepalived() {
        assert_eq!(
            time_text(1_795_340_701.911_596),
            "1795340701.911596 (Sun Nov 22 09:45:01.911596 2026)"
        );
        assert_eq!(time_text(0.0), "0.000000 (Thu Jan  1 00:00:00.000000 1970)");
        assert_eq!(
            time_text(951_782_400.5),
            "951782400.500000 (Tue Feb 29 00:00:00.500000 2000)"
        );
        let now = Instant::now();
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64();
        let back = unix_seconds(now - std::time::Duration::from_secs(10));
        assert!((wall - 10.0 - back).abs() < 0.5, "{wall} {back}");
    }

    #[test]
    fn addresses_print_as_keepalived() {
        let c = load(
            "vrrp_instance VI_1 {\n interface lo\n virtual_router_id 5\n no_accept\n\
             virtual_ipaddress {\n 10.0.0.100/24\n 10.0.0.101 scope link\n }\n\
             virtual_ipaddress_excluded {\n 10.0.0.150/24\n }\n}\n",
        );
        let inst = &c.vrrp.instances[0];
        let dev = "eth0";
        let vips: Vec<_> = inst
            .virtual_ipaddress
            .iter()
            .chain(&inst.virtual_ipaddress_excluded)
            .map(|a| super::super::mapping::vip_plan(a, dev))
            .collect();
        assert_eq!(
            vip_text(&vips[0], true, true),
            "10.0.0.100/24 dev eth0 scope global set nftable_set"
        );
        assert_eq!(
            vip_text(&vips[1], false, true),
            "10.0.0.101/32 dev eth0 scope link"
        );
        assert_eq!(
            vip_text(&vips[2], true, false),
            "10.0.0.150/24 dev eth0 scope global set"
        );
    }

    #[test]
    fn intervals_print_as_keepalived() {
        assert_eq!(interval_text(std::time::Duration::from_secs(1)), "1 sec");
        assert_eq!(
            interval_text(std::time::Duration::from_millis(250)),
            "250 milli-sec"
        );
    }

    #[test]
    fn data_use_instance_names_the_data_files_as_keepalived() {
        let named = |use_it, instance, ns| {
            let part = data_name_part(use_it, instance, ns);
            [DATA_FILE, PARENT_DATA_FILE, "/tmp/keepalived_check.data"]
                .map(|f| data_file_named(f, part.as_deref()))
        };
        // Names keepalived 2.2.7 wrote under a private /tmp.
        assert_eq!(
            named(true, Some("foo"), None),
            [
                "/tmp/keepalived.foo.data",
                "/tmp/keepalived_parent.foo.data",
                "/tmp/keepalived_check.foo.data"
            ]
        );
        assert_eq!(
            named(true, None, Some("ns1"))[0],
            "/tmp/keepalived.ns1.data"
        );
        assert_eq!(
            named(true, Some("foo"), Some("ns1"))[1],
            "/tmp/keepalived_parent.ns1_foo.data"
        );
        // Without the keyword, or with nothing to add, the plain names.
        assert_eq!(named(false, Some("foo"), Some("ns1"))[0], DATA_FILE);
        assert_eq!(named(true, None, None)[1], PARENT_DATA_FILE);
        // Only .data files take the part.
        assert_eq!(data_file_named(STATS_FILE, Some("foo")), STATS_FILE);
    }
}
