//! What the engine does to the host: virtual and static addresses, routes and rules through
//! `rka-netif`, VMAC interfaces, and gratuitous ARP / unsolicited NA bursts.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rka_netif::{Error as NetifError, Netif};
use rka_sys::net::FrameSocket;
use rka_vrrp::wire::arp::GratuitousArp;
use rka_vrrp::wire::ndp::UnsolicitedNa;

use super::mapping::{RoutePlan, VipPlan, VmacPlan};
use rka_netif::RuleSpec;

/// The host side of the engine.
#[derive(Debug)]
pub struct HostOps {
    netif: Netif,
    frames: HashMap<u32, Arc<FrameSocket>>,
    /// Interface indexes already looked up: becoming MASTER must not wait for a netlink round
    /// trip per address before the one that installs it. Forgotten when an interface goes
    /// away ([`HostOps::forget_frames`]) or an operation reports that the device is gone.
    indexes: RefCell<HashMap<String, u32>>,
    /// Delays between gratuitous ARPs and between NAs on an interface outside any
    /// `garp_group` (`vrrp_garp_interval`, `vrrp_gna_interval`).
    spacing: (Duration, Duration),
    /// The pace of each `garp_group` and of each interface outside one (made when first used).
    paces: Vec<Pace>,
    /// Which pace an interface follows.
    pace_of: HashMap<String, usize>,
}

/// The pace of gratuitous messages shared by the interfaces of one `garp_group` (or one
/// interface outside any group): at least `arp_gap` between two ARPs and `na_gap` between two
/// NAs, whatever instance sends them.
#[derive(Debug, Clone, Default, PartialEq)]
struct Pace {
    arp_gap: Duration,
    na_gap: Duration,
    next_arp: Option<Instant>,
    next_na: Option<Instant>,
}

impl Pace {
    /// Reserves the time at which the next ARP (or NA, `ipv6`) may leave, at `now` or later.
    fn reserve(&mut self, now: Instant, ipv6: bool) -> Instant {
        let (gap, next) = if ipv6 {
            (self.na_gap, &mut self.next_na)
        } else {
            (self.arp_gap, &mut self.next_arp)
        };
        if gap.is_zero() {
            return now;
        }
        let at = next.map_or(now, |n| n.max(now));
        *next = Some(at + gap);
        at
    }
}

/// A `garp_group`: its interfaces and intervals (unset means none, as keepalived 2.2.7: the
/// global intervals apply only to interfaces outside every group).
#[derive(Debug, Clone, PartialEq)]
pub struct GarpPacing {
    /// The interfaces sharing the pace.
    pub interfaces: Vec<String>,
    /// `garp_interval`.
    pub garp_interval: Option<Duration>,
    /// `gna_interval`.
    pub gna_interval: Option<Duration>,
}

/// Whether a netlink answer means success for an add (exists) or a delete (not found).
fn benign(e: &NetifError, adding: bool) -> bool {
    if adding {
        matches!(e, NetifError::Exists)
    } else {
        matches!(e, NetifError::NotFound | NetifError::NoDevice)
    }
}

impl HostOps {
    /// Wraps a netlink connection.
    pub fn new(netif: Netif) -> HostOps {
        HostOps {
            netif,
            frames: HashMap::new(),
            indexes: RefCell::new(HashMap::new()),
            spacing: (Duration::ZERO, Duration::ZERO),
            paces: Vec::new(),
            pace_of: HashMap::new(),
        }
    }

    /// The netlink connection.
    pub fn netif(&self) -> &Netif {
        &self.netif
    }

    /// The index of interface `name` (cached).
    pub async fn ifindex(&self, name: &str) -> Option<u32> {
        if let Some(i) = self.indexes.borrow().get(name) {
            return Some(*i);
        }
        match self.netif.link_by_name(name).await {
            Ok(Some(l)) => {
                self.indexes.borrow_mut().insert(name.to_string(), l.index);
                Some(l.index)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!("cannot look up interface {name}: {e}");
                None
            }
        }
    }

