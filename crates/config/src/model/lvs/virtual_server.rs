//! `virtual_server IP [PORT] | fwmark N | group NAME { ... }`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::diag::{Origin, Severity};
use crate::dump::Dumper;
use crate::tree::Node;

use super::super::values::parse_u64;
use super::super::{required, Ctx};
use super::checker::DEFAULT_DELAY_LOOP;
use super::real_server::{self, parse_addr_port, Inherited, RealServer, SorryServer};
use super::vs_group::{GroupEntry, VsGroup};
use super::{
    dump_bool, parse_family, parse_forwarding, parse_script, CheckTimers, Family, ForwardingMethod,
    LvsScript, Protocol, Scheduler, SvcLabel,
};

/// What a virtual server listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VsAddress {
    /// `virtual_server IP [PORT]` (port 0 when not given: persistent services only).
    Ip {
        /// The virtual address.
        addr: IpAddr,
        /// The virtual port.
        port: u16,
    },
    /// `virtual_server fwmark N`.
    Fwmark(u32),
    /// `virtual_server group NAME`.
    Group(String),
}

/// The scheduler flags (`-b` of ipvsadm): `flag-1` = `sh-fallback`/`mh-fallback`,
/// `flag-2` = `sh-port`/`mh-port`, `flag-3`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedFlags {
    /// IP_VS_SVC_F_SCHED1.
    pub flag1: bool,
    /// IP_VS_SVC_F_SCHED2.
    pub flag2: bool,
    /// IP_VS_SVC_F_SCHED3.
    pub flag3: bool,
}

/// `persistence_granularity`: the netmask (IPv4) or prefix length (IPv6) clients are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// An IPv4 netmask such as `255.255.255.0`.
    V4(Ipv4Addr),
    /// An IPv6 prefix length.
    V6(u8),
}

impl std::fmt::Display for Granularity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Granularity::V4(m) => write!(f, "{m}"),
            Granularity::V6(p) => write!(f, "{p}"),
        }
    }
}

/// The default `persistence_timeout` when the keyword has no value: 6 minutes.
pub const DEFAULT_PERSISTENCE: u32 = 360;

/// A `virtual_server` block with keepalived's defaults applied and inherited values resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualServer {
    /// Where the block starts.
    pub origin: Origin,
    /// What it listens on.
    pub address: VsAddress,
    /// `lvs_sched` / `lb_algo` (default wlc).
    pub scheduler: Scheduler,
    /// Scheduler flags.
    pub sched_flags: SchedFlags,
    /// `ops`: one-packet scheduling (UDP only).
    pub ops: bool,
    /// `hashed`: keepalived accepts it with the sh scheduler only (IPVS' hashed-entry flag,
    /// 0x2).
    pub hashed: bool,
    /// `weight` (not in the manual): the default weight of its real servers (default 1).
    pub weight: u32,
    /// `lvs_method` / `lb_kind` (default NAT).
    pub forwarding: ForwardingMethod,
    /// `persistence_timeout` in seconds, when persistent.
    pub persistence_timeout: Option<u32>,
    /// `persistence_granularity`.
    pub persistence_granularity: Option<Granularity>,
    /// `persistence_engine` (e.g. `sip`).
    pub persistence_engine: Option<String>,
    /// `protocol`; `None` for fwmark services (IPVS ignores it there).
    pub protocol: Option<Protocol>,
    /// `ha_suspend`: suspend checkers while the virtual address is absent.
    pub ha_suspend: bool,
    /// `virtualhost`: default HTTP host of its checkers.
    pub virtualhost: Option<String>,
    /// `snmp_name`.
    pub snmp_name: Option<String>,
    /// `alpha`: real servers start down.
    pub alpha: bool,
    /// `omega`: run quorum-down and notify-down scripts on shutdown.
    pub omega: bool,
    /// `quorum` (default 1).
    pub quorum: u32,
    /// `hysteresis` (default 0).
    pub hysteresis: u32,
    /// `quorum_up`.
    pub quorum_up: Option<LvsScript>,
    /// `quorum_down`.
    pub quorum_down: Option<LvsScript>,
    /// `ip_family` for fwmark services.
    pub ip_family: Option<Family>,
    /// `sorry_server`.
    pub sorry_server: Option<SorryServer>,
    /// `inhibit_on_failure`: the default of its real servers.
    pub inhibit_on_failure: bool,
    /// `smtp_alert` (`None`: the global setting).
    pub smtp_alert: Option<bool>,
    /// Resolved `delay_loop` (default 60 s).
    pub delay_loop: Duration,
    /// The checker timing options set on the virtual server (passed down).
    pub set: CheckTimers,
    /// The real servers.
    pub real_servers: Vec<RealServer>,
}

