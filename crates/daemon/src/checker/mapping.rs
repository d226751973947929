//! keepalived.conf's virtual servers mapped onto the director, the probes and the IPVS table.
//!
//! Identical checks (same target and the same parameters) are probed once and their verdict fans
//! out to every real server that configured them: the key of a probe is its whole parameter set,
//! which is also what a reload compares to decide whether a running checker can be kept.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rka_check::director::{
    CheckerInit, DirectorSpec, RealServerSpec, ServiceSpec, Slot, SorrySpec, WeightMode,
};
use rka_check::{http, CheckKind, Probe, Schedule};
use rka_config::model::lvs::checker::{Checker, CheckerKind, ConnectOpts as CfgConnect};
use rka_config::model::lvs::real_server::SorryServer;
use rka_config::model::lvs::virtual_server::VsAddress;
use rka_config::model::lvs::vs_group::GroupEntry;
use rka_config::model::lvs::{
    Family as CfgFamily, ForwardingMethod, LvsScript, Protocol as CfgProtocol, TunnelChecksum,
    TunnelType as CfgTunnelType, VirtualServer,
};
use rka_config::Config;
use rka_ipvs::types::svc_flags;
use rka_ipvs::{Family, ForwardMethod, Protocol, Service, ServiceKey, Tunnel, TunnelType};

/// How one real server (or sorry server) is programmed: 24 bytes (one per real server). Its
/// label (`[addr]:proto:port`) is built when shown ([`ServicePlan::dest_label`]); the
/// settings most real servers leave unset sit with its virtual server's
/// ([`ServicePlan::dest_rare`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestPlan {
    /// Its address.
    pub addr: IpAddr,
    /// Its configured port (NAT); DR and TUN use the service's port instead.
    pub port: u16,
    /// Forwarding method.
    pub method: ForwardMethod,
    /// One more than the place of its rare settings in its virtual server's
    /// [`ServiceRare::dests`]; 0 when it has none (most real servers).
    rare: u32,
}

/// The settings of a real server that most configurations leave unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestRare {
    /// Tunnel settings (TUN with GUE or GRE).
    pub tunnel: Option<Tunnel>,
    /// `uthreshold`.
    pub upper_threshold: u32,
    /// `lthreshold`.
    pub lower_threshold: u32,
    /// `notify_up`.
    pub notify_up: Option<LvsScript>,
    /// `notify_down`.
    pub notify_down: Option<LvsScript>,
}

impl DestPlan {
    /// A destination at `addr:port` forwarded by `method`, without rare settings (see
    /// [`ServiceRare::dest`] for one with them).
    pub fn new(addr: IpAddr, port: u16, method: ForwardMethod) -> DestPlan {
        DestPlan {
            addr,
            port,
            method,
            rare: 0,
        }
    }

    /// The port the destination gets in the service `key`: DR and TUN keep the service's port
    /// (0 for a firewall mark).
    pub fn port_in(&self, key: &ServiceKey) -> u16 {
        match (self.method, key) {
            (ForwardMethod::Masq, _) => self.port,
            (_, ServiceKey::Addr { port, .. }) => *port,
            (_, ServiceKey::Fwmark { .. }) => 0,
        }
    }
}

/// How one virtual server is programmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan {
    /// `[addr]:proto:port`, `FWM n` or the group name, as logs and the LVS FIFO write it.
    pub label: String,
    /// Every kernel service it stands for (several for a group).
    pub services: Vec<Service>,
    /// The protocol its real servers' labels name (`none` for a firewall mark without one).
    pub protocol: Option<CfgProtocol>,
    /// The real servers, in configuration order (director indices).
    pub real_servers: Vec<DestPlan>,
    /// The sorry server (boxed: most virtual servers have none).
    pub sorry: Option<Box<DestPlan>>,
    /// `omega`.
    pub omega: bool,
    /// The settings most virtual servers leave unset, boxed only when one is set (one plan
    /// per virtual server: 96 bytes instead of 272).
    pub rare: Option<Box<ServiceRare>>,
}

/// The settings of a virtual server, and of its real servers, that most configurations leave
/// unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceRare {
    /// `quorum_up`.
    pub quorum_up: Option<LvsScript>,
    /// `quorum_down`.
    pub quorum_down: Option<LvsScript>,
    /// With `ha_suspend`: the virtual address whose absence from this host suspends the
    /// checkers.
    pub suspend_on: Option<IpAddr>,
    /// The rare settings of those of its real servers (and sorry server) that have some,
    /// each [`DestPlan`] knowing its own place.
    pub dests: Vec<DestRare>,
}

impl ServiceRare {
    /// A destination at `addr:port` forwarded by `method` whose `rare` settings, unless all
    /// at their defaults, are kept here.
    pub fn dest(
        &mut self,
        addr: IpAddr,
        port: u16,
        method: ForwardMethod,
        rare: DestRare,
    ) -> DestPlan {
        let mut d = DestPlan::new(addr, port, method);
        if rare != DestRare::default() {
            match u32::try_from(self.dests.len() + 1) {
                Ok(place) => {
                    self.dests.push(rare);
                    d.rare = place;
                }
                Err(_) => tracing::warn!(
                    "real server [{addr}]:{port}: too many real servers with thresholds, \
                     tunnels or notify scripts - its own ignored"
                ),
            }
        }
        d
    }