    /// Adds (or removes) addresses; existing on add / missing on delete count as done.
    pub async fn addresses(&self, who: &str, vips: &[VipPlan], add: bool) {
        for v in vips {
            let Some(ifindex) = self.ifindex(&v.ifname).await else {
                tracing::warn!("({who}) interface {} missing for {}", v.ifname, v.spec.addr);
                continue;
            };
            let mut spec = v.spec.clone();
            spec.ifindex = ifindex;
            let mut r = if add {
                self.netif.add_address(&spec).await
            } else {
                self.netif.del_address(&spec).await
            };
            if matches!(r, Err(NetifError::NoDevice)) {
                // The cached index is stale (the interface was recreated): look it up again.
                self.indexes.borrow_mut().remove(&v.ifname);
                if let Some(fresh) = self.ifindex(&v.ifname).await.filter(|i| *i != ifindex) {
                    spec.ifindex = fresh;
                    r = if add {
                        self.netif.add_address(&spec).await
                    } else {
                        self.netif.del_address(&spec).await
                    };
                }
            }
            match r {
                Ok(()) => tracing::debug!(
                    "({who}) {} {}/{} on {}",
                    if add { "added" } else { "removed" },
                    spec.addr,
                    spec.prefix_len,
                    v.ifname
                ),
                Err(e) if benign(&e, add) => {}
                Err(e) => tracing::error!(
                    "({who}) cannot {} {}/{} on {}: {e}",
                    if add { "add" } else { "remove" },
                    spec.addr,
                    spec.prefix_len,
                    v.ifname
                ),
            }
        }
    }

    /// Adds (or removes) routes.
    pub async fn routes(&self, who: &str, routes: &[RoutePlan], add: bool) {
        for r in routes {
            let mut spec = r.spec.clone();
            if let Some(dev) = &r.dev {
                match self.ifindex(dev).await {
                    Some(i) => spec.ifindex = Some(i),
                    None => {
                        tracing::warn!("({who}) interface {dev} missing for route {}", spec.dst);
                        continue;
                    }
                }
            }
            let res = if add {
                self.netif.add_route(&spec).await
            } else {
                self.netif.del_route(&spec).await
            };
            match res {
                Ok(()) => {}
                Err(e) if benign(&e, add) => {}
                Err(e) => tracing::error!(
                    "({who}) cannot {} route {}/{}: {e}",
                    if add { "add" } else { "remove" },
                    spec.dst,
                    spec.dst_len
                ),
            }
        }
    }

    /// Adds (or removes) rules.
    pub async fn rules(&self, who: &str, rules: &[RuleSpec], add: bool) {
        for r in rules {
            let res = if add {
                self.netif.add_rule(r).await
            } else {
                self.netif.del_rule(r).await
            };
            match res {
                Ok(()) => {}
                Err(e) if benign(&e, add) => {}
                Err(e) => tracing::error!(
                    "({who}) cannot {} rule: {e}",
                    if add { "add" } else { "remove" }
                ),
            }
        }
    }

