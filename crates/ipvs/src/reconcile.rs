//! From the table in the kernel to the desired one with the fewest operations.
//!
//! The reconciler only removes what it owns (entries it programmed or adopted before, marked
//! [`VirtualService::owned`] / [`DestEntry::owned`] in its model of the kernel), so services
//! and real servers added by another tool (`ipvsadm`, a second daemon) survive.
//!
//! Tables hold configuration only: a daemon keeps one entry per real server of its whole
//! configuration (tens of thousands), so the counters of a dump are not kept.

use std::collections::BTreeMap;

use crate::request::Request;
use crate::types::{DestKey, Destination, ForwardMethod, Service, ServiceKey, Tunnel};

/// A virtual service with its real servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualService {
    /// The service configuration (no counters).
    pub service: Service,
    /// Its real servers by address and port.
    pub dests: Dests,
    /// In a model of the kernel: the reconciler programmed or adopted the service, so it may
    /// remove it. Always false in a wanted table and in a dump.
    pub owned: bool,
}

/// A real server as a table holds it: what NEW/SET_DEST program, without the counters of
/// [`Destination`]. 32 bytes (a daemon's tables hold one per real server of its
/// configuration): its connection thresholds and tunnel settings, set for few real servers
/// and to few distinct values, are kept once per distinct value in a process-wide store and
/// named here by number ([`DestEntry::upper_threshold`], [`DestEntry::lower_threshold`],
/// [`DestEntry::tunnel`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DestEntry {
    /// Address and port.
    pub key: DestKey,
    /// Forwarding method.
    pub method: ForwardMethod,
    /// In a model of the kernel: the reconciler programmed or adopted the real server, so it
    /// may remove it. Always false in a wanted table and in a dump.
    pub owned: bool,
    /// Weight (0 = quiesced).
    pub weight: u32,
    /// Its thresholds and tunnel settings: their number in [`RARE`], 0 for none.
    rare: u32,
}

/// A real server's rarely set settings: what [`DestEntry::rare`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DestRare {
    upper_threshold: u32,
    lower_threshold: u32,
    tunnel: Option<Tunnel>,
}

/// Every distinct [`DestRare`] seen by this process, by number (number 0 is the default:
/// no thresholds, plain IP-in-IP, never stored). Never shrinks: a configuration sets few
/// distinct values, and a reload at most adds its new ones.
#[derive(Default)]
struct RareStore {
    values: Vec<DestRare>,
    numbers: std::collections::HashMap<DestRare, u32>,
}

static RARE: std::sync::Mutex<Option<RareStore>> = std::sync::Mutex::new(None);

impl DestRare {
    const NONE: DestRare = DestRare {
        upper_threshold: 0,
        lower_threshold: 0,
        tunnel: None,
    };

    /// The number of `self` in [`RARE`], added if new.
    fn number(self) -> u32 {
        if self == DestRare::NONE {
            return 0;
        }
        let mut guard = RARE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let store = guard.get_or_insert_with(RareStore::default);
        if let Some(&n) = store.numbers.get(&self) {
            return n;
        }
        // Number n is values[n - 1]. 2^32 - 1 distinct values would take more memory than a
        // 64-bit machine has (over 80 GB); were it reached, the settings would read as none.
        let Ok(n) = u32::try_from(store.values.len() + 1) else {
            return 0;
        };
        store.values.push(self);
        store.numbers.insert(self, n);
        n
    }

    /// The settings numbered `n` in [`RARE`].
    fn of(n: u32) -> DestRare {
        let Some(i) = n.checked_sub(1) else {
            return DestRare::NONE;
        };
        let guard = RARE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard
            .as_ref()
            .and_then(|s| s.values.get(i as usize).copied())
            .unwrap_or(DestRare::NONE)
    }
}

impl DestEntry {
    /// The configuration of `d` (counters dropped), not owned.
    pub fn of(d: &Destination) -> Self {
        DestEntry {
            key: d.key,
            method: d.method,
            weight: d.weight,
            rare: DestRare {
                upper_threshold: d.upper_threshold,
                lower_threshold: d.lower_threshold,
                tunnel: d.tunnel,
            }
            .number(),
            owned: false,
        }
    }