impl VirtualServer {
    /// A `[addr]:proto:port` / `FWM n` / `group` label for messages.
    pub fn label(&self) -> String {
        match &self.address {
            VsAddress::Ip { addr, port } => SvcLabel(addr, self.protocol, *port).to_string(),
            VsAddress::Fwmark(m) => format!("FWM {m}"),
            VsAddress::Group(g) => format!("group {g}"),
        }
    }

    fn inherited(&self) -> Inherited<'_> {
        Inherited {
            port: match self.address {
                VsAddress::Ip { port, .. } => port,
                _ => 0,
            },
            weight: self.weight,
            forwarding: self.forwarding,
            inhibit_on_failure: self.inhibit_on_failure,
            alpha: self.alpha,
            timers: CheckTimers {
                delay_loop: Some(self.delay_loop),
                ..self.set
            },
            virtualhost: self.virtualhost.as_deref(),
        }
    }

    /// Writes the canonical block.
    pub fn dump(&self, d: &mut Dumper) {
        let mut head = vec!["virtual_server".to_string()];
        match &self.address {
            VsAddress::Ip { addr, port } => {
                head.push(addr.to_string());
                head.push(port.to_string());
            }
            VsAddress::Fwmark(m) => {
                head.push("fwmark".into());
                head.push(m.to_string());
            }
            VsAddress::Group(g) => {
                head.push("group".into());
                head.push(g.clone());
            }
        }
        d.block(&head, |d| {
            d.timer("delay_loop", self.delay_loop);
            d.kv("lvs_sched", self.scheduler.name());
            let f = self.sched_flags;
            let (n1, n2) = match self.scheduler {
                Scheduler::Sh => ("sh-fallback", "sh-port"),
                Scheduler::Mh => ("mh-fallback", "mh-port"),
                _ => ("flag-1", "flag-2"),
            };
            d.flag(n1, f.flag1);
            d.flag(n2, f.flag2);
            d.flag("flag-3", f.flag3);
            d.flag("ops", self.ops);
            d.flag("hashed", self.hashed);
            if self.weight != 1 {
                d.kv("weight", self.weight);
            }
            self.forwarding.dump(d, "lvs_method");
            d.opt("persistence_timeout", &self.persistence_timeout);
            d.opt("persistence_granularity", &self.persistence_granularity);
            d.opt("persistence_engine", &self.persistence_engine);
            if let Some(p) = self.protocol {
                d.kv("protocol", p.name());
            }
            d.flag("ha_suspend", self.ha_suspend);
            d.opt("virtualhost", &self.virtualhost);
            d.opt("snmp_name", &self.snmp_name);
            d.flag("alpha", self.alpha);
            d.flag("omega", self.omega);
            d.kv("quorum", self.quorum);
            d.kv("hysteresis", self.hysteresis);
            if let Some(s) = &self.quorum_up {
                s.dump(d, "quorum_up");
            }
            if let Some(s) = &self.quorum_down {
                s.dump(d, "quorum_down");
            }
            if let Some(f) = self.ip_family {
                d.kv("ip_family", f.name());
            }
            d.flag("inhibit_on_failure", self.inhibit_on_failure);
            dump_bool(d, "smtp_alert", self.smtp_alert);
            let t = CheckTimers {
                delay_loop: None,
                ..self.set
            };
            t.dump(d);
            if let Some(s) = &self.sorry_server {
                d.words(&[
                    "sorry_server".to_string(),
                    s.addr.to_string(),
                    s.port.to_string(),
                ]);
                d.flag("sorry_server_inhibit", s.inhibit);
                if s.forwarding != self.forwarding {
                    s.forwarding.dump(d, "sorry_server_lvs_method");
                }
            }
            let inh = self.inherited();
            for rs in &self.real_servers {
                rs.dump(d, &inh);
            }
        });
    }
}

