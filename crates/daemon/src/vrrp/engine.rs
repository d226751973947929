//! The event loop: timers from the cores, datagrams from the sockets, tracker reports and
//! control events, each turned into core calls whose actions are carried out in order.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use rka_config::Config;
use rka_netif::{AddressEvent, LinkEvent, LinkInfo, Netif, RuleSpec};
use rka_vrrp::{Action, State};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::child::Control;

use super::mapping::{
    self, notify_scripts, HostView, InstancePlan, RoutePlan, SocketKey, Tracked, VipPlan,
};
use super::netops::{GarpPacing, HostOps};
use super::notify::{Event, Notifier, Subject};
use super::socket::{advert_vrid, Datagram, OpenSocket};
use super::syncd::{self, IpvsSink, SyncdHandle};
use super::timer::{lateness, received_at, Deadlines, WakeTimer};
use super::track::{self, TrackEvent};
use super::unit::{Out, Unit};

/// How often a dropped-advert warning may be logged per instance.
const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

/// How often an instance that cannot carry its traffic tries again: reopening a socket the
/// kernel refused (nothing announces that it would now succeed), and looking for a source
/// address when address events cannot be had. A missing address is otherwise waited for
/// through the kernel's address events, so an idle engine has no periodic wake-up.
const IO_RETRY_EVERY: Duration = Duration::from_secs(1);

/// What carrying out actions may undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Release {
    /// Everything, as asked.
    Everything,
    /// Send priority 0 but leave the addresses (reload: the difference is removed later).
    KeepAddresses,
    /// Neither priority 0 nor address removal (`--dont-release-vrrp`).
    Nothing,
}

/// The last known status of a tracked object, replayed into instances created on reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TrackStatus {
    Up(bool),
    Value(i64),
}

/// What the host looked like when the configuration was mapped.
#[derive(Debug, Default)]
struct HostSnapshot {
    links: HashMap<String, (u32, bool)>,
    v4: HashMap<u32, Vec<IpAddr>>,
    v6_link_local: HashMap<u32, Vec<IpAddr>>,
    /// Every address of each interface (IPv6 global ones included).
    all: HashMap<u32, Vec<IpAddr>>,
    /// The interfaces without multicast (`IFF_MULTICAST` unset: dummies).
    no_multicast: std::collections::HashSet<String>,
}

impl HostSnapshot {
    async fn take(netif: &Netif) -> HostSnapshot {
        let mut snap = HostSnapshot::default();
        match netif.links().await {
            Ok(links) => {
                for l in links {
                    if !l.multicast {
                        snap.no_multicast.insert(l.name.clone());
                    }
                    snap.links.insert(l.name.clone(), (l.index, l.oper_up));
                }
            }
            Err(e) => tracing::error!("cannot list interfaces: {e}"),
        }
        match netif.addresses(None).await {
            Ok(addrs) => {
                for a in addrs {
                    snap.all.entry(a.ifindex).or_default().push(a.addr);
                    match a.addr {
                        IpAddr::V4(_) => snap.v4.entry(a.ifindex).or_default().push(a.addr),
                        IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => snap
                            .v6_link_local
                            .entry(a.ifindex)
                            .or_default()
                            .push(a.addr),
                        IpAddr::V6(_) => {}
                    }
                }
            }
            Err(e) => tracing::error!("cannot list addresses: {e}"),
        }
        snap
    }

    /// Whether `ifname` holds `addr` (`None` when the interface does not exist).
    fn has_address(&self, ifname: &str, addr: IpAddr) -> Option<bool> {
        let (index, _) = self.links.get(ifname)?;
        Some(self.all.get(index).is_some_and(|l| l.contains(&addr)))
    }

    /// The address member `plan` should advertise from: the first usable one of its interface
    /// that is not one of its own virtual addresses (keepalived 2.2.7, observed: an interface
    /// left with only a VIP has no address for the instance), or for an address owner its own
    /// address.
    fn source_for(&self, plan: &InstancePlan) -> Option<IpAddr> {
        let vips: Vec<IpAddr> = plan.vips.iter().map(|v| v.spec.addr).collect();
        let ipv6 = plan.socket.ipv6;
        if plan.core.priority == 255 {
            return self.source_address(&plan.interface, ipv6, &vips);
        }
        self.source_addresses(&plan.interface, ipv6)
            .into_iter()
            .find(|a| !vips.contains(a))
    }
}

impl HostView for HostSnapshot {
    fn source_addresses(&self, ifname: &str, ipv6: bool) -> Vec<IpAddr> {
        let Some((index, _)) = self.links.get(ifname) else {
            return Vec::new();
        };
        let list = if ipv6 { &self.v6_link_local } else { &self.v4 };
        list.get(index).cloned().unwrap_or_default()
    }

    fn interface_up(&self, ifname: &str) -> bool {
        self.links.get(ifname).is_some_and(|(_, up)| *up)
    }

    fn interface_exists(&self, ifname: &str) -> bool {
        self.links.contains_key(ifname)
    }

    fn interface_lacks_multicast(&self, ifname: &str) -> bool {
        self.no_multicast.contains(ifname)
    }
}

/// The running VRRP engine.
#[derive(Debug)]
pub struct Engine {
    /// The configuration in force.
    pub(super) config: Config,
    host: HostOps,
    notifier: Notifier,
    /// Standalone instances and sync groups.
    pub(super) units: Vec<Unit>,
    sockets: Vec<Option<OpenSocket>>,
    demux: HashMap<(usize, u8), (usize, usize)>,
    pkt_tx: mpsc::UnboundedSender<Datagram>,
    pkt_rx: mpsc::UnboundedReceiver<Datagram>,
    track_tx: mpsc::UnboundedSender<TrackEvent>,
    track_rx: mpsc::UnboundedReceiver<TrackEvent>,
    tracker_tasks: Vec<JoinHandle<()>>,
    /// Forwards link and address events (`None` if the kernel refused the subscription).
    link_task: Option<JoinHandle<()>>,
    /// Whether address events arrive (else a missing source address is polled for).
    address_events: bool,
    statuses: HashMap<String, TrackStatus>,
    /// Datagrams dropped before reaching an instance (unknown VRID, unreadable, foreign
    /// source).
    pub(super) foreign_drops: u64,
    foreign_log: Option<Instant>,
    statics: (Vec<VipPlan>, Vec<RoutePlan>, Vec<RuleSpec>),
    /// The `lvs_sync_daemon` thread, started when first needed.
    syncd: Option<SyncdHandle>,
    /// The nftables filter of instances in no_accept mode.
    firewall: super::firewall::Firewall,
    /// Wakes the engine at the next unit deadline.
    timer: WakeTimer,
    /// Every unit's next deadline (rebuilt at each [`Engine::step`], kept up to date by
    /// `drain_with` inside it).
    deadlines: Deadlines,
    /// While handling a timeout: when it was due and when it fired (debug timing log).
    fired: Option<(Instant, Instant)>,
    /// Why each socket that could not be opened was refused (logged once per change).
    socket_errors: HashMap<SocketKey, String>,
    /// When instances that cannot carry their traffic try again (none while all can).
    io_retry: Option<Instant>,
    /// Interfaces whose `promote_secondaries` setting an instance turned on, with the value
    /// each had before: put back at exit (as keepalived does; a reload that drops the keyword
    /// leaves it on until then).
    promoted: BTreeMap<String, String>,
    /// `max_auto_priority`: late wake-ups raise the real-time priority.
    auto_priority: crate::procattr::AutoPriority,
}

