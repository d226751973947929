//! From keepalived.conf to the engine: each `vrrp_instance` becomes an [`InstancePlan`] (the
//! `rka_vrrp` configuration plus what the daemon itself needs: interface, socket, addresses,
//! routes, rules, trackers and notify scripts).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use rka_config::model::addr::{
    Broadcast, IpAddress, Route, RouteTable, RouteType, Rule, RuleAction,
};
use rka_config::model::global::UserScript;
use rka_config::model::vrrp::{self as cfg, VrrpInstance};
use rka_config::Config;
use rka_netif::{AddressSpec, RouteKind, RouteSpec, RuleActionKind, RuleSpec, Scope};
use rka_vrrp::{Authentication, Family, GarpConfig, InitialState, InstanceConfig, TrackerConfig};
use rka_vrrp::{V3ChecksumMode, Version};

/// Which raw socket an instance sends and receives on: one per (interface, family, protocol).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketKey {
    /// Interface the socket is bound to (the VMAC interface with `use_vmac`).
    pub ifname: String,
    /// Address family.
    pub ipv6: bool,
    /// IP protocol: 112 (VRRP) or 51 (AH).
    pub protocol: i32,
}

/// A tracked object as the daemon watches it; the instance knows it as [`Tracked::core_name`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracked {
    /// A network interface (`track_interface`, and the instance's own interface).
    Interface(String),
    /// A `vrrp_script`.
    Script(String),
    /// A `vrrp_track_process`.
    Process(String),
    /// A `track_file`: its value times `weight` moves the priority (weight 0: non-zero = FAULT).
    File {
        /// The track_file name.
        name: String,
        /// The weight in force for this instance.
        weight: i32,
        /// `reverse`: the product is negated.
        reverse: bool,
    },
}

impl Tracked {
    /// The name the core instance knows this tracker by.
    pub fn core_name(&self) -> String {
        match self {
            Tracked::Interface(n) => format!("interface:{n}"),
            Tracked::Script(n) => format!("script:{n}"),
            Tracked::Process(n) => format!("process:{n}"),
            Tracked::File { name, .. } => format!("file:{name}"),
        }
    }
}

/// The VMAC interface of an instance (`use_vmac`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmacPlan {
    /// Name of the macvlan (`vrrp.VRID` unless named).
    pub name: String,
    /// Its MAC address.
    pub mac: [u8; 6],
    /// The base interface.
    pub base: String,
}

/// An address the instance installs, on the named interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipPlan {
    /// Interface name (the entry's `dev`, else the instance's interface).
    pub ifname: String,
    /// The address with its options (ifindex filled when installed).
    pub spec: AddressSpec,
}

/// A route or rule the instance installs, with the interfaces to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePlan {
    /// Output interface name, resolved to `spec.ifindex` when installed.
    pub dev: Option<String>,
    /// The route.
    pub spec: RouteSpec,
}

/// Everything the daemon needs to run one `vrrp_instance`.
#[derive(Debug, Clone)]
pub struct InstancePlan {
    /// The core configuration.
    pub core: InstanceConfig,
    /// Interface named in the configuration.
    pub interface: String,
    /// The socket the instance uses.
    pub socket: SocketKey,
    /// `use_vmac`.
    pub vmac: Option<VmacPlan>,
    /// The VMACs of addresses on other interfaces (`use_vmac_addr`, or `use_vmac` on the
    /// address): one per interface, the addresses in `vips` name them as their interface.
    pub addr_vmacs: Vec<VmacPlan>,
    /// `check_unicast_src`: drop adverts whose source is not a unicast peer.
    pub check_unicast_src: bool,
    /// Accepted TTL range per unicast peer (`min_ttl`, `max_ttl`).
    pub peer_ttl: Vec<(IpAddr, Option<u8>, Option<u8>)>,
    /// `virtual_ipaddress` then `virtual_ipaddress_excluded`.
    pub vips: Vec<VipPlan>,
    /// `virtual_routes`.
    pub routes: Vec<RoutePlan>,
    /// `virtual_rules`.
    pub rules: Vec<RuleSpec>,
    /// Trackers in the order of `core.trackers`.
    pub trackers: Vec<Tracked>,
    /// Notify scripts.
    pub notifies: cfg::Notifies,
    /// `notify_priority_changes` (or the global `vrrp_notify_priority_changes`): notify the
    /// current state again whenever the effective priority moves.
    pub notify_priority_changes: bool,
    /// `initial state` as written (for the reload match).
    pub unicast: bool,
    /// Why the instance is in FAULT for good (keepalived's "config faults"), as logged.
    pub config_faults: Vec<String>,
    /// The interface exists but has no address to advertise from (`core.source` is then the
    /// unspecified address): the instance stays in FAULT until one appears, as keepalived's
    /// "no IPv4 address for interface".
    pub source_missing: bool,
    /// What the nftables `no_accept` filter drops while the instance holds its addresses
    /// (empty in accept mode).
    pub firewall: Vec<super::firewall::FwElement>,
}

impl InstancePlan {
    /// Every VMAC interface of the instance: its own, then its addresses'.
    pub fn vmacs(&self) -> impl Iterator<Item = &VmacPlan> {
        self.vmac.iter().chain(&self.addr_vmacs)
    }

    /// Whether an advert from `src` with `ttl` passes `check_unicast_src` (and the peer's
    /// `min_ttl` / `max_ttl`). Always true for multicast instances or without the check.
    pub fn unicast_source_ok(&self, src: IpAddr, ttl: Option<u8>) -> bool {
        if !self.unicast || !self.check_unicast_src {
            return true;
        }
        match self.peer_ttl.iter().find(|(a, _, _)| *a == src) {
            None => false,
            Some((_, min, max)) => match ttl {
                Some(t) => min.is_none_or(|m| t >= m) && max.is_none_or(|m| t <= m),
                None => min.is_none() && max.is_none(),
            },
        }
    }

    /// The reload identity: instances are matched old to new by VRID, family, interface and
    /// unicast/multicast setting (not by name).
    pub fn identity(&self) -> (u8, bool, String, bool) {
        (
            self.core.vrid,
            self.core.family == Family::Ipv6,
            self.interface.clone(),
            self.unicast,
        )
    }
}