    /// `rare` boxed, or `None` when every setting is at its default.
    fn boxed(mut rare: ServiceRare) -> Option<Box<ServiceRare>> {
        rare.dests.shrink_to_fit();
        (rare != ServiceRare::default()).then(|| Box::new(rare))
    }
}

impl ServicePlan {
    /// `quorum_up` or `quorum_down`.
    pub fn quorum_script(&self, up: bool) -> Option<&LvsScript> {
        let r = self.rare.as_ref()?;
        if up {
            r.quorum_up.as_ref()
        } else {
            r.quorum_down.as_ref()
        }
    }

    /// With `ha_suspend`: the virtual address whose absence from this host suspends the
    /// checkers.
    pub fn suspend_on(&self) -> Option<IpAddr> {
        self.rare.as_ref().and_then(|r| r.suspend_on)
    }

    /// The rare settings of its real server (or sorry server) `d`, when it has some.
    pub fn dest_rare(&self, d: &DestPlan) -> Option<&DestRare> {
        let place = usize::try_from(d.rare.checked_sub(1)?).ok()?;
        self.rare.as_ref()?.dests.get(place)
    }

    /// Tunnel settings of `d` (TUN with GUE or GRE).
    pub fn tunnel(&self, d: &DestPlan) -> Option<Tunnel> {
        self.dest_rare(d).and_then(|r| r.tunnel)
    }

    /// `uthreshold` of `d` (0: none).
    pub fn upper_threshold(&self, d: &DestPlan) -> u32 {
        self.dest_rare(d).map_or(0, |r| r.upper_threshold)
    }

    /// `lthreshold` of `d` (0: none).
    pub fn lower_threshold(&self, d: &DestPlan) -> u32 {
        self.dest_rare(d).map_or(0, |r| r.lower_threshold)
    }

    /// `notify_up` or `notify_down` of `d`.
    pub fn notify_script(&self, d: &DestPlan, up: bool) -> Option<&LvsScript> {
        let r = self.dest_rare(d)?;
        if up {
            r.notify_up.as_ref()
        } else {
            r.notify_down.as_ref()
        }
    }

    /// `[addr]:proto:port` of one of its real servers (or its sorry server), as keepalived's
    /// logs and the LVS FIFO name it.
    pub fn dest_label(&self, d: &DestPlan) -> String {
        addr_label(d.addr, self.protocol, d.port)
    }

    /// The label of its real server `rs`.
    pub fn rs_label(&self, rs: usize) -> Option<String> {
        self.real_servers.get(rs).map(|d| self.dest_label(d))
    }
}

/// What a probe is called in logs, dumps and status (`TCP_CHECK 10.0.0.2:80`): its kind and
/// target, 20 bytes, printed when shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeName {
    kind: CheckKind,
    addr: IpAddr,
    port: u16,
}

impl ProbeName {
    /// The name of a `kind` probe of `target`.
    pub fn new(kind: CheckKind, target: SocketAddr) -> ProbeName {
        ProbeName {
            kind,
            addr: target.ip(),
            port: target.port(),
        }
    }

    /// The probe's kind.
    pub fn kind(&self) -> CheckKind {
        self.kind
    }

    /// The probe's target.
    pub fn target(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port)
    }
}

impl std::fmt::Display for ProbeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}",
            self.kind.keyword(),
            SocketAddr::new(self.addr, self.port)
        )
    }
}

/// The whole parameter set of a probe: its target and the rest of its parameters as text,
/// that text shared by every probe with the same parameters (the checkers of a virtual server
/// are usually alike: tens of thousands of probes, a few parameter sets). Equal keys mean the
/// same probe.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProbeParams {
    /// Where the probe connects.
    pub target: SocketAddr,
    /// Everything else (`kind|connect|connect_timeout|schedule`, Debug forms).
    pub params: Arc<str>,
}

impl std::fmt::Display for ProbeParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}|{}", self.target, self.params)
    }
}

/// One probe, shared by every slot with the same parameters.
#[derive(Debug, Clone)]
pub struct ProbePlan {
    /// Its whole parameter set; equal keys = same probe.
    pub key: ProbeParams,
    /// Its name for logs and dumps, e.g. `TCP_CHECK 10.0.0.2:80`.
    pub name: ProbeName,
    /// The probe, or why it cannot run (it then counts as failing).
    pub probe: Result<Probe, String>,
    /// Its timing.
    pub schedule: Schedule,
    /// How its weight reports count.
    pub mode: WeightMode,
    /// Every (virtual server, real server, checker) it reports to.
    pub slots: Vec<Slot>,
}

/// The whole checker configuration.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The virtual servers, director-indexed.
    pub services: Vec<ServicePlan>,
    /// The deduplicated probes.
    pub probes: Vec<ProbePlan>,
    /// The director's view, every checker starting as its `alpha` says.
    pub director: DirectorSpec,
}

impl Plan {
    /// A plan with nothing in it (a runtime before its first install).
    pub fn empty() -> Plan {
        Plan {
            services: Vec::new(),
            probes: Vec::new(),
            director: DirectorSpec::default(),
        }
    }