    /// Upper connection threshold (0 = none).
    pub fn upper_threshold(&self) -> u32 {
        DestRare::of(self.rare).upper_threshold
    }

    /// Lower connection threshold.
    pub fn lower_threshold(&self) -> u32 {
        DestRare::of(self.rare).lower_threshold
    }

    /// Tunnel settings (None means plain IP-in-IP).
    pub fn tunnel(&self) -> Option<Tunnel> {
        DestRare::of(self.rare).tunnel
    }

    /// The destination to send (no counters).
    pub fn destination(&self) -> Destination {
        let mut d = Destination::new(self.key.addr, self.key.port, self.method, self.weight);
        let rare = DestRare::of(self.rare);
        d.upper_threshold = rare.upper_threshold;
        d.lower_threshold = rare.lower_threshold;
        d.tunnel = rare.tunnel;
        d
    }

    /// Whether both program the same real server the same way (ownership aside).
    pub fn config_eq(&self, other: &DestEntry) -> bool {
        let unowned = |d: &DestEntry| DestEntry { owned: false, ..*d };
        unowned(self) == unowned(other)
    }
}

impl std::fmt::Debug for DestEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rare = DestRare::of(self.rare);
        f.debug_struct("DestEntry")
            .field("key", &self.key)
            .field("method", &self.method)
            .field("weight", &self.weight)
            .field("upper_threshold", &rare.upper_threshold)
            .field("lower_threshold", &rare.lower_threshold)
            .field("tunnel", &rare.tunnel)
            .field("owned", &self.owned)
            .finish()
    }
}

/// The real servers of one virtual service, sorted by [`DestKey`], one entry per key.
///
/// A sorted vector rather than a tree: a daemon's model of the kernel holds every real server
/// of its configuration (36,800 in the reload benchmark), and a tree's nodes cost about four
/// times the entries they hold. Real servers arrive sorted (a wanted table is built, and a
/// difference sent, in key order), so inserting is usually a push; lookups are binary
/// searches over a service's few real servers. Reads mirror a `BTreeMap<DestKey, DestEntry>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dests(Vec<DestEntry>);

impl Dests {
    /// No real servers.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many real servers.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn find(&self, key: &DestKey) -> Result<usize, usize> {
        // The common case when building: the new key comes after the last one.
        match self.0.last() {
            Some(last) if last.key < *key => Err(self.0.len()),
            None => Err(0),
            _ => self.0.binary_search_by(|e| e.key.cmp(key)),
        }
    }

    /// The real server at `key`.
    pub fn get(&self, key: &DestKey) -> Option<&DestEntry> {
        self.find(key).ok().and_then(|i| self.0.get(i))
    }

    /// The real server at `key`, to change. Its key must not be changed.
    pub fn get_mut(&mut self, key: &DestKey) -> Option<&mut DestEntry> {
        self.find(key).ok().and_then(|i| self.0.get_mut(i))
    }

    /// True when a real server is at `key`.
    pub fn contains_key(&self, key: &DestKey) -> bool {
        self.find(key).is_ok()
    }

    /// Adds `entry` at its key, giving back the entry it replaces.
    pub fn insert(&mut self, entry: DestEntry) -> Option<DestEntry> {
        match self.find(&entry.key) {
            Ok(i) => self.0.get_mut(i).map(|slot| std::mem::replace(slot, entry)),
            Err(i) => {
                self.0.insert(i, entry);
                None
            }
        }
    }

    /// Removes the real server at `key`.
    pub fn remove(&mut self, key: &DestKey) -> Option<DestEntry> {
        self.find(key).ok().map(|i| self.0.remove(i))
    }

    /// Keeps the real servers `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&DestKey, &mut DestEntry) -> bool) {
        self.0.retain_mut(|e| {
            let key = e.key;
            keep(&key, e)
        });
    }

    /// Key and entry of every real server, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&DestKey, &DestEntry)> + '_ {
        self.0.iter().map(|e| (&e.key, e))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &DestKey> + '_ {
        self.0.iter().map(|e| &e.key)
    }

    /// The entries, in key order.
    pub fn values(&self) -> std::slice::Iter<'_, DestEntry> {
        self.0.iter()
    }

    /// The entries, in key order, to change. Their keys must not be changed.
    pub fn values_mut(&mut self) -> std::slice::IterMut<'_, DestEntry> {
        self.0.iter_mut()
    }

    /// Walks `a` and `b` together in key order, calling `f` once per key of either with the
    /// entry of each that has it.
    pub fn merge<'a>(
        a: &'a Dests,
        b: &'a Dests,
        mut f: impl FnMut(Option<&'a DestEntry>, Option<&'a DestEntry>),
    ) {
        let (mut i, mut j) = (a.0.iter().peekable(), b.0.iter().peekable());
        loop {
            match (i.peek(), j.peek()) {
                (Some(x), Some(y)) => match x.key.cmp(&y.key) {
                    std::cmp::Ordering::Less => f(i.next(), None),
                    std::cmp::Ordering::Greater => f(None, j.next()),
                    std::cmp::Ordering::Equal => f(i.next(), j.next()),
                },
                (Some(_), None) => f(i.next(), None),
                (None, Some(_)) => f(None, j.next()),
                (None, None) => return,
            }
        }
    }

    /// Gives back the spare capacity (after building or applying a whole table).
    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }
}