/// A `vrrp_sync_group` as the engine runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupPlan {
    /// Group name.
    pub name: String,
    /// Member instance names, in order.
    pub members: Vec<String>,
    /// Group notify scripts.
    pub notifies: cfg::Notifies,
}

/// What the host looks like, as far as mapping needs it.
pub trait HostView {
    /// The addresses usable as source on `ifname` for `ipv6` (IPv4 in kernel order, primary
    /// first / IPv6 link-local).
    fn source_addresses(&self, ifname: &str, ipv6: bool) -> Vec<IpAddr>;

    /// The source address to use: the first candidate that is not one of `vips` (a previous
    /// run may have died holding them), else the first (an address owner's VIP is the
    /// interface's own address).
    fn source_address(&self, ifname: &str, ipv6: bool, vips: &[IpAddr]) -> Option<IpAddr> {
        let all = self.source_addresses(ifname, ipv6);
        all.iter()
            .find(|a| !vips.contains(a))
            .or(all.first())
            .copied()
    }
    /// Whether `ifname` exists and is operationally up.
    fn interface_up(&self, ifname: &str) -> bool;

    /// Whether `ifname` exists (up or down).
    fn interface_exists(&self, ifname: &str) -> bool;

    /// Whether `ifname` exists and does not support multicast (`IFF_MULTICAST` unset, as a
    /// dummy interface).
    fn interface_lacks_multicast(&self, _ifname: &str) -> bool {
        false
    }

    /// Whether a socket can be bound to `addr` (`Err` holds the reason): keepalived binds its
    /// unicast socket to `unicast_src_ip`, and an address the host does not have puts the
    /// instance in FAULT. An IPv6 link-local address is looked up on `ifname` instead.
    fn can_bind(&self, ifname: &str, addr: IpAddr) -> Result<(), String> {
        match addr {
            IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80 => {
                if self.source_addresses(ifname, true).contains(&addr) {
                    Ok(())
                } else {
                    Err("not on the interface".to_owned())
                }
            }
            _ => {
                std::net::UdpSocket::bind((addr, 0))
                    .map(drop)
                    .map_err(|e| match e.raw_os_error() {
                        Some(n) => format!("{n} - {}", nix::errno::Errno::from_raw(n).desc()),
                        None => e.to_string(),
                    })
            }
        }
    }
}

/// Why an instance cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// No `interface` keyword.
    #[error("({0}) no interface configured - instance not run")]
    NoInterface(String),
    /// No source address could be found.
    #[error("({0}) no usable source address on {1} - instance not run")]
    NoSource(String, String),
    /// The core refused the configuration.
    #[error("({0}) invalid configuration: {1}")]
    Core(String, rka_vrrp::ConfigError),
}

/// Maps every instance of `config`; instances that cannot run are reported and left out.
pub fn plan_instances(config: &Config, host: &dyn HostView) -> (Vec<InstancePlan>, Vec<PlanError>) {
    let mut plans = Vec::new();
    let mut errors = Vec::new();
    let names = VmacNames::of(config);
    for inst in &config.vrrp.instances {
        match plan_instance(config, inst, host, &names) {
            Ok(p) => plans.push(p),
            Err(e) => errors.push(e),
        }
    }
    (plans, errors)
}

/// Maps the sync groups (members that are not running instances are left out).
pub fn plan_groups(config: &Config, plans: &[InstancePlan]) -> Vec<GroupPlan> {
    config
        .vrrp
        .sync_groups
        .iter()
        .map(|g| GroupPlan {
            name: g.name.clone(),
            members: g
                .members
                .iter()
                .map(|(n, _)| n.clone())
                .filter(|n| plans.iter().any(|p| &p.core.name == n))
                .collect(),
            notifies: g.notifies.clone(),
        })
        .filter(|g| !g.members.is_empty())
        .collect()
}