    /// Moves the blocks each virtual server's plan owns (its label, kernel services and real
    /// servers) into fresh allocations of their exact size, once the configuration model it
    /// was mapped from is dropped.
    ///
    /// Mapping interleaves these long-lived blocks with short-lived ones of the same size
    /// (the model's, the probes' parameters): once those are freed, each allocator page
    /// holding them keeps a few plan blocks among free room, and stays resident. Measured at
    /// 2,300 virtual servers x 16 real servers (the heap profile in runtime.rs): 49 pages of
    /// 96-byte blocks (the kernel services) held 0.2 MB of live blocks in 3.1 MB, 38 pages of
    /// 512-byte blocks (the real servers) 1.2 MB in 2.4 MB. The copies fill the pages with
    /// room one after the other (the allocator takes a page's free blocks before the next
    /// page's), so the old pages empty and go back to the system. The work is a copy of each
    /// virtual server's blocks: milliseconds at that scale, once per start or reload.
    pub fn compact(&mut self) {
        // The vector itself too: grown by doubling, up to half of it is room (an allocator
        // shrinks such a block in place, so it is copied).
        let mut services = Vec::with_capacity(self.services.len());
        services.append(&mut self.services);
        self.services = services;
        for sp in &mut self.services {
            sp.label = sp.label.as_str().into();
            sp.services = sp.services.clone();
            sp.real_servers = sp.real_servers.clone();
        }
    }

    /// Maps the configuration.
    pub fn from_config(config: &Config) -> Plan {
        let mut services = Vec::new();
        let mut probes: Vec<ProbePlan> = Vec::new();
        let mut by_key: HashMap<ProbeParams, usize> = HashMap::new();
        let mut director = DirectorSpec::default();
        let mut params = ParamsText::default();
        for (vi, vs) in config.lvs.virtual_servers.iter().enumerate() {
            let keys = service_keys(config, vs);
            let label = vs_label(vs);
            let mut real_servers = Vec::new();
            let mut rare = ServiceRare {
                quorum_up: vs.quorum_up.clone(),
                quorum_down: vs.quorum_down.clone(),
                suspend_on: match (&vs.address, vs.ha_suspend) {
                    (VsAddress::Ip { addr, .. }, true) => Some(*addr),
                    _ => None,
                },
                dests: Vec::new(),
            };
            let mut rs_specs = Vec::new();
            for (ri, rs) in vs.real_servers.iter().enumerate() {
                let (method, tunnel) = forwarding(rs.forwarding);
                real_servers.push(rare.dest(
                    rs.addr,
                    rs.port,
                    method,
                    DestRare {
                        tunnel,
                        upper_threshold: rs.uthreshold,
                        lower_threshold: rs.lthreshold,
                        notify_up: rs.notify_up.clone(),
                        notify_down: rs.notify_down.clone(),
                    },
                ));
                let mut inits = Vec::new();
                for (ci, c) in rs.checkers.iter().enumerate() {
                    let slot = Slot::new(vi, ri, ci);
                    let plan = probe_plan(config, rs.addr, rs.port, c, &mut params);
                    inits.push(CheckerInit {
                        up: !plan.schedule.alpha,
                        weight: None,
                        mode: plan.mode,
                    });
                    match by_key.get(&plan.key) {
                        Some(&i) => probes[i].slots.push(slot),
                        None => {
                            by_key.insert(plan.key.clone(), probes.len());
                            probes.push(ProbePlan {
                                slots: vec![slot],
                                ..plan
                            });
                        }
                    }
                }
                rs_specs.push(RealServerSpec {
                    weight: rs.weight,
                    inhibit: rs.inhibit_on_failure,
                    checkers: inits,
                });
            }
            let sorry = vs
                .sorry_server
                .as_ref()
                .map(|s| Box::new(sorry_plan(&mut rare, s)));
            // As keepalived: a quorum above the total weight could never be reached.
            let total: u64 = vs.real_servers.iter().map(|r| u64::from(r.weight)).sum();
            let quorum = if u64::from(vs.quorum) > total {
                let reduced = u32::try_from(total).unwrap_or(u32::MAX);
                tracing::warn!(
                    "virtual server {label}: quorum {} exceeds the total weight {total} of its \
                     real servers - using {reduced}",
                    vs.quorum
                );
                reduced
            } else {
                vs.quorum
            };
            director.services.push(ServiceSpec {
                label: label.clone(),
                quorum,
                hysteresis: vs.hysteresis,
                sorry: vs.sorry_server.as_ref().map(|s| SorrySpec {
                    inhibit: s.inhibit,
                    weight: 1,
                }),
                real_servers: rs_specs,
            });
            services.push(ServicePlan {
                label,
                services: keys.iter().map(|k| service(vs, *k)).collect(),
                protocol: vs.protocol,
                real_servers,
                sorry,
                omega: vs.omega,
                rare: ServiceRare::boxed(rare),
            });
        }
        for p in &probes {
            if p.slots.len() > 1 {
                tracing::info!(
                    "{}: one probe shared by {} real servers",
                    p.name,
                    p.slots.len()
                );
            }
        }
        Plan {
            services,
            probes,
            director,
        }
    }
}

fn proto_name(p: Option<CfgProtocol>) -> &'static str {
    match p {
        Some(CfgProtocol::Tcp) => "tcp",
        Some(CfgProtocol::Udp) => "udp",
        Some(CfgProtocol::Sctp) => "sctp",
        None => "none",
    }
}