fn parse_granularity(ctx: &mut Ctx<'_>, node: &Node) -> Option<Granularity> {
    let s = ctx.arg(node, 0)?;
    if s.contains('.') {
        // keepalived takes any IPv4 address here, even a mask with holes.
        if let Ok(m) = s.parse::<Ipv4Addr>() {
            return Some(Granularity::V4(m));
        }
    } else if let Some(p) = parse_u64(s).filter(|p| (1..=128).contains(p)) {
        return Some(Granularity::V6(p as u8));
    }
    ctx.warn(
        node,
        format!("invalid persistence_granularity '{s}' - ignoring"),
    );
    None
}

/// Reads a `virtual_server` block, applies keepalived's defaults (with its warnings) and
/// resolves what the real servers and checkers inherit.
pub fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<VirtualServer> {
    let address = match node.arg(0) {
        Some("fwmark") => VsAddress::Fwmark(ctx.int_in(node, 1, 1u32, u32::MAX)?),
        Some("group") => VsAddress::Group(ctx.arg(node, 1)?.to_string()),
        _ => {
            let (addr, port) = parse_addr_port(ctx, node, "virtual server")?;
            VsAddress::Ip { addr, port }
        }
    };
    let mut vs = VirtualServer {
        origin: node.origin.clone(),
        address,
        scheduler: Scheduler::Wlc,
        sched_flags: SchedFlags::default(),
        ops: false,
        hashed: false,
        weight: 1,
        forwarding: ForwardingMethod::Nat,
        persistence_timeout: None,
        persistence_granularity: None,
        persistence_engine: None,
        protocol: None,
        ha_suspend: false,
        virtualhost: None,
        snmp_name: None,
        alpha: false,
        omega: false,
        quorum: 1,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        ip_family: None,
        sorry_server: None,
        inhibit_on_failure: false,
        smtp_alert: None,
        delay_loop: DEFAULT_DELAY_LOOP,
        set: CheckTimers::default(),
        real_servers: Vec::with_capacity(node.children().len()),
    };
    let mut scheduler: Option<Scheduler> = None;
    let mut forwarding: Option<ForwardingMethod> = None;
    let mut sorry_inhibit = false;
    let mut sorry_method: Option<ForwardingMethod> = None;
    let mut sorry_port_given = false;
    for c in node.children() {
        if ctx.missing_parameter(c, required::VIRTUAL_SERVER) || vs.set.parse_kw(ctx, c, 1) {
            continue;
        }
        match c.keyword() {
            "real_server" => {
                if let Some(rs) = real_server::parse(ctx, c) {
                    vs.real_servers.push(rs);
                }
            }
            "lvs_sched" | "lb_algo" => {
                let Some(s) = ctx.arg(c, 0) else { continue };
                match Scheduler::ALL.iter().find(|(n, _)| *n == s) {
                    Some((_, v)) => scheduler = Some(*v),
                    None => ctx.warn(c, format!("Invalid lvs_scheduler '{s}' - ignoring")),
                }
            }
            kw @ ("sh-port" | "sh-fallback" | "mh-port" | "mh-fallback") => {
                let want = if kw.starts_with("sh") {
                    Scheduler::Sh
                } else {
                    Scheduler::Mh
                };
                if scheduler != Some(want) {
                    ctx.warn(
                        c,
                        format!("{kw} only applies to {} scheduler - ignoring", want.name()),
                    );
                } else if kw.ends_with("port") {
                    vs.sched_flags.flag2 = true;
                } else {
                    vs.sched_flags.flag1 = true;
                }
            }
            "flag-1" => vs.sched_flags.flag1 = true,
            "flag-2" => vs.sched_flags.flag2 = true,
            "flag-3" => vs.sched_flags.flag3 = true,
            "ops" => vs.ops = true,
            "hashed" => {
                if scheduler == Some(Scheduler::Sh) {
                    vs.hashed = true;
                } else {
                    // keepalived only logs this one; it does not change the exit code.
                    ctx.diags.info(
                        Some(&c.origin),
                        "hashed only applies to sh scheduler - ignoring",
                    );
                }
            }
            "weight" => match c.arg(0).and_then(parse_u64) {
                Some(w @ 1..=0x7fff_ffff) => vs.weight = w as u32,
                _ => ctx.diags.info(
                    Some(&c.origin),
                    format!(
                        "Virtual server weight {} is outside range 1-2147483647 - ignoring",
                        c.arg(0).unwrap_or("")
                    ),
                ),
            },
            "lvs_method" | "lb_kind" => {
                if let Some(m) = parse_forwarding(ctx, c) {
                    forwarding = Some(m);
                }
            }
            "persistence_timeout" => {
                vs.persistence_timeout = match c.arg(0) {
                    None => Some(DEFAULT_PERSISTENCE),
                    Some(_) => ctx.int_in(c, 0, 1u32, 2_678_400).or(vs.persistence_timeout),
                }
            }
            "persistence_granularity" => {
                vs.persistence_granularity =
                    parse_granularity(ctx, c).or(vs.persistence_granularity)
            }
            "persistence_engine" => {
                vs.persistence_engine = ctx.string(c).or(vs.persistence_engine.take())
            }
            "protocol" => {
                let choices = [
                    ("TCP", Protocol::Tcp),
                    ("UDP", Protocol::Udp),
                    ("SCTP", Protocol::Sctp),
                ];
                if let Some(p) = ctx.choice(c, 0, &choices) {
                    vs.protocol = Some(p);
                }
            }
            "ha_suspend" => vs.ha_suspend = true,
            "virtualhost" => vs.virtualhost = ctx.string(c).or(vs.virtualhost.take()),
            "snmp_name" => vs.snmp_name = ctx.string(c).or(vs.snmp_name.take()),
            // Bare flags on a virtual server: keepalived ignores any argument.
            "alpha" => vs.alpha = true,
            "omega" => vs.omega = true,
            "quorum" => {
                // keepalived sets an invalid quorum to 1.
                vs.quorum = ctx.int_in(c, 0, 1u32, u32::MAX).unwrap_or(1)
            }
            "hysteresis" => {
                if let Some(h) = ctx.int_in(c, 0, 0u32, u32::MAX) {
                    vs.hysteresis = h;
                }
            }
            "quorum_up" => vs.quorum_up = parse_script(ctx, c).or(vs.quorum_up.take()),
            "quorum_down" => vs.quorum_down = parse_script(ctx, c).or(vs.quorum_down.take()),
            "ip_family" => vs.ip_family = parse_family(ctx, c, 0).or(vs.ip_family),
            "sorry_server" => {
                if let Some((addr, port)) = parse_addr_port(ctx, c, "sorry server") {
                    sorry_port_given = c.arg(1).is_some();
                    vs.sorry_server = Some(SorryServer {
                        addr,
                        port,
                        forwarding: ForwardingMethod::Nat,
                        inhibit: false,
                        forwarding_set: None,
                    });
                }
            }
            "sorry_server_inhibit" => sorry_inhibit = ctx.flag(c).unwrap_or(sorry_inhibit),
            "sorry_server_lvs_method" => {
                if let Some(m) = parse_forwarding(ctx, c) {
                    sorry_method = Some(m);
                }
            }
            "inhibit_on_failure" => {
                vs.inhibit_on_failure = ctx.flag(c).unwrap_or(vs.inhibit_on_failure)
            }
            "smtp_alert" => vs.smtp_alert = ctx.flag(c).or(vs.smtp_alert),
            _ => ctx.unknown(c),
        }
    }
    apply_defaults(ctx, &mut vs, scheduler, forwarding);
    if let Some(s) = &mut vs.sorry_server {
        // Like a real server, a sorry server without port takes the virtual server's.
        if !sorry_port_given {
            if let VsAddress::Ip { port, .. } = vs.address {
                s.port = port;
            }
        }
        s.inhibit = sorry_inhibit;
        s.forwarding_set = sorry_method;
        s.forwarding = sorry_method.unwrap_or(vs.forwarding);
    }
    vs.delay_loop = vs.set.delay_loop.unwrap_or(DEFAULT_DELAY_LOOP);
    let port = match vs.address {
        VsAddress::Ip { port, .. } => port,
        _ => 0,
    };
    let inh = Inherited {
        port,
        weight: vs.weight,
        forwarding: vs.forwarding,
        inhibit_on_failure: vs.inhibit_on_failure,
        alpha: vs.alpha,
        timers: CheckTimers {
            delay_loop: Some(vs.delay_loop),
            ..vs.set
        },
        virtualhost: vs.virtualhost.as_deref(),
    };
    for rs in &mut vs.real_servers {
        rs.resolve(&inh);
    }
    Some(vs)
}