impl<'a> IntoIterator for &'a Dests {
    type Item = (&'a DestKey, &'a DestEntry);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, DestEntry>,
        fn(&'a DestEntry) -> (&'a DestKey, &'a DestEntry),
    >;

    fn into_iter(self) -> Self::IntoIter {
        fn pair(e: &DestEntry) -> (&DestKey, &DestEntry) {
            (&e.key, e)
        }
        self.0.iter().map(pair)
    }
}

impl std::ops::Index<&DestKey> for Dests {
    type Output = DestEntry;

    /// The real server at `key`; panics when there is none, as a map's index does (tests).
    fn index(&self, key: &DestKey) -> &DestEntry {
        match self.get(key) {
            Some(e) => e,
            None => panic!("no real server {key}"),
        }
    }
}

impl FromIterator<DestEntry> for Dests {
    /// Entries in any order; of two with the same key the last one is kept.
    fn from_iter<I: IntoIterator<Item = DestEntry>>(iter: I) -> Self {
        let mut v: Vec<DestEntry> = iter.into_iter().collect();
        // Stable: equal keys keep their order, and the last of each run wins below.
        v.sort_by_key(|e| e.key);
        let mut out: Vec<DestEntry> = Vec::with_capacity(v.len());
        for e in v {
            match out.last_mut() {
                Some(last) if last.key == e.key => *last = e,
                _ => out.push(e),
            }
        }
        Dests(out)
    }
}

impl FromIterator<(DestKey, DestEntry)> for Dests {
    /// As a map is collected from pairs: the entry's own key is replaced by the pair's.
    fn from_iter<I: IntoIterator<Item = (DestKey, DestEntry)>>(iter: I) -> Self {
        iter.into_iter()
            .map(|(key, e)| DestEntry { key, ..e })
            .collect()
    }
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

    /// Adds a service, or replaces its configuration (keeping its real servers and
    /// ownership).
    pub fn insert_service(&mut self, s: &Service) {
        match self.services.get_mut(&s.key) {
            Some(vs) => vs.service = service_config(s),
            None => {
                self.services.insert(
                    s.key,
                    VirtualService {
                        service: service_config(s),
                        dests: Dests::new(),
                        owned: false,
                    },
                );
            }
        }
    }

    /// Adds a real server, or replaces its configuration (keeping its ownership); false when
    /// the service is not in the table.
    pub fn insert_dest(&mut self, key: &ServiceKey, d: &Destination) -> bool {
        let Some(vs) = self.services.get_mut(key) else {
            return false;
        };
        match vs.dests.get_mut(&d.key) {
            Some(e) => {
                *e = DestEntry {
                    owned: e.owned,
                    ..DestEntry::of(d)
                }
            }
            None => {
                vs.dests.insert(DestEntry::of(d));
            }
        }
        true
    }

    /// Gives back the spare capacity of every service's real servers, and of the services'
    /// tree: a model of the kernel that grew by single inserts holds up to twice what it
    /// needs (a tree grown in key order leaves its nodes half full; collected from its own
    /// sorted entries it is built with full nodes).
    pub fn shrink_to_fit(&mut self) {
        for vs in self.services.values_mut() {
            vs.dests.shrink_to_fit();
        }
        self.services = std::mem::take(&mut self.services).into_iter().collect();
    }