/// `[addr]:proto:port`, the form of keepalived's logs and LVS FIFO lines (`none` as the
/// protocol of a firewall-mark service's servers).
pub fn addr_label(addr: IpAddr, proto: Option<CfgProtocol>, port: u16) -> String {
    format!("[{addr}]:{}:{port}", proto_name(proto))
}

/// `[addr]:proto:port`, `FWM n` or `[GROUP]:0`, as keepalived names virtual servers.
fn vs_label(vs: &VirtualServer) -> String {
    match &vs.address {
        VsAddress::Ip { addr, port } => addr_label(*addr, vs.protocol, *port),
        VsAddress::Fwmark(m) => format!("FWM {m}"),
        VsAddress::Group(g) => format!("[{g}]:0"),
    }
}

fn ipvs_protocol(p: CfgProtocol) -> Protocol {
    match p {
        CfgProtocol::Tcp => Protocol::Tcp,
        CfgProtocol::Udp => Protocol::Udp,
        CfgProtocol::Sctp => Protocol::Sctp,
    }
}

fn ipvs_family(f: CfgFamily) -> Family {
    match f {
        CfgFamily::Inet => Family::Inet,
        CfgFamily::Inet6 => Family::Inet6,
    }
}

/// The family of a firewall-mark service: `ip_family`, else that of its real servers, else IPv4.
fn fwmark_family(vs: &VirtualServer, entry: Option<CfgFamily>) -> Family {
    if let Some(f) = entry.or(vs.ip_family) {
        return ipvs_family(f);
    }
    match vs.real_servers.first().map(|r| r.addr) {
        Some(IpAddr::V6(_)) => Family::Inet6,
        _ => Family::Inet,
    }
}

/// The kernel services of a virtual server (a group expands to all its members).
fn service_keys(config: &Config, vs: &VirtualServer) -> Vec<ServiceKey> {
    let protocol = ipvs_protocol(vs.protocol.unwrap_or(CfgProtocol::Tcp));
    match &vs.address {
        VsAddress::Ip { addr, port } => vec![ServiceKey::Addr {
            addr: *addr,
            protocol,
            port: *port,
        }],
        VsAddress::Fwmark(mark) => vec![ServiceKey::Fwmark {
            family: fwmark_family(vs, None),
            mark: *mark,
        }],
        VsAddress::Group(name) => {
            let Some(g) = config.lvs.group(name) else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for e in &g.entries {
                match *e {
                    GroupEntry::Range { first, last, port } => {
                        for addr in range(first, last) {
                            out.push(ServiceKey::Addr {
                                addr,
                                protocol,
                                port,
                            });
                        }
                    }
                    GroupEntry::Fwmark { mark, family } => out.push(ServiceKey::Fwmark {
                        family: fwmark_family(vs, family),
                        mark,
                    }),
                }
            }
            out
        }
    }
}

/// The addresses from `first` to `last` included (empty when the families differ).
fn range(first: IpAddr, last: IpAddr) -> Vec<IpAddr> {
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a)..=u32::from(b))
            .map(|n| IpAddr::V4(n.into()))
            .collect(),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a)..=u128::from(b))
            .map(|n| IpAddr::V6(n.into()))
            .collect(),
        _ => Vec::new(),
    }
}

/// The kernel service for one key of a virtual server.
fn service(vs: &VirtualServer, key: ServiceKey) -> Service {
    let mut s = Service::new(key, vs.scheduler.name());
    if vs.sched_flags.flag1 {
        s.flags |= svc_flags::SCHED1;
    }
    if vs.sched_flags.flag2 {
        s.flags |= svc_flags::SCHED2;
    }
    if vs.sched_flags.flag3 {
        s.flags |= svc_flags::SCHED3;
    }
    if vs.ops {
        s.flags |= svc_flags::ONEPACKET;
    }
    if let Some(t) = vs.persistence_timeout {
        s.flags |= svc_flags::PERSISTENT;
        s.timeout = t;
        match vs.persistence_granularity {
            Some(rka_config::model::lvs::virtual_server::Granularity::V4(m))
                if key.family() == Family::Inet =>
            {
                s.prefix_len = u32::from(m).leading_ones() as u8;
            }
            Some(rka_config::model::lvs::virtual_server::Granularity::V6(p))
                if key.family() == Family::Inet6 =>
            {
                s.prefix_len = p.min(128);
            }
            _ => {}
        }
    }
    s.pe_name = vs.persistence_engine.clone();
    s
}

/// The IPVS forwarding method and tunnel of a configured method.
fn forwarding(m: ForwardingMethod) -> (ForwardMethod, Option<Tunnel>) {
    match m {
        ForwardingMethod::Nat => (ForwardMethod::Masq, None),
        ForwardingMethod::Dr => (ForwardMethod::DirectRoute, None),
        ForwardingMethod::Tun { tunnel, checksum } => {
            let flags = match checksum {
                TunnelChecksum::NoCsum => 0,
                TunnelChecksum::Csum => 1,
                TunnelChecksum::RemCsum => 2,
            };
            let t = match tunnel {
                CfgTunnelType::Ipip => None,
                CfgTunnelType::Gue { port } => Some(Tunnel {
                    kind: TunnelType::Gue,
                    port,
                    flags,
                }),
                CfgTunnelType::Gre => Some(Tunnel {
                    kind: TunnelType::Gre,
                    port: 0,
                    flags,
                }),
            };
            (ForwardMethod::Tunnel, t)
        }
    }
}

