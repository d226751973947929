//! Checks run once the whole configuration is read: global defaults resolved into instances,
//! advert interval rounding, strict mode, cross references (track lists, sync groups, track
//! groups), VRID clashes, host checks (interfaces) and script security.
//!
//! Wording and severities follow what `keepalived -t` 2.2.7 prints; problems keepalived only
//! warns about are warnings (exit 5). Script security, as observed: when the VRRP side has
//! instances and no interface is missing, any existing script configured without
//! `enable_script_security` while running as root is a security problem (exit 6); with
//! `enable_script_security`, an insecure script that would run as root is disabled with a
//! warning (exit 5), and scripts that name no user are removed when neither `script_user` nor
//! the `keepalived_script` user exists.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use crate::diag::Severity;
use crate::tree::Node;

use super::super::addr::{IpAddress, Route, Rule};
use super::super::global::{GlobalDefs, UserScript};
use super::super::lvs::security::{find_program, note_path_search};
use super::super::{Config, Ctx};
use super::instance::VrrpInstance;
use super::track::TrackRef;
use super::VrrpConfig;

/// Runs every check on `cfg.vrrp`.
pub fn run(ctx: &mut Ctx<'_>, cfg: &mut Config) {
    let Config { global, vrrp, .. } = cfg;
    let mut seen = HashSet::new();
    vrrp.instances.retain(|i| {
        let fresh = seen.insert(i.name.clone());
        if !fresh {
            ctx.diags.warn(
                &i.origin,
                format!("vrrp instance {} already defined - ignoring", i.name),
            );
        }
        fresh
    });
    for inst in &mut vrrp.instances {
        apply_defaults(ctx, global, inst);
    }
    if !ctx.opts.skip_host_checks {
        // keepalived -t stops at a missing interface, before its script security check.
        if !host_checks(ctx, vrrp) {
            if !vrrp.instances.is_empty() {
                script_security(ctx, global, vrrp);
            }
        } else if global.dynamic_interfaces.is_none() {
            vrrp.permanent_errors
                .push(super::PermanentError::MissingInterface);
        }
    }
    statics_default_interface(ctx, global, vrrp);
    track_refs(ctx, vrrp);
    sync_groups(ctx, vrrp);
    sync_group_weights(ctx, vrrp);
    static_track_groups(ctx, vrrp);
    vrid_clashes(ctx, vrrp);
}

fn note(ctx: &mut Ctx<'_>, msg: String) {
    ctx.diags.push(Severity::Warning, None, msg);
}

/// A message keepalived logs while checking the configuration without failing `-t`.
fn info_note(ctx: &mut Ctx<'_>, msg: String) {
    ctx.diags.info(None, msg);
}

/// Fills the settings an instance inherits from `global_defs` and normalises the advert
/// interval for its VRRP version.
fn apply_defaults(ctx: &mut Ctx<'_>, g: &GlobalDefs, v: &mut VrrpInstance) {
    let s = &g.simple;
    let e = v.explicit;
    if !e.priority && v.state == super::instance::InitialState::Master {
        v.priority = 255;
    }
    if v.is_ipv6() {
        if e.version && v.version == 2 {
            note(
                ctx,
                format!(
                    "({}) cannot use IPv6 with VRRP version 2; setting version 3",
                    v.name
                ),
            );
        }
        v.version = 3;
    } else if !e.version {
        v.version = if s.vrrp_version == 3 { 3 } else { 2 };
    }
    if !e.strict_mode {
        v.strict_mode = s.vrrp_strict;
    }
    if !e.garp_master_delay {
        v.garp_master_delay = s.vrrp_garp_master_delay;
    }
    if !e.garp_master_repeat {
        v.garp_master_repeat = s.vrrp_garp_master_repeat;
    }
    if !e.garp_lower_prio_delay {
        v.garp_lower_prio_delay = s.vrrp_garp_lower_prio_delay.unwrap_or(v.garp_master_delay);
    }
    if !e.garp_lower_prio_repeat {
        v.garp_lower_prio_repeat = s
            .vrrp_garp_lower_prio_repeat
            .unwrap_or(v.garp_master_repeat);
    }
    if !e.garp_master_refresh {
        v.garp_master_refresh = s.vrrp_garp_master_refresh;
    }
    if !e.garp_master_refresh_repeat {
        v.garp_master_refresh_repeat = s.vrrp_garp_master_refresh_repeat;
    }
    if v.garp_extra_if.is_none() {
        v.garp_extra_if = g.vrrp_garp_extra_if;
    }
    if !e.down_timer_adverts {
        v.down_timer_adverts = s.vrrp_down_timer_adverts;
    }
    if !e.lower_prio_no_advert {
        v.lower_prio_no_advert = s.vrrp_lower_prio_no_advert.unwrap_or(v.strict_mode);
    }
    if !e.higher_prio_send_advert {
        v.higher_prio_send_advert = s.vrrp_higher_prio_send_advert.unwrap_or(false);
    }
    if !e.skip_check_adv_addr {
        v.skip_check_adv_addr = s.vrrp_skip_check_adv_addr;
    }
    if !e.check_unicast_src {
        v.check_unicast_src = v.check_unicast_src || s.vrrp_check_unicast_src;
    }
    if !e.accept {
        v.accept = !v.strict_mode || v.priority == 255;
    }
    if g.v3_checksum_as_v2 {
        v.v3_checksum_as_v2 = true;
    }
    if !v.is_unicast() {
        if let Some(o) = v.unicast_ttl_origin.take() {
            ctx.diags.warn(
                &o,
                format!(
                    "({}): Cannot use unicast_ttl without unicast peers - resetting",
                    v.name
                ),
            );
            v.unicast_ttl = 255;
        }
    }
    round_advert_int(ctx, v);
    if v.strict_mode {
        strict_checks(ctx, v);
    }
    sanity_checks(ctx, v);
}