    /// Marks as owned every entry of this table (a model of the kernel) that `wanted` also
    /// has: keepalived treats "exists" as success, so what the configuration asks for and
    /// finds already there becomes ours (removed on stop, or when the configuration drops it).
    pub fn adopt(&mut self, wanted: &Table) {
        for (key, want) in &wanted.services {
            let Some(cur) = self.services.get_mut(key) else {
                continue;
            };
            cur.owned = true;
            let mut wanted = want.dests.keys().peekable();
            for d in cur.dests.values_mut() {
                while wanted.next_if(|k| **k < d.key).is_some() {}
                if wanted.peek().is_some_and(|k| **k == d.key) {
                    d.owned = true;
                }
            }
        }
    }

    /// The owned part of this model of the kernel, ownership marks cleared: after a
    /// successful reconciliation, what was wanted.
    pub fn owned_part(&self) -> Table {
        let mut t = Table::new();
        for (key, vs) in &self.services {
            if !vs.owned {
                continue;
            }
            // Already in key order: no sort needed.
            let dests = Dests(
                vs.dests
                    .values()
                    .filter(|d| d.owned)
                    .map(|d| DestEntry { owned: false, ..*d })
                    .collect(),
            );
            t.services.insert(
                *key,
                VirtualService {
                    service: vs.service.clone(),
                    dests,
                    owned: false,
                },
            );
        }
        t
    }

