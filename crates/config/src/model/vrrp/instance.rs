//! `vrrp_instance NAME { ... }`.

use std::net::IpAddr;
use std::time::Duration;

use crate::diag::Origin;
use crate::dump::Dumper;
use crate::tree::Node;

use super::super::addr::{
    parse_ip_address, parse_route, parse_rule, IpAddress, IpPrefix, Route, Rule,
};
use super::super::global::{dump_garp_extra_if, parse_garp_extra_if, GarpExtraIf};
use super::super::{required, Ctx};
use super::track::{dump_track_list, parse_track_list, Notifies, TrackRef};
use super::validate::{check_addr_dev, route_checks, rule_checks};

/// The state an instance starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialState {
    /// `state MASTER`.
    Master,
    /// `state BACKUP` (the default).
    Backup,
}

/// `authentication { auth_type ...; auth_pass ... }` (VRRPv2 over IPv4 only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    /// `auth_type`.
    pub kind: AuthType,
    /// `auth_pass`, at most 8 bytes (longer passwords are truncated, as keepalived does).
    pub pass: String,
}

/// The VRRPv2 authentication types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    /// Simple 8-byte cleartext password.
    Pass,
    /// IPsec AH (HMAC-MD5-96).
    Ah,
}

/// `use_vmac [NAME] [MAC]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Vmac {
    /// The macvlan name (default `vrrp.VRID`, with the global `vmac_prefix`).
    pub name: Option<String>,
    /// An explicit MAC; 5 octets means the VRID is the sixth.
    pub mac: Option<Vec<u8>>,
}

/// `use_ipvlan [NAME] [ADDR[/LEN]] [bridge|private|vepa]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ipvlan {
    /// Interface name.
    pub name: Option<String>,
    /// Address put on it.
    pub addr: Option<IpPrefix>,
    /// Mode flag (`bridge` by default).
    pub mode: Option<String>,
}

/// One `unicast_peer` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnicastPeer {
    /// Peer address.
    pub addr: IpAddr,
    /// `min_ttl`: drop adverts with a lower TTL / hop limit.
    pub min_ttl: Option<u8>,
    /// `max_ttl`.
    pub max_ttl: Option<u8>,
}

/// `old_unicast_checksum [never]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldChecksum {
    /// Use the pre-1.3.6 checksum, detecting either on receipt.
    Use,
    /// Never accept old checksums.
    Never,
}