/// The advice and corrections keepalived gives for any instance (each one a warning, so
/// `-t` exits 5).
fn sanity_checks(ctx: &mut Ctx<'_>, v: &mut VrrpInstance) {
    use super::instance::{AuthType, InitialState};
    let name = v.name.clone();
    if v.interface.is_none() {
        note(ctx, format!("({name}) Unknown interface!"));
    } else if v.vrf.is_some() {
        note(
            ctx,
            format!("({name}) Cannot specify VRF interface and interface - ignoring"),
        );
        v.vrf = None;
    }
    if v.virtual_ipaddress.is_empty() && !v.strict_mode {
        note(
            ctx,
            format!("({name}) No VIP specified; at least one is sensible"),
        );
    }
    let explicit_check = v.explicit.check_unicast_src && v.check_unicast_src;
    // With `unicast_fault_no_peer` keepalived says nothing here: the instance goes to FAULT
    // at run time instead of falling back to multicast.
    if !v.is_unicast() && (v.explicit.unicast_keyword || explicit_check) && !v.unicast_fault_no_peer
    {
        note(
            ctx,
            format!(
                "({name}) A unicast keyword has been specified without any unicast peers. Defaulting to multicast. This usage is deprecated - please update your configuration."
            ),
        );
    }
    if !v.is_unicast() {
        // Only unicast adverts have a source to check; keep the dump free of it.
        v.check_unicast_src = false;
        v.old_unicast_checksum = None;
    }
    if v.native_ipv6 && v.address_family() == Some(false) {
        note(
            ctx,
            format!("({name}) Cannot specify native_ipv6 with IPv4 addresses"),
        );
        v.native_ipv6 = false;
    }
    if v.vmac_xmit_base && v.use_vmac.is_none() {
        note(
            ctx,
            format!("({name}) vmac_xmit_base is only valid with a vmac"),
        );
        v.vmac_xmit_base = false;
    }
    if v.use_ipvlan
        .as_ref()
        .is_some_and(|i| i.addr.is_none() && !v.is_ipv6())
    {
        note(
            ctx,
            format!(
                "({name}) IPv4 ipvlan requires a source ip address to be configured. setting instance to fault state"
            ),
        );
    }
    if let Some(auth) = &v.authentication {
        if v.version == 3 {
            note(
                ctx,
                format!("({name}) VRRP version 3 does not support authentication. Ignoring."),
            );
            v.authentication = None;
        } else if auth.pass.is_empty() {
            note(
                ctx,
                format!("({name}) Authentication specified but no password given. Ignoring"),
            );
            v.authentication = None;
        } else if auth.kind == AuthType::Ah && v.state == InitialState::Master && v.priority != 255
        {
            note(
                ctx,
                format!(
                    "({name}) Initial state master is incompatible with AH authentication - clearing"
                ),
            );
            v.state = InitialState::Backup;
        }
    }
    if v.nopreempt && v.priority == 255 {
        note(
            ctx,
            format!("({name}) nopreempt is incompatible with priority 255. resetting nopreempt"),
        );
        v.nopreempt = false;
    } else if v.nopreempt && v.state == InitialState::Master {
        note(
            ctx,
            format!(
                "({name}) Warning - nopreempt will not work with initial state MASTER - clearing"
            ),
        );
        v.nopreempt = false;
    }
}