impl Engine {
    /// Maps `config`, installs static addresses, opens sockets, starts trackers and instances.
    pub async fn start(config: Config, netif: Netif) -> Engine {
        let (pkt_tx, pkt_rx) = mpsc::unbounded_channel();
        let (track_tx, track_rx) = mpsc::unbounded_channel();
        let link_task = track::spawn_interface_events(track_tx.clone());
        let notifier = Notifier::new(&config);
        let mut engine = Engine {
            host: HostOps::new(netif),
            notifier,
            units: Vec::new(),
            sockets: Vec::new(),
            demux: HashMap::new(),
            pkt_tx,
            pkt_rx,
            track_tx,
            track_rx,
            tracker_tasks: Vec::new(),
            address_events: link_task.is_some(),
            link_task,
            statuses: HashMap::new(),
            foreign_drops: 0,
            foreign_log: None,
            statics: (Vec::new(), Vec::new(), Vec::new()),
            syncd: None,
            firewall: super::firewall::Firewall::spawn(&config),
            timer: WakeTimer::new(),
            deadlines: Deadlines::default(),
            fired: None,
            socket_errors: HashMap::new(),
            io_retry: None,
            promoted: BTreeMap::new(),
            auto_priority: crate::procattr::AutoPriority::for_role(
                &config.global,
                crate::logging::Role::Vrrp,
            ),
            config,
        };
        engine.apply_garp_pacing();
        engine.install_statics().await;
        let units = engine.build_units(&engine.config.clone()).await;
        engine.units = units;
        engine.attach_sockets().await;
        engine.start_trackers();
        // Like keepalived, start clean: addresses left by a previous run that died as MASTER
        // are removed before the instances start (a MASTER puts them back at once).
        for unit in &engine.units {
            // An address owner's VIP is the interface's own address: never remove it.
            for m in unit.members.iter().filter(|m| m.plan.core.priority < 255) {
                let name = &m.plan.core.name;
                engine.host.rules(name, &m.plan.rules, false).await;
                engine.host.routes(name, &m.plan.routes, false).await;
                engine.host.addresses(name, &m.plan.vips, false).await;
            }
        }
        let now = Instant::now();
        for u in 0..engine.units.len() {
            engine.units[u].core.handle_timeout(now);
            engine.drain(u).await;
        }
        engine.syncd_refresh();
        engine
    }

    /// Gives the host side the gratuitous ARP / NA pacing of the configuration: global
    /// intervals per interface, shared ones per `garp_group` (a VMAC interface follows the
    /// group of its base interface).
    fn apply_garp_pacing(&mut self) {
        let g = &self.config.global.simple;
        let names = super::mapping::VmacNames::of(&self.config);
        let vmacs: Vec<(String, String)> = names
            .all(&self.config)
            .map(|(name, base)| (name.to_string(), base.to_string()))
            .collect();
        let groups: Vec<GarpPacing> = self
            .config
            .vrrp
            .garp_groups
            .iter()
            .map(|gg| {
                let mut interfaces = gg.interfaces.clone();
                for (vmac, base) in &vmacs {
                    if gg.interfaces.contains(base) {
                        interfaces.push(vmac.clone());
                    }
                }
                GarpPacing {
                    interfaces,
                    garp_interval: gg.garp_interval,
                    gna_interval: gg.gna_interval,
                }
            })
            .collect();
        self.host
            .set_spacing(g.vrrp_garp_interval, g.vrrp_gna_interval, &groups);
    }

    /// The standalone instances and sync groups (read-only: status and metrics).
    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    /// Datagrams that reached no instance (read-only: status and metrics).
    pub fn foreign_drops(&self) -> u64 {
        self.foreign_drops
    }

    async fn install_statics(&mut self) {
        let v = &self.config.vrrp;
        let vips: Vec<VipPlan> = v
            .static_ipaddress
            .iter()
            .filter_map(|a| match &a.dev {
                Some(dev) => Some(mapping::vip_plan(a, dev)),
                None => {
                    tracing::warn!("static address {} has no dev - ignored", a.prefix);
                    None
                }
            })
            .collect();
        let routes: Vec<RoutePlan> = v
            .static_routes
            .iter()
            .filter_map(|r| {
                let mut p = mapping::route_plan(r, "")?;
                if p.dev.as_deref() == Some("") {
                    p.dev = None;
                }
                Some(p)
            })
            .collect();
        let rules: Vec<RuleSpec> = v
            .static_rules
            .iter()
            .filter_map(mapping::rule_spec)
            .collect();
        self.host.addresses("static", &vips, true).await;
        self.host.routes("static", &routes, true).await;
        self.host.rules("static", &rules, true).await;
        self.statics = (vips, routes, rules);
    }

    /// Maps `config` into units (creating VMACs first so their interfaces exist).
    async fn build_units(&mut self, config: &Config) -> Vec<Unit> {
        // VMAC interfaces must exist before the snapshot so sockets and sources resolve.
        if !mapping::VmacNames::of(config).is_empty() {
            let pre = HostSnapshot::take(self.host.netif()).await;
            let (plans, _) = mapping::plan_instances(config, &pre);
            for plan in &plans {
                let ipv6 = plan.core.family == rka_vrrp::Family::Ipv6;
                for v in plan.vmacs() {
                    // An IPv6 instance's own VMAC takes its base's link-local address.
                    let own = plan.vmac.as_ref() == Some(v);
                    let link_local = (ipv6 && own)
                        .then(|| pre.source_addresses(&v.base, true).first().copied())
                        .flatten();
                    self.host.create_vmac(&plan.core.name, v, link_local).await;
                }
            }
        }
        let snap = HostSnapshot::take(self.host.netif()).await;
        let (plans, errors) = mapping::plan_instances(config, &snap);
        for e in errors {
            tracing::error!("{e}");
        }
        // The interfaces' status as first seen, so that a change is told from a repeat.
        for plan in &plans {
            let tracked = plan.trackers.iter().filter_map(|t| match t {
                Tracked::Interface(i) => Some(i),
                _ => None,
            });
            for ifname in std::iter::once(&plan.interface).chain(tracked) {
                self.statuses
                    .entry(format!("interface:{ifname}"))
                    .or_insert(TrackStatus::Up(snap.interface_up(ifname)));
            }
        }
        for inst in config
            .vrrp
            .instances
            .iter()
            .filter(|i| i.promote_secondaries)
        {
            let Some(plan) = plans.iter().find(|p| p.core.name == inst.name) else {
                continue;
            };
            if !self.promoted.contains_key(&plan.interface) {
                if let Some(original) = self.host.promote_secondaries(&inst.name, &plan.interface) {
                    self.promoted.insert(plan.interface.clone(), original);
                }
            }
        }
        let groups = mapping::plan_groups(config, &plans);
        let now = Instant::now();
        let mut units = Vec::new();
        let mut grouped: HashSet<String> = HashSet::new();
        for g in groups {
            let members: Vec<InstancePlan> = g
                .members
                .iter()
                .filter_map(|n| plans.iter().find(|p| &p.core.name == n).cloned())
                .collect();
            grouped.extend(g.members.iter().cloned());
            match Unit::new(members, Some(g.clone()), now) {
                Ok(u) => units.push(u),
                Err(e) => tracing::error!("{e}"),
            }
        }
        for p in plans {
            if grouped.contains(&p.core.name) {
                continue;
            }
            match Unit::new(vec![p], None, now) {
                Ok(u) => units.push(u),
                Err(e) => tracing::error!("{e}"),
            }
        }
        // Replay what trackers last reported (reload), so priorities do not jump.
        for unit in &mut units {
            for (m, member) in unit.members.iter().enumerate() {
                for t in &member.plan.trackers {
                    let name = t.core_name();
                    match (self.statuses.get(&name), t) {
                        (Some(TrackStatus::Up(up)), _) => {
                            let _ = unit.core.track_update(now, m, &name, *up);
                        }
                        (
                            Some(TrackStatus::Value(v)),
                            Tracked::File {
                                weight, reverse, ..
                            },
                        ) => {
                            apply_file(&mut unit.core, now, m, &name, *v, *weight, *reverse);
                        }
                        _ => {}
                    }
                }
            }
            // Creation-time tracker changes are not transitions worth acting on.
            while unit.core.poll().is_some() {}
        }
        units
    }

