//! From the table in the kernel to the desired one with the fewest operations.
//!
//! The reconciler only removes what it owns (entries it programmed before), so services
//! and real servers added by another tool (`ipvsadm`, a second daemon) survive.

use std::collections::{BTreeMap, BTreeSet};

use crate::request::Request;
use crate::types::{DestKey, Destination, Service, ServiceKey};

/// A virtual service with its real servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualService {
    /// The service configuration (no counters).
    pub service: Service,
    /// Its real servers by address and port (no counters).
    pub dests: BTreeMap<DestKey, Destination>,
}

/// An IPVS table: configuration only, counters stripped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Services by key.
    pub services: BTreeMap<ServiceKey, VirtualService>,
}

/// Drops the runtime fields of a service.
fn service_config(s: &Service) -> Service {
    Service {
        stats: None,
        ..s.clone()
    }
}

/// Drops the runtime fields of a destination.
fn dest_config(d: &Destination) -> Destination {
    Destination {
        active_conns: 0,
        inactive_conns: 0,
        persist_conns: 0,
        stats: None,
        ..d.clone()
    }
}

fn service_config_eq(a: &Service, b: &Service) -> bool {
    a.key == b.key
        && a.scheduler == b.scheduler
        && a.flags == b.flags
        && a.timeout == b.timeout
        && a.prefix_len == b.prefix_len
        && a.pe_name == b.pe_name
}

/// Why the model kernel refused an operation (mirrors the kernel's errnos).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelError {
    /// EEXIST.
    Exists,
    /// ESRCH: no such service.
    NoService,
    /// ENOENT: no such real server.
    NoDest,
}

impl Table {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a service (keeping its real servers).
    pub fn insert_service(&mut self, s: &Service) {
        let entry = self
            .services
            .entry(s.key)
            .or_insert_with(|| VirtualService {
                service: service_config(s),
                dests: BTreeMap::new(),
            });
        entry.service = service_config(s);
    }

    /// Adds or replaces a real server; false when the service is not in the table.
    pub fn insert_dest(&mut self, key: &ServiceKey, d: &Destination) -> bool {
        match self.services.get_mut(key) {
            Some(vs) => {
                vs.dests.insert(d.key, dest_config(d));
                true
            }
            None => false,
        }
    }

    /// Applies a request as the kernel would, refusing what the kernel refuses.
    pub fn apply(&mut self, req: &Request) -> Result<(), ModelError> {
        match req {
            Request::AddService(s) => {
                if self.services.contains_key(&s.key) {
                    return Err(ModelError::Exists);
                }
                self.insert_service(s);
            }
            Request::EditService(s) => {
                let vs = self.services.get_mut(&s.key).ok_or(ModelError::NoService)?;
                vs.service = service_config(s);
            }
            Request::DelService(k) => {
                self.services.remove(k).ok_or(ModelError::NoService)?;
            }
            Request::AddDest(k, d) => {
                let vs = self.services.get_mut(k).ok_or(ModelError::NoService)?;
                if vs.dests.contains_key(&d.key) {
                    return Err(ModelError::Exists);
                }
                vs.dests.insert(d.key, dest_config(d));
            }
            Request::EditDest(k, d) => {
                let vs = self.services.get_mut(k).ok_or(ModelError::NoService)?;
                let slot = vs.dests.get_mut(&d.key).ok_or(ModelError::NoDest)?;
                *slot = dest_config(d);
            }
            Request::DelDest(k, d) => {
                let vs = self.services.get_mut(k).ok_or(ModelError::NoService)?;
                vs.dests.remove(d).ok_or(ModelError::NoDest)?;
            }
            Request::Flush => self.services.clear(),
            Request::AddDaemon(_)
            | Request::DelDaemon(_)
            | Request::SetTimeouts(_)
            | Request::Zero(_) => {}
        }
        Ok(())
    }
}