    /// Creates (or reuses) a VMAC interface and brings it up; returns its index. For IPv6
    /// (`link_local` given: the base interface's link-local address), the VMAC gets no
    /// generated link-local address but the base's one, as keepalived does, so adverts leave
    /// it with the same source address.
    pub async fn create_vmac(
        &self,
        who: &str,
        v: &VmacPlan,
        link_local: Option<IpAddr>,
    ) -> Option<u32> {
        self.indexes.borrow_mut().remove(&v.name);
        let base = self.ifindex(&v.base).await?;
        let index = match self.netif.link_by_name(&v.name).await {
            Ok(Some(l)) => l.index,
            _ => match self.netif.add_macvlan(&v.name, base, v.mac).await {
                Ok(i) => i,
                Err(e) => {
                    tracing::error!("({who}) cannot create VMAC {}: {e}", v.name);
                    return None;
                }
            },
        };
        if link_local.is_some() {
            let path = format!("/proc/sys/net/ipv6/conf/{}/addr_gen_mode", v.name);
            if let Err(e) = std::fs::write(&path, "1") {
                tracing::debug!("({who}) {path}: {e}");
            }
        }
        if let Err(e) = self.netif.set_link_up(index, true).await {
            tracing::error!("({who}) cannot bring VMAC {} up: {e}", v.name);
        }
        if let Some(ll) = link_local {
            let mut spec = rka_netif::AddressSpec::new(index, ll, 64);
            spec.nodad = true;
            spec.scope = rka_netif::Scope::Link;
            match self.netif.add_address(&spec).await {
                Ok(()) | Err(NetifError::Exists) => {}
                Err(e) => tracing::error!("({who}) cannot add {ll} to VMAC {}: {e}", v.name),
            }
        }
        // keepalived lets the VMAC answer ARP for its addresses only.
        for (k, val) in [("arp_ignore", "1"), ("arp_filter", "1")] {
            let path = format!("/proc/sys/net/ipv4/conf/{}/{k}", v.name);
            if let Err(e) = std::fs::write(&path, val) {
                tracing::debug!("({who}) {path}: {e}");
            }
        }
        Some(index)
    }

    /// Sets `net.ipv4.conf.IFNAME.promote_secondaries` to 1 (an instance's
    /// `promote_secondaries`) and returns the value it had, to be put back by
    /// [`restore_promote_secondaries`](Self::restore_promote_secondaries) at exit; `None` if the
    /// setting cannot be read (no such interface: nothing to restore).
    pub fn promote_secondaries(&self, who: &str, ifname: &str) -> Option<String> {
        let path = format!("/proc/sys/net/ipv4/conf/{ifname}/promote_secondaries");
        let original = match std::fs::read_to_string(&path) {
            Ok(v) => v.trim().to_string(),
            Err(e) => {
                tracing::warn!("({who}) cannot read {path}: {e}");
                return None;
            }
        };
        if original != "1" {
            if let Err(e) = std::fs::write(&path, "1") {
                tracing::warn!("({who}) cannot set {path}: {e}");
            }
        }
        Some(original)
    }

    /// Puts back the `promote_secondaries` setting of `ifname` that
    /// [`promote_secondaries`](Self::promote_secondaries) changed.
    pub fn restore_promote_secondaries(&self, ifname: &str, original: &str) {
        let path = format!("/proc/sys/net/ipv4/conf/{ifname}/promote_secondaries");
        if original != "1" {
            if let Err(e) = std::fs::write(&path, original) {
                tracing::debug!("{path}: {e}");
            }
        }
    }

    /// Removes a VMAC interface.
    pub async fn remove_vmac(&self, who: &str, v: &VmacPlan) {
        self.indexes.borrow_mut().remove(&v.name);
        let index = self.ifindex(&v.name).await;
        self.indexes.borrow_mut().remove(&v.name);
        if let Some(i) = index {
            if let Err(e) = self.netif.del_link(i).await {
                if !benign(&e, false) {
                    tracing::error!("({who}) cannot remove VMAC {}: {e}", v.name);
                }
            }
        }
    }

