//! A simulated network of VRRP routers on a virtual clock (in the spirit of quinn-proto's
//! `Pair`): every advert a router sends is delivered at once to the others, unless lost
//! (seeded) or cut by a partition. `step()` jumps to the next wake-up.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use rka_vrrp::{Action, GroupAction, Instance, InstanceConfig, State, SyncGroup};

/// A node: one instance or a sync group.
pub enum Node {
    /// A lone instance.
    Single(Box<Instance>),
    /// A sync group (adverts are routed to the member with the advert's VRID).
    Group(Box<SyncGroup>),
}

/// Something a router did, with the virtual time it happened at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Time since the start of the simulation.
    pub at: Duration,
    /// Router index.
    pub router: usize,
    /// VRID of the instance.
    pub vrid: u8,
    /// The action.
    pub action: Action,
}

pub struct Router {
    pub node: Node,
    pub up: bool,
    /// Partition id: adverts cross only between routers with the same id.
    pub segment: u32,
}

pub struct Net {
    pub start: Instant,
    pub now: Instant,
    pub routers: Vec<Router>,
    pub events: Vec<Event>,
    /// Loss probability in percent.
    pub loss_percent: u64,
    rng: u64,
    /// (time, from, to, vrid) of each delivered advert.
    pub deliveries: Vec<(Duration, usize, usize, u8)>,
}

pub fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

/// A v2 instance config at 192.0.2.`last` with VIP 192.0.2.100 + vrid.
pub fn cfg(vrid: u8, last: u8, priority: u8) -> InstanceConfig {
    let mut c = InstanceConfig::new(
        &format!("VI_{vrid}_{last}"),
        vrid,
        v4(last),
        vec![v4(100 + vrid)],
    );
    c.priority = priority;
    c
}

impl Net {
    pub fn new() -> Net {
        let start = Instant::now();
        Net {
            start,
            now: start,
            routers: Vec::new(),
            events: Vec::new(),
            loss_percent: 0,
            rng: 0x2545_f491_4f6c_dd1d,
            deliveries: Vec::new(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Adds a router running one instance, started now.
    pub fn add(&mut self, c: InstanceConfig) -> usize {
        let inst = Instance::new(c, self.now).expect("valid config");
        self.routers.push(Router {
            node: Node::Single(Box::new(inst)),
            up: true,
            segment: 0,
        });
        self.routers.len() - 1
    }

    /// Adds a router running a sync group, started now.
    pub fn add_group(&mut self, name: &str, cs: Vec<InstanceConfig>) -> usize {
        let members = cs
            .into_iter()
            .map(|c| Instance::new(c, self.now).expect("valid config"))
            .collect();
        let g = SyncGroup::new(name, members).expect("valid group");
        self.routers.push(Router {
            node: Node::Group(Box::new(g)),
            up: true,
            segment: 0,
        });
        self.routers.len() - 1
    }

    pub fn instance(&self, r: usize) -> &Instance {
        match &self.routers[r].node {
            Node::Single(i) => i,
            Node::Group(g) => &g.members()[0],
        }
    }

    pub fn member(&self, r: usize, vrid: u8) -> &Instance {
        match &self.routers[r].node {
            Node::Single(i) => i,
            Node::Group(g) => g
                .members()
                .iter()
                .find(|m| m.config().vrid == vrid)
                .expect("member"),
        }
    }

    pub fn group(&self, r: usize) -> &SyncGroup {
        match &self.routers[r].node {
            Node::Group(g) => g,
            Node::Single(_) => panic!("router {r} is not a group"),
        }
    }

    pub fn state(&self, r: usize) -> State {
        self.instance(r).state()
    }

    /// Routers whose (first) instance is MASTER.
    pub fn masters(&self) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|r| self.routers[*r].up && self.state(*r) == State::Master)
            .collect()
    }

    fn random_percent(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) % 100
    }

    pub fn seed(&mut self, seed: u64) {
        self.rng = seed | 1;
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.routers
            .iter()
            .filter(|r| r.up)
            .filter_map(|r| match &r.node {
                Node::Single(i) => i.poll_timeout(),
                Node::Group(g) => g.poll_timeout(),
            })
            .min()
    }

    /// Advances to the next wake-up and processes it; false if nothing is scheduled.
    pub fn step(&mut self) -> bool {
        let Some(t) = self.poll_timeout() else {
            return false;
        };
        self.now = self.now.max(t);
        let now = self.now;
        for r in &mut self.routers {
            if !r.up {
                continue;
            }
            match &mut r.node {
                Node::Single(i) => {
                    if i.poll_timeout().is_some_and(|t| t <= now) {
                        i.handle_timeout(now)
                    }
                }
                Node::Group(g) => g.handle_timeout(now),
            }
        }
        self.flush();
        true
    }

    /// Steps until `elapsed() >= until` (processing everything due up to then).
    pub fn run_until(&mut self, until: Duration) {
        let deadline = self.start + until;
        while self.poll_timeout().is_some_and(|t| t <= deadline) {
            self.step();
        }
        self.now = self.now.max(deadline);
    }

    pub fn run_for(&mut self, d: Duration) {
        let target = self.elapsed() + d;
        self.run_until(target);
    }