/// The kind of a configured checker, as the probes name it (HTTP_GET with `ssl` is SSL_GET).
fn probe_kind(k: &CheckerKind) -> CheckKind {
    match k {
        CheckerKind::Tcp => CheckKind::Tcp,
        CheckerKind::Http(h) if h.ssl => CheckKind::Ssl,
        CheckerKind::Http(_) => CheckKind::Http,
        CheckerKind::Smtp(_) => CheckKind::Smtp,
        CheckerKind::Dns(_) => CheckKind::Dns,
        CheckerKind::Misc(_) => CheckKind::Misc,
        CheckerKind::Udp(_) => CheckKind::Udp,
        CheckerKind::Ping => CheckKind::Ping,
        CheckerKind::File(_) => CheckKind::File,
        CheckerKind::Bfd(_) => CheckKind::Bfd,
    }
}

fn sorry_plan(rare: &mut ServiceRare, s: &SorryServer) -> DestPlan {
    let (method, tunnel) = forwarding(s.forwarding);
    rare.dest(
        s.addr,
        s.port,
        method,
        DestRare {
            tunnel,
            ..DestRare::default()
        },
    )
}

/// The parameter part of probe keys (everything but the target), rendered once for a run of
/// checkers with the same parameters: the checkers of a virtual server are usually alike, and
/// formatting the same parameter set for each of tens of thousands of real servers was a
/// large part of mapping a reload.
#[derive(Default)]
struct ParamsText {
    last: Option<(Checker, Schedule, Arc<str>)>,
    /// Every text rendered so far, so that alternating parameter sets are shared too.
    interned: HashSet<Arc<str>>,
}

impl ParamsText {
    /// `kind|connect|connect_timeout|schedule` of `c` (Debug forms): the same text for equal
    /// parameters, so equal keys still mean equal probes; one shared text for a run of alike
    /// checkers.
    fn of(&mut self, c: &Checker, schedule: &Schedule) -> Arc<str> {
        let same = self.last.as_ref().is_some_and(|(l, ls, _)| {
            l.kind == c.kind
                && l.connect == c.connect
                && l.connect_timeout == c.connect_timeout
                && ls == schedule
        });
        if !same {
            let text = format!(
                "{:?}|{:?}|{:?}|{:?}",
                c.kind, c.connect, c.connect_timeout, schedule
            );
            let text = match self.interned.get(text.as_str()) {
                Some(t) => t.clone(),
                None => {
                    let t: Arc<str> = Arc::from(text);
                    self.interned.insert(t.clone());
                    t
                }
            };
            self.last = Some((c.clone(), schedule.clone(), text));
        }
        self.last
            .as_ref()
            .map_or_else(|| Arc::from(""), |(_, _, t)| t.clone())
    }
}

/// The probe of one configured checker of the real server `addr:port`.
/// A checker's timing: `delay_loop`, retries, warmup, alpha, `log_all_failures`.
fn schedule_of(c: &Checker) -> Schedule {
    Schedule {
        delay_loop: c.delay_loop,
        retry: c.retry,
        delay_before_retry: c.delay_before_retry,
        warmup: c.warmup,
        alpha: c.alpha,
        log_all_failures: c.log_all_failures.unwrap_or(false),
    }
}

fn probe_plan(
    config: &Config,
    addr: IpAddr,
    port: u16,
    c: &Checker,
    params: &mut ParamsText,
) -> ProbePlan {
    let target = SocketAddr::new(
        c.connect.connect_ip.unwrap_or(addr),
        c.connect.connect_port.unwrap_or(port),
    );
    // keepalived 2.2.7 (observed): the global `checker_log_all_failures` turns it on even for
    // a checker that says `log_all_failures off`.
    let schedule = Schedule {
        log_all_failures: c.log_all_failures.unwrap_or(false)
            || config.global.simple.checker_log_all_failures,
        ..schedule_of(c)
    };
    let key = ProbeParams {
        target,
        params: params.of(c, &schedule),
    };
    let name = ProbeName::new(probe_kind(&c.kind), target);
    let mode = match &c.kind {
        CheckerKind::Misc(m) if m.dynamic => WeightMode::Replace,
        CheckerKind::File(f) if file_weight(config, f).0 != 0 => WeightMode::Add,
        _ => WeightMode::Static,
    };
    ProbePlan {
        key,
        name,
        probe: probe(config, target, c),
        schedule,
        mode,
        slots: Vec::new(),
    }
}

/// A FILE_CHECK's weight and `reverse`: its own, else its `track_file` block's (keepalived
/// 2.2.7: with `track_file X { weight 0 }` a value of 1 takes the real server down).
fn file_weight(config: &Config, f: &rka_config::model::lvs::checker::FileCheck) -> (i32, bool) {
    match f.weight {
        Some(w) => (w, f.reverse),
        None => config
            .vrrp
            .track_files
            .iter()
            .find(|t| t.name == f.track_file)
            .map_or((1, false), |t| (t.weight, t.weight_reverse)),
    }
}

fn connect_opts(
    target: SocketAddr,
    c: &CfgConnect,
    timeout: std::time::Duration,
) -> rka_check::ConnectOpts {
    let mut o = rka_check::ConnectOpts::new(target);
    o.bindto = c.bindto;
    o.bind_port = c.bind_port;
    o.bind_if = c.bind_if.clone();
    o.fwmark = c.fwmark;
    o.connect_timeout = timeout;
    o
}