    /// Sends `count` gratuitous ARPs / unsolicited NAs for each address, out of `ifname`.
    pub async fn gratuitous(&mut self, who: &str, ifname: &str, addresses: &[IpAddr], count: u32) {
        let Some(ifindex) = self.ifindex(ifname).await else {
            return;
        };
        let mac = match rka_sys::net::interface_mac(ifname) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("({who}) no MAC address on {ifname}: {e}");
                return;
            }
        };
        let router =
            std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{ifname}/forwarding"))
                .is_ok_and(|s| s.trim() == "1");
        let sock = match self.frames.entry(ifindex) {
            std::collections::hash_map::Entry::Occupied(o) => o.get().clone(),
            std::collections::hash_map::Entry::Vacant(v) => match FrameSocket::new(ifindex) {
                Ok(s) => v.insert(Arc::new(s)).clone(),
                Err(e) => {
                    tracing::error!("({who}) cannot open a packet socket on {ifname}: {e}");
                    return;
                }
            },
        };
        let now = Instant::now();
        let pace = self.pace_index(ifname);
        let mut frames = Vec::new();
        for _ in 0..count {
            for a in addresses {
                let frame = match a {
                    IpAddr::V4(v4) => GratuitousArp { mac, address: *v4 }.to_frame(),
                    IpAddr::V6(v6) => UnsolicitedNa {
                        mac,
                        address: *v6,
                        router,
                    }
                    .to_frame(),
                };
                let at = self.paces[pace].reserve(now, a.is_ipv6());
                frames.push((*a, frame, at));
            }
        }
        let send = |sock: &FrameSocket, a: &IpAddr, frame: &[u8]| {
            if let Err(e) = sock.send_frame(frame) {
                tracing::debug!("gratuitous message for {a}: {e}");
            }
        };
        // What may leave now goes at once; the rest, paced, from a task so the engine never
        // waits (the reservations above already keep later bursts behind this one).
        let (now_frames, later): (Vec<_>, Vec<_>) =
            frames.into_iter().partition(|(_, _, at)| *at <= now);
        for (a, frame, _) in &now_frames {
            send(&sock, a, frame);
        }
        if later.is_empty() {
            return;
        }
        let mut later = later;
        later.sort_by_key(|(_, _, at)| *at);
        tokio::spawn(async move {
            for (a, frame, at) in later {
                tokio::time::sleep_until(at.into()).await;
                send(&sock, &a, &frame);
            }
        });
    }

    /// The pace `ifname` follows: its `garp_group`'s, else its own at the global intervals.
    fn pace_index(&mut self, ifname: &str) -> usize {
        if let Some(i) = self.pace_of.get(ifname) {
            return *i;
        }
        self.paces.push(Pace {
            arp_gap: self.spacing.0,
            na_gap: self.spacing.1,
            ..Pace::default()
        });
        let i = self.paces.len() - 1;
        self.pace_of.insert(ifname.to_owned(), i);
        i
    }

    /// Sets the delays between gratuitous ARPs and between unsolicited NAs: `garp` and `gna`
    /// on each interface outside `groups` (`vrrp_garp_interval`, `vrrp_gna_interval`); the
    /// interfaces of a group share its pace. Pending reservations are forgotten.
    pub fn set_spacing(&mut self, garp: Duration, gna: Duration, groups: &[GarpPacing]) {
        self.spacing = (garp, gna);
        self.paces.clear();
        self.pace_of.clear();
        for g in groups {
            self.paces.push(Pace {
                arp_gap: g.garp_interval.unwrap_or(Duration::ZERO),
                na_gap: g.gna_interval.unwrap_or(Duration::ZERO),
                ..Pace::default()
            });
            let i = self.paces.len() - 1;
            for ifname in &g.interfaces {
                self.pace_of.entry(ifname.clone()).or_insert(i);
            }
        }
    }

    /// Forgets cached packet sockets and interface indexes (an interface went away).
    pub fn forget_frames(&mut self) {
        self.frames.clear();
        self.indexes.borrow_mut().clear();
    }
}

#[cfg(test)]
mod pace_tests {
    use super::*;

    #[test]
    fn a_pace_spaces_each_kind_and_lets_unpaced_kinds_through() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut p = Pace {
            arp_gap: ms(300),
            ..Pace::default()
        };
        assert_eq!(p.reserve(t0, false), t0);
        assert_eq!(p.reserve(t0, false), t0 + ms(300));
        // A later burst queues behind the first one...
        assert_eq!(p.reserve(t0 + ms(100), false), t0 + ms(600));
        // ...and once the pace has caught up, goes at once.
        assert_eq!(p.reserve(t0 + ms(5000), false), t0 + ms(5000));
        // No NA interval: NAs are not held back.
        assert_eq!(p.reserve(t0, true), t0);
        assert_eq!(p.reserve(t0, true), t0);
    }
}