fn plan_instance(
    config: &Config,
    inst: &VrrpInstance,
    host: &dyn HostView,
    names: &VmacNames,
) -> Result<InstancePlan, PlanError> {
    let g = &config.global.simple;
    // Accepted by the configuration but not run yet: said once, not silently dropped.
    for (set, keyword) in [
        (inst.use_ipvlan.is_some(), "use_ipvlan"),
        (inst.vrf.is_some(), "vrf"),
    ] {
        if set {
            tracing::warn!("({}) {keyword} is not supported yet - ignored", inst.name);
        }
    }
    let interface = inst
        .interface
        .clone()
        .ok_or_else(|| PlanError::NoInterface(inst.name.clone()))?;
    let ipv6 = inst.is_ipv6();
    let family = if ipv6 { Family::Ipv6 } else { Family::Ipv4 };
    let all_vips: Vec<IpAddr> = inst
        .virtual_ipaddress
        .iter()
        .chain(&inst.virtual_ipaddress_excluded)
        .map(|a| a.prefix.addr)
        .collect();
    let (source, source_missing) = match inst.src_ip {
        Some(a) => (a, false),
        None => match host.source_address(&interface, ipv6, &all_vips) {
            Some(a) => (a, false),
            // keepalived 2.2.7 (observed): an existing interface without an address puts the
            // instance in FAULT until an address appears; so does a missing interface with
            // `dynamic_interfaces` (without, the VRRP child does not run at all).
            None if host.interface_exists(&interface)
                || config.global.dynamic_interfaces.is_some() =>
            {
                (unspecified(ipv6), true)
            }
            None => return Err(PlanError::NoSource(inst.name.clone(), interface.clone())),
        },
    };
    let auth = match (&inst.authentication, inst.version) {
        (Some(a), 2) if !ipv6 => match a.kind {
            cfg::AuthType::Pass => Authentication::pass(a.pass.as_bytes()),
            cfg::AuthType::Ah => Authentication::ah(a.pass.as_bytes()),
        },
        _ => Authentication::None,
    };
    let protocol = if matches!(auth, Authentication::Ah(_)) {
        51
    } else {
        112
    };
    let vmac = inst.use_vmac.as_ref().map(|v| {
        let mut mac = [0x00, 0x00, 0x5e, 0x00, if ipv6 { 0x02 } else { 0x01 }, 0];
        mac[5] = inst.virtual_router_id;
        if let Some(m) = &v.mac {
            if m.len() == 6 {
                mac.copy_from_slice(m);
            }
        }
        VmacPlan {
            name: names.own(&inst.name).unwrap_or_default().to_string(),
            mac,
            base: interface.clone(),
        }
    });
    let own_if = match &vmac {
        Some(v) if !inst.vmac_xmit_base => v.name.clone(),
        _ => interface.clone(),
    };
    let vip_if = vmac.as_ref().map_or(interface.clone(), |v| v.name.clone());
    let advertised: Vec<IpAddr> = inst
        .virtual_ipaddress
        .iter()
        .map(|a| a.prefix.addr)
        .filter(|a| a.is_ipv6() == ipv6)
        .collect();
    let mut vips: Vec<VipPlan> = inst
        .virtual_ipaddress
        .iter()
        .chain(&inst.virtual_ipaddress_excluded)
        .map(|a| vip_plan(a, &vip_if))
        .collect();
    let mut addr_vmacs: Vec<VmacPlan> = Vec::new();
    for (a, v) in inst
        .virtual_ipaddress
        .iter()
        .chain(&inst.virtual_ipaddress_excluded)
        .zip(vips.iter_mut())
    {
        let Some(dev) = a.dev.as_ref().filter(|d| **d != interface) else {
            continue;
        };
        if !(inst.use_vmac_addr || a.use_vmac.is_some()) {
            continue;
        }
        let Some(name) = names.address(&inst.name, dev) else {
            continue;
        };
        if !addr_vmacs.iter().any(|m| m.name == name) {
            let mut mac = [0x00, 0x00, 0x5e, 0x00, 0x01, inst.virtual_router_id];
            if a.prefix.addr.is_ipv6() {
                mac[4] = 0x02;
            }
            addr_vmacs.push(VmacPlan {
                name: name.to_string(),
                mac,
                base: dev.clone(),
            });
        }
        v.ifname = name.to_string();
    }
    vips.dedup();

    let mut trackers = Vec::new();
    let mut core_trackers = Vec::new();
    // A script without init_fail is neither up nor down until its first run.
    let mut add = |t: Tracked, weight: i32, reverse: bool, up: bool| {
        if trackers.contains(&t) {
            return;
        }
        let pending = match &t {
            Tracked::Script(name) => config
                .vrrp
                .scripts
                .iter()
                .any(|s| &s.name == name && !s.init_fail),
            _ => false,
        };
        core_trackers.push(TrackerConfig {
            name: t.core_name(),
            weight,
            reverse,
            initially_up: up,
            pending,
        });
        trackers.push(t);
    };
    if !inst.dont_track_primary {
        add(
            Tracked::Interface(interface.clone()),
            0,
            false,
            host.interface_up(&interface),
        );
    }
    for r in &inst.track_interface {
        add(
            Tracked::Interface(r.name.clone()),
            r.weight.unwrap_or(0),
            r.reverse.unwrap_or(false),
            host.interface_up(&r.name),
        );
    }
    for r in &inst.track_script {
        let Some(s) = config.vrrp.scripts.iter().find(|s| s.name == r.name) else {
            continue;
        };
        add(
            Tracked::Script(r.name.clone()),
            r.weight.unwrap_or(s.weight),
            r.reverse.unwrap_or(s.weight_reverse),
            !s.init_fail,
        );
    }
    for r in &inst.track_process {
        let Some(p) = config
            .vrrp
            .track_processes
            .iter()
            .find(|p| p.name == r.name)
        else {
            continue;
        };
        add(
            Tracked::Process(r.name.clone()),
            r.weight.unwrap_or(p.weight),
            r.reverse.unwrap_or(p.weight_reverse),
            // Down until counted once, like keepalived before its first scan.
            false,
        );
    }
    for r in &inst.track_file {
        let Some(f) = config.vrrp.track_files.iter().find(|f| f.name == r.name) else {
            continue;
        };
        let weight = r.weight.unwrap_or(f.weight);
        let reverse = r.reverse.unwrap_or(f.weight_reverse);
        // Weight 0: an up/down tracker (non-zero value = down). Otherwise the value is fed
        // as an offset; until then a positive weight while "down" contributes nothing.
        let initially_up = weight == 0 && f.init_file.is_none_or(|(v, _)| v == 0);
        add(
            Tracked::File {
                name: r.name.clone(),
                weight,
                reverse,
            },
            if weight == 0 { 0 } else { 1 },
            false,
            initially_up,
        );
    }

    let mut core = InstanceConfig::new(&inst.name, inst.virtual_router_id, source, advertised);
    core.version = if inst.version == 3 || ipv6 {
        Version::V3
    } else {
        Version::V2
    };
    core.family = family;
    core.priority = inst.priority;
    core.advert_interval = inst.advert_int;
    core.initial_state = match inst.state {
        cfg::InitialState::Master => InitialState::Master,
        cfg::InitialState::Backup => InitialState::Backup,
    };
    core.nopreempt = inst.nopreempt;
    core.preempt_delay = inst.preempt_delay;
    core.down_timer_adverts = inst.down_timer_adverts;
    core.auth = auth;
    core.unicast_peers = inst.unicast_peers.iter().map(|p| p.addr).collect();
    let global_group = if ipv6 {
        g.vrrp_mcast_group6
    } else {
        g.vrrp_mcast_group4
    };
    core.multicast_group = inst
        .mcast_dst_ip
        .filter(|a| a.is_ipv6() == ipv6)
        .or(Some(global_group).filter(|a| a.is_ipv6() == ipv6));
    core.unicast_ttl = inst.unicast_ttl;
    core.v3_checksum = if inst.v3_checksum_as_v2 {
        V3ChecksumMode::AsV2
    } else if inst.old_unicast_checksum == Some(cfg::instance::OldChecksum::Use) {
        // Only kept for unicast instances by the config model.
        V3ChecksumMode::OldUnicast
    } else {
        V3ChecksumMode::PseudoHeader
    };
    core.detect_old_checksum = inst.old_unicast_checksum != Some(cfg::instance::OldChecksum::Never);
    core.strict = inst.strict_mode;
    core.skip_check_adv_addr = inst.skip_check_adv_addr;
    core.lower_prio_no_advert = inst.lower_prio_no_advert;
    core.higher_prio_send_advert = inst.higher_prio_send_advert;
    core.garp = GarpConfig {
        master_delay: if g.vrrp_min_garp {
            Duration::ZERO
        } else {
            inst.garp_master_delay
        },
        master_repeat: if g.vrrp_min_garp {
            1
        } else {
            inst.garp_master_repeat
        },
        lower_prio_delay: inst.garp_lower_prio_delay,
        lower_prio_repeat: inst.garp_lower_prio_repeat,
        master_refresh: (!inst.garp_master_refresh.is_zero()).then_some(inst.garp_master_refresh),
        master_refresh_repeat: inst.garp_master_refresh_repeat,
    };
    core.garp_extra = garp_extra(config, inst, &vips, &vip_if, names);
    core.startup_delay = g.vrrp_startup_delay.unwrap_or(Duration::ZERO);
    core.trackers = core_trackers;
    let mut faults = Vec::new();
    if !inst.is_unicast() && host.interface_lacks_multicast(&interface) {
        // keepalived 2.2.7 (observed on a dummy interface; a configuration fault there too:
        // the instance does not run).
        faults.push(format!(
            "({}) interface {interface} does not support multicast, specify unicast peers - disabling",
            inst.name
        ));
    }
    if inst.faults_without_peers() {
        faults.push(format!(
            "({}) Cannot use unicast without any peers - going to fault state",
            inst.name
        ));
    }
    if let (true, Some(src)) = (inst.is_unicast(), inst.src_ip) {
        // keepalived 2.2.7 (observed): a unicast source the host does not have is a fault
        // for good (it is not retried when the address appears), track_src_ip or not.
        if let Err(e) = host.can_bind(&interface, src) {
            faults.push(format!("bind unicast_src {src} failed {e}"));
            faults.push(format!(
                "({}): entering FAULT state (src address not configured)",
                inst.name
            ));
        }
    }
    core.config_fault = !faults.is_empty();
    core.validate()
        .map_err(|e| PlanError::Core(inst.name.clone(), e))?;

    let routes = inst
        .virtual_routes
        .iter()
        .filter_map(|r| route_plan(r, &vip_if))
        .collect();
    let rules = inst.virtual_rules.iter().filter_map(rule_spec).collect();
    let firewall = super::firewall::elements(
        &vips,
        inst.accept,
        inst.dont_track_primary && !g.nftables_ifindex,
    );
    Ok(InstancePlan {
        core,
        interface,
        socket: SocketKey {
            ifname: own_if,
            ipv6,
            protocol,
        },
        vmac,
        addr_vmacs,
        check_unicast_src: inst.check_unicast_src,
        peer_ttl: inst
            .unicast_peers
            .iter()
            .map(|p| (p.addr, p.min_ttl, p.max_ttl))
            .collect(),
        vips,
        routes,
        rules,
        trackers,
        notifies: inst.notifies.clone(),
        notify_priority_changes: inst
            .notifies
            .priority_changes
            .unwrap_or(g.vrrp_notify_priority_changes),
        unicast: inst.is_unicast(),
        firewall,
        config_faults: faults,
        source_missing,
    })
}