    /// Opens (or reuses) the socket of every member and rebuilds the VRID demultiplexer.
    async fn attach_sockets(&mut self) {
        let mut wanted: Vec<(usize, usize, SocketKey, Option<IpAddr>)> = Vec::new();
        for (u, unit) in self.units.iter().enumerate() {
            for (m, member) in unit.members.iter().enumerate() {
                let group = (!member.plan.unicast).then(|| member.plan.core.multicast_group());
                wanted.push((u, m, member.plan.socket.clone(), group));
            }
        }
        let mut used = HashSet::new();
        self.demux.clear();
        for (u, m, key, group) in wanted {
            let slot = self.socket_for(&key, group).await;
            self.units[u].members[m].socket = slot;
            if let Some(s) = slot {
                used.insert(s);
                let vrid = self.units[u].members[m].plan.core.vrid;
                if self.demux.insert((s, vrid), (u, m)).is_some() {
                    tracing::error!(
                        "({}) VRID {vrid} is used twice on {}",
                        self.units[u].members[m].plan.core.name,
                        key.ifname
                    );
                }
            }
        }
        for (i, s) in self.sockets.iter_mut().enumerate() {
            if !used.contains(&i) {
                *s = None;
            }
        }
        for u in self.refresh_io_faults(Instant::now()) {
            self.drain(u).await;
        }
    }

    /// Tells each core whether its instance can carry its traffic: without a socket or a
    /// source address it cannot advertise, and a router that cannot advertise must not hold
    /// the addresses (its peers would take them too: split brain), so it is in FAULT until
    /// [`Engine::retry_io`] succeeds. Returns the units whose core was told something new.
    fn refresh_io_faults(&mut self, now: Instant) -> Vec<usize> {
        let mut touched = Vec::new();
        for (u, unit) in self.units.iter_mut().enumerate() {
            for (m, member) in unit.members.iter_mut().enumerate() {
                let problem = if member.plan.source_missing {
                    let family = if member.plan.socket.ipv6 {
                        "IPv6"
                    } else {
                        "IPv4"
                    };
                    Some(format!("no {family} address for interface"))
                } else if member.socket.is_none() {
                    let key = &member.plan.socket;
                    Some(
                        self.socket_errors
                            .get(key)
                            .cloned()
                            .unwrap_or_else(|| format!("no VRRP socket on {}", key.ifname)),
                    )
                } else {
                    None
                };
                if problem == member.io_problem {
                    continue;
                }
                let name = &member.plan.core.name;
                match &problem {
                    // keepalived 2.2.7's wording for the missing address.
                    Some(p) => tracing::warn!("({name}) entering FAULT state ({p})"),
                    None => tracing::info!(
                        "({name}) can advertise on {} again - leaving FAULT",
                        member.plan.socket.ifname
                    ),
                }
                unit.core.set_io_fault(now, m, problem.is_some());
                member.io_problem = problem;
                if !touched.contains(&u) {
                    touched.push(u);
                }
            }
        }
        // A missing address is waited for through address events; only what no event
        // announces is polled for.
        let waiting =
            self.units.iter().flat_map(|u| &u.members).any(|m| {
                m.io_problem.is_some() && (!m.plan.source_missing || !self.address_events)
            });
        self.io_retry = match (waiting, self.io_retry) {
            (false, _) => None,
            (true, Some(t)) => Some(t),
            (true, None) => Some(now + IO_RETRY_EVERY),
        };
        touched
    }

    /// Tries again for every instance that cannot carry its traffic: looks for a source
    /// address where one was missing, reopens missing sockets.
    async fn retry_io(&mut self) {
        self.io_retry = None;
        let missing_source = self
            .units
            .iter()
            .any(|u| u.members.iter().any(|m| m.plan.source_missing));
        if missing_source {
            let snap = HostSnapshot::take(self.host.netif()).await;
            self.check_addresses(&snap).await;
        } else {
            // Reopens what is missing and reports the outcome to the cores.
            self.attach_sockets().await;
        }
    }

    /// Whether an address event can matter: an address appeared while an instance has none
    /// to advertise from, or an address went that an instance advertises from or holds as
    /// MASTER. Everything else (the engine's own address changes among them) is ignored
    /// without asking the kernel anything.
    fn address_event_matters(&self, ev: &AddressEvent) -> bool {
        let mut members = self.units.iter().flat_map(|u| &u.members);
        match ev {
            AddressEvent::Added(_) => members.any(|m| m.plan.source_missing),
            AddressEvent::Removed(spec) => members.any(|m| {
                (!m.plan.source_missing && m.plan.core.source == spec.addr)
                    || (m.holds_vips && m.plan.vips.iter().any(|v| v.spec.addr == spec.addr))
            }),
        }
    }

    /// Brings every instance in line with the addresses the host has now (`snap`, read after
    /// the event that led here, so an event that is already stale changes nothing), as
    /// keepalived 2.2.7 does (observed):
    /// - a MASTER one of whose virtual addresses is gone gives mastership up
    ///   ([`rka_vrrp::Instance::address_lost`]);
    /// - an instance whose source address is gone advertises from another address of its
    ///   interface, or with none left is in FAULT until one appears;
    /// - an instance in FAULT for want of an address advertises from the first that appears.
    ///
    /// A source given in the configuration (`mcast_src_ip`, `unicast_src_ip`) is left alone.
    async fn check_addresses(&mut self, snap: &HostSnapshot) {
        let now = Instant::now();
        // Virtual addresses first: the priority 0 still goes out from the old source.
        let mut lost = Vec::new();
        for (u, unit) in self.units.iter().enumerate() {
            for (m, member) in unit.members.iter().enumerate() {
                if !member.holds_vips
                    || member.plan.core.priority == 255
                    || unit.state(m) != State::Master
                {
                    continue;
                }
                let gone = member
                    .plan
                    .vips
                    .iter()
                    .find(|v| snap.has_address(&v.ifname, v.spec.addr) == Some(false));
                if let Some(v) = gone {
                    tracing::warn!(
                        "({}) {} was removed from {} - leaving MASTER",
                        member.plan.core.name,
                        v.spec.addr,
                        v.ifname
                    );
                    lost.push((u, m));
                }
            }
        }
        for (u, m) in lost {
            self.units[u].core.address_lost(now, m);
            self.drain(u).await;
        }
        let configured: HashSet<&str> = self
            .config
            .vrrp
            .instances
            .iter()
            .filter(|i| i.src_ip.is_some())
            .map(|i| i.name.as_str())
            .collect();
        for unit in &mut self.units {
            for (m, member) in unit.members.iter_mut().enumerate() {
                let plan = &mut member.plan;
                if configured.contains(plan.core.name.as_str())
                    || !snap.interface_exists(&plan.interface)
                {
                    continue;
                }
                let ifname = &plan.interface;
                let old = plan.core.source;
                if !plan.source_missing
                    && snap
                        .source_addresses(ifname, plan.socket.ipv6)
                        .contains(&old)
                {
                    continue;
                }
                match snap.source_for(plan) {
                    Some(a) => {
                        if plan.source_missing {
                            // keepalived 2.2.7's wording.
                            tracing::info!("Assigned address {a} for interface {ifname}");
                        } else {
                            tracing::info!(
                                "({}) {old} is gone from {ifname} - advertising from {a}",
                                plan.core.name
                            );
                        }
                        plan.core.source = a;
                        plan.source_missing = false;
                        unit.core.set_source(m, a);
                    }
                    None if !plan.source_missing => {
                        // keepalived 2.2.7's wording; the FAULT follows from
                        // `refresh_io_faults` (a MASTER's priority 0 from the old source).
                        tracing::info!("Deassigned address {old} from interface {ifname}");
                        plan.source_missing = true;
                    }
                    None => {}
                }
            }
        }
        // Reopens what is missing and reports the outcome to the cores.
        self.attach_sockets().await;
    }