    /// Copies the ownership marks of `model` onto the same entries of this table (a fresh
    /// dump replacing the model).
    pub fn keep_ownership(&mut self, model: &Table) {
        for (key, vs) in &mut self.services {
            let Some(old) = model.services.get(key) else {
                continue;
            };
            vs.owned = old.owned;
            for d in vs.dests.values_mut() {
                d.owned = old.dests.get(&d.key).is_some_and(|o| o.owned);
            }
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
                vs.dests.insert(DestEntry::of(d));
            }
            Request::EditDest(k, d) => {
                let vs = self.services.get_mut(k).ok_or(ModelError::NoService)?;
                let slot = vs.dests.get_mut(&d.key).ok_or(ModelError::NoDest)?;
                *slot = DestEntry {
                    owned: slot.owned,
                    ..DestEntry::of(d)
                };
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

/// The operations that take `current` (a model of the kernel) to `desired`, removing only
/// the entries `current` marks owned.
///
/// Order: deletions first (services, then real servers), then for each wanted service
/// its add or edit followed by its real servers' adds and edits.
pub fn diff(desired: &Table, current: &Table) -> Vec<Request> {
    let mut deletes = Vec::new();
    let mut rest = Vec::new();
    for (key, cur) in &current.services {
        let want = desired.services.get(key);
        if want.is_none() && cur.owned {
            deletes.push(Request::DelService(*key));
            continue;
        }
        let none = Dests::new();
        let want_dests = want.map_or(&none, |w| &w.dests);
        Dests::merge(&cur.dests, want_dests, |c, w| {
            if let (Some(c), None) = (c, w) {
                if c.owned {
                    deletes.push(Request::DelDest(*key, c.key));
                }
            }
        });
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
        let none = Dests::new();
        let cur_dests = cur.map_or(&none, |c| &c.dests);
        Dests::merge(&want.dests, cur_dests, |w, c| match (w, c) {
            (Some(w), None) => rest.push(Request::AddDest(*key, w.destination())),
            (Some(w), Some(c)) if !c.config_eq(w) => {
                rest.push(Request::EditDest(*key, w.destination()))
            }
            _ => {}
        });
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
            let mut model = current.clone();
            model.adopt(&current);
            let ops = diff(&desired, &model);
            let mut kernel = current.clone();
            apply_all(&mut kernel, &ops);
            prop_assert_eq!(&kernel, &desired);
            let mut model = kernel.clone();
            model.adopt(&desired);
            prop_assert!(diff(&desired, &model).is_empty());
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
                    current.insert_dest(k, &d.destination());
                }
            }
            // We own only what we added that the other tool did not already have.
            let mut owned_services = Vec::new();
            for (k, vs) in &previous.services {
                let foreign_vs = foreign.services.get(k);
                let Some(cur) = current.services.get_mut(k) else { continue };
                cur.owned = foreign_vs.is_none();
                if cur.owned {
                    owned_services.push(*k);
                }
                for dk in vs.dests.keys() {
                    if let Some(d) = cur.dests.get_mut(dk) {
                        d.owned = !foreign_vs.is_some_and(|f| f.dests.contains_key(dk));
                    }
                }
            }
            let ops = diff(&desired, &current);
            let mut kernel = current.clone();
            apply_all(&mut kernel, &ops);
            // Every desired entry is there with the desired configuration.
            for (k, vs) in &desired.services {
                let got = kernel.services.get(k);
                prop_assert!(got.is_some(), "desired service {k} missing");
                if let Some(got) = got {
                    prop_assert_eq!(&got.service, &vs.service);
                    for (dk, d) in &vs.dests {
                        let same = got.dests.get(dk).is_some_and(|g| g.config_eq(d));
                        prop_assert!(same, "{dk}: {:?} for {d:?}", got.dests.get(dk));
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
            for k in &owned_services {
                prop_assert_eq!(kernel.services.contains_key(k), desired.services.contains_key(k));
            }
            // A second pass has nothing left to do.
            kernel.keep_ownership(&current);
            kernel.adopt(&desired);
            prop_assert!(diff(&desired, &kernel).is_empty());
        }
    }

    proptest! {
        #[test]
        fn the_owned_part_of_a_reconciled_model_is_what_was_wanted(
            foreign in arb_table(),
            desired in arb_table(),
        ) {
            // Nothing owned yet: another tool's entries only.
            let ops = diff(&desired, &foreign);
            let mut model = foreign.clone();
            apply_all(&mut model, &ops);
            model.adopt(&desired);
            prop_assert_eq!(model.owned_part(), desired.clone());
            // A dump of the same kernel (no marks) takes the model's marks back.
            let mut dump = foreign.clone();
            apply_all(&mut dump, &ops);
            dump.keep_ownership(&model);
            prop_assert_eq!(&dump, &model);
            // Giving the room back (services rebuilt, real servers shrunk) keeps every entry.
            let mut shrunk = model.clone();
            shrunk.shrink_to_fit();
            prop_assert_eq!(&shrunk, &model);
        }
    }

    #[test]
    fn ownership_survives_edits_and_is_dropped_with_the_entry() {
        let s = Service::new(svc_key(1), "rr");
        let d = Destination::new(
            IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)),
            80,
            ForwardMethod::Masq,
            1,
        );
        let mut want = Table::new();
        want.insert_service(&s);
        want.insert_dest(&s.key, &d);
        let mut model = want.clone();
        model.adopt(&want);
        // A new weight (as the manager records an accepted edit) keeps the mark.
        model.insert_dest(
            &s.key,
            &Destination {
                weight: 7,
                ..d.clone()
            },
        );
        model.insert_service(&Service::new(svc_key(1), "wrr"));
        let vs = &model.services[&s.key];
        assert!(vs.owned && vs.dests[&d.key].owned);
        assert_eq!(vs.dests[&d.key].weight, 7);
        // Unwanted now: both are removed, the service first.
        assert_eq!(
            diff(&Table::new(), &model),
            vec![Request::DelService(s.key)]
        );
        // Not owned: left alone.
        let foreign = want.clone();
        assert!(diff(&Table::new(), &foreign).is_empty());
        // A table entry keeps the configuration only: what is sent is what was inserted.
        assert_eq!(
            vs.dests[&d.key].destination(),
            Destination { weight: 7, ..d }
        );
        assert_eq!(std::mem::size_of::<DestEntry>(), 32);
        // A service without counters: their box, not the counters, in every table entry.
        assert!(
            std::mem::size_of::<Service>() <= 88,
            "{}",
            std::mem::size_of::<Service>()
        );
    }

    #[test]
    fn rare_settings_are_kept_once_and_read_back_whole() {
        let mut d = Destination::new(
            IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)),
            80,
            ForwardMethod::Tunnel,
            3,
        );
        let plain = DestEntry::of(&d);
        assert_eq!(plain.rare, 0);
        d.upper_threshold = 100;
        d.lower_threshold = 10;
        d.tunnel = Some(Tunnel {
            kind: crate::types::TunnelType::Gue,
            port: 6080,
            flags: 1,
        });
        let limited = DestEntry::of(&d);
        assert_ne!(limited.rare, 0);
        assert_eq!(limited.destination(), d);
        assert_eq!(
            (limited.upper_threshold(), limited.lower_threshold()),
            (100, 10)
        );
        assert_eq!(limited.tunnel().map(|t| t.port), Some(6080));
        // The same settings on another real server: the same number, so entries compare by
        // value; other settings: another number.
        let mut other = d.clone();
        other.key.port = 81;
        assert_eq!(DestEntry::of(&other).rare, limited.rare);
        other.lower_threshold = 11;
        let changed = DestEntry::of(&other);
        assert_ne!(changed.rare, limited.rare);
        assert!(!changed.config_eq(&DestEntry {
            key: changed.key,
            ..limited
        }));
        assert_eq!(changed.lower_threshold(), 11);
        assert_eq!(plain.destination().upper_threshold, 0);
        assert!(format!("{limited:?}").contains("upper_threshold: 100"));
    }