/// Records `Virtual server <label>: <what>` without a line number, as keepalived words what
/// it finds once a whole virtual server block is read.
fn note(ctx: &mut Ctx<'_>, vs: &VirtualServer, what: &str) {
    let msg = format!("Virtual server {}: {what}", vs.label());
    ctx.diags.push(Severity::Warning, None, msg);
}

/// What keepalived says when a service without port (a bare address, or a group entry
/// without one) is not persistent, before it makes it persistent.
const ZERO_PORT_NOTE: &str = "zero port only valid for persistent services - setting";

/// keepalived's end-of-block defaults, each announced as it does: in this order, and without
/// a line number (keepalived checks them once the whole block is read).
fn apply_defaults(
    ctx: &mut Ctx<'_>,
    vs: &mut VirtualServer,
    scheduler: Option<Scheduler>,
    forwarding: Option<ForwardingMethod>,
) {
    match (&vs.address, vs.protocol) {
        (VsAddress::Fwmark(_), Some(_)) => {
            ctx.diags.push(
                Severity::Warning,
                None,
                format!(
                    "Warning: Virtual server {}: protocol specified for fwmark - protocol will be ignored",
                    vs.label()
                ),
            );
            vs.protocol = None;
        }
        (VsAddress::Fwmark(_), None) => {}
        (_, None) => {
            note(ctx, vs, "no protocol set - defaulting to UDP");
            vs.protocol = Some(Protocol::Udp);
        }
        _ => {}
    }
    if vs.ops && vs.protocol != Some(Protocol::Udp) {
        note(ctx, vs, "one packet scheduling requires UDP - resetting");
        vs.ops = false;
    }
    if let VsAddress::Ip { port: 0, .. } = vs.address {
        if vs.persistence_timeout.is_none() {
            note(ctx, vs, ZERO_PORT_NOTE);
            vs.persistence_timeout = Some(DEFAULT_PERSISTENCE);
        }
    }
    // `hashed` given under sh stays meaningless once another scheduler is chosen.
    if scheduler != Some(Scheduler::Sh) {
        vs.hashed = false;
    }
    match scheduler {
        Some(s) => vs.scheduler = s,
        None => note(ctx, vs, "no scheduler set, setting default 'wlc'"),
    }
    match forwarding {
        Some(f) => vs.forwarding = f,
        None => note(ctx, vs, "no forwarding method set, setting default NAT"),
    }
}