/// A `vrrp_instance` with keepalived's defaults applied.
///
/// Fields documented "global default" are resolved from `global_defs` by validation, so the
/// engine reads final values.
#[derive(Debug, Clone, PartialEq)]
pub struct VrrpInstance {
    /// The instance name.
    pub name: String,
    /// Where the block starts.
    pub origin: Origin,
    /// `state` (default BACKUP).
    pub state: InitialState,
    /// `interface` (optional with unicast peers).
    pub interface: Option<String>,
    /// Where `interface` was written.
    pub interface_origin: Option<Origin>,
    /// `vrf` (unicast without interface).
    pub vrf: Option<String>,
    /// `use_vmac`.
    pub use_vmac: Option<Vmac>,
    /// `use_vmac_addr`.
    pub use_vmac_addr: bool,
    /// `vmac_xmit_base`: send/receive on the base interface.
    pub vmac_xmit_base: bool,
    /// `use_ipvlan`.
    pub use_ipvlan: Option<Ipvlan>,
    /// `native_ipv6` (deprecated: the VIPs decide the family).
    pub native_ipv6: bool,
    /// `dont_track_primary`: ignore faults of `interface`.
    pub dont_track_primary: bool,
    /// `track_interface { IF [weight W [reverse]] }`.
    pub track_interface: Vec<TrackRef>,
    /// `track_script { NAME [weight W [reverse|noreverse]] }`.
    pub track_script: Vec<TrackRef>,
    /// `track_file { ... }`.
    pub track_file: Vec<TrackRef>,
    /// `track_process { ... }`.
    pub track_process: Vec<TrackRef>,
    /// `track_bfd { ... }`.
    pub track_bfd: Vec<TrackRef>,
    /// `mcast_src_ip` / `unicast_src_ip`: the source address of adverts.
    pub src_ip: Option<IpAddr>,
    /// `mcast_dst_ip`: alternative multicast group (default: the global group of the family).
    pub mcast_dst_ip: Option<IpAddr>,
    /// `track_src_ip`: FAULT when the source address disappears.
    pub track_src_ip: bool,
    /// `version` (2 or 3; global default, always 3 for IPv6).
    pub version: u8,
    /// `check_unicast_src`.
    pub check_unicast_src: bool,
    /// `unicast_peer { ... }`.
    pub unicast_peers: Vec<UnicastPeer>,
    /// `unicast_fault_no_peer`.
    pub unicast_fault_no_peer: bool,
    /// `unicast_ttl` (default 255; only with unicast peers).
    pub unicast_ttl: u8,
    /// Where `unicast_ttl` was written.
    pub unicast_ttl_origin: Option<Origin>,
    /// `old_unicast_checksum [never]`.
    pub old_unicast_checksum: Option<OldChecksum>,
    /// `garp_master_delay` (global default).
    pub garp_master_delay: Duration,
    /// `garp_master_repeat` (global default).
    pub garp_master_repeat: u32,
    /// `garp_lower_prio_delay` (global default, itself defaulting to garp_master_delay).
    pub garp_lower_prio_delay: Duration,
    /// `garp_lower_prio_repeat` (global default, itself defaulting to garp_master_repeat).
    pub garp_lower_prio_repeat: u32,
    /// `garp_master_refresh` (global default; 0 = off).
    pub garp_master_refresh: Duration,
    /// `garp_master_refresh_repeat` (global default).
    pub garp_master_refresh_repeat: u32,
    /// `garp_extra_if [all] SECS` (global default).
    pub garp_extra_if: Option<GarpExtraIf>,
    /// `down_timer_adverts` (1..=100, global default 3).
    pub down_timer_adverts: u32,
    /// `lower_prio_no_advert` (global default; true under strict mode).
    pub lower_prio_no_advert: bool,
    /// `higher_prio_send_advert` (global default).
    pub higher_prio_send_advert: bool,
    /// `virtual_router_id` (1..=255; 0 until set, and an instance without one is dropped).
    pub virtual_router_id: u8,
    /// `priority` (1..=255, default 100, or 255 for `state MASTER` without a priority, as
    /// keepalived 2.2.7 does; 255 = address owner).
    pub priority: u8,
    /// `advert_int` (default 1 s; rounded to whole seconds for v2, centiseconds for v3).
    pub advert_int: Duration,
    /// `authentication`.
    pub authentication: Option<Authentication>,
    /// `virtual_ipaddress { ... }`.
    pub virtual_ipaddress: Vec<IpAddress>,
    /// `virtual_ipaddress_excluded { ... }`.
    pub virtual_ipaddress_excluded: Vec<IpAddress>,
    /// `promote_secondaries`.
    pub promote_secondaries: bool,
    /// `virtual_routes { ... }`.
    pub virtual_routes: Vec<Route>,
    /// `virtual_rules { ... }`.
    pub virtual_rules: Vec<Rule>,
    /// `accept` / `no_accept` (default accept unless strict mode, where priority 255 decides).
    pub accept: bool,
    /// `nopreempt`.
    pub nopreempt: bool,
    /// `preempt_delay` (0..=1000 s).
    pub preempt_delay: Duration,
    /// `skip_check_adv_addr` (global default).
    pub skip_check_adv_addr: bool,
    /// `strict_mode` (global `vrrp_strict` default).
    pub strict_mode: bool,
    /// `debug` level 0..=4.
    pub debug: u8,
    /// Notify scripts and `notify_priority_changes`.
    pub notifies: Notifies,
    /// `smtp_alert <BOOL>` (global default).
    pub smtp_alert: Option<bool>,
    /// `kernel_rx_buf_size BYTES`.
    pub kernel_rx_buf_size: Option<u32>,
    /// `linkbeat_use_polling` (deprecated per instance).
    pub linkbeat_use_polling: bool,
    /// `v3_checksum_as_v2` (not a 2.2.7 keyword: accepted with a warning).
    pub v3_checksum_as_v2: bool,
    /// Values the user wrote explicitly, so global defaults only fill the others.
    pub explicit: Explicit,
}