/// The entries a reconciler programmed earlier and may therefore remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owned {
    /// Services we created.
    pub services: BTreeSet<ServiceKey>,
    /// Real servers we added, with their service.
    pub dests: BTreeSet<(ServiceKey, DestKey)>,
}

impl Owned {
    /// Everything in `table` (what we own after programming it).
    pub fn from_table(table: &Table) -> Self {
        let mut o = Owned::default();
        for (k, vs) in &table.services {
            o.services.insert(*k);
            for d in vs.dests.keys() {
                o.dests.insert((*k, *d));
            }
        }
        o
    }
}

/// The operations that take `current` to `desired`, removing only `owned` entries.
///
/// Order: deletions first (services, then real servers), then for each wanted service
/// its add or edit followed by its real servers' adds and edits.
pub fn diff(desired: &Table, current: &Table, owned: &Owned) -> Vec<Request> {
    let mut deletes = Vec::new();
    let mut rest = Vec::new();
    for (key, cur) in &current.services {
        let want = desired.services.get(key);
        if want.is_none() && owned.services.contains(key) {
            deletes.push(Request::DelService(*key));
            continue;
        }
        for dkey in cur.dests.keys() {
            let wanted = want.is_some_and(|w| w.dests.contains_key(dkey));
            if !wanted && owned.dests.contains(&(*key, *dkey)) {
                deletes.push(Request::DelDest(*key, *dkey));
            }
        }
    }
    for (key, want) in &desired.services {
        let cur = current.services.get(key);
        match cur {
            None => rest.push(Request::AddService(want.service.clone())),
            Some(c) if !service_config_eq(&c.service, &want.service) => {
                rest.push(Request::EditService(want.service.clone()))
            }
            Some(_) => {}
        }
        for (dkey, d) in &want.dests {
            match cur.and_then(|c| c.dests.get(dkey)) {
                None => rest.push(Request::AddDest(*key, d.clone())),
                Some(cd) if !cd.config_eq(d) => rest.push(Request::EditDest(*key, d.clone())),
                Some(_) => {}
            }
        }
    }
    deletes.extend(rest);
    deletes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Family, ForwardMethod, Protocol};
    use proptest::prelude::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn svc_key(i: u8) -> ServiceKey {
        if i % 4 == 3 {
            ServiceKey::Fwmark {
                family: Family::Inet,
                mark: u32::from(i),
            }
        } else {
            ServiceKey::Addr {
                addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)),
                protocol: if i & 1 == 0 {
                    Protocol::Tcp
                } else {
                    Protocol::Udp
                },
                port: 80,
            }
        }
    }

    fn arb_service() -> impl Strategy<Value = Service> {
        (
            0u8..6,
            prop::sample::select(vec!["rr", "wrr", "sh"]),
            0u32..2,
            prop::sample::select(vec![0u32, 300]),
        )
            .prop_map(|(i, sched, flags, timeout)| {
                let mut s = Service::new(svc_key(i), sched);
                s.flags = flags;
                s.timeout = timeout;
                s
            })
    }

    fn arb_dest() -> impl Strategy<Value = Destination> {
        (
            0u8..5,
            prop::sample::select(vec![ForwardMethod::Masq, ForwardMethod::DirectRoute]),
            0u32..3,
        )
            .prop_map(|(i, m, w)| {
                Destination::new(IpAddr::V4(Ipv4Addr::new(192, 168, 0, i)), 80, m, w)
            })
    }

    fn arb_table() -> impl Strategy<Value = Table> {
        prop::collection::vec(
            (arb_service(), prop::collection::vec(arb_dest(), 0..4)),
            0..5,
        )
        .prop_map(|entries| {
            let mut t = Table::new();
            for (s, ds) in entries {
                t.insert_service(&s);
                for d in ds {
                    t.insert_dest(&s.key, &d);
                }
            }
            t
        })
    }

    fn apply_all(t: &mut Table, ops: &[Request]) {
        for op in ops {
            assert_eq!(t.apply(op), Ok(()), "model kernel refused {op:?}");
        }
    }

    proptest! {
        #[test]
        fn owning_everything_reaches_desired(current in arb_table(), desired in arb_table()) {
            let owned = Owned::from_table(&current);
            let ops = diff(&desired, &current, &owned);
            let mut kernel = current.clone();
            apply_all(&mut kernel, &ops);
            prop_assert_eq!(&kernel, &desired);
            prop_assert!(diff(&desired, &kernel, &Owned::from_table(&desired)).is_empty());
        }

        #[test]
        fn foreign_entries_survive(foreign in arb_table(), previous in arb_table(), desired in arb_table()) {
            // The kernel holds another tool's entries plus what we programmed last time.
            let mut current = foreign.clone();
            for (k, vs) in &previous.services {
                if !current.services.contains_key(k) {
                    current.insert_service(&vs.service);
                }
                for d in vs.dests.values() {
                    current.insert_dest(k, d);
                }
            }
            // We own only what we added that the other tool did not already have.
            let mut owned = Owned::default();
            for (k, vs) in &previous.services {
                if !foreign.services.contains_key(k) {
                    owned.services.insert(*k);
                }
                for dk in vs.dests.keys() {
                    if !foreign.services.get(k).is_some_and(|f| f.dests.contains_key(dk)) {
                        owned.dests.insert((*k, *dk));
                    }
                }
            }
            let ops = diff(&desired, &current, &owned);
            let mut kernel = current.clone();
            apply_all(&mut kernel, &ops);
            // Every desired entry is there with the desired configuration.
            for (k, vs) in &desired.services {
                let got = kernel.services.get(k);
                prop_assert!(got.is_some(), "desired service {k} missing");
                if let Some(got) = got {
                    prop_assert_eq!(&got.service, &vs.service);
                    for (dk, d) in &vs.dests {
                        prop_assert_eq!(got.dests.get(dk), Some(d));
                    }
                }
            }
            // Foreign entries not in the desired table are untouched.
            for (k, vs) in &foreign.services {
                if desired.services.contains_key(k) {
                    continue;
                }
                prop_assert!(kernel.services.contains_key(k), "foreign service {k} removed");
                for dk in vs.dests.keys() {
                    prop_assert!(kernel.services.get(k).is_some_and(|g| g.dests.contains_key(dk)));
                }
            }
            // Owned entries not desired are gone.
            for k in &owned.services {
                prop_assert_eq!(kernel.services.contains_key(k), desired.services.contains_key(k));
            }
            // A second pass has nothing left to do.
            prop_assert!(diff(&desired, &kernel, &owned).is_empty());
        }
    }

    #[test]
    fn minimal_ops_for_a_weight_change() {
        let mut cur = Table::new();
        let s = Service::new(svc_key(1), "wrr");
        cur.insert_service(&s);
        let d = Destination::new(
            IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)),
            80,
            ForwardMethod::Masq,
            1,
        );
        cur.insert_dest(&s.key, &d);
        let mut want = cur.clone();
        let d2 = Destination {
            weight: 5,
            ..d.clone()
        };
        want.insert_dest(&s.key, &d2);
        let ops = diff(&want, &cur, &Owned::from_table(&cur));
        assert_eq!(ops, vec![Request::EditDest(s.key, d2)]);
    }

    #[test]
    fn model_kernel_refuses_like_the_kernel() {
        let mut t = Table::new();
        let s = Service::new(svc_key(1), "rr");
        assert_eq!(
            t.apply(&Request::DelService(s.key)),
            Err(ModelError::NoService)
        );
        assert_eq!(t.apply(&Request::AddService(s.clone())), Ok(()));
        assert_eq!(
            t.apply(&Request::AddService(s.clone())),
            Err(ModelError::Exists)
        );
        let d = Destination::new(
            IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)),
            80,
            ForwardMethod::Masq,
            1,
        );
        assert_eq!(
            t.apply(&Request::DelDest(s.key, d.key)),
            Err(ModelError::NoDest)
        );
    }
}