    async fn socket_for(&mut self, key: &SocketKey, group: Option<IpAddr>) -> Option<usize> {
        let existing = self
            .sockets
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| &s.key == key));
        let slot = match existing {
            Some(i) => i,
            None => {
                let Some(ifindex) = self.host.ifindex(&key.ifname).await else {
                    self.socket_refused(key, format!("interface {} not found", key.ifname));
                    return None;
                };
                let slot = self
                    .sockets
                    .iter()
                    .position(Option::is_none)
                    .unwrap_or(self.sockets.len());
                match OpenSocket::open(key, ifindex, slot, self.pkt_tx.clone()) {
                    Ok(s) => {
                        if slot == self.sockets.len() {
                            self.sockets.push(Some(s));
                        } else {
                            self.sockets[slot] = Some(s);
                        }
                        if self.socket_errors.remove(key).is_some() {
                            tracing::info!("VRRP socket on {} open", key.ifname);
                        }
                        slot
                    }
                    Err(e) => {
                        self.socket_refused(
                            key,
                            format!("cannot open the VRRP socket on {}: {e}", key.ifname),
                        );
                        return None;
                    }
                }
            }
        };
        if let (Some(g), Some(Some(s))) = (group, self.sockets.get(slot)) {
            if let Err(e) = s.join(g) {
                tracing::error!("cannot join {g} on {}: {e}", key.ifname);
            }
        }
        Some(slot)
    }

    /// Records why the socket for `key` could not be opened, logging it when it is new.
    fn socket_refused(&mut self, key: &SocketKey, why: String) {
        if self.socket_errors.get(key) != Some(&why) {
            tracing::error!("{why} - retrying every {}s", IO_RETRY_EVERY.as_secs());
            self.socket_errors.insert(key.clone(), why);
        }
    }

    fn start_trackers(&mut self) {
        for t in self.tracker_tasks.drain(..) {
            t.abort();
        }
        let mut scripts = HashSet::new();
        let mut files = HashSet::new();
        let mut processes = HashSet::new();
        for unit in &self.units {
            for member in &unit.members {
                for t in &member.plan.trackers {
                    match t {
                        Tracked::Script(n) => {
                            scripts.insert(n.clone());
                        }
                        Tracked::File { name, .. } => {
                            files.insert(name.clone());
                        }
                        Tracked::Process(n) => {
                            processes.insert(n.clone());
                        }
                        Tracked::Interface(_) => {}
                    }
                }
            }
        }
        let user = super::notify::default_script_user(&self.config);
        for s in &self.config.vrrp.scripts {
            if !scripts.contains(&s.name) {
                // keepalived's line for a vrrp_script no instance tracks.
                tracing::info!("Warning - script {} is not used", s.name);
            } else {
                let initial = match self.statuses.get(&format!("script:{}", s.name)) {
                    Some(TrackStatus::Up(up)) => Some(*up),
                    _ => None,
                };
                let script_user = s.user.clone().or_else(|| user.clone());
                self.tracker_tasks.push(track::spawn_script(
                    s,
                    initial,
                    script_user,
                    self.track_tx.clone(),
                ));
            }
        }
        for p in &self.config.vrrp.track_processes {
            if processes.contains(&p.name) {
                self.tracker_tasks
                    .push(track::spawn_process(p, self.track_tx.clone()));
            }
        }
        for f in &self.config.vrrp.track_files {
            if files.contains(&f.name) {
                self.tracker_tasks
                    .push(track::spawn_file(f, self.track_tx.clone()));
            }
        }
    }

    /// Handles events until a control event arrives, and returns it (a closed control
    /// channel reads as Stop).
    pub async fn step(&mut self, control: &mut mpsc::Receiver<Control>) -> Control {
        // Whatever ran between two calls (start, reload, a control event) may have changed any
        // unit's timers; inside the loop every core call goes through `drain_with`, which
        // keeps the index current.
        self.reindex_deadlines();
        loop {
            let deadline = self
                .deadlines
                .next()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let retry = self.io_retry;
            tokio::select! {
                biased;
                ev = control.recv() => return ev.unwrap_or(Control::Stop),
                () = self.timer.wait_until(deadline) => self.on_timeout(deadline).await,
                Some(d) = self.pkt_rx.recv() => self.on_datagram(d).await,
                Some(t) = self.track_rx.recv() => self.on_track(t).await,
                () = sleep_until_some(retry) => self.retry_io().await,
            }
        }
    }

    /// Rebuilds the deadline index from every unit.
    fn reindex_deadlines(&mut self) {
        self.deadlines.clear();
        for (u, unit) in self.units.iter().enumerate() {
            self.deadlines.set(u, unit.core.poll_timeout());
        }
    }

    /// Runs the timers of every unit due now (`due`: the deadline the engine woke up for).
    async fn on_timeout(&mut self, due: Instant) {
        // A backup's master-down timer is about to run: adverts already received (forwarded by
        // the reader tasks, or still in the sockets if the process was not scheduled for a
        // while) are handed over first, oldest first, so a backup that was stalled does not take
        // over from a master it has in fact heard. Bounded by what is queued now, so a flood
        // cannot starve the timers; skipped for masters' advert timers (no syscalls there).
        let now = Instant::now();
        let backup_due = self.deadlines.due_units(now).any(|u| {
            self.units
                .get(u)
                .is_some_and(|unit| (0..unit.members.len()).any(|m| unit.state(m) == State::Backup))
        });
        if backup_due {
            let mut pending = Vec::new();
            for _ in 0..self.pkt_rx.len() {
                match self.pkt_rx.try_recv() {
                    Ok(d) => pending.push(d),
                    Err(_) => break,
                }
            }
            for (slot, s) in self.sockets.iter().enumerate() {
                if let Some(s) = s {
                    pending.extend(s.read_pending(slot, 4096));
                }
            }
            for d in pending {
                self.on_datagram(d).await;
            }
        }
        let now = Instant::now();
        self.fired = Some((due, now));
        self.auto_priority
            .woke_late(now.saturating_duration_since(due));
        for u in self.deadlines.due(now) {
            let Some(unit) = self.units.get_mut(u) else {
                continue;
            };
            if unit.core.poll_timeout().is_some_and(|t| t <= now) {
                unit.core.handle_timeout(now);
            }
            self.drain(u).await;
        }
        self.fired = None;
    }

    async fn on_datagram(&mut self, d: Datagram) {
        let Some(sock) = self.sockets.get(d.socket).and_then(Option::as_ref) else {
            return;
        };
        let ipv6 = sock.key.ipv6;
        let Some(vrid) = advert_vrid(ipv6, &d.bytes) else {
            self.foreign(format!("unreadable VRRP datagram from {}", d.info.src));
            return;
        };
        let Some(&(u, m)) = self.demux.get(&(d.socket, vrid)) else {
            if self.config.global.simple.log_unknown_vrids {
                // keepalived 2.2.7's line, for every such advert (observed).
                tracing::info!(
                    "Unknown VRID({vrid}) received on interface({}). ignoring...",
                    sock.key.ifname
                );
            }
            self.foreign(format!(
                "advert for VRID {vrid} from {} on {}: no instance",
                d.info.src, sock.key.ifname
            ));
            return;
        };
        let plan = &self.units[u].members[m].plan;
        if !plan.unicast_source_ok(d.info.src, d.info.ttl) {
            let name = plan.core.name.clone();
            self.foreign(format!(
                "({name}) advert from {} (TTL {:?}) refused by check_unicast_src",
                d.info.src, d.info.ttl
            ));
            return;
        }

        // The timers restart from when the kernel received the advert (RFC 5798 section
        // 6.4.2), not from when the engine got round to it.
        let now = received_at(d.info.rx_time, Instant::now());
        let before = self.dropped(u, m);
        let ttl = d.info.ttl.unwrap_or(0);
        self.units[u]
            .core
            .handle_packet(now, m, d.info.src, ttl, &d.bytes);
        let after = self.dropped(u, m);
        if after > before {
            self.log_drop(u, m, now, d.info.src);
        }
        self.drain(u).await;
    }

    fn dropped(&self, u: usize, m: usize) -> u64 {
        self.units[u]
            .core
            .member(m)
            .map_or(0, |i| i.stats().dropped.total())
    }

    fn log_drop(&mut self, u: usize, m: usize, now: Instant, src: IpAddr) {
        let total = self.dropped(u, m);
        let member = &mut self.units[u].members[m];
        let due = member
            .drop_log
            .is_none_or(|(t, _)| now.duration_since(t) >= DROP_LOG_EVERY);
        if due {
            let since = member
                .drop_log
                .map_or(total, |(_, n)| total.saturating_sub(n));
            let counters = self.units[u]
                .core
                .member(m)
                .map(|i| format!("{:?}", i.stats().dropped))
                .unwrap_or_default();
            tracing::warn!(
                "({}) dropped {since} invalid advert(s), latest from {src}; totals {counters}",
                self.units[u].members[m].plan.core.name
            );
            self.units[u].members[m].drop_log = Some((now, total));
        }
    }

    fn foreign(&mut self, msg: String) {
        self.foreign_drops += 1;
        let now = Instant::now();
        if self
            .foreign_log
            .is_none_or(|t| now.duration_since(t) >= DROP_LOG_EVERY)
        {
            tracing::warn!(
                "{msg} ({} such datagram(s) dropped so far)",
                self.foreign_drops
            );
            self.foreign_log = Some(now);
        }
    }

    /// A link appeared or changed: tracked status, VMACs and sockets that went with it.
    async fn on_link_changed(&mut self, now: Instant, info: LinkInfo) {
        let name = format!("interface:{}", info.name);
        let before = self
            .statuses
            .insert(name.clone(), TrackStatus::Up(info.oper_up));
        let watched = self.units.iter().flat_map(|u| u.members.iter()).any(|m| {
            m.plan.interface == info.name
                || m.plan
                    .trackers
                    .iter()
                    .any(|t| matches!(t, Tracked::Interface(i) if *i == info.name))
        });
        if watched && before.is_some_and(|b| b != TrackStatus::Up(info.oper_up)) {
            // keepalived's line for a change of an interface it uses.
            let state = if info.oper_up { "up" } else { "down" };
            tracing::info!("Netlink reports {} {state}", info.name);
        }
        // A base interface came back: recreate the VMACs that went with it.
        let lost_vmacs: Vec<(String, super::mapping::VmacPlan, bool)> = self
            .units
            .iter()
            .flat_map(|u| u.members.iter())
            .flat_map(|m| {
                let base = info.name.as_str();
                let ipv6 = m.plan.core.family == rka_vrrp::Family::Ipv6;
                let own = m.plan.vmac.as_ref();
                m.plan
                    .vmacs()
                    .filter(move |v| v.base == base && (m.socket.is_none() || Some(*v) != own))
                    .map(move |v| (m.plan.core.name.clone(), v.clone(), ipv6 && Some(v) == own))
            })
            .collect();
        if info.oper_up && !lost_vmacs.is_empty() {
            let snap = HostSnapshot::take(self.host.netif()).await;
            for (who, v, ipv6) in lost_vmacs {
                let ll = ipv6
                    .then(|| snap.source_addresses(&v.base, true).first().copied())
                    .flatten();
                if self.host.ifindex(&v.name).await.is_none() {
                    tracing::info!("({who}) recreating VMAC {}", v.name);
                    self.host.create_vmac(&who, &v, ll).await;
                }
            }
        }
        let needs_socket = self.units.iter().any(|u| {
            u.members
                .iter()
                .any(|m| m.socket.is_none() && m.plan.socket.ifname == info.name)
        });
        if info.oper_up && needs_socket {
            tracing::info!("interface {} is back - reopening sockets", info.name);
            self.attach_sockets().await;
        }
        self.update_all(now, &name, |core, m, n| {
            let _ = core.track_update(now, m, n, info.oper_up);
        })
        .await;
    }

    /// A link went away: its sockets close, trackers and instances on it are told.
    async fn on_link_removed(&mut self, now: Instant, name: String) {
        let key = format!("interface:{name}");
        self.statuses.insert(key.clone(), TrackStatus::Up(false));
        for s in &mut self.sockets {
            if s.as_ref().is_some_and(|s| s.key.ifname == name) {
                *s = None;
            }
        }
        for unit in &mut self.units {
            for m in &mut unit.members {
                if m.plan.socket.ifname == name {
                    m.socket = None;
                }
            }
        }
        self.host.forget_frames();
        self.update_all(now, &key, |core, m, n| {
            let _ = core.track_update(now, m, n, false);
        })
        .await;
        // Instances that do not track the interface cannot advertise either.
        for u in self.refresh_io_faults(now) {
            self.drain(u).await;
        }
    }

    /// Interface events were lost: every link is read again and handled as if announced
    /// (the interfaces the instances use or track that are gone as removed), then the
    /// addresses are checked.
    async fn resync_interfaces(&mut self, now: Instant) {
        tracing::warn!("interface events were lost - reading the interfaces again");
        self.host.forget_frames();
        let links = match self.host.netif().links().await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("cannot list interfaces: {e}");
                return;
            }
        };
        let mut used: HashSet<String> = HashSet::new();
        for m in self.units.iter().flat_map(|u| &u.members) {
            used.insert(m.plan.interface.clone());
            used.insert(m.plan.socket.ifname.clone());
            for t in &m.plan.trackers {
                if let Tracked::Interface(i) = t {
                    used.insert(i.clone());
                }
            }
        }
        for name in used {
            if !links.iter().any(|l| l.name == name) {
                self.on_link_removed(now, name).await;
            }
        }
        for l in links {
            self.on_link_changed(now, l).await;
        }
        let snap = HostSnapshot::take(self.host.netif()).await;
        self.check_addresses(&snap).await;
    }

    async fn on_track(&mut self, ev: TrackEvent) {
        let now = Instant::now();
        match ev {
            TrackEvent::Link(LinkEvent::Changed(info)) => self.on_link_changed(now, info).await,
            TrackEvent::Link(LinkEvent::Removed { name, .. }) => {
                self.on_link_removed(now, name).await;
            }
            TrackEvent::Address(ev) => {
                if self.address_event_matters(&ev) {
                    let snap = HostSnapshot::take(self.host.netif()).await;
                    self.check_addresses(&snap).await;
                }
            }
            TrackEvent::InterfacesOverrun => self.resync_interfaces(now).await,
            TrackEvent::Process { name, up } => {
                let key = format!("process:{name}");
                self.statuses.insert(key.clone(), TrackStatus::Up(up));
                self.update_all(now, &key, |core, m, n| {
                    let _ = core.track_update(now, m, n, up);
                })
                .await;
            }
            TrackEvent::Script { name, up } => {
                let key = format!("script:{name}");
                self.statuses.insert(key.clone(), TrackStatus::Up(up));
                self.update_all(now, &key, |core, m, n| {
                    let _ = core.track_update(now, m, n, up);
                })
                .await;
            }
            TrackEvent::File { name, value } => {
                let key = format!("file:{name}");
                self.statuses.insert(key.clone(), TrackStatus::Value(value));
                for u in 0..self.units.len() {
                    let unit = &mut self.units[u];
                    let mut touched = false;
                    for (m, member) in unit.members.iter().enumerate() {
                        for t in &member.plan.trackers {
                            if let Tracked::File {
                                name: n,
                                weight,
                                reverse,
                            } = t
                            {
                                if *n == name {
                                    apply_file(
                                        &mut unit.core,
                                        now,
                                        m,
                                        &key,
                                        value,
                                        *weight,
                                        *reverse,
                                    );
                                    touched = true;
                                }
                            }
                        }
                    }
                    if touched {
                        self.drain(u).await;
                    }
                }
            }
        }
    }

    /// Calls `f` for every member tracking `core_name`, then carries out the actions.
    async fn update_all(
        &mut self,
        _now: Instant,
        core_name: &str,
        f: impl Fn(&mut super::unit::Core, usize, &str),
    ) {
        for u in 0..self.units.len() {
            let unit = &mut self.units[u];
            let mut touched = false;
            for (m, member) in unit.members.iter().enumerate() {
                if member
                    .plan
                    .trackers
                    .iter()
                    .any(|t| t.core_name() == core_name)
                {
                    f(&mut unit.core, m, core_name);
                    touched = true;
                }
            }
            if touched {
                self.drain(u).await;
            }
        }
    }

    /// Carries out every pending action of unit `u`, in order.
    async fn drain(&mut self, u: usize) {
        self.drain_with(u, Release::Everything).await;
    }

    async fn drain_with(&mut self, u: usize, release: Release) {
        let mut outs = Vec::new();
        while let Some(o) = self.units[u].core.poll() {
            outs.push(o);
        }
        self.run_outs(u, outs, release).await;
    }

    /// Carries out what unit `u`'s core produced.
    async fn run_outs(&mut self, u: usize, outs: Vec<Out>, release: Release) {
        let mut timing = tracing::enabled!(tracing::Level::DEBUG).then(|| TransitionTiming {
            start: self.fired.map_or_else(Instant::now, |(due, _)| due),
            fired: self.fired.map(|(_, fired)| fired),
            marks: Vec::new(),
        });
        for o in outs {
            match o {
                Out::Member(m, a) => {
                    let label = timing.as_ref().and_then(|_| TransitionTiming::label(&a));
                    let master = matches!(
                        a,
                        Action::StateChanged {
                            to: State::Master,
                            ..
                        }
                    );
                    self.execute(u, m, a, release).await;
                    if let Some(t) = &mut timing {
                        if let Some(label) = label {
                            t.marks.push((label, Instant::now()));
                        }
                        if master {
                            let name = &self.units[u].members[m].plan.core.name;
                            tracing::debug!("({name}) became MASTER: {}", t.summary());
                        }
                    }
                }
                Out::Group(state) => {
                    let unit = &self.units[u];
                    if let Some(g) = &unit.group {
                        let (specific, generic) = notify_scripts(&g.notifies, state);
                        let (specific, generic) = (specific.cloned(), generic.cloned());
                        let name = g.name.clone();
                        self.notifier.notify(
                            Subject::Group(&name),
                            Event::Entered(state),
                            0,
                            specific.as_ref(),
                            generic.as_ref(),
                        );
                    }
                }
            }
        }
        if let Some(unit) = self.units.get(u) {
            self.deadlines.set(u, unit.core.poll_timeout());
        }
    }

    async fn execute(&mut self, u: usize, m: usize, action: Action, release: Release) {
        let member = &self.units[u].members[m];
        let name = member.plan.core.name.clone();
        match action {
            Action::SendAdvert { priority: 0, .. } if release == Release::Nothing => {}
            Action::SendAdvert {
                dst, ttl, bytes, ..
            } => {
                let Some(sock) = member
                    .socket
                    .and_then(|s| self.sockets.get(s))
                    .and_then(Option::as_ref)
                else {
                    return;
                };
                if let Err(e) = sock.send(member.plan.core.source, dst, ttl, &bytes) {
                    tracing::debug!("({name}) cannot send advert to {dst}: {e}");
                }
            }
            Action::AddVips => {
                let plan = member.plan.clone();
                self.units[u].members[m].holds_vips = true;
                self.firewall.set(&name, &plan.firewall);
                self.host.addresses(&name, &plan.vips, true).await;
                self.host.routes(&name, &plan.routes, true).await;
                self.host.rules(&name, &plan.rules, true).await;
            }
            Action::RemoveVips => {
                if release != Release::Everything {
                    return;
                }
                let plan = member.plan.clone();
                self.units[u].members[m].holds_vips = false;
                self.firewall.set(&name, &[]);
                self.host.rules(&name, &plan.rules, false).await;
                self.host.routes(&name, &plan.routes, false).await;
                self.host.addresses(&name, &plan.vips, false).await;
            }
            Action::SendGratuitous { addresses, count } => {
                // Each address is announced out of the interface it lives on.
                let default_if = member
                    .plan
                    .vmac
                    .as_ref()
                    .map_or(member.plan.interface.clone(), |v| v.name.clone());
                let mut by_if: Vec<(String, Vec<IpAddr>)> = Vec::new();
                for a in addresses {
                    let ifname = member
                        .plan
                        .vips
                        .iter()
                        .find(|v| v.spec.addr == a)
                        .map_or(default_if.clone(), |v| v.ifname.clone());
                    match by_if.iter_mut().find(|(i, _)| *i == ifname) {
                        Some((_, list)) => list.push(a),
                        None => by_if.push((ifname, vec![a])),
                    }
                }
                for (ifname, list) in by_if {
                    self.host.gratuitous(&name, &ifname, &list, count).await;
                }
            }
            // The core logs transitions itself (rka_vrrp::debug).
            Action::StateChanged { .. } => {
                let follows = self
                    .config
                    .global
                    .lvs_sync_daemon
                    .as_ref()
                    .is_some_and(|s| s.instance.as_deref() == Some(name.as_str()));
                if follows {
                    self.syncd_refresh();
                }
            }
            Action::Notify { state, priority } => {
                if state == State::Master && member.quiet_master {
                    self.units[u].members[m].quiet_master = false;
                    return;
                }
                let (specific, generic) = notify_scripts(&member.plan.notifies, state);
                let (specific, generic) = (specific.cloned(), generic.cloned());
                self.notifier.notify(
                    Subject::Instance(&name),
                    Event::Entered(state),
                    priority,
                    specific.as_ref(),
                    generic.as_ref(),
                );
            }
            Action::LowerPriorityAdvert { src, priority } => {
                tracing::info!("({name}) received lower priority ({priority}) advert from {src}");
                if let Some(script) = member.plan.notifies.master_rx_lower_pri.clone() {
                    let user = script
                        .user
                        .clone()
                        .map(|u| (u, script.group.clone()))
                        .or_else(|| super::notify::default_script_user(&self.config));
                    super::notify::spawn_script(script.command.argv.clone(), user.as_ref());
                }
            }
            Action::PriorityChanged { from, to } => {
                tracing::info!("({name}) priority changed from {from} to {to}");
                if member.plan.notify_priority_changes {
                    let state = self.units[u].state(m);
                    let member = &self.units[u].members[m];
                    let (specific, generic) = notify_scripts(&member.plan.notifies, state);
                    let (specific, generic) = (specific.cloned(), generic.cloned());
                    self.notifier.notify(
                        Subject::Instance(&name),
                        Event::Priority(state),
                        to,
                        specific.as_ref(),
                        generic.as_ref(),
                    );
                }
            }
        }
    }

    /// Applies a new configuration: instances are matched old to new by VRID, family,
    /// interface and unicast/multicast; a matched MASTER stays MASTER, addresses still wanted
    /// are never removed, the difference is removed or added.
    pub async fn reload(&mut self, config: Config) {
        tracing::info!("Reloading");
        let now = Instant::now();
        let old_units = std::mem::take(&mut self.units);
        let mut old_masters: HashSet<(u8, bool, String, bool)> = HashSet::new();
        let mut old_backups: HashSet<(u8, bool, String, bool)> = HashSet::new();
        let mut old_held: Vec<(String, VipPlan, Vec<RoutePlan>, Vec<RuleSpec>)> = Vec::new();
        let mut old_stats: HashMap<(u8, bool, String, bool), rka_vrrp::Stats> = HashMap::new();
        for unit in &old_units {
            for (m, member) in unit.members.iter().enumerate() {
                if let Some(i) = unit.core.member(m) {
                    old_stats.insert(member.plan.identity(), *i.stats());
                }
                match unit.state(m) {
                    State::Master => {
                        old_masters.insert(member.plan.identity());
                    }
                    State::Backup => {
                        old_backups.insert(member.plan.identity());
                    }
                    _ => {}
                }
                if member.holds_vips {
                    for v in &member.plan.vips {
                        old_held.push((
                            member.plan.core.name.clone(),
                            v.clone(),
                            member.plan.routes.clone(),
                            member.plan.rules.clone(),
                        ));
                    }
                }
            }
        }
        // Undo the old static configuration that is gone.
        let old_statics = std::mem::take(&mut self.statics);
        self.config = config.clone();
        self.auto_priority
            .reconfigure(&self.config.global, crate::logging::Role::Vrrp);
        self.notifier = Notifier::new(&config);
        self.apply_garp_pacing();
        self.install_statics().await;
        let gone_vips: Vec<VipPlan> = old_statics
            .0
            .into_iter()
            .filter(|v| !self.statics.0.contains(v))
            .collect();
        let gone_routes: Vec<RoutePlan> = old_statics
            .1
            .into_iter()
            .filter(|r| !self.statics.1.contains(r))
            .collect();
        let gone_rules: Vec<RuleSpec> = old_statics
            .2
            .into_iter()
            .filter(|r| !self.statics.2.contains(r))
            .collect();
        self.host.addresses("static", &gone_vips, false).await;
        self.host.routes("static", &gone_routes, false).await;
        self.host.rules("static", &gone_rules, false).await;

        let mut units = self.build_units(&config).await;
        let new_ids: HashSet<_> = units
            .iter()
            .flat_map(|u| u.members.iter().map(|m| m.plan.identity()))
            .collect();
        // Instances that are gone stop: priority 0 from a MASTER, STOP notification; their
        // addresses are removed below unless a new instance holds them.
        self.units = old_units;
        for u in 0..self.units.len() {
            let gone = self.units[u]
                .members
                .iter()
                .all(|m| !new_ids.contains(&m.plan.identity()));
            if gone {
                self.units[u].core.shutdown(now);
                self.drain_with(u, Release::KeepAddresses).await;
            }
        }
        let old_vmacs: Vec<_> = self
            .units
            .iter()
            .flat_map(|u| u.members.iter().flat_map(|m| m.plan.vmacs().cloned()))
            .collect();
        // Counters continue across the reload for the instances it keeps.
        for unit in &mut units {
            for m in 0..unit.members.len() {
                if let Some(st) = old_stats.remove(&unit.members[m].plan.identity()) {
                    unit.core.carry_stats(m, st);
                }
            }
        }
        // A unit whose every member was MASTER before stays MASTER: it advertises at once and
        // keeps its addresses (no MASTER notification: nothing changed).
        for unit in &mut units {
            let all_master = unit
                .members
                .iter()
                .all(|m| old_masters.contains(&m.plan.identity()));
            if all_master {
                for m in &mut unit.members {
                    m.quiet_master = true;
                }
                unit.core.mark_resumed(rka_vrrp::State::Master);
                unit.core.resume_as_master(now);
            }
        }
        // A unit whose every member was BACKUP before starts again in BACKUP without a BACKUP
        // notification (keepalived 2.2.7 sends none on reload either).
        let were_backup: Vec<bool> = units
            .iter()
            .map(|unit| {
                unit.members
                    .iter()
                    .all(|m| old_backups.contains(&m.plan.identity()))
            })
            .collect();
        for (unit, backup) in units.iter_mut().zip(&were_backup) {
            if *backup {
                // Its BACKUP state is logged as kept, not entered.
                unit.core.mark_resumed(rka_vrrp::State::Backup);
            }
        }
        self.units = units;
        self.attach_sockets().await;
        self.start_trackers();
        // The units were created after `now`: start them now (with `now` they would start on
        // the next timer wake-up instead, out of this filter's reach).
        let started = Instant::now();
        for u in 0..self.units.len() {
            self.units[u].core.handle_timeout(started);
            let mut outs = Vec::new();
            while let Some(o) = self.units[u].core.poll() {
                outs.push(o);
            }
            if were_backup.get(u).copied().unwrap_or(false) {
                outs.retain(|o| !is_backup_notification(o));
            }
            self.run_outs(u, outs, Release::Everything).await;
        }
        // Remove what the old masters held and nobody holds now.
        let held_now: HashSet<(String, IpAddr)> = self
            .units
            .iter()
            .flat_map(|u| u.members.iter())
            .filter(|m| m.holds_vips)
            .flat_map(|m| m.plan.vips.iter().map(|v| (v.ifname.clone(), v.spec.addr)))
            .collect();
        let routes_now: Vec<RoutePlan> = self
            .units
            .iter()
            .flat_map(|u| u.members.iter())
            .filter(|m| m.holds_vips)
            .flat_map(|m| m.plan.routes.clone())
            .collect();
        let rules_now: Vec<RuleSpec> = self
            .units
            .iter()
            .flat_map(|u| u.members.iter())
            .filter(|m| m.holds_vips)
            .flat_map(|m| m.plan.rules.clone())
            .collect();
        let mut seen_routes = Vec::new();
        for (who, vip, routes, rules) in old_held {
            if !held_now.contains(&(vip.ifname.clone(), vip.spec.addr)) {
                self.host
                    .addresses(&who, std::slice::from_ref(&vip), false)
                    .await;
            }
            if seen_routes.contains(&who) {
                continue;
            }
            seen_routes.push(who.clone());
            let r: Vec<RoutePlan> = routes
                .into_iter()
                .filter(|r| !routes_now.contains(r))
                .collect();
            let rl: Vec<RuleSpec> = rules
                .into_iter()
                .filter(|r| !rules_now.contains(r))
                .collect();
            self.host.routes(&who, &r, false).await;
            self.host.rules(&who, &rl, false).await;
        }
        let vmacs_now: Vec<String> = self
            .units
            .iter()
            .flat_map(|u| u.members.iter().flat_map(|m| m.plan.vmacs()))
            .map(|v| v.name.clone())
            .collect();
        for v in old_vmacs {
            if !vmacs_now.contains(&v.name) {
                self.host.remove_vmac("reload", &v).await;
            }
        }
        self.firewall.sync(&self.config, &self.units);
        self.syncd_refresh();
    }

    /// Tells the `lvs_sync_daemon` thread which sync daemons the configuration and the named
    /// instance's state ask for (none when `lvs_sync_daemon` is absent, names no instance
    /// (the checker child's business then) or names an unknown one).
    fn syncd_refresh(&mut self) {
        let wanted = match &self.config.global.lvs_sync_daemon {
            None => Vec::new(),
            Some(cfg) => match &cfg.instance {
                // Without an instance keepalived's checker child runs both daemons; the
                // VRRP child leaves them alone.
                None => Vec::new(),
                Some(inst) => {
                    let found = self.units.iter().find_map(|u| {
                        u.members
                            .iter()
                            .position(|m| m.plan.core.name == *inst)
                            .map(|m| (u.members[m].plan.core.vrid, u.state(m)))
                    });
                    match found {
                        Some((vrid, state)) => syncd::wanted_for(cfg, Some(vrid), Some(state)),
                        None => {
                            tracing::warn!(
                                "lvs_sync_daemon: VRRP instance {inst} not found - no sync daemon"
                            );
                            Vec::new()
                        }
                    }
                }
            },
        };
        if self.syncd.is_none() {
            if wanted.is_empty() {
                return;
            }
            match SyncdHandle::spawn(Box::new(IpvsSink::default())) {
                Ok(h) => self.syncd = Some(h),
                Err(e) => {
                    tracing::error!("lvs_sync_daemon: cannot start its thread: {e}");
                    return;
                }
            }
        }
        if let Some(h) = &self.syncd {
            h.want(wanted);
        }
    }

    /// Stops every instance. With `release`, a MASTER sends priority 0 and every address,
    /// route and rule installed is removed, static ones included, and the VMAC interfaces;
    /// without (`-V`), like keepalived, nothing is removed and no priority 0 is sent (the
    /// peers take over when their master-down timer expires).
    pub async fn stop(&mut self, release: bool) {
        let now = Instant::now();
        for u in 0..self.units.len() {
            self.units[u].core.shutdown(now);
            self.drain_with(
                u,
                if release {
                    Release::Everything
                } else {
                    Release::Nothing
                },
            )
            .await;
        }
        if release {
            let (vips, routes, rules) = std::mem::take(&mut self.statics);
            self.host.rules("static", &rules, false).await;
            self.host.routes("static", &routes, false).await;
            self.host.addresses("static", &vips, false).await;
            let vmacs: Vec<_> = self
                .units
                .iter()
                .flat_map(|u| u.members.iter().flat_map(|m| m.plan.vmacs().cloned()))
                .collect();
            for v in vmacs {
                self.host.remove_vmac("stop", &v).await;
            }
        }
        if release {
            self.firewall.stop().await;
        }
        for (ifname, original) in std::mem::take(&mut self.promoted) {
            self.host.restore_promote_secondaries(&ifname, &original);
        }
        // keepalived removes the sync daemons whatever -I / -V say.
        if let Some(h) = self.syncd.take() {
            h.finish(true).await;
        }
        for t in self.tracker_tasks.drain(..) {
            t.abort();
        }
        if let Some(t) = self.link_task.take() {
            t.abort();
        }
        self.sockets.clear();
    }
}