/// Which defaultable instance settings were written in the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Explicit {
    /// `version`.
    pub version: bool,
    /// `accept` / `no_accept`.
    pub accept: bool,
    /// `strict_mode`.
    pub strict_mode: bool,
    /// `garp_master_delay`.
    pub garp_master_delay: bool,
    /// `garp_master_repeat`.
    pub garp_master_repeat: bool,
    /// `garp_lower_prio_delay`.
    pub garp_lower_prio_delay: bool,
    /// `garp_lower_prio_repeat`.
    pub garp_lower_prio_repeat: bool,
    /// `garp_master_refresh`.
    pub garp_master_refresh: bool,
    /// `garp_master_refresh_repeat`.
    pub garp_master_refresh_repeat: bool,
    /// `down_timer_adverts`.
    pub down_timer_adverts: bool,
    /// `lower_prio_no_advert`.
    pub lower_prio_no_advert: bool,
    /// `higher_prio_send_advert`.
    pub higher_prio_send_advert: bool,
    /// `skip_check_adv_addr`.
    pub skip_check_adv_addr: bool,
    /// `check_unicast_src`.
    pub check_unicast_src: bool,
    /// `priority` (without it, `state MASTER` means priority 255).
    pub priority: bool,
    /// A unicast-only keyword (`unicast_src_ip`, `unicast_peer`, `old_unicast_checksum`):
    /// keepalived warns when there are no peers.
    pub unicast_keyword: bool,
}

impl VrrpInstance {
    fn new(name: String, origin: Origin) -> Self {
        VrrpInstance {
            name,
            origin,
            state: InitialState::Backup,
            interface: None,
            interface_origin: None,
            vrf: None,
            use_vmac: None,
            use_vmac_addr: false,
            vmac_xmit_base: false,
            use_ipvlan: None,
            native_ipv6: false,
            dont_track_primary: false,
            track_interface: Vec::new(),
            track_script: Vec::new(),
            track_file: Vec::new(),
            track_process: Vec::new(),
            track_bfd: Vec::new(),
            src_ip: None,
            mcast_dst_ip: None,
            track_src_ip: false,
            version: 2,
            check_unicast_src: false,
            unicast_peers: Vec::new(),
            unicast_fault_no_peer: false,
            unicast_ttl: 255,
            unicast_ttl_origin: None,
            old_unicast_checksum: None,
            garp_master_delay: Duration::from_secs(5),
            garp_master_repeat: 5,
            garp_lower_prio_delay: Duration::from_secs(5),
            garp_lower_prio_repeat: 5,
            garp_master_refresh: Duration::ZERO,
            garp_master_refresh_repeat: 1,
            garp_extra_if: None,
            down_timer_adverts: 3,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            virtual_router_id: 0,
            priority: 100,
            advert_int: Duration::from_secs(1),
            authentication: None,
            virtual_ipaddress: Vec::new(),
            virtual_ipaddress_excluded: Vec::new(),
            promote_secondaries: false,
            virtual_routes: Vec::new(),
            virtual_rules: Vec::new(),
            accept: true,
            nopreempt: false,
            preempt_delay: Duration::ZERO,
            skip_check_adv_addr: false,
            strict_mode: false,
            debug: 0,
            notifies: Notifies::default(),
            smtp_alert: None,
            kernel_rx_buf_size: None,
            linkbeat_use_polling: false,
            v3_checksum_as_v2: false,
            explicit: Explicit::default(),
        }
    }

    /// True when the instance's VIPs (or `native_ipv6`) make it an IPv6 instance.
    pub fn is_ipv6(&self) -> bool {
        match self.virtual_ipaddress.first() {
            Some(a) => a.prefix.is_ipv6(),
            None => {
                self.native_ipv6 || self.unicast_peers.first().is_some_and(|p| p.addr.is_ipv6())
            }
        }
    }

    /// The family fixed by the first address written in the block (VIP, source address or
    /// unicast peer, in that order of precedence once several are set): `Some(true)` for IPv6.
    /// keepalived rejects later addresses of the other family.
    pub fn address_family(&self) -> Option<bool> {
        self.virtual_ipaddress
            .first()
            .map(|a| a.prefix.is_ipv6())
            .or_else(|| self.src_ip.map(|a| a.is_ipv6()))
            .or_else(|| self.unicast_peers.first().map(|p| p.addr.is_ipv6()))
    }

    /// True when adverts go to unicast peers.
    pub fn is_unicast(&self) -> bool {
        !self.unicast_peers.is_empty()
    }

    /// True when `unicast_fault_no_peer` is set and no peer is left: keepalived 2.2.7 keeps
    /// such an instance in FAULT (logging "Cannot use unicast without any peers") instead of
    /// falling back to multicast. An empty `unicast_peer {}` block and no block behave alike.
    pub fn faults_without_peers(&self) -> bool {
        self.unicast_fault_no_peer && self.unicast_peers.is_empty()
    }
}