fn round_advert_int(ctx: &mut Ctx<'_>, v: &mut VrrpInstance) {
    let us = v.advert_int.as_micros();
    if v.version == 2 {
        let secs = ((us + 500_000) / 1_000_000).clamp(1, 255);
        if !us.is_multiple_of(1_000_000) {
            note(
                ctx,
                format!(
                    "({}) VRRPv2 advertisement interval {}.{:06}s must be an integer. rounding",
                    v.name,
                    us / 1_000_000,
                    us % 1_000_000
                ),
            );
        }
        v.advert_int = Duration::from_secs(secs as u64);
    } else {
        let cs = ((us + 5_000) / 10_000).clamp(1, 4095);
        if !us.is_multiple_of(10_000) {
            note(
                ctx,
                format!(
                    "({}) VRRPv3 advertisement interval {}.{:06}s must be in units of 10ms - rounding",
                    v.name,
                    us / 1_000_000,
                    us % 1_000_000
                ),
            );
        }
        v.advert_int = Duration::from_millis(cs as u64 * 10);
    }
}

/// The constraints `vrrp_strict` / `strict_mode` add (man 5 keepalived.conf, vrrp_strict).
fn strict_checks(ctx: &mut Ctx<'_>, v: &mut VrrpInstance) {
    let name = v.name.clone();
    if v.virtual_ipaddress.is_empty() {
        note(
            ctx,
            format!("({name}) strict mode requires at least one VIP"),
        );
    }
    if !v.unicast_peers.is_empty() {
        note(
            ctx,
            format!("({name}) Unicast peers are not supported in strict mode"),
        );
    }
    if v.authentication.take().is_some() {
        note(
            ctx,
            format!("({name}) Strict mode does not support authentication. Ignoring."),
        );
    }
    if !v.preempt_delay.is_zero() {
        note(
            ctx,
            format!("({name}) Strict mode does not support preempt_delay. Disabling."),
        );
        v.preempt_delay = Duration::ZERO;
    }
    if v.state == super::instance::InitialState::Master && v.priority != 255 {
        note(
            ctx,
            format!("({name}) Strict mode requires MASTER state only with priority 255"),
        );
        v.state = super::instance::InitialState::Backup;
    }
    if v.version == 2 && v.explicit.accept && v.accept && v.priority != 255 {
        note(
            ctx,
            format!("({name}) Strict mode cannot set accept mode for VRRPv2"),
        );
        v.accept = false;
    }
    if v.vmac_xmit_base {
        note(
            ctx,
            format!("({name}) Strict mode cannot use vmac_xmit_base"),
        );
        v.vmac_xmit_base = false;
    }
    if v.higher_prio_send_advert {
        note(
            ctx,
            format!("({name}) Strict mode cannot set higher_prio_send_advert"),
        );
        v.higher_prio_send_advert = false;
    }
    if !v.lower_prio_no_advert {
        note(
            ctx,
            format!("({name}) Strict mode cannot clear lower_prio_no_advert"),
        );
        v.lower_prio_no_advert = true;
    }
}

/// A `static_ipaddress` entry without `dev` goes on `default_interface` (eth0 unless set). When
/// that interface does not exist keepalived 2.2.7 refuses the configuration: `-t` exits 4 and
/// the daemon stops with its configuration error.
fn statics_default_interface(ctx: &mut Ctx<'_>, global: &GlobalDefs, vrrp: &mut VrrpConfig) {
    let dev = global
        .simple
        .default_interface
        .clone()
        .unwrap_or_else(|| "eth0".to_owned());
    let missing = !ctx.opts.skip_host_checks && rka_sys::host::interface_index(&dev).is_none();
    let mut reported = false;
    for (i, origin) in std::mem::take(&mut vrrp.static_without_dev) {
        let Some(a) = vrrp.static_ipaddress.get_mut(i) else {
            continue;
        };
        if missing {
            ctx.diags.fatal(
                Some(&origin),
                format!(
                    "Static address {} requires either an interface or default interface must exist",
                    a.prefix
                ),
            );
            if !reported {
                reported = true;
                ctx.diags
                    .fatal(None, "Non-existent interface specified in configuration");
            }
        } else {
            a.dev = Some(dev.clone());
        }
    }
}