fn probe(config: &Config, target: SocketAddr, c: &Checker) -> Result<Probe, String> {
    let connect = connect_opts(target, &c.connect, c.connect_timeout);
    Ok(match &c.kind {
        CheckerKind::Tcp => Probe::Tcp(connect),
        CheckerKind::Ping => Probe::Ping(connect),
        CheckerKind::Http(h) => {
            let mut urls = Vec::new();
            for u in &h.urls {
                let mut url = http::UrlCheck::new(u.path.clone());
                url.digest = u.digest;
                let codes: Vec<String> = u
                    .status_codes
                    .iter()
                    .map(|(a, b)| format!("{a}-{b}"))
                    .collect();
                if !codes.is_empty() {
                    url.status_codes =
                        http::StatusCodes::parse(&codes).map_err(|e| e.to_string())?;
                }
                url.virtualhost = u.virtualhost.clone();
                if let Some(re) = &u.regex {
                    let opts: Vec<&str> = u.regex_options.iter().map(|o| o.name()).collect();
                    let mut r = http::BodyRegex::new(re, &opts, u.regex_no_match)
                        .map_err(|e| e.to_string())?;
                    r.min_offset = u.regex_min_offset.unwrap_or(0) as usize;
                    r.max_offset = u.regex_max_offset.map(|m| m as usize);
                    url.regex = Some(r);
                }
                urls.push(url);
            }
            let mut p = http::HttpParams::new(connect, urls);
            p.version = match h.http_protocol {
                rka_config::model::lvs::http::HttpProtocol::Http10 => http::HttpVersion::Http10,
                rka_config::model::lvs::http::HttpProtocol::Http10Close => {
                    http::HttpVersion::Http10Close
                }
                rka_config::model::lvs::http::HttpProtocol::Http11 => http::HttpVersion::Http11,
            };
            p.virtualhost = h.virtualhost.clone();
            p.fast_recovery = h.fast_recovery;
            if h.ssl {
                let ssl = config.lvs.ssl.clone().unwrap_or_default();
                let files = rka_check::tls::TlsFiles {
                    ca: ssl.ca.map(Into::into),
                    certificate: ssl.certificate.map(Into::into),
                    key: ssl.key.map(Into::into),
                    password: ssl.password,
                };
                let sni = if h.enable_sni {
                    h.virtualhost.clone()
                } else {
                    None
                };
                p.tls =
                    Some(rka_check::tls::TlsClient::new(&files, sni).map_err(|e| e.to_string())?);
            }
            Probe::Http(p)
        }
        CheckerKind::Smtp(s) => {
            // The configuration made each `host` block a checker of its own.
            debug_assert!(s.hosts.is_empty());
            let mut p = rka_check::smtp::SmtpParams::new(connect);
            if let Some(h) = s
                .helo_name
                .clone()
                .or_else(|| config.global.simple.smtp_helo_name.clone())
            {
                p.helo_name = h;
            }
            Probe::Smtp(p)
        }
        CheckerKind::Dns(d) => {
            let mut p = rka_check::dns::DnsParams::new(connect);
            p.set_type(d.query_type.name()).map_err(|e| e.to_string())?;
            p.set_name(&d.name).map_err(|e| e.to_string())?;
            Probe::Dns(p)
        }
        CheckerKind::Misc(m) => {
            let mut p = rka_check::misc::MiscParams::new(m.path.argv.clone(), m.timeout)
                .map_err(|e| e.to_string())?;
            p.dynamic = m.dynamic;
            let user = m
                .user
                .clone()
                .map(|u| (u, m.group.clone()))
                .or_else(|| config.global.script_user.clone());
            if let Some((u, g)) = user {
                p.set_user(&u, g.as_deref()).map_err(|e| e.to_string())?;
            }
            Probe::Misc(p)
        }
        CheckerKind::Udp(u) => {
            let mut p = rka_check::udp::UdpParams::new(connect);
            p.payload = u.payload.clone();
            p.require_reply = u
                .require_reply
                .as_ref()
                .map(|r| rka_check::udp::HexPattern {
                    bytes: r.bytes.clone(),
                    mask: r.mask.clone(),
                });
            p.min_reply_length = usize::from(u.min_reply_length);
            p.max_reply_length = usize::from(u.max_reply_length);
            Probe::Udp(p)
        }
        CheckerKind::File(f) => {
            let Some(tf) = config
                .vrrp
                .track_files
                .iter()
                .find(|t| t.name == f.track_file)
            else {
                return Err(format!("track_file {} is not defined", f.track_file));
            };
            let (weight, reverse) = file_weight(config, f);
            let mut p = rka_check::file::FileParams::new(&tf.file);
            p.name.clone_from(&tf.name);
            p.weight = i64::from(weight);
            p.reverse = reverse;
            p.dynamic = weight != 0;
            Probe::File(p)
        }
        CheckerKind::Bfd(b) => Probe::Bfd {
            name: b.name.clone(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacting_keeps_the_plan_and_sizes_each_block_exactly() {
        // Three real servers: grown by pushes, their vector has room for four.
        let text = "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo wrr\n \
                    real_server 127.0.0.1 8080 {\n  weight 2\n  TCP_CHECK {\n  }\n }\n \
                    real_server 127.0.0.2 8080 {\n  TCP_CHECK {\n  }\n }\n \
                    real_server 127.0.0.3 8081 {\n  TCP_CHECK {\n  }\n }\n}\n\
                    virtual_server fwmark 7 {\n real_server 127.0.0.4 8080 {\n  \
                    TCP_CHECK {\n  }\n }\n}\n";
        let loaded = rka_config::load_str("test.conf", text, &Default::default());
        let mut plan = Plan::from_config(&loaded.config);
        assert_eq!(plan.services.len(), 2);
        assert!(
            plan.services[0].real_servers.capacity() > 3,
            "grown by pushes"
        );
        let before = plan.services.clone();
        plan.compact();
        assert_eq!(plan.services, before, "same plan");
        assert_eq!(plan.services.capacity(), plan.services.len());
        for sp in &plan.services {
            assert_eq!(sp.real_servers.capacity(), sp.real_servers.len());
            assert_eq!(sp.services.capacity(), sp.services.len());
            assert_eq!(sp.label.capacity(), sp.label.len());
        }
        // The probes and the director's view are untouched.
        assert_eq!(plan.probes.len(), 4);
        assert_eq!(plan.director.services.len(), 2);
    }

    #[test]
    fn probe_keys_are_the_whole_parameter_set_of_each_checker() {
        // Alike, different and alike again: the rendered parameters must follow each change.
        let text = "virtual_server 10.0.0.1 80 {\n protocol TCP\n delay_loop 10\n \
                    real_server 127.0.0.1 8080 {\n  TCP_CHECK {\n   connect_timeout 3\n  }\n }\n \
                    real_server 127.0.0.2 8080 {\n  TCP_CHECK {\n   connect_timeout 3\n  }\n }\n \
                    real_server 127.0.0.3 8080 {\n  TCP_CHECK {\n   connect_timeout 4\n  }\n  \
                    PING_CHECK {\n  }\n }\n \
                    real_server 127.0.0.4 8080 {\n  TCP_CHECK {\n   connect_timeout 3\n  }\n }\n}\n\
                    virtual_server 10.0.0.2 80 {\n protocol TCP\n delay_loop 20\n \
                    real_server 127.0.0.1 8080 {\n  TCP_CHECK {\n   connect_timeout 3\n  }\n }\n}\n";
        let loaded = rka_config::load_str("test.conf", text, &Default::default());
        let plan = Plan::from_config(&loaded.config);
        let mut want = Vec::new();
        for vs in &loaded.config.lvs.virtual_servers {
            for rs in &vs.real_servers {
                for c in &rs.checkers {
                    let target = SocketAddr::new(rs.addr, rs.port);
                    let schedule = schedule_of(c);
                    want.push(format!(
                        "{target}|{:?}|{:?}|{:?}|{:?}",
                        c.kind, c.connect, c.connect_timeout, schedule
                    ));
                }
            }
        }
        assert_eq!(want.len(), 6);
        let got: Vec<String> = plan.probes.iter().map(|p| p.key.to_string()).collect();
        // Every checker is its own probe here (different targets or delay_loop).
        assert_eq!(got, want);
        // Alike checkers share one parameter text (not one copy per probe).
        assert!(Arc::ptr_eq(
            &plan.probes[0].key.params,
            &plan.probes[1].key.params
        ));
        assert!(!Arc::ptr_eq(
            &plan.probes[1].key.params,
            &plan.probes[2].key.params
        ));
        // ... also after another parameter set in between (127.0.0.4 after 127.0.0.3's).
        assert!(Arc::ptr_eq(
            &plan.probes[0].key.params,
            &plan.probes[4].key.params
        ));
    }

    #[test]
    fn rare_real_server_settings_are_kept_apart() {
        assert_eq!(std::mem::size_of::<DestPlan>(), 24);
        let text = "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_kind NAT\n \
                    real_server 127.0.0.1 8080 {\n }\n \
                    real_server 127.0.0.2 8080 {\n  uthreshold 9\n  lthreshold 2\n  \
                    notify_down /bin/true\n }\n \
                    real_server 127.0.0.3 8080 {\n }\n \
                    real_server 127.0.0.5 8080 {\n  notify_up /bin/false\n }\n}\n\
                    virtual_server 10.0.0.9 80 {\n protocol TCP\n lb_kind TUN type gue port 6080\n \
                    real_server 127.0.0.4 80 {\n }\n}\n";
        let loaded = rka_config::load_str("test.conf", text, &Default::default());
        let plan = Plan::from_config(&loaded.config);
        let sp = &plan.services[0];
        let [plain, limited, _, notified] = &sp.real_servers[..] else {
            panic!("four real servers: {:?}", sp.real_servers);
        };
        assert!(sp.dest_rare(plain).is_none(), "nothing set, nothing kept");
        assert_eq!(
            sp.rare.as_ref().map(|r| r.dests.len()),
            Some(2),
            "one entry per real server with settings"
        );
        assert_eq!(
            (sp.upper_threshold(plain), sp.lower_threshold(plain)),
            (0, 0)
        );
        assert!(sp.notify_script(plain, false).is_none() && sp.tunnel(plain).is_none());
        assert_eq!(
            (sp.upper_threshold(limited), sp.lower_threshold(limited)),
            (9, 2)
        );
        assert!(sp.notify_script(limited, false).is_some());
        assert!(sp.notify_script(limited, true).is_none());
        assert!(sp.notify_script(notified, true).is_some());
        assert!(sp.notify_script(notified, false).is_none());
        assert_eq!(sp.upper_threshold(notified), 0);
        let tun = &plan.services[1];
        let tunnelled = &tun.real_servers[0];
        assert_eq!(tun.tunnel(tunnelled).map(|t| t.port), Some(6080));
        assert!(tun.notify_script(tunnelled, true).is_none());
        assert_eq!(sp.dest_label(limited), "[127.0.0.2]:tcp:8080");
        assert_eq!(sp.rs_label(2).as_deref(), Some("[127.0.0.3]:tcp:8080"));
        assert_eq!(sp.rs_label(4), None);
    }

    #[test]
    fn rare_virtual_server_settings_are_kept_apart() {
        assert_eq!(std::mem::size_of::<ServicePlan>(), 96);
        let text = "virtual_server 10.0.0.1 80 {\n protocol TCP\n \
                    real_server 127.0.0.1 8080 {\n }\n}\n\
                    virtual_server 10.0.0.2 80 {\n protocol TCP\n ha_suspend\n \
                    quorum_down /bin/false\n sorry_server 127.0.0.9 8080\n \
                    real_server 127.0.0.1 8080 {\n }\n}\n\
                    virtual_server fwmark 3 {\n ha_suspend\n quorum_up /bin/true\n \
                    real_server 127.0.0.1 8080 {\n }\n}\n";
        let loaded = rka_config::load_str("test.conf", text, &Default::default());
        let plan = Plan::from_config(&loaded.config);
        let [plain, suspended, fwmark] = &plan.services[..] else {
            panic!("three virtual servers: {:?}", plan.services);
        };
        assert!(plain.rare.is_none() && plain.sorry.is_none(), "nothing set");
        assert_eq!(plain.suspend_on(), None);
        assert!(plain.quorum_script(true).is_none() && plain.quorum_script(false).is_none());
        assert_eq!(suspended.suspend_on(), "10.0.0.2".parse().ok());
        assert!(suspended.quorum_script(true).is_none());
        assert!(suspended.quorum_script(false).is_some());
        assert_eq!(
            suspended.sorry.as_deref().map(|d| suspended.dest_label(d)),
            Some("[127.0.0.9]:tcp:8080".to_string())
        );
        // ha_suspend names an address: a firewall mark has none to watch.
        assert_eq!(fwmark.suspend_on(), None);
        assert!(fwmark.quorum_script(true).is_some());
        assert!(fwmark.quorum_script(false).is_none());
    }

    #[test]
    fn http_url_count_and_fast_recovery_reach_the_probe() {
        let text = "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n \
                    real_server 127.0.0.1 8080 {\n  HTTP_GET {\n   url {\n    path /a\n   }\n   \
                    url {\n    path /b\n   }\n   fast_recovery\n  }\n }\n \
                    real_server 127.0.0.2 8080 {\n  SSL_GET {\n   url {\n    path /c\n   }\n  }\n \
                    }\n}\n";
        let loaded = rka_config::load_str("test.conf", text, &Default::default());
        assert!(
            loaded.diagnostics.items().is_empty(),
            "{:?}",
            loaded.diagnostics.items()
        );
        let plan = Plan::from_config(&loaded.config);
        let http: Vec<(usize, bool, bool)> = plan
            .probes
            .iter()
            .map(|p| match &p.probe {
                Ok(Probe::Http(h)) => (h.urls.len(), h.fast_recovery, h.tls.is_some()),
                other => panic!("not an HTTP probe: {other:?}"),
            })
            .collect();
        assert_eq!(http, vec![(2, true, false), (1, false, true)]);
    }

    #[test]
    fn file_check_weight_defaults_to_its_track_file() {
        let text = "track_file zero {\n file /tmp/rka-fc-zero\n weight 0\n}\n\
                    track_file rev {\n file /tmp/rka-fc-rev\n weight 3 reverse\n}\n\
                    virtual_server 10.0.0.1 80 {\n protocol TCP\n \
                    real_server 127.0.0.1 8080 {\n  FILE_CHECK {\n   track_file zero\n  }\n }\n \
                    real_server 127.0.0.2 8080 {\n  FILE_CHECK {\n   track_file rev\n  }\n }\n \
                    real_server 127.0.0.3 8080 {\n  FILE_CHECK {\n   track_file zero\n   weight 2\n  }\n }\n}\n";
        let loaded = rka_config::load_str("test.conf", text, &Default::default());
        let plan = Plan::from_config(&loaded.config);
        let files: Vec<(i64, bool, WeightMode)> = plan
            .probes
            .iter()
            .map(|p| match &p.probe {
                Ok(Probe::File(f)) => (f.weight, f.reverse, p.mode),
                other => panic!("not a FILE_CHECK probe: {other:?}"),
            })
            .collect();
        assert_eq!(
            files,
            vec![
                // weight 0 from the track_file: the value is a status, no weight added.
                (0, false, WeightMode::Static),
                (3, true, WeightMode::Add),
                (2, false, WeightMode::Add),
            ]
        );
    }
}