fn parse_mac(s: &str) -> Option<Vec<u8>> {
    let v: Option<Vec<u8>> = s
        .split(':')
        .map(|p| {
            if p.is_empty() || p.len() > 2 {
                None
            } else {
                u8::from_str_radix(p, 16).ok()
            }
        })
        .collect();
    v.filter(|m| m.len() == 5 || m.len() == 6)
}

fn bool_opt(ctx: &mut Ctx<'_>, c: &Node, slot: &mut bool, explicit: &mut bool) {
    if let Some(b) = ctx.flag(c) {
        *slot = b;
        *explicit = true;
    }
}

/// Parses `vrrp_instance NAME { ... }`.
///
/// `next_pref` is the preference keepalived gives the next rule written without one.
/// An instance without a valid VRID is left out and recorded in `permanent` (keepalived's
/// VRRP child refuses to run then).
pub fn parse_instance(
    ctx: &mut Ctx<'_>,
    node: &Node,
    next_pref: &mut u32,
    permanent: &mut Vec<super::PermanentError>,
) -> Option<VrrpInstance> {
    let name = ctx.string(node)?;
    let mut v = VrrpInstance::new(name, node.origin.clone());
    for c in node.children() {
        parse_instance_child(ctx, c, &mut v, next_pref);
    }
    if v.virtual_router_id == 0 {
        ctx.warn(
            node,
            format!("({}) the virtual router id must be set - removing", v.name),
        );
        permanent.push(super::PermanentError::NoVrid(v.name));
        return None;
    }
    Some(v)
}