/// Removes track entries naming trackers that do not exist, as keepalived does.
fn track_refs(ctx: &mut Ctx<'_>, vrrp: &mut VrrpConfig) {
    let scripts: HashSet<String> = vrrp.scripts.iter().map(|s| s.name.clone()).collect();
    let files: HashSet<String> = vrrp.track_files.iter().map(|s| s.name.clone()).collect();
    let procs: HashSet<String> = vrrp
        .track_processes
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let check = |ctx: &mut Ctx<'_>,
                 owner: &str,
                 what: &str,
                 set: &HashSet<String>,
                 l: &mut Vec<TrackRef>| {
        l.retain(|r| {
            let ok = set.contains(&r.name);
            if !ok {
                ctx.diags.warn(
                    &r.origin,
                    format!("({owner}) track {what} {} not found, ignoring...", r.name),
                );
            }
            ok
        });
    };
    let dedupe = |ctx: &mut Ctx<'_>, owner: &str, what: &str, l: &mut Vec<TrackRef>| {
        let mut seen = HashSet::new();
        l.retain(|r| {
            let first = seen.insert(r.name.clone());
            if !first {
                // keepalived 2.2.7 logs it without failing `-t`.
                ctx.diags.info(
                    Some(&r.origin),
                    format!("({owner}) duplicate track_{what} {} - ignoring", r.name),
                );
            }
            first
        });
    };
    for i in &mut vrrp.instances {
        dedupe(ctx, &i.name, "script", &mut i.track_script);
        dedupe(ctx, &i.name, "interface", &mut i.track_interface);
        dedupe(ctx, &i.name, "file", &mut i.track_file);
        dedupe(ctx, &i.name, "process", &mut i.track_process);
        dedupe(ctx, &i.name, "bfd", &mut i.track_bfd);
    }
    for g in &mut vrrp.sync_groups {
        dedupe(ctx, &g.name, "script", &mut g.track_script);
        dedupe(ctx, &g.name, "interface", &mut g.track_interface);
        dedupe(ctx, &g.name, "file", &mut g.track_file);
        dedupe(ctx, &g.name, "process", &mut g.track_process);
        dedupe(ctx, &g.name, "bfd", &mut g.track_bfd);
    }
    for i in &mut vrrp.instances {
        if let Some(own) = i.interface.clone() {
            let name = i.name.clone();
            i.track_interface.retain(|t| {
                let keep = t.name != own;
                if !keep {
                    info_note(
                        ctx,
                        format!("({name}) Ignoring track_interface {own} since own interface"),
                    );
                }
                keep
            });
        }
    }
    for i in &mut vrrp.instances {
        check(ctx, &i.name, "script", &scripts, &mut i.track_script);
        check(ctx, &i.name, "file", &files, &mut i.track_file);
        check(ctx, &i.name, "process", &procs, &mut i.track_process);
    }
    for g in &mut vrrp.sync_groups {
        check(ctx, &g.name, "script", &scripts, &mut g.track_script);
        check(ctx, &g.name, "file", &files, &mut g.track_file);
        check(ctx, &g.name, "process", &procs, &mut g.track_process);
    }
}

fn sync_groups(ctx: &mut Ctx<'_>, vrrp: &mut VrrpConfig) {
    let names: HashSet<String> = vrrp.instances.iter().map(|i| i.name.clone()).collect();
    let mut owner: HashMap<String, String> = HashMap::new();
    for g in &mut vrrp.sync_groups {
        let gname = g.name.clone();
        g.members.retain(|(m, _)| {
            if !names.contains(m) {
                note(
                    ctx,
                    format!("Virtual router {m} specified in sync group {gname} doesn't exist - ignoring"),
                );
                return false;
            }
            if let Some(other) = owner.get(m) {
                note(
                    ctx,
                    format!("Virtual router {m} cannot exist in more than one sync group; ignoring {gname}"),
                );
                let _ = other;
                return false;
            }
            owner.insert(m.clone(), gname.clone());
            true
        });
        if g.members.is_empty() {
            note(
                ctx,
                format!("Sync group {gname} has no virtual router(s). removing"),
            );
        } else if g.members.len() == 1 {
            note(
                ctx,
                format!(
                    "Sync group {gname} has only {} virtual router(s) - this probably isn't what you want",
                    g.members.len()
                ),
            );
        }
    }
    vrrp.sync_groups.retain(|g| !g.members.is_empty());
}