/// The address families a virtual server serves: from its address, its group, or for fwmark
/// services `ip_family`. `None` when it is not fixed by the virtual server itself.
fn vs_families(vs: &VirtualServer, groups: &[VsGroup]) -> Option<(bool, bool)> {
    match &vs.address {
        VsAddress::Ip { addr, .. } => Some((addr.is_ipv4(), addr.is_ipv6())),
        VsAddress::Group(name) => {
            let g = groups.iter().find(|g| &g.name == name)?;
            let (v4, v6) = g.address_families();
            if v4 || v6 {
                return Some((v4, v6));
            }
            let fam = g.entries.iter().find_map(|e| match e {
                GroupEntry::Fwmark { family, .. } => *family,
                GroupEntry::Range { .. } => None,
            });
            fam.or(vs.ip_family)
                .map(|f| (f == Family::Inet, f == Family::Inet6))
        }
        VsAddress::Fwmark(_) => vs
            .ip_family
            .map(|f| (f == Family::Inet, f == Family::Inet6)),
    }
}

/// Checks needing the whole configuration. Returns false when the virtual server must be
/// dropped.
pub(crate) fn validate(ctx: &mut Ctx<'_>, vs: &mut VirtualServer, groups: &[VsGroup]) -> bool {
    if let VsAddress::Group(name) = &vs.address {
        if !groups.iter().any(|g| &g.name == name) {
            // keepalived 2.2.7 -t accepts this silently (exit 0): the service has no address.
            ctx.diags.info(
                Some(&vs.origin),
                format!("virtual_server_group {name} does not exist - skipping virtual server"),
            );
            return false;
        }
    }
    let label = vs.label();
    check_ip_family(ctx, vs, groups);
    // Non-tunnelled real servers must share one family with the virtual server.
    let mut family = vs_families(vs, groups).and_then(|(v4, v6)| match (v4, v6) {
        (true, false) => Some(Family::Inet),
        (false, true) => Some(Family::Inet6),
        _ => None,
    });
    let mixed = matches!(vs_families(vs, groups), Some((true, true)));
    // keepalived 2.2.7 does not check a group's family against its real servers under -t
    // (the kernel refuses such destinations later): say so, keep the server.
    let is_group = matches!(vs.address, VsAddress::Group(_));
    vs.real_servers.retain(|rs| {
        let tunnelled = matches!(rs.forwarding, ForwardingMethod::Tun { .. });
        if tunnelled {
            return true;
        }
        let f = Family::of(&rs.addr);
        let problem = if mixed {
            Some(format!(
                "real server {} must be tunnelled: virtual server {label} has IPv4 and IPv6 addresses",
                rs.addr
            ))
        } else {
            match family {
                None => {
                    family = Some(f);
                    None
                }
                Some(vf) if vf == f => None,
                Some(_) => Some(format!(
                    "Address family of virtual server and real server {} don't match",
                    rs.addr
                )),
            }
        };
        match problem {
            None => true,
            Some(msg) if is_group => {
                ctx.diags.info(Some(&rs.origin), msg);
                true
            }
            Some(msg) => {
                ctx.diags
                    .warn(&rs.origin, format!("{msg} - skipping real server"));
                false
            }
        }
    });
    // DR and TUN real servers use the virtual server's port: none for a fwmark service.
    if let VsAddress::Fwmark(_) = vs.address {
        for rs in &mut vs.real_servers {
            if rs.forwarding.keeps_port() && rs.port != 0 {
                ctx.diags.warn(
                    &rs.origin,
                    format!(
                        "fwmark virtual server {label}, real server [{}]:{} has port specified - clearing",
                        rs.addr, rs.port
                    ),
                );
                rs.port = 0;
            }
        }
    }
    if let VsAddress::Ip { port: vport, .. } = vs.address {
        for rs in &mut vs.real_servers {
            if rs.forwarding.keeps_port() && rs.port != vport {
                ctx.diags.warn(
                    &rs.origin,
                    format!(
                        "virtual server {label} and real server [{}]:{} ports don't match - resetting",
                        rs.addr, rs.port
                    ),
                );
                rs.port = vport;
            }
        }
    }
    // Duplicates: the second is removed.
    let mut seen: std::collections::HashSet<(IpAddr, u16)> =
        std::collections::HashSet::with_capacity(vs.real_servers.len());
    vs.real_servers.retain(|rs| {
        if seen.insert((rs.addr, rs.port)) {
            return true;
        }
        ctx.diags.warn(
            &rs.origin,
            format!(
                "VS {label}: real server [{}]:{} is duplicated - removing second rs",
                rs.addr, rs.port
            ),
        );
        false
    });
    check_group_ports(ctx, vs, groups);
    if !vs.real_servers.is_empty() {
        check_quorum(ctx, vs);
    }
    // A sorry server alone does not make a service: keepalived ignores it too.
    if vs.real_servers.is_empty() {
        ctx.diags.warn(
            &vs.origin,
            format!("Virtual server {label} has no real servers - ignoring"),
        );
        return false;
    }
    if !ctx.opts.skip_host_checks {
        for rs in &vs.real_servers {
            for c in &rs.checkers {
                if let Some(ifname) = &c.connect.bind_if {
                    if rka_sys::host::interface_index(ifname).is_none() {
                        // keepalived 2.2.7 only finds out when the checker runs.
                        ctx.diags.info(
                            Some(&c.origin),
                            format!("bind_if {ifname}: no such interface"),
                        );
                    }
                }
            }
        }
    }
    true
}