/// When the steps of a transition to MASTER were done, for the debug log (`-D`): the timer
/// that decided it, the advert, the addresses (netlink acknowledged) and the gratuitous ARPs.
#[derive(Debug)]
struct TransitionTiming {
    /// When the timer was due (or when the batch started, for a packet or a tracker).
    start: Instant,
    /// When the timer fired.
    fired: Option<Instant>,
    marks: Vec<(&'static str, Instant)>,
}

impl TransitionTiming {
    fn label(a: &Action) -> Option<&'static str> {
        match a {
            Action::SendAdvert { .. } => Some("advert sent"),
            Action::AddVips => Some("addresses installed"),
            Action::SendGratuitous { .. } => Some("gratuitous sent"),
            _ => None,
        }
    }

    fn summary(&self) -> String {
        let mut s = match self.fired {
            Some(f) => format!(
                "timer fired +{}us after its deadline",
                lateness(self.start, f).as_micros()
            ),
            None => "not timer-driven".to_string(),
        };
        for (label, t) in &self.marks {
            s.push_str(&format!(
                ", {label} +{}us",
                t.saturating_duration_since(self.start).as_micros()
            ));
        }
        s
    }
}

/// Applies a `track_file` value to member `m`: weight 0 means up/down, otherwise the value
/// times the weight (negated with `reverse`) is added to the priority.
fn apply_file(
    core: &mut super::unit::Core,
    now: Instant,
    m: usize,
    core_name: &str,
    value: i64,
    weight: i32,
    reverse: bool,
) {
    let r = if weight == 0 {
        core.track_update(now, m, core_name, value == 0)
    } else {
        let offset = value.saturating_mul(i64::from(weight));
        core.track_offset(now, m, core_name, if reverse { -offset } else { offset })
    };
    if let Err(e) = r {
        tracing::debug!("{e}");
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// A BACKUP notification (instance or sync group): the ones a reload leaves out for units
/// that were BACKUP before it.
fn is_backup_notification(out: &Out) -> bool {
    matches!(
        out,
        Out::Member(
            _,
            Action::Notify {
                state: State::Backup,
                ..
            }
        ) | Out::Group(State::Backup)
    )
}

#[cfg(test)]
mod reload_tests {
    use super::*;

    #[test]
    fn only_backup_notifications_are_left_out_after_a_reload() {
        let backup = |state| Action::Notify {
            state,
            priority: 100,
        };
        assert!(is_backup_notification(&Out::Member(
            0,
            backup(State::Backup)
        )));
        assert!(is_backup_notification(&Out::Group(State::Backup)));
        for state in [State::Master, State::Fault, State::Stop] {
            assert!(!is_backup_notification(&Out::Member(0, backup(state))));
            assert!(!is_backup_notification(&Out::Group(state)));
        }
        assert!(!is_backup_notification(&Out::Member(0, Action::AddVips)));
    }
}