fn parse_instance_child(ctx: &mut Ctx<'_>, c: &Node, v: &mut VrrpInstance, next_pref: &mut u32) {
    if ctx.missing_parameter(c, required::VRRP_INSTANCE) {
        return;
    }
    if v.notifies.parse(ctx, c) {
        return;
    }
    let e = &mut v.explicit;
    match c.keyword() {
        "state" => match c.arg(0) {
            Some("MASTER") => v.state = InitialState::Master,
            Some("BACKUP") => v.state = InitialState::Backup,
            Some(s) => ctx.warn(
                c,
                format!("({}) unknown state '{s}', defaulting to BACKUP", v.name),
            ),
            None => ctx.warn(c, "state requires a value"),
        },
        "interface" => {
            if let Some(i) = ctx.string(c) {
                v.interface = Some(i);
                v.interface_origin = Some(c.origin.clone());
            }
        }
        "vrf" => v.vrf = ctx.string(c).or(v.vrf.take()),
        "use_vmac" => {
            let mut vm = Vmac::default();
            for w in c.args() {
                match parse_mac(&w.text) {
                    Some(m) if vm.mac.is_none() => vm.mac = Some(m),
                    _ if vm.name.is_none() => vm.name = Some(w.text.clone()),
                    _ => ctx.warn(c, format!("use_vmac: extra argument '{}' ignored", w.text)),
                }
            }
            v.use_vmac = Some(vm);
        }
        "use_vmac_addr" => v.use_vmac_addr = true,
        "vmac_xmit_base" => v.vmac_xmit_base = true,
        "use_ipvlan" => {
            let mut ip = Ipvlan::default();
            for w in c.args() {
                let t = w.text.as_str();
                if matches!(t, "bridge" | "private" | "vepa") {
                    ip.mode = Some(t.to_string());
                } else if let Some(p) = IpPrefix::parse(t) {
                    ip.addr = Some(p);
                } else if ip.name.is_none() {
                    ip.name = Some(t.to_string());
                } else {
                    ctx.warn(c, format!("use_ipvlan: extra argument '{t}' ignored"));
                }
            }
            v.use_ipvlan = Some(ip);
        }
        "native_ipv6" => v.native_ipv6 = true,
        "dont_track_primary" => v.dont_track_primary = true,
        "track_interface" => v.track_interface.extend(parse_track_list(ctx, c, 253)),
        "track_script" => v.track_script.extend(parse_track_list(ctx, c, 253)),
        "track_file" => v.track_file.extend(parse_track_list(ctx, c, 254)),
        "track_process" => v.track_process.extend(parse_track_list(ctx, c, 254)),
        "track_bfd" => v.track_bfd.extend(parse_track_list(ctx, c, 253)),
        "mcast_src_ip" | "unicast_src_ip" => {
            if let Some(a) = ctx.ip(c, 0) {
                if family_clash(ctx, c, v, a.is_ipv6(), "src address", &a.to_string()) {
                    return;
                }
                v.src_ip = Some(a);
                if c.keyword() == "unicast_src_ip" {
                    v.explicit.unicast_keyword = true;
                }
            }
        }
        "mcast_dst_ip" => match ctx.ip(c, 0) {
            Some(a) if a.is_multicast() => v.mcast_dst_ip = Some(a),
            Some(a) => ctx.warn(
                c,
                format!("({}) mcast_dst_ip {a} is not multicast - ignoring", v.name),
            ),
            None => {}
        },
        "track_src_ip" => v.track_src_ip = true,
        "version" => {
            if let Some(n) = ctx.int_in(c, 0, 2u8, 3) {
                v.version = n;
                e.version = true;
            }
        }
        "check_unicast_src" => bool_opt(ctx, c, &mut v.check_unicast_src, &mut e.check_unicast_src),
        "unicast_peer" => {
            v.explicit.unicast_keyword = true;
            for p in c.children() {
                let Ok(addr) = p.keyword().parse::<IpAddr>() else {
                    ctx.warn(
                        p,
                        format!(
                            "({}) invalid unicast peer '{}' - ignoring",
                            v.name,
                            p.keyword()
                        ),
                    );
                    continue;
                };
                if family_clash(
                    ctx,
                    p,
                    v,
                    addr.is_ipv6(),
                    "unicast peer address",
                    p.keyword(),
                ) {
                    continue;
                }
                let mut peer = UnicastPeer {
                    addr,
                    min_ttl: None,
                    max_ttl: None,
                };
                let mut i = 0;
                while let Some(k) = p.arg(i) {
                    match k {
                        "min_ttl" => peer.min_ttl = ctx.int_in(p, i + 1, 0u8, 255),
                        "max_ttl" => peer.max_ttl = ctx.int_in(p, i + 1, 0u8, 255),
                        _ => ctx.warn(p, format!("Unknown unicast_peer option '{k}'")),
                    }
                    i += 2;
                }
                if peer.min_ttl.is_some() || peer.max_ttl.is_some() {
                    v.check_unicast_src = true;
                }
                v.unicast_peers.push(peer);
            }
        }
        "unicast_fault_no_peer" => v.unicast_fault_no_peer = true,
        "unicast_ttl" => {
            if let Some(t) = ctx.int_in(c, 0, 0u8, 255) {
                v.unicast_ttl = t;
                v.unicast_ttl_origin = Some(c.origin.clone());
            }
        }
        "old_unicast_checksum" => {
            v.explicit.unicast_keyword = true;
            v.old_unicast_checksum = match c.arg(0) {
                None => Some(OldChecksum::Use),
                Some("never") => Some(OldChecksum::Never),
                Some(o) => {
                    ctx.warn(c, format!("Unknown old_unicast_checksum option '{o}'"));
                    v.old_unicast_checksum
                }
            }
        }
        "garp_master_delay" => {
            if let Some(n) = ctx.u64_in(c, 0, 0, 86400) {
                v.garp_master_delay = Duration::from_secs(n);
                e.garp_master_delay = true;
            }
        }
        "garp_master_repeat" => {
            if let Some(n) = ctx.int_in(c, 0, 1u32, 255) {
                v.garp_master_repeat = n;
                e.garp_master_repeat = true;
            }
        }
        "garp_lower_prio_delay" => {
            if let Some(n) = ctx.u64_in(c, 0, 0, 86400) {
                v.garp_lower_prio_delay = Duration::from_secs(n);
                e.garp_lower_prio_delay = true;
            }
        }
        "garp_lower_prio_repeat" => {
            if let Some(n) = ctx.int_in(c, 0, 0u32, 255) {
                v.garp_lower_prio_repeat = n;
                e.garp_lower_prio_repeat = true;
            }
        }
        "garp_master_refresh" => {
            if let Some(n) = ctx.u64_in(c, 0, 0, 86400) {
                v.garp_master_refresh = Duration::from_secs(n);
                e.garp_master_refresh = true;
            }
        }
        "garp_master_refresh_repeat" => {
            if let Some(n) = ctx.int_in(c, 0, 1u32, 255) {
                v.garp_master_refresh_repeat = n;
                e.garp_master_refresh_repeat = true;
            }
        }
        "garp_extra_if" => v.garp_extra_if = parse_garp_extra_if(ctx, c).or(v.garp_extra_if),
        "down_timer_adverts" => {
            if let Some(n) = ctx.int_in(c, 0, 1u32, 100) {
                v.down_timer_adverts = n;
                e.down_timer_adverts = true;
            }
        }
        "lower_prio_no_advert" => bool_opt(
            ctx,
            c,
            &mut v.lower_prio_no_advert,
            &mut e.lower_prio_no_advert,
        ),
        "higher_prio_send_advert" => bool_opt(
            ctx,
            c,
            &mut v.higher_prio_send_advert,
            &mut e.higher_prio_send_advert,
        ),
        "virtual_router_id" => {
            if let Some(n) = ctx.int_in(c, 0, 1u8, 255) {
                v.virtual_router_id = n;
            }
        }
        "priority" => match ctx.int_in(c, 0, 1u8, 255) {
            Some(n) => {
                v.priority = n;
                v.explicit.priority = true;
            }
            None => ctx.warn(
                c,
                format!(
                    "({}) Priority not valid! must be between 1 & 255. Using default 100",
                    v.name
                ),
            ),
        },
        "advert_int" => {
            if let Some(d) = ctx.timer_in(c, 0, Duration::from_millis(10), Duration::from_secs(255))
            {
                v.advert_int = d;
            }
        }
        "authentication" => v.authentication = parse_auth(ctx, c, &v.name),
        "virtual_ipaddress" => {
            ctx.block_args(c);
            for a in c.children() {
                let Some(ip) = parse_ip_address(ctx, a, false) else {
                    continue;
                };
                if let Some(family_v6) = v.address_family() {
                    if family_v6 != ip.prefix.is_ipv6() {
                        ctx.warn(
                            a,
                            format!(
                                "({}): address family must match VRRP instance [{}] - ignoring",
                                v.name, ip.prefix.addr
                            ),
                        );
                        continue;
                    }
                }
                check_addr_dev(ctx, a, &ip);
                v.virtual_ipaddress.push(ip);
            }
        }
        "virtual_ipaddress_excluded" => {
            ctx.block_args(c);
            for a in c.children() {
                if let Some(ip) = parse_ip_address(ctx, a, false) {
                    check_addr_dev(ctx, a, &ip);
                    v.virtual_ipaddress_excluded.push(ip);
                }
            }
        }
        "promote_secondaries" => v.promote_secondaries = true,
        "virtual_routes" => {
            ctx.block_args(c);
            for a in c.children() {
                if let Some(mut r) = parse_route(ctx, a, false) {
                    route_checks(ctx, a, &mut r);
                    v.virtual_routes.push(r);
                }
            }
        }
        "virtual_rules" => {
            ctx.block_args(c);
            for a in c.children() {
                if let Some(mut r) = parse_rule(ctx, a, false) {
                    rule_checks(ctx, a, &mut r, next_pref);
                    v.virtual_rules.push(r);
                }
            }
        }
        "accept" => {
            v.accept = true;
            e.accept = true;
        }
        "no_accept" => {
            v.accept = false;
            e.accept = true;
        }
        "nopreempt" => v.nopreempt = true,
        "preempt" => v.nopreempt = false,
        "preempt_delay" => {
            if let Some(d) = ctx.timer_in(c, 0, Duration::ZERO, Duration::from_secs(1000)) {
                v.preempt_delay = d;
            }
        }
        "skip_check_adv_addr" => bool_opt(
            ctx,
            c,
            &mut v.skip_check_adv_addr,
            &mut e.skip_check_adv_addr,
        ),
        "strict_mode" => bool_opt(ctx, c, &mut v.strict_mode, &mut e.strict_mode),
        "debug" => v.debug = ctx.int_in(c, 0, 0u8, 4).unwrap_or(v.debug),
        "smtp_alert" => v.smtp_alert = ctx.flag(c).or(v.smtp_alert),
        "kernel_rx_buf_size" => {
            v.kernel_rx_buf_size = ctx.int_in(c, 0, 0u32, u32::MAX).or(v.kernel_rx_buf_size)
        }
        "linkbeat_use_polling" => {
            ctx.warn(
                c,
                format!(
                    "({}) 'linkbeat_use_polling' in vrrp instance deprecated - use linkbeat_interfaces block",
                    v.name
                ),
            );
            v.linkbeat_use_polling = true;
        }
        "lvs_sync_daemon_interface" => {
            ctx.warn(
                c,
                format!(
                    "({}) Specifying lvs_sync_daemon_interface against a vrrp is deprecated.",
                    v.name
                ),
            );
            ctx.warn(c, "        Please use global lvs_sync_daemon");
        }
        "v3_checksum_as_v2" => {
            v.v3_checksum_as_v2 = true;
            ctx.warn(
                c,
                "v3_checksum_as_v2 is not a keepalived 2.2.7 keyword (rkeepalived honours it)",
            );
        }
        _ => ctx.unknown(c),
    }
}