/// In a sync group without `sync_group_tracking_weight` (or the older `global_tracking`) a
/// member's trackers must have weight 0, as keepalived 2.2.7 enforces: a weighted
/// `track_interface` entry keeps tracking with weight 0, weighted scripts and files are dropped
/// (a failure then changes nothing). Weighted processes are left alone, as keepalived leaves them.
fn sync_group_weights(ctx: &mut Ctx<'_>, vrrp: &mut VrrpConfig) {
    let strict_groups: HashSet<&str> = vrrp
        .sync_groups
        .iter()
        .filter(|g| !g.sync_group_tracking_weight && !g.global_tracking)
        .flat_map(|g| g.members.iter().map(|(m, _)| m.as_str()))
        .collect();
    let script_weight: HashMap<&str, i32> = vrrp
        .scripts
        .iter()
        .map(|s| (s.name.as_str(), s.weight))
        .collect();
    let file_weight: HashMap<&str, i32> = vrrp
        .track_files
        .iter()
        .map(|f| (f.name.as_str(), f.weight))
        .collect();
    for i in &mut vrrp.instances {
        if !strict_groups.contains(i.name.as_str()) {
            continue;
        }
        let name = &i.name;
        for t in &mut i.track_interface {
            if t.weight.is_some_and(|w| w != 0) {
                info_note(
                    ctx,
                    format!(
                        "({name}) ignoring {} tracked interface weight due to SYNC group",
                        t.name
                    ),
                );
                t.weight = Some(0);
            }
        }
        i.track_script.retain(|t| {
            let w = t
                .weight
                .unwrap_or_else(|| script_weight.get(t.name.as_str()).copied().unwrap_or(0));
            if w != 0 {
                info_note(
                    ctx,
                    format!(
                        "({name}) ignoring tracked script {} with weights due to SYNC group",
                        t.name
                    ),
                );
            }
            w == 0
        });
        i.track_file.retain(|t| {
            let w = t
                .weight
                .unwrap_or_else(|| file_weight.get(t.name.as_str()).copied().unwrap_or(0));
            if w != 0 {
                info_note(
                    ctx,
                    format!(
                        "({name}) ignoring tracked file {} with weight {w} due to SYNC group",
                        t.name
                    ),
                );
            }
            w == 0
        });
    }
}

fn static_track_groups(ctx: &mut Ctx<'_>, vrrp: &mut VrrpConfig) {
    let names: HashSet<String> = vrrp.instances.iter().map(|i| i.name.clone()).collect();
    for g in &mut vrrp.static_track_groups {
        let gname = g.name.clone();
        g.members.retain(|(m, o)| {
            let ok = names.contains(m);
            if !ok {
                ctx.diags.warn(
                    o,
                    format!("track_group {gname}: vrrp instance {m} not found - ignoring"),
                );
            }
            ok
        });
    }
    let groups: HashSet<String> = vrrp
        .static_track_groups
        .iter()
        .map(|g| g.name.clone())
        .collect();
    let mut missing: Vec<String> = Vec::new();
    let refs = vrrp
        .static_ipaddress
        .iter()
        .filter_map(|a| a.track_group.clone())
        .chain(
            vrrp.static_routes
                .iter()
                .filter_map(|r| r.track_group.clone()),
        )
        .chain(
            vrrp.static_rules
                .iter()
                .filter_map(|r| r.track_group.clone()),
        );
    for r in refs {
        if !groups.contains(&r) && !missing.contains(&r) {
            note(ctx, format!("track_group {r} not found"));
            missing.push(r);
        }
    }
    for a in &mut vrrp.static_ipaddress {
        if a.track_group.as_ref().is_some_and(|t| missing.contains(t)) {
            a.track_group = None;
        }
    }
    for r in &mut vrrp.static_routes {
        if r.track_group.as_ref().is_some_and(|t| missing.contains(t)) {
            r.track_group = None;
        }
    }
    for r in &mut vrrp.static_rules {
        if r.track_group.as_ref().is_some_and(|t| missing.contains(t)) {
            r.track_group = None;
        }
    }
}