/// A group with an address entry without port needs a persistent service, as a bare address
/// does.
fn check_group_ports(ctx: &mut Ctx<'_>, vs: &mut VirtualServer, groups: &[VsGroup]) {
    let VsAddress::Group(name) = &vs.address else {
        return;
    };
    let Some(g) = groups.iter().find(|g| &g.name == name) else {
        return;
    };
    let zero_port = g
        .entries
        .iter()
        .any(|e| matches!(e, GroupEntry::Range { port: 0, .. }));
    if zero_port && vs.persistence_timeout.is_none() {
        note(ctx, vs, ZERO_PORT_NOTE);
        vs.persistence_timeout = Some(DEFAULT_PERSISTENCE);
    }
}

/// keepalived lowers a quorum the real servers can never reach, then keeps the hysteresis
/// below the quorum.
fn check_quorum(ctx: &mut Ctx<'_>, vs: &mut VirtualServer) {
    let total: u64 = vs.real_servers.iter().map(|r| u64::from(r.weight)).sum();
    if u64::from(vs.quorum) > total {
        ctx.diags.push(
            Severity::Warning,
            None,
            format!(
                "Warning - quorum {} for {} exceeds total weight of real servers {total}, reducing quorum to {total}",
                vs.quorum,
                vs.label()
            ),
        );
        vs.quorum = total as u32;
    }
    if vs.hysteresis >= vs.quorum {
        let h = vs.quorum.saturating_sub(1);
        let what = format!(
            "hysteresis {} >= quorum {}; setting hysteresis to {h}",
            vs.hysteresis, vs.quorum
        );
        note(ctx, vs, &what);
        vs.hysteresis = h;
    }
}

/// `ip_family` must agree with the family the addresses give (the virtual address, the
/// group's addresses, or for fwmark services the non-tunnelled real servers).
fn check_ip_family(ctx: &mut Ctx<'_>, vs: &mut VirtualServer, groups: &[VsGroup]) {
    let Some(wanted) = vs.ip_family else { return };
    let implied =
        match &vs.address {
            VsAddress::Ip { addr, .. } => Some(Family::of(addr)),
            VsAddress::Group(name) => groups.iter().find(|g| &g.name == name).and_then(|g| match g
                .address_families()
            {
                (true, false) => Some(Family::Inet),
                (false, true) => Some(Family::Inet6),
                _ => None,
            }),
            VsAddress::Fwmark(_) => None,
        }
        .or_else(|| {
            vs.real_servers
                .iter()
                .find(|r| !matches!(r.forwarding, ForwardingMethod::Tun { .. }))
                .map(|r| Family::of(&r.addr))
        });
    if let Some(f) = implied.filter(|f| *f != wanted) {
        ctx.diags.warn(
            &vs.origin,
            format!(
                "Virtual server specified family {} conflicts with server family {}",
                wanted.name(),
                f.name()
            ),
        );
        vs.ip_family = None;
    }
}