/// Reports an address whose family differs from the one the instance already has (keepalived
/// skips it with a configuration error). Returns true when the address must be skipped.
fn family_clash(
    ctx: &mut Ctx<'_>,
    node: &Node,
    v: &VrrpInstance,
    is_v6: bool,
    what: &str,
    text: &str,
) -> bool {
    match v.address_family() {
        Some(f) if f != is_v6 => {
            ctx.error(
                node,
                format!(
                    "Configuration error: VRRP instance[{}] and {what}[{text}] MUST be of the same family !!! Skipping...",
                    v.name
                ),
            );
            true
        }
        _ => false,
    }
}

fn parse_auth(ctx: &mut Ctx<'_>, node: &Node, name: &str) -> Option<Authentication> {
    if !ctx.has_block(node) {
        return None;
    }
    let mut kind = None;
    let mut pass = None;
    for c in node.children() {
        if ctx.missing_parameter(c, required::AUTHENTICATION) {
            continue;
        }
        match c.keyword() {
            "auth_type" => match c.arg(0) {
                Some("PASS") => kind = Some(AuthType::Pass),
                Some("AH") => kind = Some(AuthType::Ah),
                Some(t) => ctx.warn(c, format!("({name}) unknown authentication type '{t}'")),
                None => ctx.warn(c, "auth_type requires a value"),
            },
            "auth_pass" => {
                let Some(p) = ctx.string(c) else { continue };
                let mut p = p;
                if p.len() > 8 {
                    ctx.warn(c, "Truncating auth_pass to 8 characters");
                    let mut cut = 8;
                    while !p.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    p.truncate(cut);
                }
                pass = Some(p);
            }
            _ => ctx.unknown(c),
        }
    }
    match (kind, pass) {
        (Some(kind), Some(pass)) => Some(Authentication { kind, pass }),
        (Some(kind), None) => Some(Authentication {
            kind,
            pass: String::new(),
        }),
        (None, Some(_)) => {
            // keepalived 2.2.7 -t says nothing (exit 0): there is simply no authentication.
            ctx.diags.info(
                Some(&node.origin),
                format!("({name}) auth_pass without auth_type - ignoring authentication"),
            );
            None
        }
        (None, None) => None,
    }
}