/// Two instances on the same interface and family with the same VRID share a socket and
/// cannot be told apart, unless they use different multicast groups or disjoint peers.
fn vrid_clashes(ctx: &mut Ctx<'_>, vrrp: &VrrpConfig) {
    let mut buckets: HashMap<(u8, Option<&str>, bool, bool), Vec<&VrrpInstance>> = HashMap::new();
    let mut order = Vec::new();
    for a in &vrrp.instances {
        let key = (
            a.virtual_router_id,
            a.interface.as_deref(),
            a.is_ipv6(),
            a.is_unicast(),
        );
        let bucket = buckets.entry(key).or_default();
        for b in bucket.iter() {
            let clash = if a.is_unicast() {
                a.unicast_peers
                    .iter()
                    .any(|p| b.unicast_peers.iter().any(|q| q.addr == p.addr))
            } else {
                a.mcast_dst_ip == b.mcast_dst_ip
            };
            if clash {
                order.push(format!(
                    "{} and {} both use VRID {} with {} on interface {}",
                    b.name,
                    a.name,
                    a.virtual_router_id,
                    if a.is_ipv6() { "IPv6" } else { "IPv4" },
                    a.interface.as_deref().unwrap_or("(none)")
                ));
            }
        }
        bucket.push(a);
    }
    for m in order {
        note(ctx, m);
    }
}

/// Interfaces of instances and their track lists must exist; VRRP cannot run on loopback.
/// Returns true when an interface is missing.
fn host_checks(ctx: &mut Ctx<'_>, vrrp: &mut VrrpConfig) -> bool {
    let mut missing_any = false;
    for v in &mut vrrp.instances {
        if let (Some(ifname), Some(origin)) = (v.interface.clone(), v.interface_origin.clone()) {
            if rka_sys::host::interface_index(&ifname).is_none() {
                ctx.diags.warn(
                    &origin,
                    format!(
                        "WARNING - interface {ifname} for vrrp_instance {} doesn't exist",
                        v.name
                    ),
                );
                missing_any = true;
            } else if rka_sys::host::interface_is_loopback(&ifname) {
                ctx.diags.warn(
                    &origin,
                    format!(
                        "({}) cannot use a loopback interface ({ifname}) for vrrp - ignoring",
                        v.name
                    ),
                );
                v.interface = None;
            }
        }
        let name = v.name.clone();
        v.track_interface.retain(|t| {
            let ok = rka_sys::host::interface_index(&t.name).is_some();
            if !ok {
                ctx.diags.warn(
                    &t.origin,
                    format!("({name}) tracked interface {} doesn't exist", t.name),
                );
                missing_any = true;
            }
            ok
        });
    }
    missing_any |= vrrp_devs(vrrp).any(|d| rka_sys::host::interface_index(d).is_none());
    if missing_any {
        note(
            ctx,
            "Non-existent interface specified in configuration".to_string(),
        );
    }
    missing_any
}

/// Every interface named by an address or route of the VRRP side.
fn vrrp_devs(vrrp: &VrrpConfig) -> impl Iterator<Item = &str> {
    let addr_devs = vrrp
        .instances
        .iter()
        .flat_map(|i| {
            i.virtual_ipaddress
                .iter()
                .chain(&i.virtual_ipaddress_excluded)
        })
        .chain(&vrrp.static_ipaddress)
        .filter_map(|a| a.dev.as_deref());
    let route_devs = vrrp
        .instances
        .iter()
        .flat_map(|i| i.virtual_routes.iter())
        .chain(&vrrp.static_routes)
        .flat_map(|r| {
            r.dev
                .as_deref()
                .into_iter()
                .chain(r.nexthops.iter().filter_map(|n| n.dev.as_deref()))
        });
    addr_devs.chain(route_devs)
}

/// Reports an address whose `dev` does not exist (called while parsing, where the line is
/// known). Does nothing when host checks are skipped.
pub fn check_addr_dev(ctx: &mut Ctx<'_>, node: &Node, a: &IpAddress) {
    if ctx.opts.skip_host_checks {
        return;
    }
    if let Some(dev) = &a.dev {
        if rka_sys::host::interface_index(dev).is_none() {
            let shown = if a.prefix.is_host() {
                a.prefix.addr.to_string()
            } else {
                a.prefix.to_string()
            };
            ctx.warn(
                node,
                format!("WARNING - interface {dev} for ip address {shown} doesn't exist"),
            );
        }
    }
}