    fn entry(last: u8, weight: u32) -> DestEntry {
        DestEntry::of(&Destination::new(
            IpAddr::V4(Ipv4Addr::new(192, 168, 0, last)),
            80,
            ForwardMethod::Masq,
            weight,
        ))
    }

    #[test]
    fn dests_stay_sorted_and_unique_whatever_the_order() {
        let mut d = Dests::new();
        for (i, last) in [5u8, 1, 9, 3, 7].into_iter().enumerate() {
            assert_eq!(d.insert(entry(last, i as u32)), None);
        }
        // Replacing gives the old entry back and keeps one entry per key.
        assert_eq!(d.insert(entry(3, 42)).map(|e| e.weight), Some(3));
        let keys: Vec<u8> = d
            .keys()
            .map(|k| match k.addr {
                IpAddr::V4(a) => a.octets()[3],
                IpAddr::V6(_) => 0,
            })
            .collect();
        assert_eq!(keys, vec![1, 3, 5, 7, 9]);
        assert_eq!(d.len(), 5);
        assert_eq!(d[&entry(3, 0).key].weight, 42);
        assert!(d.contains_key(&entry(9, 0).key) && !d.contains_key(&entry(4, 0).key));
        assert_eq!(d.remove(&entry(1, 0).key).map(|e| e.weight), Some(1));
        assert_eq!(d.remove(&entry(1, 0).key), None);
        d.retain(|k, _| *k != entry(9, 0).key);
        assert_eq!(d.len(), 3);
        // Collected from any order: sorted, the last of equal keys kept.
        let c: Dests = [entry(2, 1), entry(1, 1), entry(2, 5)]
            .into_iter()
            .collect();
        assert_eq!(c.values().map(|e| e.weight).collect::<Vec<_>>(), vec![1, 5]);
        assert!(c.iter().all(|(k, e)| *k == e.key));
    }

    proptest! {
        #[test]
        fn dests_read_like_a_map(ops in prop::collection::vec((0u8..12, 0u32..4, any::<bool>()), 0..40)) {
            let mut d = Dests::new();
            let mut m = BTreeMap::new();
            for (last, w, remove) in ops {
                let e = entry(last, w);
                if remove {
                    prop_assert_eq!(d.remove(&e.key), m.remove(&e.key));
                } else {
                    prop_assert_eq!(d.insert(e), m.insert(e.key, e));
                }
            }
            prop_assert!(d.iter().map(|(k, e)| (*k, *e)).eq(m.iter().map(|(k, e)| (*k, *e))));
            // The merge walk meets every key of either side once, in order.
            let other: Dests = (0u8..12).step_by(3).map(|i| entry(i, 0)).collect();
            let mut seen = Vec::new();
            Dests::merge(&d, &other, |a, b| {
                let k = a.or(b).map(|e| e.key);
                if let (Some(a), Some(b)) = (a, b) {
                    assert_eq!(a.key, b.key);
                }
                seen.push(k);
            });
            let mut want: Vec<_> = d.keys().chain(other.keys()).map(|k| Some(*k)).collect();
            want.sort();
            want.dedup();
            prop_assert_eq!(seen, want);
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
        let mut model = cur.clone();
        model.adopt(&cur);
        let ops = diff(&want, &model);
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
