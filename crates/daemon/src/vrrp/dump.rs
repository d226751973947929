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
    format!(
        "{secs}.{frac:06} ({} {} {:2} {:02}:{:02}:{:02}.{frac:06} {})",
        t.weekday_name(),
        t.month_name(),
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.year,
    )
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

fn script_line(s: &rka_config::model::global::UserScript) -> String {
    s.command
        .argv
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `Global definitions` section every process's data dump starts with. `parent` adds
/// what only the parent acts on (startup and shutdown scripts).
pub fn global_text(config: &Config, parent: bool) -> String {
    let g = &config.global;
    let s = &g.simple;
    let mut out = String::from("------< Global definitions >------\n");
    let mut line = |t: String| {
        out.push(' ');
        out.push_str(&t);
        out.push('\n');
    };
    line(format!(
        "Network namespace = {}",
        s.net_namespace.as_deref().unwrap_or("(default)")
    ));
    line(format!(
        "Router ID = {}",
        s.router_id.clone().unwrap_or_else(|| {
            nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
    ));
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
        if let Some(sc) = &s.startup_script {
            line(format!(
                "Startup script = {}, timeout {}",
                script_line(sc),
                s.startup_script_timeout
            ));
        }
        if let Some(sc) = &s.shutdown_script {
            line(format!(
                "Shutdown script = {}, timeout {}",
                script_line(sc),
                s.shutdown_script_timeout
            ));
        }
    }
    line(format!(
        "Dynamic interfaces = {}",
        yes(g.dynamic_interfaces.is_some())
    ));
    if let Some(i) = &s.default_interface {
        line(format!("Default interface = {i}"));
    }
    line(format!(
        "Disable local IGMP = {}",
        if s.disable_local_igmp { "yes" } else { "no" }
    ));
    line(format!("LVS flush = {}", yes(s.lvs_flush)));
    line(format!(
        "LVS flush on stop = {}",
        if g.lvs_flush_on_stop.is_some() {
            "enabled"
        } else {
            "disabled"
        }
    ));
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
    line(format!(
        "Num adverts before down = {}",
        s.vrrp_down_timer_adverts
    ));
    line(format!(
        "VRRP default protocol version = {}",
        s.vrrp_version
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
        "Script security {}",
        if s.enable_script_security {
            "enabled"
        } else {
            "disabled"
        }
    ));
    line(format!("rx_bufs_multiples = {}", s.vrrp_rx_bufs_multiplier));
    let mask = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    nix::sys::stat::umask(mask);
    line(format!("umask = 0{:o}", mask.bits()));
    out
}

/// Writes the parent's data dump (SIGUSR1 to the parent).
pub fn write_parent_data(config: &Config) {
    write(PARENT_DATA_FILE, &global_text(config, true));
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
    let mut sockets: Vec<(String, Vec<(String, u8)>)> = Vec::new();
    for unit in &engine.units {
        for (m, member) in unit.members.iter().enumerate() {
            let c = &member.plan.core;
            let inst = unit.core.member(m);
            let state = unit.state(m);
            let model = model(engine, &c.name);
            let _ = writeln!(out, " VRRP Instance = {}", c.name);
            let _ = writeln!(out, "   VRRP Version = {}", c.version.number());
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
            let key = member.plan.interface.clone();
            match sockets.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => v.push((c.name.clone(), c.vrid)),
                None => sockets.push((key, vec![(c.name.clone(), c.vrid)])),
            }
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
            let _ = writeln!(out, "   VRRP member instances = {}", g.members.len());
            for m in &g.members {
                let _ = writeln!(out, "     {m}");
            }
        }
    }
    out.push_str("------< VRRP Sockpool >------\n");
    for (ifname, members) in &sockets {
        let _ = writeln!(out, " Interface = {ifname}");
        let _ = writeln!(out, "   VRRP instances");
        for (name, vrid) in members {
            let _ = writeln!(out, "     {name} vrid {vrid}");
        }
    }
    out.push_str(&interfaces_text(&sockets));
    out
}

/// One interface as the `Interfaces` section shows it.
#[derive(Debug, Default)]
struct Interface {
    name: String,
    v4: Option<std::net::Ipv4Addr>,
    v6: Option<std::net::Ipv6Addr>,
    mac: Option<[u8; 6]>,
    flags: Option<nix::net::if_::InterfaceFlags>,
}

/// The `Interfaces` section: every interface of the namespace (from getifaddrs, which reads
/// the current network namespace even under `-s`), with the instances using it.
fn interfaces_text(users: &[(String, Vec<(String, u8)>)]) -> String {
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
                entry.v6.get_or_insert(v6.ip());
            } else if let Some(link) = addr.as_link_addr() {
                if let Some(mac) = link.addr().filter(|m| m.iter().any(|b| *b != 0)) {
                    entry.mac = Some(mac);
                }
            }
        }
    }
    let mut out = String::from("------< Interfaces >------\n");
    for i in &list {
        let flags = i.flags.unwrap_or(F::empty());
        let _ = writeln!(out, " Name = {}", i.name);
        if let Some(index) = rka_sys::host::interface_index(&i.name) {
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
            let hex: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
            let _ = writeln!(out, "   MAC = {}", hex.join(":"));
        }
        let mut state = vec![if flags.contains(F::IFF_UP) {
            "UP"
        } else {
            "DOWN"
        }];
        if flags.contains(F::IFF_RUNNING) {
            state.push("RUNNING");
        }
        if flags.contains(F::IFF_LOOPBACK) {
            state.push("loopback");
        }
        let _ = writeln!(out, "   State = {}", state.join(", "));
        if let Some((_, members)) = users.iter().find(|(n, _)| *n == i.name) {
            let _ = writeln!(out, "   Tracking VRRP instances :");
            for (name, _) in members {
                let _ = writeln!(out, "     {name}, weight 0");
            }
        }
    }
    out
}

/// Writes the data dump.
pub fn write_data(engine: &Engine) {
    write(DATA_FILE, &data_text(engine));
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
        assert!(parent.contains(" Startup script = '/s.sh' 'arg1', timeout 3\n"));
        assert!(parent.contains(" Shutdown script = '/t.sh', timeout 10\n"));
        assert!(parent.contains(" umask = 0"));
    }

    #[test]
    fn interfaces_section_lists_loopback_with_its_users() {
        let text = interfaces_text(&[("lo".to_string(), vec![("VI_1".to_string(), 1)])]);
        assert!(text.starts_with("------< Interfaces >------\n"), "{text}");
        let lo: Vec<&str> = text
            .lines()
            .skip_while(|l| *l != " Name = lo")
            .take_while(|l| *l == " Name = lo" || !l.starts_with(" Name = "))
            .collect();
        assert!(lo.contains(&"   IPv4 address = 127.0.0.1"), "{text}");
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
}
