//! What the engine does to the host: virtual and static addresses, routes and rules through
//! `rka-netif`, VMAC interfaces, and gratuitous ARP / unsolicited NA bursts.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

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
    /// Delay between gratuitous ARPs (`vrrp_garp_interval`) and NAs (`vrrp_gna_interval`).
    spacing: (Duration, Duration),
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
        let mut frames = Vec::new();
        for _ in 0..count {
            for a in addresses {
                let (frame, gap) = match a {
                    IpAddr::V4(v4) => (
                        GratuitousArp { mac, address: *v4 }.to_frame(),
                        self.spacing.0,
                    ),
                    IpAddr::V6(v6) => (
                        UnsolicitedNa {
                            mac,
                            address: *v6,
                            router,
                        }
                        .to_frame(),
                        self.spacing.1,
                    ),
                };
                frames.push((*a, frame, gap));
            }
        }
        let send = |sock: &FrameSocket, a: &IpAddr, frame: &[u8]| {
            if let Err(e) = sock.send_frame(frame) {
                tracing::debug!("gratuitous message for {a}: {e}");
            }
        };
        if frames.iter().all(|(_, _, gap)| gap.is_zero()) {
            for (a, frame, _) in &frames {
                send(&sock, a, frame);
            }
            return;
        }
        // Spaced out: a task sends them so the engine never waits.
        tokio::spawn(async move {
            for (i, (a, frame, gap)) in frames.iter().enumerate() {
                if i > 0 && !gap.is_zero() {
                    tokio::time::sleep(*gap).await;
                }
                send(&sock, a, frame);
            }
        });
    }

    /// Sets the delays between gratuitous ARPs and between unsolicited NAs.
    pub fn set_spacing(&mut self, garp: Duration, gna: Duration) {
        self.spacing = (garp, gna);
    }

    /// Forgets cached packet sockets and interface indexes (an interface went away).
    pub fn forget_frames(&mut self) {
        self.frames.clear();
        self.indexes.borrow_mut().clear();
    }
}