    /// Drains every router's actions, delivering adverts, until the network is quiet.
    pub fn flush(&mut self) {
        loop {
            let mut outgoing = Vec::new();
            for (index, r) in self.routers.iter_mut().enumerate() {
                if !r.up {
                    continue;
                }
                let mut acts = Vec::new();
                match &mut r.node {
                    Node::Single(i) => {
                        while let Some(a) = i.poll_action() {
                            acts.push((i.config().vrid, a));
                        }
                    }
                    Node::Group(g) => {
                        while let Some(a) = g.poll_action() {
                            if let GroupAction::Member { index: m, action } = a {
                                acts.push((g.members()[m].config().vrid, action));
                            }
                        }
                    }
                }
                for (vrid, action) in acts {
                    if let Action::SendAdvert { bytes, dst, .. } = &action {
                        outgoing.push((index, vrid, *dst, bytes.clone()));
                    }
                    self.events.push(Event {
                        at: self.now - self.start,
                        router: index,
                        vrid,
                        action,
                    });
                }
            }
            if outgoing.is_empty() {
                return;
            }
            for (from, vrid, dst, bytes) in outgoing {
                let src = self.src_of(from, vrid);
                for to in 0..self.routers.len() {
                    if to == from
                        || !self.routers[to].up
                        || self.routers[to].segment != self.routers[from].segment
                    {
                        continue;
                    }
                    if dst.is_ipv4() && !dst.is_multicast() && !self.has_address(to, dst) {
                        continue;
                    }
                    if self.loss_percent > 0 && self.random_percent() < self.loss_percent {
                        continue;
                    }
                    self.deliver(to, vrid, src, &bytes);
                }
            }
        }
    }

    fn src_of(&self, r: usize, vrid: u8) -> IpAddr {
        self.member(r, vrid).config().source
    }

    fn has_address(&self, r: usize, addr: IpAddr) -> bool {
        match &self.routers[r].node {
            Node::Single(i) => i.config().source == addr,
            Node::Group(g) => g.members().iter().any(|m| m.config().source == addr),
        }
    }

    fn deliver(&mut self, to: usize, vrid: u8, src: IpAddr, bytes: &[u8]) {
        let now = self.now;
        let at = now - self.start;
        let router = &mut self.routers[to];
        match &mut router.node {
            Node::Single(i) => {
                if i.config().vrid != vrid {
                    return;
                }
                i.handle_packet(now, src, 255, bytes);
            }
            Node::Group(g) => {
                let Some(index) = g.members().iter().position(|m| m.config().vrid == vrid) else {
                    return;
                };
                g.handle_packet(now, index, src, 255, bytes);
            }
        }
        let from = self.routers.iter().position(|r| match &r.node {
            Node::Single(i) => i.config().source == src,
            Node::Group(g) => g.members().iter().any(|m| m.config().source == src),
        });
        self.deliveries
            .push((at, from.unwrap_or(usize::MAX), to, vrid));
    }

    /// Crashes router `r`: it stops sending and receiving without a goodbye.
    pub fn crash(&mut self, r: usize) {
        self.routers[r].up = false;
    }

    /// Clean shutdown of router `r` (priority 0 if master).
    pub fn shutdown(&mut self, r: usize) {
        let now = self.now;
        match &mut self.routers[r].node {
            Node::Single(i) => i.shutdown(now),
            Node::Group(g) => g.shutdown(now),
        }
        self.flush();
        self.routers[r].up = false;
    }

    pub fn track(&mut self, r: usize, vrid: u8, name: &str, up: bool) {
        let now = self.now;
        match &mut self.routers[r].node {
            Node::Single(i) => i.track_update(now, name, up).expect("tracker"),
            Node::Group(g) => {
                let index = g
                    .members()
                    .iter()
                    .position(|m| m.config().vrid == vrid)
                    .expect("member");
                g.track_update(now, index, name, up).expect("tracker");
            }
        }
        self.flush();
    }

    /// Times at which router `r` (instance `vrid`) entered `state`.
    pub fn entered(&self, r: usize, vrid: u8, state: State) -> Vec<Duration> {
        self.events
            .iter()
            .filter(|e| e.router == r && e.vrid == vrid)
            .filter_map(|e| match e.action {
                Action::StateChanged { to, .. } if to == state => Some(e.at),
                _ => None,
            })
            .collect()
    }

    /// Number of state changes of any router after `since`.
    pub fn transitions_since(&self, since: Duration) -> usize {
        self.events
            .iter()
            .filter(|e| e.at > since && matches!(e.action, Action::StateChanged { .. }))
            .count()
    }

    /// Last time an advert from router `from` was delivered to router `to`.
    pub fn last_delivery(&self, from: usize, to: usize) -> Option<Duration> {
        self.deliveries
            .iter()
            .rev()
            .find(|d| d.1 == from && d.2 == to)
            .map(|d| d.0)
    }
}

/// Master_Down_Interval for a v2 instance with a 1 s interval: 3 s + (256 - prio)/256 s.
pub fn v2_down(prio: u32) -> Duration {
    Duration::from_secs(3) + Duration::from_secs(1) * (256 - prio) / 256
}