/// The unspecified address of a family: the source of an instance still waiting for one.
/// The names of a configuration's VMAC interfaces, as keepalived gives them: an instance's
/// `use_vmac NAME`, else `vmac_prefix` (default `vrrp`), a dot and the VRID; an address's VMAC
/// (`use_vmac_addr`, or `use_vmac` on an address with `dev`) `use_vmac NAME` of the address,
/// else `vmac_addr_prefix` (default the `vmac_prefix`) the same way. A generated name already
/// given to an earlier VMAC (in configuration order: an instance's own, then its addresses')
/// gets a number after the prefix: `vrrp.51`, `vrrp1.51`, `vrrp2.51` (keepalived 2.2.7,
/// observed).
#[derive(Debug, Default)]
pub struct VmacNames {
    own: HashMap<String, String>,
    /// By (instance, interface of the address).
    addresses: HashMap<(String, String), String>,
}

impl VmacNames {
    /// Names every VMAC of `config`.
    pub fn of(config: &Config) -> VmacNames {
        let g = &config.global.simple;
        let prefix = g.vmac_prefix.as_deref().unwrap_or("vrrp");
        let addr_prefix = g.vmac_addr_prefix.as_deref().unwrap_or(prefix);
        let mut used: HashSet<String> = HashSet::new();
        for inst in &config.vrrp.instances {
            used.extend(inst.use_vmac.as_ref().and_then(|v| v.name.clone()));
            for a in inst
                .virtual_ipaddress
                .iter()
                .chain(&inst.virtual_ipaddress_excluded)
            {
                if let Some(Some(n)) = &a.use_vmac {
                    used.insert(n.clone());
                }
            }
        }
        let generate = |prefix: &str, vrid: u8, used: &mut HashSet<String>| {
            let name = (0u32..)
                .map(|n| match n {
                    0 => format!("{prefix}.{vrid}"),
                    n => format!("{prefix}{n}.{vrid}"),
                })
                .find(|name| !used.contains(name))
                .unwrap_or_default();
            used.insert(name.clone());
            name
        };
        let mut names = VmacNames::default();
        for inst in &config.vrrp.instances {
            let vrid = inst.virtual_router_id;
            if let Some(v) = &inst.use_vmac {
                let name = match &v.name {
                    Some(n) => n.clone(),
                    None => generate(prefix, vrid, &mut used),
                };
                names.own.insert(inst.name.clone(), name);
            }
            for a in inst
                .virtual_ipaddress
                .iter()
                .chain(&inst.virtual_ipaddress_excluded)
            {
                let Some(dev) = a
                    .dev
                    .as_ref()
                    .filter(|d| inst.interface.as_ref() != Some(*d))
                else {
                    continue;
                };
                if !(inst.use_vmac_addr || a.use_vmac.is_some()) {
                    continue;
                }
                let key = (inst.name.clone(), dev.clone());
                if names.addresses.contains_key(&key) {
                    continue;
                }
                let name = match &a.use_vmac {
                    Some(Some(n)) => n.clone(),
                    _ => generate(addr_prefix, vrid, &mut used),
                };
                names.addresses.insert(key, name);
            }
        }
        names
    }