/// keepalived's checks of one route entry: `or` is deprecated, and a route without `dev`
/// cannot be tracked (it becomes `no_track`).
pub fn route_checks(ctx: &mut Ctx<'_>, node: &Node, r: &mut Route) {
    if r.or.is_some() {
        ctx.warn(
            node,
            "\"or\" for routes is deprecated. Please use \"nexthop\"",
        );
    }
    if !ctx.opts.skip_host_checks {
        let devs = r
            .dev
            .iter()
            .chain(r.nexthops.iter().filter_map(|n| n.dev.as_ref()));
        let missing: Vec<String> = devs
            .filter(|d| rka_sys::host::interface_index(d).is_none())
            .cloned()
            .collect();
        for d in missing {
            ctx.warn(
                node,
                format!("WARNING - interface {d} for VROUTE nexthop doesn't exist"),
            );
        }
    }
    if r.dev.is_none() && !r.no_track {
        ctx.warn(
            node,
            format!(
                "Warning - cannot track route {} with no interface specified, not tracking",
                r.dst
            ),
        );
        r.no_track = true;
    }
}

/// keepalived's checks of one rule entry: a track group needs `iif`, and a rule without a
/// preference gets the next one counting down from 16384, with a warning.
pub fn rule_checks(ctx: &mut Ctx<'_>, node: &Node, r: &mut Rule, next_pref: &mut u32) {
    if r.track_group.is_some() && r.iif.is_none() {
        ctx.error(
            node,
            "Static rule cannot have track_group if dev/iif not specified",
        );
        r.track_group = None;
    }
    if r.preference.is_none() {
        ctx.warn(
            node,
            format!(
                "Rule has no preference specified - setting to {next_pref}. This is probably not what you want."
            ),
        );
        r.preference = Some(*next_pref);
        *next_pref = next_pref.saturating_sub(1);
    }
}

/// True when a non-root user could change what `path` runs: the file or any directory above
/// it is not owned by root or is group/other writable (sticky directories excepted).
pub fn is_insecure(path: &Path) -> bool {
    let Ok(m) = std::fs::metadata(path) else {
        return false;
    };
    // Group write is only a risk when the group is not root's (0775 root:root is fine).
    let writable_by_others =
        |m: &std::fs::Metadata| m.mode() & 0o002 != 0 || (m.mode() & 0o020 != 0 && m.gid() != 0);
    if m.uid() != 0 || writable_by_others(&m) {
        return true;
    }
    let mut dir = path.parent();
    while let Some(d) = dir {
        if let Ok(m) = std::fs::metadata(d) {
            let sticky = m.mode() & 0o1000 != 0;
            if m.uid() != 0 || (writable_by_others(&m) && !sticky) {
                return true;
            }
        }
        dir = d.parent();
    }
    false
}

/// Who a script runs as: its own user, else `script_user`, else `keepalived_script` when that
/// user exists. `None` when nothing applies (keepalived then runs it as root unless
/// `enable_script_security` is set).
fn script_uid(g: &GlobalDefs, own: Option<&str>) -> Option<Option<u32>> {
    let name = own
        .map(str::to_string)
        .or_else(|| g.script_user_name().map(str::to_string))
        .or_else(|| rka_sys::host::user_by_name("keepalived_script").map(|u| u.name))?;
    Some(rka_sys::host::user_by_name(&name).map(|u| u.uid))
}

/// True when a script of the VRRP side names no user of its own and `script_user` is unset:
/// it then runs as `keepalived_script` if that user exists (the VRRP child says when it does
/// not: `Script user 'keepalived_script' does not exist`).
pub fn needs_default_script_user(g: &GlobalDefs, vrrp: &VrrpConfig) -> bool {
    g.script_user_name().is_none()
        && (vrrp.scripts.iter().any(|v| v.user.is_none())
            || user_scripts(g, vrrp).any(|u| u.user.is_none()))
}