impl VrrpInstance {
    /// Writes the canonical block.
    pub fn dump(&self, d: &mut Dumper) {
        d.block(&["vrrp_instance", self.name.as_str()], |d| {
            d.kv(
                "state",
                match self.state {
                    InitialState::Master => "MASTER",
                    InitialState::Backup => "BACKUP",
                },
            );
            d.opt("interface", &self.interface);
            d.opt("vrf", &self.vrf);
            if let Some(vm) = &self.use_vmac {
                let mut w = vec!["use_vmac".to_string()];
                w.extend(vm.name.iter().cloned());
                if let Some(m) = &vm.mac {
                    w.push(
                        m.iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<Vec<_>>()
                            .join(":"),
                    );
                }
                d.words(&w);
            }
            d.flag("use_vmac_addr", self.use_vmac_addr);
            d.flag("vmac_xmit_base", self.vmac_xmit_base);
            if let Some(ip) = &self.use_ipvlan {
                let mut w = vec!["use_ipvlan".to_string()];
                w.extend(ip.name.iter().cloned());
                w.extend(ip.addr.iter().map(|a| a.to_string()));
                w.extend(ip.mode.iter().cloned());
                d.words(&w);
            }
            d.flag("native_ipv6", self.native_ipv6);
            d.flag("dont_track_primary", self.dont_track_primary);
            dump_track_list(d, "track_interface", &self.track_interface);
            dump_track_list(d, "track_script", &self.track_script);
            dump_track_list(d, "track_file", &self.track_file);
            dump_track_list(d, "track_process", &self.track_process);
            dump_track_list(d, "track_bfd", &self.track_bfd);
            if let Some(a) = self.src_ip {
                d.kv(
                    if self.is_unicast() {
                        "unicast_src_ip"
                    } else {
                        "mcast_src_ip"
                    },
                    a,
                );
            }
            d.opt("mcast_dst_ip", &self.mcast_dst_ip);
            d.flag("track_src_ip", self.track_src_ip);
            d.kv("version", self.version);
            d.flag("check_unicast_src", self.check_unicast_src);
            if !self.unicast_peers.is_empty() {
                d.block(&["unicast_peer"], |d| {
                    for p in &self.unicast_peers {
                        let mut w = vec![p.addr.to_string()];
                        if let Some(t) = p.min_ttl {
                            w.push("min_ttl".into());
                            w.push(t.to_string());
                        }
                        if let Some(t) = p.max_ttl {
                            w.push("max_ttl".into());
                            w.push(t.to_string());
                        }
                        d.words(&w);
                    }
                });
            }
            d.flag("unicast_fault_no_peer", self.unicast_fault_no_peer);
            if self.is_unicast() {
                d.kv("unicast_ttl", self.unicast_ttl);
            }
            match self.old_unicast_checksum {
                Some(OldChecksum::Use) => d.words(&["old_unicast_checksum"]),
                Some(OldChecksum::Never) => d.words(&["old_unicast_checksum", "never"]),
                None => {}
            }
            d.kv("garp_master_delay", self.garp_master_delay.as_secs());
            d.kv("garp_master_repeat", self.garp_master_repeat);
            d.kv(
                "garp_lower_prio_delay",
                self.garp_lower_prio_delay.as_secs(),
            );
            d.kv("garp_lower_prio_repeat", self.garp_lower_prio_repeat);
            d.kv("garp_master_refresh", self.garp_master_refresh.as_secs());
            d.kv(
                "garp_master_refresh_repeat",
                self.garp_master_refresh_repeat,
            );
            dump_garp_extra_if(d, "garp_extra_if", &self.garp_extra_if);
            d.kv("down_timer_adverts", self.down_timer_adverts);
            d.kv("lower_prio_no_advert", self.lower_prio_no_advert);
            d.kv("higher_prio_send_advert", self.higher_prio_send_advert);
            d.kv("virtual_router_id", self.virtual_router_id);
            d.kv("priority", self.priority);
            d.timer("advert_int", self.advert_int);
            if let Some(a) = &self.authentication {
                d.block(&["authentication"], |d| {
                    d.kv(
                        "auth_type",
                        match a.kind {
                            AuthType::Pass => "PASS",
                            AuthType::Ah => "AH",
                        },
                    );
                    if !a.pass.is_empty() {
                        d.words(&["auth_pass", a.pass.as_str()]);
                    }
                });
            }
            for (k, list) in [
                ("virtual_ipaddress", &self.virtual_ipaddress),
                (
                    "virtual_ipaddress_excluded",
                    &self.virtual_ipaddress_excluded,
                ),
            ] {
                if !list.is_empty() {
                    d.block(&[k], |d| {
                        for a in list {
                            d.words(&a.to_words());
                        }
                    });
                }
            }
            d.flag("promote_secondaries", self.promote_secondaries);
            if !self.virtual_routes.is_empty() {
                d.block(&["virtual_routes"], |d| {
                    for r in &self.virtual_routes {
                        d.words(&r.to_words());
                    }
                });
            }
            if !self.virtual_rules.is_empty() {
                d.block(&["virtual_rules"], |d| {
                    for r in &self.virtual_rules {
                        d.words(&r.to_words());
                    }
                });
            }
            d.words(&[if self.accept { "accept" } else { "no_accept" }]);
            d.flag("nopreempt", self.nopreempt);
            d.timer("preempt_delay", self.preempt_delay);
            d.kv("skip_check_adv_addr", self.skip_check_adv_addr);
            d.kv("strict_mode", self.strict_mode);
            d.kv("debug", self.debug);
            self.notifies.dump(d);
            if let Some(b) = self.smtp_alert {
                d.kv("smtp_alert", b);
            }
            d.opt("kernel_rx_buf_size", &self.kernel_rx_buf_size);
            d.flag("linkbeat_use_polling", self.linkbeat_use_polling);
            d.flag("v3_checksum_as_v2", self.v3_checksum_as_v2);
        });
    }
}