    /// Whether the configuration has no VMAC at all.
    pub fn is_empty(&self) -> bool {
        self.own.is_empty() && self.addresses.is_empty()
    }

    /// The name of `instance`'s own VMAC (`use_vmac`).
    pub fn own(&self, instance: &str) -> Option<&str> {
        self.own.get(instance).map(String::as_str)
    }

    /// The name of the VMAC `instance` puts its addresses on `dev` on.
    pub fn address(&self, instance: &str, dev: &str) -> Option<&str> {
        self.addresses
            .get(&(instance.to_string(), dev.to_string()))
            .map(String::as_str)
    }

    /// Every VMAC name with its base interface: `(name, base)`.
    pub fn all<'a>(&'a self, config: &'a Config) -> impl Iterator<Item = (&'a str, &'a str)> {
        let own = config
            .vrrp
            .instances
            .iter()
            .filter_map(|i| Some((self.own(&i.name)?, i.interface.as_deref()?)));
        let addresses = self
            .addresses
            .iter()
            .map(|((_, dev), name)| (name.as_str(), dev.as_str()));
        own.chain(addresses)
    }
}

fn unspecified(ipv6: bool) -> IpAddr {
    if ipv6 {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

/// `garp_extra_if [all] SECS` (instance, else global `vrrp_garp_extra_if`): the addresses
/// that live on another interface than the instance's own are announced every SECS while
/// MASTER. Without `all` only those on a VMAC interface are (keepalived 2.2.7, observed: with
/// `all` a VIP on a second physical interface is announced every period, without it not).
fn garp_extra(
    config: &Config,
    inst: &VrrpInstance,
    vips: &[VipPlan],
    own_if: &str,
    names: &VmacNames,
) -> Option<rka_vrrp::GarpExtra> {
    let extra = inst.garp_extra_if.filter(|e| !e.interval.is_zero())?;
    let vmacs: Vec<&str> = names.all(config).map(|(name, _)| name).collect();
    let mut addresses: Vec<IpAddr> = vips
        .iter()
        .filter(|v| v.ifname != own_if && (extra.all || vmacs.contains(&v.ifname.as_str())))
        .map(|v| v.spec.addr)
        .collect();
    addresses.dedup();
    (!addresses.is_empty()).then_some(rka_vrrp::GarpExtra {
        interval: extra.interval,
        addresses,
    })
}

/// An address entry as the kernel gets it, on `default_if` unless it names its own `dev`.
pub fn vip_plan(a: &IpAddress, default_if: &str) -> VipPlan {
    let mut spec = AddressSpec::new(0, a.prefix.addr, a.prefix.len);
    spec.broadcast = match (a.broadcast, a.prefix.addr) {
        (Some(Broadcast::Addr(b)), _) => Some(b),
        (Some(Broadcast::SetHostBits), IpAddr::V4(v4)) => Some(host_bits(v4, a.prefix.len, true)),
        (Some(Broadcast::ClearHostBits), IpAddr::V4(v4)) => {
            Some(host_bits(v4, a.prefix.len, false))
        }
        _ => None,
    };
    spec.peer = a.peer.map(|p| p.addr);
    if let Some(s) = a.scope {
        spec.scope = scope(s.number());
    }
    spec.label = a.label.clone();
    spec.home = a.home;
    spec.nodad = a.nodad;
    spec.noprefixroute = a.noprefixroute;
    spec.autojoin = a.autojoin;
    VipPlan {
        ifname: a.dev.clone().unwrap_or_else(|| default_if.to_owned()),
        spec,
    }
}

/// The netlink scope for a numeric scope (0 global, 200 site, 253 link, 254 host, 255 nowhere).
fn scope(n: u8) -> Scope {
    match n {
        0 => Scope::Global,
        200 => Scope::Site,
        253 => Scope::Link,
        254 => Scope::Host,
        255 => Scope::Nowhere,
        n => Scope::Other(n),
    }
}

fn host_bits(a: Ipv4Addr, len: u8, set: bool) -> Ipv4Addr {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    };
    let n = u32::from(a);
    Ipv4Addr::from(if set { n | !mask } else { n & mask })
}

/// A route entry as the kernel gets it (multipath routes are not supported: left out).
pub fn route_plan(r: &Route, default_if: &str) -> Option<RoutePlan> {
    if !r.nexthops.is_empty() {
        tracing::warn!(
            "route to {}: multipath routes are not supported - ignored",
            r.dst
        );
        return None;
    }
    let mut spec = RouteSpec::new(r.dst.addr, r.dst.len);
    spec.gateway = r.via;
    spec.src = r.src;
    spec.metric = r.metric;
    spec.table = match &r.table {
        Some(RouteTable::Id(n)) => Some(*n),
        Some(RouteTable::Name(n)) => match n.as_str() {
            "main" => Some(254),
            "local" => Some(255),
            "default" => Some(253),
            _ => {
                tracing::warn!("route to {}: table name {n} unknown - ignored", r.dst);
                return None;
            }
        },
        None => None,
    };
    spec.scope = r.scope.map(|s| scope(s.number()));
    spec.kind = match r.kind {
        RouteType::Blackhole => RouteKind::Blackhole,
        RouteType::Unreachable => RouteKind::Unreachable,
        RouteType::Prohibit => RouteKind::Prohibit,
        RouteType::Throw => RouteKind::Throw,
        _ => RouteKind::Unicast,
    };
    let dev = match spec.kind {
        RouteKind::Unicast => Some(r.dev.clone().unwrap_or_else(|| default_if.to_owned())),
        _ => r.dev.clone(),
    };
    // A gateway route without dev lets the kernel choose the interface.
    let dev = if r.dev.is_none() && r.via.is_some() {
        None
    } else {
        dev
    };
    Some(RoutePlan { dev, spec })
}

/// A rule entry as the kernel gets it.
pub fn rule_spec(r: &Rule) -> Option<RuleSpec> {
    let (action, table) = match &r.action {
        Some(RuleAction::Table(RouteTable::Id(n))) => (RuleActionKind::Lookup, Some(*n)),
        Some(RuleAction::Table(RouteTable::Name(n))) => match n.as_str() {
            "main" => (RuleActionKind::Lookup, Some(254)),
            "local" => (RuleActionKind::Lookup, Some(255)),
            "default" => (RuleActionKind::Lookup, Some(253)),
            _ => {
                tracing::warn!("rule: table name {n} unknown - ignored");
                return None;
            }
        },
        Some(RuleAction::Nop) => (RuleActionKind::Nop, None),
        Some(RuleAction::Blackhole) => (RuleActionKind::Blackhole, None),
        Some(RuleAction::Unreachable) => (RuleActionKind::Unreachable, None),
        Some(RuleAction::Prohibit) => (RuleActionKind::Prohibit, None),
        Some(RuleAction::Goto(_)) => {
            tracing::warn!("rule: goto is not supported - ignored");
            return None;
        }
        None => (RuleActionKind::Lookup, Some(254)),
    };
    Some(RuleSpec {
        ipv6: r.is_ipv6(),
        from: r.from.map(|p| (p.addr, p.len)),
        to: r.to.map(|p| (p.addr, p.len)),
        table,
        priority: r.preference,
        fwmark: r.fwmark,
        iif: r.iif.clone(),
        oif: r.oif.clone(),
        action,
    })
}

/// The notify script for entering `state`, and the generic `notify` script.
pub fn notify_scripts(
    n: &cfg::Notifies,
    state: rka_vrrp::State,
) -> (Option<&UserScript>, Option<&UserScript>) {
    use rka_vrrp::State;
    let specific = match state {
        State::Master => n.master.as_ref(),
        State::Backup => n.backup.as_ref(),
        State::Fault => n.fault.as_ref(),
        State::Stop => n.stop.as_ref(),
        State::Init => None,
    };
    (specific, n.notify.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FakeHost;

    impl HostView for FakeHost {
        fn source_addresses(&self, ifname: &str, ipv6: bool) -> Vec<IpAddr> {
            let list: &[&str] = match (ifname, ipv6) {
                ("eth1", true) => &["fe80::1"],
                // A VIP left by a crashed run comes first here.
                ("eth1", false) => &["10.0.0.100", "10.0.0.1"],
                _ => &[],
            };
            list.iter().map(|a| a.parse().expect("addr")).collect()
        }
        fn interface_up(&self, ifname: &str) -> bool {
            ifname == "eth1"
        }
        fn interface_exists(&self, ifname: &str) -> bool {
            ifname.starts_with("eth")
        }
        fn interface_lacks_multicast(&self, ifname: &str) -> bool {
            ifname == "eth7"
        }
        fn can_bind(&self, _ifname: &str, addr: IpAddr) -> Result<(), String> {
            if addr == "10.0.0.1".parse::<IpAddr>().expect("addr") {
                Ok(())
            } else {
                Err("99 - Cannot assign requested address".to_owned())
            }
        }
    }

    use crate::testutil::config as load;

    #[test]
    fn vmacs_are_numbered_once_a_name_is_taken_and_addresses_get_their_own() {
        let text = "global_defs {\n vmac_addr_prefix vx\n}\n\
             vrrp_instance A {\n interface eth1\n virtual_router_id 51\n use_vmac\n\
             virtual_ipaddress {\n 10.0.0.100/24\n }\n}\n\
             vrrp_instance B {\n interface eth1\n virtual_router_id 51\n use_vmac\n\
             use_vmac_addr\n virtual_ipaddress {\n 10.1.0.100/24\n 10.2.0.5/24 dev eth2\n\
             10.2.0.6/24 dev eth2\n 10.3.0.5/24 dev eth3 use_vmac mine\n }\n}\n\
             vrrp_instance C {\n interface eth1\n virtual_router_id 52\n\
             virtual_ipaddress {\n 10.0.0.101/24\n 10.2.0.7/24 dev eth2 use_vmac\n\
             10.2.0.8/24 dev eth3\n }\n}\n";
        let config = load(text);
        let names = VmacNames::of(&config);
        assert_eq!(names.own("A"), Some("vrrp.51"));
        assert_eq!(names.own("B"), Some("vrrp1.51"));
        assert_eq!(names.address("B", "eth2"), Some("vx.51"));
        assert_eq!(names.address("B", "eth3"), Some("mine"));
        assert_eq!(names.own("C"), None);
        assert_eq!(names.address("C", "eth2"), Some("vx.52"));
        assert_eq!(
            names.address("C", "eth3"),
            None,
            "no use_vmac_addr, no use_vmac"
        );
        let (plans, errors) = plan_instances(&config, &FakeHost);
        assert!(errors.is_empty(), "{errors:?}");
        let b = plans.iter().find(|p| p.core.name == "B").expect("B");
        let on = |addr: &str| {
            let addr: IpAddr = addr.parse().expect("address");
            b.vips
                .iter()
                .find(|v| v.spec.addr == addr)
                .map(|v| v.ifname.clone())
        };
        assert_eq!(on("10.1.0.100").as_deref(), Some("vrrp1.51"));
        assert_eq!(on("10.2.0.5").as_deref(), Some("vx.51"));
        assert_eq!(on("10.2.0.6").as_deref(), Some("vx.51"));
        assert_eq!(on("10.3.0.5").as_deref(), Some("mine"));
        let vmacs: Vec<(&str, &str, [u8; 6])> = b
            .vmacs()
            .map(|v| (v.name.as_str(), v.base.as_str(), v.mac))
            .collect();
        let mac = [0, 0, 0x5e, 0, 1, 51];
        assert_eq!(
            vmacs,
            [
                ("vrrp1.51", "eth1", mac),
                ("vx.51", "eth2", mac),
                ("mine", "eth3", mac)
            ]
        );
    }

    #[test]
    fn vmac_prefix_names_the_vmac() {
        let conf = |global: &str, vmac: &str| {
            load(&format!(
                "global_defs {{\n{global}\n}}\nvrrp_instance VI_1 {{\n interface eth1\n\
                 virtual_router_id 51\n {vmac}\n virtual_ipaddress {{\n 10.0.0.100/24\n }}\n}}\n"
            ))
        };
        for (global, vmac, name) in [
            ("", "use_vmac", "vrrp.51"),
            (" vmac_prefix vm", "use_vmac", "vm.51"),
            (" vmac_prefix vm", "use_vmac mine", "mine"),
        ] {
            let (plans, errors) = plan_instances(&conf(global, vmac), &FakeHost);
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(plans[0].socket.ifname, name);
            assert_eq!(plans[0].vips[0].ifname, name);
        }
    }

    #[test]
    fn old_unicast_checksum_reaches_the_core() {
        let conf = |extra: &str| {
            load(&format!(
                "global_defs {{\n vrrp_version 3\n}}\nvrrp_instance VI_1 {{\n interface eth1\n\
                 virtual_router_id 51\n priority 150\n unicast_src_ip 10.0.0.1\n\
                 unicast_peer {{\n 10.0.0.2\n }}\n{extra}\n virtual_ipaddress {{\n 10.0.0.100/24\n }}\n}}\n"
            ))
        };
        let core = |extra: &str| {
            let (plans, errors) = plan_instances(&conf(extra), &FakeHost);
            assert!(errors.is_empty(), "{errors:?}");
            let c = &plans[0].core;
            (c.v3_checksum, c.detect_old_checksum)
        };
        assert_eq!(core(""), (V3ChecksumMode::PseudoHeader, true));
        assert_eq!(
            core(" old_unicast_checksum"),
            (V3ChecksumMode::OldUnicast, true)
        );
        assert_eq!(
            core(" old_unicast_checksum never"),
            (V3ChecksumMode::PseudoHeader, false)
        );
    }

    #[test]
    fn maps_an_instance_with_trackers_and_vmac() {
        let c = load(
            "vrrp_script chk { script \"/bin/true\"\n weight -20\n init_fail }\n\
             vrrp_instance VI_1 {\n interface eth1\n virtual_router_id 51\n priority 150\n\
             advert_int 1\n use_vmac\n authentication {\n auth_type AH\n auth_pass secret\n }\n\
             track_script {\n chk\n }\n track_interface {\n eth2 weight 10\n }\n\
             virtual_ipaddress {\n 10.0.0.100/24 brd + label eth1:1\n 10.0.1.1 dev eth2\n }\n\
             virtual_ipaddress_excluded {\n 2001:db8::1/64\n }\n}\n",
        );
        let (plans, errors) = plan_instances(&c, &FakeHost);
        assert!(errors.is_empty(), "{errors:?}");
        let p = &plans[0];
        assert_eq!(p.core.source, "10.0.0.1".parse::<IpAddr>().expect("addr"));
        assert_eq!(p.core.priority, 150);
        assert_eq!(p.core.version, Version::V2);
        assert!(matches!(p.core.auth, Authentication::Ah(_)));
        assert_eq!(p.socket.protocol, 51);
        assert_eq!(p.socket.ifname, "vrrp.51");
        let vmac = p.vmac.as_ref().expect("vmac");
        assert_eq!(vmac.mac, [0, 0, 0x5e, 0, 1, 51]);
        assert_eq!(p.core.virtual_addresses.len(), 2);
        assert_eq!(p.vips.len(), 3);
        assert_eq!(p.vips[0].ifname, "vrrp.51");
        assert_eq!(p.vips[0].spec.broadcast, Some(Ipv4Addr::new(10, 0, 0, 255)));
        assert_eq!(p.vips[0].spec.label.as_deref(), Some("eth1:1"));
        assert_eq!(p.vips[1].ifname, "eth2");
        let names: Vec<_> = p.core.trackers.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["interface:eth1", "interface:eth2", "script:chk"]);
        assert!(!p.core.trackers[1].initially_up);
        assert_eq!(p.core.trackers[1].weight, 10);
        assert_eq!(p.core.trackers[2].weight, -20);
        assert!(!p.core.trackers[2].initially_up);
    }

    #[test]
    fn instance_without_source_is_reported() {
        let c = load(
            "vrrp_instance VI_1 {\n interface nic9\n virtual_router_id 5\n\
             virtual_ipaddress {\n 10.0.0.100\n }\n}\n",
        );
        let (plans, errors) = plan_instances(&c, &FakeHost);
        assert!(plans.is_empty());
        assert!(matches!(errors[0], PlanError::NoSource(..)));
    }

    #[test]
    fn an_interface_without_address_waits_for_one() {
        let c = load(
            "vrrp_instance VI_1 {\n interface eth9\n virtual_router_id 5\n\
             virtual_ipaddress {\n 10.0.0.100\n }\n}\n",
        );
        let (plans, errors) = plan_instances(&c, &FakeHost);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(plans[0].source_missing);
        assert!(plans[0].core.source.is_unspecified());
        assert!(plans[0].config_faults.is_empty());
        let (plans, errors) = plan_instances(
            &load(
                "global_defs {\n dynamic_interfaces\n}\n\
                 vrrp_instance VI_1 {\n interface nic9\n virtual_router_id 5\n\
                 virtual_ipaddress {\n 10.0.0.100\n }\n}\n",
            ),
            &FakeHost,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert!(plans[0].source_missing);
        let (plans, _) = plan_instances(
            &load(
                "vrrp_instance VI_1 {\n interface eth1\n virtual_router_id 5\n\
                 virtual_ipaddress {\n 10.0.0.100\n }\n}\n",
            ),
            &FakeHost,
        );
        assert!(!plans[0].source_missing);
    }

    #[test]
    fn ipv6_unicast_is_v3_and_identity_matches() {
        let c = load(
            "vrrp_instance V6 {\n interface eth1\n virtual_router_id 7\n advert_int 0.5\n\
             unicast_peer {\n fe80::2\n }\n virtual_ipaddress {\n 2001:db8::7/64\n }\n}\n",
        );
        let (plans, errors) = plan_instances(&c, &FakeHost);
        assert!(errors.is_empty(), "{errors:?}");
        let p = &plans[0];
        assert_eq!(p.core.version, Version::V3);
        assert_eq!(p.core.advert_interval, Duration::from_millis(500));
        assert_eq!(p.identity(), (7, true, "eth1".to_owned(), true));
    }

    #[test]
    fn unicast_source_and_ttl_checks() {
        let c = load(
            "vrrp_instance U {\n interface eth1\n virtual_router_id 8\n\
             unicast_peer {\n 10.0.0.2 min_ttl 250 max_ttl 255\n 10.0.0.3\n }\n\
             virtual_ipaddress {\n 10.0.0.8\n }\n}\n",
        );
        let (plans, errors) = plan_instances(&c, &FakeHost);
        assert!(errors.is_empty(), "{errors:?}");
        let p = &plans[0];
        assert!(p.check_unicast_src, "min_ttl turns the check on");
        let ip = |s: &str| s.parse::<IpAddr>().expect("addr");
        assert!(p.unicast_source_ok(ip("10.0.0.2"), Some(255)));
        assert!(!p.unicast_source_ok(ip("10.0.0.2"), Some(64)));
        assert!(p.unicast_source_ok(ip("10.0.0.3"), Some(1)));
        assert!(!p.unicast_source_ok(ip("10.0.0.9"), Some(255)));
    }

    #[test]
    fn unicast_fault_no_peer_without_peers_is_a_config_fault() {
        for (block, fault) in [
            (" unicast_fault_no_peer\n unicast_peer {\n }\n", true),
            (" unicast_fault_no_peer\n", true),
            (" unicast_peer {\n }\n", false),
            (
                " unicast_fault_no_peer\n unicast_peer {\n 10.0.0.2\n }\n",
                false,
            ),
        ] {
            let c = load(&format!(
                "vrrp_instance U {{\n interface eth1\n virtual_router_id 8\n{block}\
                 virtual_ipaddress {{\n 10.0.0.8\n }}\n}}\n"
            ));
            let (plans, errors) = plan_instances(&c, &FakeHost);
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(plans[0].core.config_fault, fault, "{block}");
        }
    }

    #[test]
    fn a_multicast_instance_on_an_interface_without_multicast_is_a_config_fault() {
        // keepalived 2.2.7 on a dummy interface: "(VI_1) interface dum0 does not support
        // multicast, specify unicast peers - disabling"; unicast instances run there.
        for (block, fault) in [("", true), (" unicast_peer {\n 10.0.0.2\n }\n", false)] {
            let c = load(&format!(
                "vrrp_instance M {{\n interface eth7\n virtual_router_id 8\n{block}\
                 virtual_ipaddress {{\n 10.0.0.8\n }}\n}}\n"
            ));
            let (plans, errors) = plan_instances(&c, &FakeHost);
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(plans[0].core.config_fault, fault, "{block}");
            if fault {
                assert_eq!(
                    plans[0].config_faults,
                    ["(M) interface eth7 does not support multicast, specify unicast peers - disabling"]
                );
            }
        }
    }

    #[test]
    fn unicast_source_the_host_lacks_is_a_config_fault() {
        let conf = |src: &str| {
            load(&format!(
                "vrrp_instance U {{\n interface eth1\n virtual_router_id 8\n\
                 unicast_src_ip {src}\n unicast_peer {{\n 10.0.0.2\n }}\n\
                 virtual_ipaddress {{\n 10.0.0.8\n }}\n}}\n"
            ))
        };
        let (plans, _) = plan_instances(&conf("10.0.0.1"), &FakeHost);
        assert!(!plans[0].core.config_fault);
        let (plans, _) = plan_instances(&conf("10.0.0.50"), &FakeHost);
        assert!(plans[0].core.config_fault);
        assert_eq!(
            plans[0].config_faults,
            [
                "bind unicast_src 10.0.0.50 failed 99 - Cannot assign requested address",
                "(U): entering FAULT state (src address not configured)"
            ]
        );
        // Multicast with a missing mcast_src_ip runs (keepalived 2.2.7 too).
        let c = load(
            "vrrp_instance M {\n interface eth1\n virtual_router_id 9\n mcast_src_ip 10.0.0.50\n\
             track_src_ip\n virtual_ipaddress {\n 10.0.0.9\n }\n}\n",
        );
        let (plans, _) = plan_instances(&c, &FakeHost);
        assert!(!plans[0].core.config_fault);
    }

    #[test]
    fn garp_extra_if_picks_addresses_off_the_instance_interface() {
        let conf = |extra: &str| {
            load(&format!(
                "vrrp_instance G {{\n interface eth1\n virtual_router_id 8\n{extra}\n\
                 virtual_ipaddress {{\n 10.0.0.8\n 10.0.5.8 dev eth2\n }}\n}}\n"
            ))
        };
        let ip = |s: &str| s.parse::<IpAddr>().expect("addr");
        let (plans, _) = plan_instances(&conf(" garp_extra_if all 2"), &FakeHost);
        let e = plans[0].core.garp_extra.as_ref().expect("garp_extra");
        assert_eq!(e.interval, Duration::from_secs(2));
        assert_eq!(e.addresses, [ip("10.0.5.8")]);
        // Without all, only VMAC interfaces count; 0 disables.
        for extra in [" garp_extra_if 2", " garp_extra_if all 0", ""] {
            let (plans, _) = plan_instances(&conf(extra), &FakeHost);
            assert!(plans[0].core.garp_extra.is_none(), "{extra}");
        }
        // The global default applies.
        let c = load(
            "global_defs {\n vrrp_garp_extra_if all 7\n}\n\
             vrrp_instance G {\n interface eth1\n virtual_router_id 8\n\
             virtual_ipaddress {\n 10.0.0.8\n 10.0.5.8 dev eth2\n }\n}\n",
        );
        let (plans, _) = plan_instances(&c, &FakeHost);
        let e = plans[0]
            .core
            .garp_extra
            .as_ref()
            .expect("global garp_extra");
        assert_eq!(e.interval, Duration::from_secs(7));
    }

    #[test]
    fn broadcast_host_bits() {
        let a = Ipv4Addr::new(192, 168, 1, 7);
        assert_eq!(host_bits(a, 24, true), Ipv4Addr::new(192, 168, 1, 255));
        assert_eq!(host_bits(a, 24, false), Ipv4Addr::new(192, 168, 1, 0));
        assert_eq!(host_bits(a, 0, true), Ipv4Addr::BROADCAST);
    }
}