/// The notify scripts of the instances and sync groups, then the global scripts the VRRP
/// child runs (`startup_script`, `shutdown_script`, the notify FIFOs' scripts).
fn user_scripts<'a>(
    g: &'a GlobalDefs,
    vrrp: &'a VrrpConfig,
) -> impl Iterator<Item = &'a UserScript> {
    let s = &g.simple;
    vrrp.instances
        .iter()
        .flat_map(|i| i.notifies.scripts())
        .chain(vrrp.sync_groups.iter().flat_map(|g| g.notifies.scripts()))
        .map(|(_, u)| u)
        .chain(
            [
                &s.startup_script,
                &s.shutdown_script,
                &s.notify_fifo_script,
                &s.vrrp_notify_fifo_script,
            ]
            .into_iter()
            .flatten(),
        )
}

/// The script-security pass of the VRRP side; its diagnostics are the VRRP child's to log
/// ([`crate::Diagnostic::script`]).
fn script_security(ctx: &mut Ctx<'_>, g: &GlobalDefs, vrrp: &mut VrrpConfig) {
    let start = ctx.diags.len();
    check_vrrp_scripts(ctx, g, vrrp);
    ctx.diags.mark_script_since(start);
}

/// What [`script_security`] checks: the track scripts (removed when they cannot run safely),
/// then the notify and global scripts (reported only).
fn check_vrrp_scripts(ctx: &mut Ctx<'_>, g: &GlobalDefs, vrrp: &mut VrrpConfig) {
    let secure = g.simple.enable_script_security;
    let root = rka_sys::host::effective_uid() == 0;
    let mut any = false;
    let mut insecure_any = false;
    // vrrp_script blocks: removed when they cannot run safely.
    let mut kept = Vec::new();
    for s in std::mem::take(&mut vrrp.scripts) {
        if let Some((u, grp)) = &s.user {
            let group_ok = grp
                .as_deref()
                .is_none_or(|gr| rka_sys::host::group_by_name(gr).is_some());
            if rka_sys::host::user_by_name(u).is_none() || !group_ok {
                ctx.diags.warn(
                    &s.origin,
                    format!("Unable to set uid/gid for script '{}'", s.script.program()),
                );
                continue;
            }
        }
        // A program that cannot be found (a relative path not in PATH included) disables the
        // script and does not count for the security check.
        let found = match find_program(s.script.program()) {
            Some(found) => {
                note_path_search(ctx, s.script.program(), &found);
                found
            }
            None => {
                note(
                    ctx,
                    format!(
                        "Disabling track script {} since not found/accessible",
                        s.name
                    ),
                );
                continue;
            }
        };
        any = true;
        let uid = script_uid(g, s.user.as_ref().map(|(u, _)| u.as_str()));
        let insecure = is_insecure(&found);
        if secure {
            match uid {
                None => {
                    ctx.diags.warn(
                        &s.origin,
                        "Unable to set default user keepalived_script for script",
                    );
                    ctx.diags.warn(
                        &s.origin,
                        format!(
                            "Unable to set default user for vrrp script {} - removing",
                            s.name
                        ),
                    );
                    continue;
                }
                Some(Some(0)) if insecure => {
                    note(
                        ctx,
                        format!("Disabling track script {} due to insecure", s.name),
                    );
                    continue;
                }
                _ => {}
            }
        } else if insecure && root && uid.flatten().is_none_or(|u| u == 0) {
            insecure_any = true;
        }
        kept.push(s);
    }
    vrrp.scripts = kept;
    // Notify scripts and global scripts: reported, not removed.
    let others = user_scripts(g, vrrp).chain(&g.simple.lvs_notify_fifo_script);
    for o in others {
        let found = find_program(o.command.program());
        if let Some(found) = &found {
            note_path_search(ctx, o.command.program(), found);
        }
        any |= found.is_some();
        let uid = script_uid(g, o.user.as_deref());
        let insecure = found.as_deref().is_some_and(is_insecure);
        if secure && insecure && uid.flatten() == Some(0) {
            // keepalived -t says nothing about these (it checks them only when it runs them).
            ctx.diags.runtime_note(
                None,
                format!(
                    "Disabling notify script {} due to insecure",
                    o.command.program()
                ),
            );
        } else if !secure && insecure && root && uid.flatten().is_none_or(|u| u == 0) {
            insecure_any = true;
        }
    }
    if any && !secure && root {
        let mut msg =
            "SECURITY VIOLATION - scripts are being executed but script_security not enabled."
                .to_string();
        if insecure_any {
            msg.push_str(" There are insecure scripts.");
        }
        ctx.diags.security(None, msg);
    }
}

#[cfg(test)]
mod conformance_tests;
