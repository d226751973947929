//! The checker child's event loop: the scheduled probes driven together by one
//! [`CheckerPool`] (a probe is a task only while it runs; FILE_CHECK watchers are tasks of their
//! own), their verdicts fanned out to the director, the director's changes to the IPVS manager
//! and the notifiers.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};

use rka_check::director::{Action, CheckerInit, DirectorSpec};
use rka_check::driver::{run_file_checker, CheckerPool};
use rka_check::{CheckerEvent, Director, DownReason, Failure, Probe, Slot};
use rka_config::Config;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::ipvs::{Backend, Manager, StartOptions, StopMode};
use super::mapping::{DestPlan, Plan, ProbeName, ProbePlan, ServicePlan};
use super::notify::{rs_line, vs_line, LvsNotifier};
use super::table::{desired, desired_for};
use crate::child::Control;

/// A running probe and what it last reported: one per checker (tens of thousands), so kept
/// small (40 bytes: its slots, kind, verdict and transitions share 16 bytes): its name is its
/// kind and target, the target that of the real server of its first slot unless the runtime
/// keeps another for it (`connect_ip`, `connect_port`; see [`Runtime::probe_name`]); its
/// failure a boxed [`DownReason`] that exists only while it fails; its dynamic weight is kept
/// where it is learnt (the pool's checker state, a FILE_CHECK watcher's entry in the runtime),
/// see [`Runtime::probe_weight`].
#[derive(Debug)]
pub struct ProbeTask {
    /// A digest of its parameter key ([`ProbeKey`]): what a reload compares.
    pub key: ProbeKey,
    /// Why it went down, while it is down after a failing verdict.
    pub last_reason: Option<Box<DownReason>>,
    head: ProbeHead,
}

impl ProbeTask {
    /// A probe of `kind` reporting to `slots`, passing or not (`up`), without a reason.
    fn new(
        key: ProbeKey,
        kind: rka_check::CheckKind,
        slots: Vec<Slot>,
        up: bool,
        running: Running,
    ) -> Self {
        ProbeTask {
            key,
            last_reason: None,
            head: ProbeHead::new(slots, 0, kind, Flags::new(up, running)),
        }
    }

    /// The slots it reports to.
    pub fn slots(&self) -> ProbeSlots<'_> {
        match &self.head {
            ProbeHead::One { vs, rs, check, .. } => {
                ProbeSlots::One(Slot::new(*vs as usize, *rs as usize, usize::from(*check)))
            }
            ProbeHead::Many { slots, .. } => ProbeSlots::Many(slots),
        }
    }

    /// Reports to `slots` from now on.
    fn set_slots(&mut self, slots: Vec<Slot>) {
        let (transitions, kind, flags) = self.head.common();
        self.head = ProbeHead::new(slots, transitions, kind, flags);
    }

    /// Whether it passes.
    pub fn up(&self) -> bool {
        self.head.common().2.up()
    }

    fn set_up(&mut self, up: bool) {
        let flags = self.head.flags_mut();
        *flags = Flags::new(up, flags.running());
    }

    /// Transitions seen (up + down) since the start or the last
    /// [`reset_transitions`](Self::reset_transitions).
    pub fn transitions(&self) -> u32 {
        self.head.common().0
    }

    /// Counts a transition.
    fn count_transition(&mut self) {
        let t = self.head.transitions_mut();
        *t = t.saturating_add(1);
    }

    /// Counts the transitions from 0 again.
    pub fn reset_transitions(&mut self) {
        *self.head.transitions_mut() = 0;
    }

    fn kind(&self) -> rka_check::CheckKind {
        self.head.common().1
    }

    fn running(&self) -> Running {
        self.head.common().2.running()
    }
}

/// A probe's slots, transitions, kind, verdict and way of running, in 16 bytes: its one slot
/// inline when its checker's index fits a byte (almost always), its slots boxed otherwise.
#[derive(Debug)]
enum ProbeHead {
    /// One slot, [`Slot`]'s indices.
    One {
        vs: u32,
        rs: u32,
        check: u8,
        transitions: u32,
        kind: rka_check::CheckKind,
        flags: Flags,
    },
    /// Several slots (or none, or one of a checker beyond the 256th of its real server).
    Many {
        slots: Box<Box<[Slot]>>,
        transitions: u32,
        kind: rka_check::CheckKind,
        flags: Flags,
    },
}

impl ProbeHead {
    fn new(slots: Vec<Slot>, transitions: u32, kind: rka_check::CheckKind, flags: Flags) -> Self {
        let one = match slots[..] {
            [one] => u8::try_from(one.check()).ok().zip(
                u32::try_from(one.vs())
                    .ok()
                    .zip(u32::try_from(one.rs()).ok()),
            ),
            _ => None,
        };
        match one {
            Some((check, (vs, rs))) => ProbeHead::One {
                vs,
                rs,
                check,
                transitions,
                kind,
                flags,
            },
            None => ProbeHead::Many {
                slots: Box::new(slots.into_boxed_slice()),
                transitions,
                kind,
                flags,
            },
        }
    }

    /// Transitions, kind and flags.
    fn common(&self) -> (u32, rka_check::CheckKind, Flags) {
        match *self {
            ProbeHead::One {
                transitions,
                kind,
                flags,
                ..
            }
            | ProbeHead::Many {
                transitions,
                kind,
                flags,
                ..
            } => (transitions, kind, flags),
        }
    }

    fn transitions_mut(&mut self) -> &mut u32 {
        match self {
            ProbeHead::One { transitions, .. } | ProbeHead::Many { transitions, .. } => transitions,
        }
    }

    fn flags_mut(&mut self) -> &mut Flags {
        match self {
            ProbeHead::One { flags, .. } | ProbeHead::Many { flags, .. } => flags,
        }
    }
}

/// A probe's verdict (bit 0) and how it runs (bits 1-2, [`Running`]) in one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flags(u8);

impl Flags {
    const UP: u8 = 1;

    fn new(up: bool, running: Running) -> Self {
        let running = match running {
            Running::Not => 0,
            Running::Pooled => 1,
            Running::Watcher => 2,
        };
        Flags(u8::from(up) | running << 1)
    }

    fn up(self) -> bool {
        self.0 & Flags::UP != 0
    }

    fn running(self) -> Running {
        match self.0 >> 1 {
            1 => Running::Pooled,
            2 => Running::Watcher,
            _ => Running::Not,
        }
    }
}

/// The name of probe `id` of `kind` whose first slot is `first`: its kind and target, the
/// target kept in `targets` or else its first slot's real server in `plan`.
fn name_of(
    plan: &Plan,
    targets: &HashMap<u64, SocketAddr>,
    id: u64,
    kind: rka_check::CheckKind,
    first: Option<Slot>,
) -> ProbeName {
    let target = targets.get(&id).copied().or_else(|| {
        let s = first?;
        let (_, d) = rs_plan(plan, s.vs(), s.rs())?;
        Some(SocketAddr::new(d.addr, d.port))
    });
    ProbeName::new(kind, target.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))))
}

/// A probe's name built only when it is written: an event's own lines are mostly at debug,
/// so the event path does not look its target up unless one is logged.
struct NameOf<'a> {
    plan: &'a Plan,
    targets: &'a HashMap<u64, SocketAddr>,
    id: u64,
    kind: rka_check::CheckKind,
    first: Option<Slot>,
}

impl std::fmt::Display for NameOf<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        name_of(self.plan, self.targets, self.id, self.kind, self.first).fmt(f)
    }
}

/// The target of probe `pp` when its name cannot take it from its first slot's real server
/// in `plan` (see [`ProbeTask`]).
fn own_target(plan: &Plan, pp: &ProbePlan) -> Option<SocketAddr> {
    let target = pp.name.target();
    let first = pp.slots.first().and_then(|s| rs_plan(plan, s.vs(), s.rs()));
    match first {
        Some((_, d)) if SocketAddr::new(d.addr, d.port) == target => None,
        _ => Some(target),
    }
}

/// A 128-bit digest of a probe's parameter key ([`ProbePlan::key`]): equal keys give equal
/// digests, and two different keys collide with a probability of about 2^-128 per pair, so a
/// reload matches probes by digest without keeping each key's text (a few hundred bytes per
/// probe, tens of thousands of probes). Two halves: 8-byte aligned, where a `u128` would pad
/// every record holding it to 16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProbeKey([u64; 2]);

impl ProbeKey {
    /// The digest of `key`: two SipHash passes (std's fixed-key hasher) told apart by a prefix.
    pub fn of<K: std::hash::Hash + ?Sized>(key: &K) -> ProbeKey {
        use std::hash::{DefaultHasher, Hasher};
        let half = |salt: u8| {
            let mut h = DefaultHasher::new();
            h.write_u8(salt);
            key.hash(&mut h);
            h.finish()
        };
        ProbeKey([half(0), half(1)])
    }
}

/// The running probes by id, in one vector sorted by id (ids grow as probes start: a new
/// probe goes last, and a probe is found by binary search). Reads as a map of `id -> probe`.
///
/// The ids are not kept beside each probe (8 bytes each, tens of thousands of probes) but as
/// runs of consecutive ids: the probes a configuration starts get consecutive ids, so a table
/// is a few runs (one per reload that started probes, split where probes stopped).
#[derive(Debug, Default)]
pub struct ProbeTable {
    /// The probes, by increasing id.
    tasks: Vec<ProbeTask>,
    /// `(first id, place in tasks)` of each run of consecutive ids, by increasing id: a run
    /// ends where the next one starts.
    runs: Vec<(u64, usize)>,
}

impl ProbeTable {
    /// A table of the probes `tasks` of ids `ids` (place by place), in any order (the ids
    /// must differ: of equal ids one is kept). Sorted in place: no second vector of probes.
    fn from_unsorted(mut ids: Vec<u64>, mut tasks: Vec<ProbeTask>) -> Self {
        ids.truncate(tasks.len());
        tasks.truncate(ids.len());
        // The place each probe goes to, then the probes moved there cycle by cycle.
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_unstable_by_key(|&i| ids.get(i).copied());
        for start in 0..order.len() {
            let mut at = start;
            while let Some(&from) = order.get(at).filter(|&&from| from != start) {
                tasks.swap(at, from);
                if let Some(o) = order.get_mut(at) {
                    *o = at;
                }
                at = from;
            }
            if let Some(o) = order.get_mut(at) {
                *o = at;
            }
        }
        ids.sort_unstable();
        // The runs of the sorted ids; a probe whose id repeats the one before goes.
        let mut runs: Vec<(u64, usize)> = Vec::new();
        let mut last: Option<u64> = None;
        let mut sorted = ids.iter().copied();
        let mut kept = 0;
        tasks.retain(|_| {
            let Some(id) = sorted.next() else {
                return false;
            };
            if last == Some(id) {
                return false;
            }
            if last.and_then(|l| l.checked_add(1)) != Some(id) {
                runs.push((id, kept));
            }
            last = Some(id);
            kept += 1;
            true
        });
        runs.shrink_to_fit();
        tasks.shrink_to_fit();
        ProbeTable { tasks, runs }
    }

    /// Every probe with its id (`(ids, probes)`, place by place), the table left empty.
    fn take_all(&mut self) -> (Vec<u64>, Vec<ProbeTask>) {
        let ids: Vec<u64> = self.keys().collect();
        self.runs = Vec::new();
        (ids, std::mem::take(&mut self.tasks))
    }

    /// The place of probe `id` in `tasks`.
    fn place(&self, id: u64) -> Option<usize> {
        let r = self.runs.partition_point(|&(first, _)| first <= id);
        let &(first, start) = self.runs.get(r.checked_sub(1)?)?;
        let end = self.runs.get(r).map_or(self.tasks.len(), |&(_, s)| s);
        let i = start.checked_add(usize::try_from(id - first).ok()?)?;
        (i < end).then_some(i)
    }

    /// How many probes run.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether no probe runs.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Probe `id`.
    pub fn get(&self, id: &u64) -> Option<&ProbeTask> {
        self.tasks.get(self.place(*id)?)
    }

    /// Probe `id`, to change it.
    pub fn get_mut(&mut self, id: &u64) -> Option<&mut ProbeTask> {
        let i = self.place(*id)?;
        self.tasks.get_mut(i)
    }

    /// The ids, in increasing order.
    pub fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.iter().map(|(id, _)| id)
    }

    /// The probes, by increasing id.
    pub fn values(&self) -> impl Iterator<Item = &ProbeTask> {
        self.tasks.iter()
    }

    /// The probes, by increasing id, to change them.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut ProbeTask> {
        self.tasks.iter_mut()
    }

    /// `(id, probe)` pairs by increasing id.
    pub fn iter(&self) -> ProbeIter<'_> {
        ProbeIter {
            table: self,
            place: 0,
            run: 0,
        }
    }

    /// Stops every probe.
    pub fn clear(&mut self) {
        self.tasks = Vec::new();
        self.runs = Vec::new();
    }
}

/// The iterator of `(id, probe)` pairs of a [`ProbeTable`], by increasing id.
#[derive(Debug, Clone)]
pub struct ProbeIter<'a> {
    table: &'a ProbeTable,
    /// The place of the next probe.
    place: usize,
    /// The run it belongs to.
    run: usize,
}

impl<'a> Iterator for ProbeIter<'a> {
    type Item = (u64, &'a ProbeTask);

    fn next(&mut self) -> Option<Self::Item> {
        let t = self.table.tasks.get(self.place)?;
        let runs = &self.table.runs;
        while runs
            .get(self.run + 1)
            .is_some_and(|&(_, s)| s <= self.place)
        {
            self.run += 1;
        }
        let &(first, start) = runs.get(self.run)?;
        let id = first.wrapping_add((self.place - start) as u64);
        self.place += 1;
        Some((id, t))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.table.tasks.len().saturating_sub(self.place);
        (n, Some(n))
    }
}

impl<'a> IntoIterator for &'a ProbeTable {
    type Item = (u64, &'a ProbeTask);
    type IntoIter = ProbeIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The slots a probe reports to ([`ProbeTask::slots`]): almost always one (identical checks
/// of several real servers share a probe). Reads as a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeSlots<'a> {
    /// A single slot.
    One(Slot),
    /// Several slots.
    Many(&'a [Slot]),
}

impl std::ops::Deref for ProbeSlots<'_> {
    type Target = [Slot];

    fn deref(&self) -> &[Slot] {
        match self {
            ProbeSlots::One(s) => std::slice::from_ref(s),
            ProbeSlots::Many(v) => v,
        }
    }
}

impl<'a> IntoIterator for ProbeSlots<'a> {
    type Item = Slot;
    type IntoIter = std::iter::Chain<
        std::option::IntoIter<Slot>,
        std::iter::Copied<std::slice::Iter<'a, Slot>>,
    >;

    /// The slots by value.
    fn into_iter(self) -> Self::IntoIter {
        match self {
            ProbeSlots::One(s) => Some(s).into_iter().chain([].iter().copied()),
            ProbeSlots::Many(v) => None.into_iter().chain(v.iter().copied()),
        }
    }
}

/// How a probe runs (one byte: what it runs with is kept by id elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Running {
    /// It cannot run (its configuration is unusable): it counts as failing.
    Not,
    /// Scheduled in the runtime's [`CheckerPool`] under the probe's id.
    Pooled,
    /// A FILE_CHECK watcher task, in the runtime's `watchers` under the probe's id.
    Watcher,
}

/// A FILE_CHECK watcher of the runtime: its task (stopped when the entry drops) and the
/// weight it last reported.
struct Watcher {
    _task: AbortOnDrop,
    /// The last weight it reported; `None` for the configured weight.
    weight: Option<i64>,
}

/// The runtime's state.
pub struct Runtime {
    /// The plan in force. Its `probes` and `director` are moved out when it is installed:
    /// they live on in `probes`, the pool and `director`.
    pub(super) plan: Plan,
    pub(super) director: Director,
    /// The probes by id.
    pub(super) probes: ProbeTable,
    /// The scheduled probes.
    pool: CheckerPool,
    events_tx: mpsc::Sender<(u64, CheckerEvent)>,
    events_rx: mpsc::Receiver<(u64, CheckerEvent)>,
    /// The IPVS manager.
    pub ipvs: Manager,
    notifier: LvsNotifier,
    next_id: u64,
    pub(super) local_addrs: Option<tokio::sync::watch::Receiver<BTreeSet<IpAddr>>>,
    /// Virtual servers touched by verdicts since the table was last handed over.
    touched: BTreeSet<usize>,
    /// Whether the director changed the wanted table since then.
    table_dirty: bool,
    addr_task: Option<AbortOnDrop>,
    /// Operator drains and failure counts (control socket).
    pub(crate) observe: crate::observe::checker::Observed,
    /// A plan was installed since the last [`step`](Runtime::step): the configuration it was
    /// mapped from has been dropped by then, and the allocator is asked to give it back.
    release_pending: bool,
    /// While the actions of a failing probe's verdict are announced: its reason.
    cause: Option<DownReason>,
    /// While a failing probe's verdict is being announced: the real servers `(vs, rs)` that
    /// were down before it. A `RealServerDown` of one of them only announces the first
    /// verdict of a server that started down (`alpha`): notified, but keepalived logs no
    /// table line for it (`alpha-tcp.log`).
    down_before: Vec<(usize, usize)>,
    /// Announcements logged and not yet notified: the notifiers (FIFO, scripts, mail) run
    /// after the table has been handed to IPVS, in this order.
    to_notify: Vec<Action>,
    /// What keepalived's lines name besides the server, by probe id: a MISC_CHECK's
    /// program, a FILE_CHECK's `track_file` (the other probes have no entry).
    subjects: HashMap<u64, Box<str>>,
    /// The FILE_CHECK watchers by probe id (a few: the other probes run in the pool).
    watchers: HashMap<u64, Watcher>,
    /// The targets of the probes whose name cannot take it from their first slot's real
    /// server (`connect_ip`, `connect_port`; none in most configurations), by id.
    name_targets: HashMap<u64, SocketAddr>,
    /// The slots a reload added to a running probe (a checker identical to a running one),
    /// by probe id, until the probe's first verdict since: see [`Joined`].
    joined: HashMap<u64, Joined>,
}

/// The checkers a reload joined to a running probe, until its first verdict since the reload.
///
/// keepalived has no shared probes: each of these is a new checker there, which starts up
/// (unless `alpha`) whatever the running identical checker says, goes through its own first
/// attempt and retries, and logs its first success or its failure; the running checkers log
/// nothing new unless their verdict changes (`reply-errors.log`, 8810;
/// `tests/data/join-*.log`). The runtime restarts the probe for them (its next results are
/// a first verdict sequence), tells its events to these slots as to new checkers, and to the
/// probe's other slots only what their own checker would have reported
/// ([`heard_by_running`]).
#[derive(Debug)]
struct Joined {
    /// The slots added.
    slots: Box<[Slot]>,
    /// Whether they started up (their checker has no `alpha`).
    up: bool,
}

/// Whether the slots a probe served before a reload hear event `ev` of the probe restarted
/// for the checkers the reload joined to it (see [`Joined`]), their checker passing (`up`)
/// or not: what their own checker, not restarted, would report: a change of verdict, a retry
/// while it passes, a url passing while it does not, and the weight reports (which change
/// nothing when the weight is the same).
fn heard_by_running(up: bool, ev: &CheckerEvent) -> bool {
    match ev {
        CheckerEvent::Up { .. } | CheckerEvent::UrlPassed { .. } => !up,
        CheckerEvent::Down { .. } | CheckerEvent::Retrying { .. } => up,
        CheckerEvent::WeightChanged { .. } | CheckerEvent::WeightReset => true,
        // Each of keepalived's checkers logs its own.
        CheckerEvent::NotRun { .. } => true,
    }
}

/// A background task stopped with its owner.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How often the host's addresses are read while some virtual server has `ha_suspend`.
const ADDRESS_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// The soft limit on open files, from `/proc/self/limits`.
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Raises the open-files limit for the checkers (each probe holds one descriptor while it
/// runs, as keepalived raises its own), and warns when it still may run out.
fn check_fd_limit(probes: usize) {
    let want = u64::try_from(probes)
        .unwrap_or(u64::MAX)
        .saturating_add(1024);
    if let Err(e) = rka_sys::host::raise_open_files(want) {
        tracing::warn!("cannot raise the open-files limit to {want}: {e}");
    }
    if let Some(limit) = open_files_limit() {
        let probes = u64::try_from(probes).unwrap_or(u64::MAX);
        if probes + 64 > limit {
            tracing::warn!(
                "{probes} checkers but only {limit} open files allowed: probes may fail with \
                 'Too many open files' - raise the limit (ulimit -n, LimitNOFILE=)"
            );
        }
    }
}

/// The host's addresses, read at once (`getifaddrs`); none if they cannot be read (the
/// watch's first poll then brings them).
fn local_addresses_now() -> BTreeSet<IpAddr> {
    let Ok(list) = nix::ifaddrs::getifaddrs() else {
        return BTreeSet::new();
    };
    list.filter_map(|a| {
        let s = a.address?;
        s.as_sockaddr_in()
            .map(|v4| IpAddr::V4(v4.ip()))
            .or_else(|| s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
    })
    .collect()
}

/// Publishes the host's addresses, read every [`ADDRESS_POLL`].
fn spawn_address_watch() -> Option<(
    tokio::sync::watch::Receiver<BTreeSet<IpAddr>>,
    JoinHandle<()>,
)> {
    let netif = match rka_netif::Netif::connect() {
        Ok(n) => n,
        Err(e) => {
            tracing::error!("ha_suspend: cannot read the host's addresses: {e}");
            return None;
        }
    };
    // The addresses as they are now, before the first poll: keepalived knows them when it
    // starts its checkers ("Activating" or "Deactivating" from the start, no flip after).
    let (tx, rx) = tokio::sync::watch::channel(local_addresses_now());
    let task = tokio::spawn(async move {
        loop {
            match netif.addresses(None).await {
                Ok(list) => {
                    let set: BTreeSet<IpAddr> = list.into_iter().map(|a| a.addr).collect();
                    tx.send_if_modified(|cur| {
                        let changed = *cur != set;
                        *cur = set;
                        changed
                    });
                }
                Err(e) => tracing::warn!("ha_suspend: cannot read the host's addresses: {e}"),
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(ADDRESS_POLL).await;
        }
    });
    Some((rx, task))
}

/// Starts a FILE_CHECK watcher, its events sent to `out` under `id`: the changes from
/// `initial`, the verdict it started with (see `run_file_checker`).
fn spawn_file_watcher(
    id: u64,
    params: rka_check::file::FileParams,
    initial: (bool, Option<i64>),
    out: mpsc::Sender<(u64, CheckerEvent)>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let (tx, mut rx) = mpsc::channel(8);
        let forward = async move {
            while let Some(e) = rx.recv().await {
                if out.send((id, e)).await.is_err() {
                    break;
                }
            }
        };
        let path = params.path.clone();
        let run = async move {
            if let Err(e) = run_file_checker(params, Some(initial), tx.clone()).await {
                let _ = tx
                    .send(CheckerEvent::Down {
                        reason: Failure::new(format!("cannot watch {}: {e}", path.display()))
                            .into(),
                    })
                    .await;
            }
        };
        tokio::join!(run, forward);
    })
}

/// A real or sorry server of `sp` as keepalived's lines name it.
fn logline_server(sp: &ServicePlan, d: &DestPlan) -> super::logline::Server {
    super::logline::Server {
        addr: d.addr,
        port: d.port,
        protocol: sp.protocol,
    }
}

/// What keepalived's lines for one probe's event depend on, besides the event.
#[derive(Clone, Copy)]
struct Teller<'a> {
    /// The probe's kind.
    kind: rka_check::CheckKind,
    /// A MISC_CHECK's program as its lines name it ([`rka_check::misc::program_path`]), or a
    /// FILE_CHECK's `track_file`.
    program: &'a str,
    /// Whether the probe passed before the event (an `alpha` one does not until its first
    /// success).
    up: bool,
    /// Its `log_all_failures`.
    log_all_failures: bool,
    /// For a [`CheckerEvent::Down`]: whether it was settled from the checker's very first
    /// probe ([`DownReason::first_probe`]), which decides an `alpha` checker's first failing
    /// lines ([`super::logline::down_lines`]). A checker a reload creates (or joins to a
    /// running probe) retries its first failure, as keepalived's (the pool's
    /// `retry_first_probes`), so that with `retry` above 0 its verdict is not one.
    first_probe: bool,
    /// For a [`CheckerEvent::UrlPassed`]: the url.
    url: Option<&'a rka_check::http::UrlCheck>,
    /// The probe's target when its first slot's real server is not (`connect_ip`,
    /// `connect_port`): keepalived's SMTP_CHECK lines name the address the check connects to.
    target: Option<SocketAddr>,
}

/// Logs keepalived's line(s) for checker event `ev` of a probe reporting to `slots` (one per
/// real server it checks, as keepalived has one checker each); whether keepalived has a line
/// for it (none said is keepalived's answer for an `alpha` checker's first failure).
///
/// An `Up` of a probe that passes already (its first success, see [`Runtime::handle_event`])
/// is logged as any other: keepalived logs a checker's first success whether or not it
/// started up. While the checker passes, a failure's detail line comes for each failed probe
/// the events report under `log_all_failures`, the last one included, and always for the
/// kinds whose detail is their only failure line, then the down line (keepalived 2.2.7,
/// `tcp-log-all-failures.log`, `http-recovery*.log`); an `alpha` checker's first failing
/// verdict and its retries have the lines [`super::logline::down_lines`] and
/// [`super::logline::retry_told`] say (`alpha-first-*.log`). A url passing is told while the
/// checker does not pass; a url's body of another length than its `Content-Length` before
/// its first pass too (at debug, as keepalived's `-D`).
fn self_told(plan: &Plan, t: &Teller<'_>, slots: &[Slot], ev: &CheckerEvent) -> bool {
    use super::logline::{self, Cause, Check, UrlTest, VirtualServerName};
    let kind = t.kind;
    let mut told = false;
    for &s in slots {
        let Some((sp, dp)) = rs_plan(plan, s.vs(), s.rs()) else {
            continue;
        };
        let check = Check {
            kind,
            rs: logline_server(sp, dp),
            vs: VirtualServerName::Label(&sp.label),
            program: t.program,
        };
        let mut say = |line: Option<String>| {
            if let Some(l) = line {
                tracing::info!("{l}");
                told = true;
            }
        };
        // The server a failure's detail names: the real server, but for SMTP_CHECK the
        // address the probe connects to (keepalived 2.2.7: "SMTP_CHECK Could not connect to
        // server [127.0.0.1]:2525" for a real server checked through `connect_ip` and
        // `connect_port`, the checkers VM story).
        let detail_rs = match (kind, t.target) {
            (rka_check::CheckKind::Smtp, Some(at)) => logline::Server {
                addr: at.ip(),
                port: at.port(),
                protocol: check.rs.protocol,
            },
            _ => check.rs,
        };
        let detail = |reason: &rka_check::outcome::Reason| {
            Cause::of(kind, reason).and_then(|c| logline::failure_detail(kind, &detail_rs, c))
        };
        if kind == rka_check::CheckKind::File {
            match ev {
                CheckerEvent::Down { .. } => {
                    tracing::debug!("{}", logline::file_fault(&check.rs, t.program, true));
                }
                CheckerEvent::Up { .. } if !t.up => {
                    tracing::debug!("{}", logline::file_fault(&check.rs, t.program, false));
                }
                _ => {}
            }
        }
        match ev {
            CheckerEvent::Up { .. } => say(logline::checker_up(&check)),
            CheckerEvent::Down { reason } => {
                let lines = logline::down_lines(kind, t.up, t.first_probe, t.log_all_failures);
                let cause = Cause::of(kind, &reason.failure.reason);
                if lines.detail {
                    say(cause.and_then(|c| {
                        logline::verdict_detail(kind, &detail_rs, c, reason.retries, t.first_probe)
                    }));
                }
                if lines.down {
                    say(logline::checker_down(
                        &check,
                        cause.unwrap_or(Cause::ReadError),
                        reason.retries,
                    ));
                }
                // Silence is keepalived's answer for some: said.
                told |= !t.up;
            }
            CheckerEvent::Retrying {
                reason,
                attempt,
                retry,
            } => {
                if !logline::retry_told(kind, t.up) {
                    told |= !t.up;
                } else if kind == rka_check::CheckKind::Misc {
                    let cause = Cause::of(kind, &reason.reason);
                    say(cause.map(|c| logline::misc_retrying(&check, c, *attempt, *retry)));
                } else {
                    say(detail(&reason.reason));
                }
            }
            CheckerEvent::UrlPassed {
                length_mismatch, ..
            } => {
                let Some(url) = t.url else {
                    continue;
                };
                // A url passes (is reported) only while its checker has not passed: down, or
                // before its first pass, when keepalived tells the length (under -D) but not
                // the url (http-misbehaving.log, 8702: its only lines are this and the
                // checker's first success).
                if let Some(m) = length_mismatch {
                    let line = logline::http_length_mismatch(
                        &check.rs,
                        &check.vs,
                        &url.path,
                        m.content_length,
                        m.received,
                    );
                    tracing::debug!("{line}");
                }
                if !t.up {
                    let test = UrlTest::of(url.digest.is_some(), url.regex.is_some());
                    say(Some(logline::http_url_success(&check.rs, test, &url.path)));
                }
            }
            CheckerEvent::WeightChanged { .. } | CheckerEvent::WeightReset => {}
            CheckerEvent::NotRun { reason } => {
                if let rka_check::Reason::SetUp { step, cause } = &reason.reason {
                    let ((first, error), second) =
                        logline::set_up_failed(kind, &detail_rs, step, cause);
                    if error {
                        tracing::error!("{first}");
                    } else {
                        tracing::info!("{first}");
                    }
                    say(second);
                    told = true;
                }
            }
        }
    }
    told
}

/// keepalived's "Changing weight from N to M for [in]active service ..." line when the
/// weight of real server `rs` of virtual server `vs` changed from `before` (its weight before
/// the event was applied to `director`); "inactive" while the real server is down (observed).
fn log_weight_change(plan: &Plan, director: &Director, vs: usize, rs: usize, before: Option<u32>) {
    let (Some(from), Some(to)) = (before, director.effective_weight(vs, rs)) else {
        return;
    };
    if from == to {
        return;
    }
    let Some((sp, dp)) = rs_plan(plan, vs, rs) else {
        return;
    };
    let line = super::logline::weight_changed(
        i64::from(from),
        i64::from(to),
        director.is_up(vs, rs),
        &logline_server(sp, dp),
        &super::logline::VirtualServerName::Label(&sp.label),
    );
    tracing::info!("{line}");
}

/// The plan of virtual server `vs` and of its real server `rs`.
fn rs_plan(plan: &Plan, vs: usize, rs: usize) -> Option<(&ServicePlan, &DestPlan)> {
    let sp = plan.services.get(vs)?;
    Some((sp, sp.real_servers.get(rs)?))
}

impl Runtime {
    /// Maps the configuration, starts the IPVS manager on `backend`, starts every probe and
    /// programs the initial table.
    pub fn start<B: Backend>(config: &Config, backend: B) -> std::io::Result<Runtime> {
        let plan = Plan::from_config(config);
        let g = &config.global;
        let timeouts = g.lvs_timeouts.map(|t| rka_ipvs::Timeouts {
            tcp: t.tcp.unwrap_or(0),
            tcp_fin: t.tcp_fin.unwrap_or(0),
            udp: t.udp.unwrap_or(0),
        });
        let ipvs = Manager::start(
            backend,
            StartOptions {
                flush: g.simple.lvs_flush,
                timeouts,
            },
        )?;
        let (events_tx, events_rx) = mpsc::channel(1024);
        let director = Director::new(DirectorSpec::default());
        let mut rt = Runtime {
            plan: Plan::empty(),
            director,
            probes: ProbeTable::default(),
            pool: {
                let mut pool = CheckerPool::new();
                pool.report_url_passes();
                pool.start_checkers_down();
                pool
            },
            events_tx,
            events_rx,
            ipvs,
            notifier: LvsNotifier::new(config),
            next_id: 0,
            local_addrs: None,
            addr_task: None,
            touched: BTreeSet::new(),
            table_dirty: false,
            observe: Default::default(),
            release_pending: false,
            cause: None,
            down_before: Vec::new(),
            to_notify: Vec::new(),
            subjects: HashMap::new(),
            watchers: HashMap::new(),
            name_targets: HashMap::new(),
            joined: HashMap::new(),
        };
        rt.install(plan, None);
        // The checkers a reload creates from now on retry their first failure, as
        // keepalived's (the ones of the start settle it at once).
        rt.pool.retry_first_probes();
        let init_notifies = config.global.simple.rs_init_notifies;
        for a in super::notify::start_actions(&rt.plan, &rt.director, init_notifies) {
            // At start keepalived logs "Gained quorum" for the services that start up, and
            // nothing for the others or for the real servers (observed).
            // No sorry server line then (observed: a service with a sorry server that starts
            // up logs its quorum line alone).
            if let Action::QuorumUp { vs } = a {
                if let Some(sp) = rt.plan.services.get(vs) {
                    rt.log_quorum(vs, sp, super::logline::QuorumChange::Gained, false);
                }
            }
            rt.to_notify.push(a);
        }
        rt.run_notifiers();
        rt.log_activating();
        Ok(rt)
    }

    /// Takes a new plan: probes with unchanged parameters keep running (state and timers),
    /// the others start or stop; the director restarts from the probes' current verdicts.
    /// `old_plan`: the plan in force until now, on a reload (a kept probe that gained slots
    /// is probed afresh to tell their first success).
    fn install(&mut self, mut plan: Plan, old_plan: Option<&Plan>) {
        check_fd_limit(plan.probes.len());
        // The plan's probes and director spec move into the tasks, the pool and the director
        // (nothing keeps a second copy: with tens of thousands of checkers it counts).
        let (running_ids, running) = self.probes.take_all();
        let mut running: Vec<Option<ProbeTask>> = running.into_iter().map(Some).collect();
        // Each running probe's place in `running`, by key.
        let mut old: HashMap<ProbeKey, usize> = running
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_ref().map(|p| (p.key, i)))
            .collect();
        let keys: Vec<ProbeKey> = plan.probes.iter().map(|p| ProbeKey::of(&p.key)).collect();
        // Room for the new checkers at once: no doubling growth of the pool at start-up.
        self.pool
            .reserve(keys.iter().filter(|k| !old.contains_key(k)).count());
        let mut keep_ids = Vec::with_capacity(plan.probes.len());
        let mut keep = Vec::with_capacity(plan.probes.len());
        let mut spec = std::mem::take(&mut plan.director);
        self.name_targets.clear();
        for (pp, key) in std::mem::take(&mut plan.probes).into_iter().zip(keys) {
            let own = own_target(&plan, &pp);
            match old.remove(&key) {
                Some(i) => {
                    let id = running_ids.get(i).copied();
                    let task = running.get_mut(i).and_then(Option::take);
                    if let (Some(id), Some(mut t)) = (id, task) {
                        let weight = self.probe_weight(id, &t);
                        // Slots joined at an earlier reload and still waiting for their
                        // first verdict count as joined again (if they are still there).
                        let pending = self.joined.remove(&id);
                        let joined = match old_plan {
                            Some(old) if matches!(t.running(), Running::Pooled) => {
                                let had: Vec<Slot> = t
                                    .slots()
                                    .iter()
                                    .copied()
                                    .filter(|s| {
                                        pending.as_ref().is_none_or(|j| !j.slots.contains(s))
                                    })
                                    .collect();
                                joined_slots(old, &had, &plan, &pp.slots)
                            }
                            _ => Vec::new(),
                        };
                        // The running checkers keep the probe's verdict and weight; the
                        // joined ones start as the plan says (up unless `alpha`).
                        for s in pp.slots.iter().filter(|s| !joined.contains(s)) {
                            set_inits(&mut spec, std::slice::from_ref(s), t.up(), weight);
                        }
                        if let (false, Ok(probe)) = (joined.is_empty(), pp.probe) {
                            // Probed afresh, as keepalived's new checker is: its next
                            // results are a first verdict sequence (see `Joined`).
                            let up = !pp.schedule.alpha;
                            self.pool.insert(id, probe, pp.schedule);
                            let slots = joined.into();
                            self.joined.insert(id, Joined { slots, up });
                        }
                        t.set_slots(pp.slots);
                        if let Some(target) = own {
                            self.name_targets.insert(id, target);
                        }
                        keep_ids.push(id);
                        keep.push(t);
                    }
                }
                None => {
                    let id = self.next_id;
                    self.next_id += 1;
                    if let Some(target) = own {
                        self.name_targets.insert(id, target);
                    }
                    let task = self.start_probe(id, key, pp);
                    match task.running() {
                        Running::Not => set_inits(&mut spec, &task.slots(), false, None),
                        Running::Watcher => {
                            let weight = self.watchers.get(&id).and_then(|w| w.weight);
                            set_inits(&mut spec, &task.slots(), task.up(), weight);
                        }
                        Running::Pooled => {}
                    }
                    keep_ids.push(id);
                    keep.push(task);
                }
            }
        }
        // The probes not kept stop here (a FILE_CHECK watcher is aborted as its task drops).
        let stopped: Vec<u64> = running_ids
            .into_iter()
            .zip(running)
            .filter_map(|(id, t)| t.map(|_| id))
            .collect();
        if !stopped.is_empty() {
            tracing::info!(
                "{} checker(s) no longer configured - stopped",
                stopped.len()
            );
        }
        for id in &stopped {
            self.subjects.remove(id);
            self.watchers.remove(id);
            self.joined.remove(id);
        }
        self.pool.remove_many(stopped);
        self.pool.shrink_to_fit();
        self.probes = ProbeTable::from_unsorted(keep_ids, keep);
        self.director = Director::new(spec);
        self.plan = plan;
        let wants_addrs = self.plan.services.iter().any(|s| s.suspend_on().is_some());
        if wants_addrs && self.local_addrs.is_none() {
            if let Some((rx, task)) = spawn_address_watch() {
                self.local_addrs = Some(rx);
                self.addr_task = Some(AbortOnDrop(task));
            }
        }
        self.apply_suspensions(false);
        self.push_table();
        self.release_pending = true;
    }

    /// `ha_suspend`: suspends the checkers of virtual servers whose address is not on this host.
    ///
    /// `announce`: the address came or went while running (keepalived's "Activating" /
    /// "Suspending" lines for each checker of the service, after `-D`'s "Netlink reflector
    /// reports IP ..."); at start and after a reload the activity lines say it
    /// ([`log_activating`](Self::log_activating)).
    pub(super) fn apply_suspensions(&mut self, announce: bool) {
        use super::logline::Activity;
        let Some(rx) = &self.local_addrs else {
            return;
        };
        let local = rx.borrow().clone();
        let mut flipped = Vec::new();
        for (vi, sp) in self.plan.services.iter().enumerate() {
            if let Some(addr) = sp.suspend_on() {
                let suspend = !local.contains(&addr);
                if self.director.is_suspended(vi) != suspend {
                    tracing::debug!(
                        "virtual server {}: address {} {} - checkers {}",
                        sp.label,
                        addr,
                        if suspend { "absent" } else { "present" },
                        if suspend { "suspended" } else { "resumed" }
                    );
                    self.director.set_suspended(vi, suspend);
                    self.touched.insert(vi);
                    flipped.push((vi, addr, suspend));
                }
            }
        }
        if announce {
            // One reflector line per address, as keepalived logs it once per event.
            let mut told = Vec::new();
            for &(vi, addr, suspend) in &flipped {
                if !told.contains(&addr) {
                    told.push(addr);
                    tracing::debug!("{}", super::logline::address_reported(addr, !suspend));
                }
                let verb = if suspend {
                    Activity::Suspending
                } else {
                    Activity::Activating
                };
                for s in self.checker_slots(Some(vi)) {
                    self.log_activity(s, verb);
                }
            }
        }
        self.drain_actions();
        self.flush_table();
    }

    fn start_probe(&mut self, id: u64, key: ProbeKey, pp: ProbePlan) -> ProbeTask {
        let (running, up, reason) = match pp.probe {
            Ok(Probe::File(p)) => {
                // Read at once, as keepalived reads its tracked files before it programs the
                // table: a failing file starts the checker down and a dynamic weight applies
                // from the start, without a line (the caller starts the slots so).
                let first = rka_check::file::judge_now(&p);
                let (up, weight) = match &first {
                    Ok(s) => (true, s.weight),
                    Err(_) => (false, None),
                };
                if !p.name.is_empty() {
                    self.subjects.insert(id, p.name.as_str().into());
                }
                let events = self.events_tx.clone();
                let task = AbortOnDrop(spawn_file_watcher(id, p, (up, weight), events));
                let watcher = Watcher {
                    _task: task,
                    weight,
                };
                self.watchers.insert(id, watcher);
                let reason = first.err().map(|f| Box::new(DownReason::from(f)));
                (Running::Watcher, up, reason)
            }
            Ok(p) => {
                let up = !pp.schedule.alpha;
                if let Probe::Misc(m) = &p {
                    if let Some(program) = m.argv.first() {
                        self.subjects
                            .insert(id, rka_check::misc::program_path(program).into());
                    }
                }
                // The pool's state starts every checker down (`start_checkers_down`), so
                // that it reports the first success: keepalived logs a checker's first
                // success even when it started up (and a MISC_CHECK's mails). The director
                // starts the checker as configured; before its first verdict a checker is
                // probed and retried alike either way (see CheckerState::handle_result), and
                // an `Up` for a probe already up changes nothing but these lines
                // (handle_event). Its schedule keeps the configured `alpha`, which some of
                // keepalived's rules at a reload follow (CheckerState::retry_first_probe).
                self.pool.insert(id, p, pp.schedule);
                (Running::Pooled, up, None)
            }
            Err(e) => {
                tracing::error!("{}: cannot run: {e} - counted as failing", pp.name);
                (
                    Running::Not,
                    false,
                    Some(Box::new(DownReason::from(Failure::new(e)))),
                )
            }
        };
        ProbeTask {
            last_reason: reason,
            ..ProbeTask::new(key, pp.name.kind(), pp.slots, up, running)
        }
    }

    /// Hands the whole wanted table over.
    fn push_table(&mut self) {
        self.touched.clear();
        self.table_dirty = false;
        let mut d = desired(&self.plan, &self.director);
        self.observe.apply_drains(&self.plan, &mut d);
        self.ipvs.apply(d);
    }

    /// Hands over the virtual servers touched since the last call, if the table changed, then
    /// runs the notifiers of the announcements queued meanwhile (a notify script's fork or a
    /// FIFO write does not delay the IPVS change).
    fn flush_table(&mut self) {
        let touched = std::mem::take(&mut self.touched);
        if std::mem::take(&mut self.table_dirty) {
            let mut d = desired_for(&self.plan, &self.director, touched);
            self.observe.apply_drains(&self.plan, &mut d);
            self.ipvs.update(d);
        }
        self.run_notifiers();
    }

    /// Waits for the next control event, handling checker verdicts meanwhile.
    pub async fn step(&mut self, control: &mut mpsc::Receiver<Control>) -> Control {
        if std::mem::take(&mut self.release_pending) {
            // The caller has dropped the configuration the plan came from (tens of MB with
            // tens of thousands of checkers): have the allocator return it to the system.
            rka_sys::alloc::release_free_memory();
        }
        loop {
            let addrs = async {
                match self.local_addrs.as_mut() {
                    Some(rx) => rx.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                (id, e) = self.pool.next_event() => {
                    self.handle_event(id, e);
                    self.take_queued_events();
                }
                ev = self.events_rx.recv() => {
                    if let Some((id, e)) = ev {
                        self.handle_event(id, e);
                        self.take_queued_events();
                    }
                }
                changed = addrs => {
                    if changed {
                        self.apply_suspensions(true);
                    } else {
                        self.local_addrs = None;
                    }
                }
                c = control.recv() => return c.unwrap_or(Control::Stop),
            }
        }
    }

    /// Takes every verdict already waiting, then hands the table over once.
    pub(super) fn take_queued_events(&mut self) {
        while let Some((id, e)) = self.pool.try_next_event() {
            self.handle_event(id, e);
        }
        while let Ok((id, e)) = self.events_rx.try_recv() {
            self.handle_event(id, e);
        }
        self.flush_table();
    }

    /// Applies one probe's event to every slot it serves. The announcements are logged at once
    /// and notified at the next hand-over of the table.
    ///
    /// An `Up` for a probe that passes already is its first success (the pool starts every
    /// checker down to report it, see `start_probe`): it changes no state, but keepalived logs
    /// the checker's success line then, and a MISC_CHECK mails the real server's state. A
    /// weight report logs keepalived's "Changing weight" line for each real server whose
    /// weight it changed, before the checker's own line (the weight comes first in the
    /// probe's events). Until the first verdict of a probe restarted for checkers a reload
    /// joined to it, its events are those of new checkers for them: see [`Joined`].
    pub fn handle_event(&mut self, id: u64, ev: CheckerEvent) {
        self.observe.record(id, &ev);
        let Some(p) = self.probes.get_mut(&id) else {
            return;
        };
        let kind = p.kind();
        let name = NameOf {
            plan: &self.plan,
            targets: &self.name_targets,
            id,
            kind,
            first: p.slots().first().copied(),
        };
        let was_up = p.up();
        let first_success = was_up && matches!(ev, CheckerEvent::Up { .. });
        // The joined slots' first verdict is this one (a pass or a failure): they are
        // joined no more after it.
        let verdict = matches!(ev, CheckerEvent::Up { .. } | CheckerEvent::Down { .. });
        let joined = verdict.then(|| self.joined.remove(&id)).flatten();
        let joined = joined.as_ref().or_else(|| self.joined.get(&id));
        let schedule = self.pool.schedule(id);
        let teller = Teller {
            kind,
            program: self.subjects.get(&id).map_or("", |s| &**s),
            up: was_up,
            log_all_failures: schedule.is_some_and(|s| s.log_all_failures),
            first_probe: match &ev {
                CheckerEvent::Down { reason } => reason.first_probe,
                _ => false,
            },
            url: match ev {
                CheckerEvent::UrlPassed { url, .. } => self.pool.url(id, url),
                _ => None,
            },
            target: self.name_targets.get(&id).copied(),
        };
        // Which slots hear the event, and whether their checker passed before it.
        let running_hear = joined.is_none() || heard_by_running(was_up, &ev);
        let hears = |s: &Slot| match joined {
            Some(j) if j.slots.contains(s) => Some(j.up),
            _ => running_hear.then_some(was_up),
        };
        let told = match joined {
            None => self_told(&self.plan, &teller, &p.slots(), &ev),
            Some(j) => {
                let running: Vec<Slot> = p
                    .slots()
                    .iter()
                    .copied()
                    .filter(|s| !j.slots.contains(s))
                    .collect();
                let by_running = running_hear && self_told(&self.plan, &teller, &running, &ev);
                let new = Teller { up: j.up, ..teller };
                self_told(&self.plan, &new, &j.slots, &ev) | by_running
            }
        };
        // keepalived's lines for the checker (above) at info; ours, with the probe's own
        // words, at debug, or at info where keepalived's line cannot be told.
        let ours = |line: std::fmt::Arguments<'_>| {
            if told {
                tracing::debug!("{line}");
            } else {
                tracing::info!("{line}");
            }
        };
        match &ev {
            // Not a change: ours at debug whatever keepalived says (it says nothing for a
            // DNS_CHECK or a FILE_CHECK).
            CheckerEvent::Up { reason } if first_success => {
                tracing::debug!("{name}: first probe passed ({reason})");
            }
            CheckerEvent::Up { reason } => {
                p.set_up(true);
                p.last_reason = None;
                p.count_transition();
                ours(format_args!("{name}: success ({reason})"));
            }
            // A probe failing already, restarted for joined checkers: a verdict for those.
            CheckerEvent::Down { reason } if !was_up && joined.is_some() => {
                p.last_reason = Some(Box::new(reason.clone()));
                ours(format_args!(
                    "{name}: failed for the checkers joined: {reason}"
                ));
            }
            CheckerEvent::Down { reason } => {
                p.set_up(false);
                p.last_reason = Some(Box::new(reason.clone()));
                p.count_transition();
                ours(format_args!("{name}: failed: {reason}"));
            }
            CheckerEvent::Retrying {
                reason,
                attempt,
                retry,
            } => ours(format_args!(
                "{name}: failed: {reason} (retry {attempt}/{retry})"
            )),
            // keepalived's line for each real server whose weight changes: below.
            // The pool's state holds a pooled probe's weight already; a watcher's is kept here.
            CheckerEvent::WeightChanged { weight } => {
                if let Some(w) = self.watchers.get_mut(&id) {
                    w.weight = Some(*weight);
                }
                tracing::debug!("{name}: weight {weight}");
            }
            CheckerEvent::WeightReset => {
                if let Some(w) = self.watchers.get_mut(&id) {
                    w.weight = None;
                }
                tracing::debug!("{name}: configured weight");
            }
            // A line only: nothing changes.
            CheckerEvent::UrlPassed { url, .. } => {
                tracing::debug!("{name}: url #{url} passed");
                return;
            }
            // Lines only: nothing changes, the probe runs again a delay_loop later.
            CheckerEvent::NotRun { reason } => {
                ours(format_args!(
                    "{name}: not run: {reason} - again after delay_loop"
                ));
                return;
            }
        }
        let weighs = matches!(
            ev,
            CheckerEvent::WeightChanged { .. } | CheckerEvent::WeightReset
        );
        let misc_up = kind == rka_check::CheckKind::Misc && matches!(ev, CheckerEvent::Up { .. });
        // The fields borrowed apart: no copy of the slots.
        let downs = matches!(ev, CheckerEvent::Down { .. });
        for &s in p.slots().iter() {
            let Some(slot_was_up) = hears(&s) else {
                continue;
            };
            if downs && !self.director.is_up(s.vs(), s.rs()) {
                self.down_before.push((s.vs(), s.rs()));
            }
            let before = super::notify::SlotState::of(&self.director, s);
            let weight_before = self.director.effective_weight(s.vs(), s.rs());
            self.director.handle_checker(s, &ev);
            self.touched.insert(s.vs());
            if weighs {
                log_weight_change(&self.plan, &self.director, s.vs(), s.rs(), weight_before);
            }
            // The first success of a checker that passed already: nothing changes, but a
            // MISC_CHECK mails it.
            if misc_up && slot_was_up {
                self.notifier
                    .misc_first_success(&self.plan, &self.director, s);
            }
            self.notifier
                .checker_verdict(&self.plan, &self.director, s, before, &ev);
        }
        if let CheckerEvent::Down { reason } = ev {
            self.cause = Some(reason);
        }
        self.drain_actions();
        self.cause = None;
        self.down_before.clear();
    }

    /// While a failing probe's verdict is being announced (real server or quorum down), the
    /// probe's reason: what the notifiers can tell (e.g. in an `smtp_alert` mail body).
    pub fn cause(&self) -> Option<&DownReason> {
        self.cause.as_ref()
    }

    /// The last finished probe of probe `id` (duration, and reason when it failed); `None`
    /// before its first probe or for a FILE_CHECK (event-driven: no probe duration).
    pub fn last_probe(&self, id: u64) -> Option<rka_check::ProbeReport<'_>> {
        self.pool.last_probe(id)
    }

    fn drain_actions(&mut self) {
        while let Some(a) = self.director.poll_action() {
            if a == Action::TableChanged {
                self.table_dirty = true;
            } else {
                self.announce(&a);
            }
        }
    }

    /// Logs `a` and queues it for the notifiers ([`run_notifiers`](Self::run_notifiers)).
    fn announce(&mut self, a: &Action) {
        if self.log_action(a) {
            self.to_notify.push(a.clone());
        }
    }

    /// Runs the notifiers of the queued announcements, in order.
    fn run_notifiers(&mut self) {
        let mut queued = std::mem::take(&mut self.to_notify);
        for a in queued.drain(..) {
            self.notify_action(&a);
        }
        // Keep the room for the next batch.
        self.to_notify = queued;
    }

    /// Logs an announcement; whether it is one the notifiers tell.
    fn log_action(&self, a: &Action) -> bool {
        use super::logline::{self, QuorumChange, ServerChange, VirtualServerName};
        match *a {
            Action::RealServerUp { vs, rs } | Action::RealServerDown { vs, rs } => {
                let up = matches!(a, Action::RealServerUp { .. });
                let Some((sp, dp)) = rs_plan(&self.plan, vs, rs) else {
                    return false;
                };
                // keepalived's lines: the table gains or loses the server, or (with
                // inhibit_on_failure) keeps it at weight 0.
                let change = match (up, self.director.inhibits(vs, rs)) {
                    (true, false) => ServerChange::Added,
                    (false, false) => ServerChange::Removed,
                    (true, true) => ServerChange::Enabled,
                    (false, true) => ServerChange::Disabled,
                };
                let server = logline_server(sp, dp);
                if !up && self.down_before.contains(&(vs, rs)) {
                    tracing::debug!("real server {server} starts down");
                    return true;
                }
                let name = VirtualServerName::Label(&sp.label);
                tracing::info!("{}", logline::server_change(change, &server, &name));
                if let Some(cause) = self.cause() {
                    tracing::debug!("real server {server} down because: {cause}");
                }
                true
            }
            Action::QuorumUp { vs } | Action::QuorumDown { vs } => {
                let up = matches!(a, Action::QuorumUp { .. });
                let Some(sp) = self.plan.services.get(vs) else {
                    return false;
                };
                self.log_quorum(
                    vs,
                    sp,
                    if up {
                        QuorumChange::Gained
                    } else {
                        QuorumChange::Lost
                    },
                    true,
                );
                true
            }
            Action::TableChanged => false,
        }
    }

    /// keepalived's quorum line of service `vs`, and with `sorry_lines` the sorry server's
    /// lines that follow it when the quorum changes while running (not at start: observed).
    fn log_quorum(
        &self,
        vs: usize,
        sp: &ServicePlan,
        change: super::logline::QuorumChange,
        sorry_lines: bool,
    ) {
        use super::logline::{self, QuorumChange, VirtualServerName};
        let (quorum, hysteresis) = self.director.quorum_of(vs).unwrap_or((1, 0));
        let weight = i64::try_from(self.director.live_weight(vs)).unwrap_or(i64::MAX);
        let name = VirtualServerName::Label(&sp.label);
        tracing::info!(
            "{}",
            logline::quorum(change, quorum, hysteresis, weight, &name)
        );
        if let Some(sorry) = sp.sorry.as_deref().filter(|_| sorry_lines) {
            let server = logline_server(sp, sorry);
            let lines = match change {
                QuorumChange::Lost => logline::sorry_server_in(&server, &name),
                _ => logline::sorry_server_out(&server, &name),
            };
            for l in lines {
                tracing::info!("{l}");
            }
        }
    }

    /// Tells the notifiers (FIFO lines, notify scripts, `smtp_alert` mail) about `a`.
    fn notify_action(&mut self, a: &Action) {
        match *a {
            Action::RealServerUp { vs, rs } | Action::RealServerDown { vs, rs } => {
                let up = matches!(a, Action::RealServerUp { .. });
                let Some((sp, dp)) = rs_plan(&self.plan, vs, rs) else {
                    return;
                };
                self.notifier.notify(
                    &rs_line(&sp.dest_label(dp), &sp.label, up),
                    sp.notify_script(dp, up),
                );
            }
            Action::QuorumUp { vs } | Action::QuorumDown { vs } => {
                let up = matches!(a, Action::QuorumUp { .. });
                let Some(sp) = self.plan.services.get(vs) else {
                    return;
                };
                self.notifier
                    .notify(&vs_line(&sp.label, up), sp.quorum_script(up));
            }
            Action::TableChanged => {}
        }
    }

    /// The plan in force (read-only: status).
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The director (read-only: status).
    pub fn director(&self) -> &Director {
        &self.director
    }

    /// The running probes by id (read-only: status); [`Runtime::probe_name`] names them.
    pub fn probes(&self) -> &ProbeTable {
        &self.probes
    }

    /// The name of probe `id` (`p`), e.g. `TCP_CHECK 10.0.0.2:80`.
    pub fn probe_name(&self, id: u64, p: &ProbeTask) -> ProbeName {
        name_of(
            &self.plan,
            &self.name_targets,
            id,
            p.kind(),
            p.slots().first().copied(),
        )
    }

    /// The weight probe `id` (`p`) last reported; `None` for the configured weight (or a
    /// probe that reports none).
    pub fn probe_weight(&self, id: u64, p: &ProbeTask) -> Option<i64> {
        match p.running() {
            Running::Not => None,
            Running::Pooled => self.pool.weight(id),
            Running::Watcher => self.watchers.get(&id).and_then(|w| w.weight),
        }
    }

    /// Hands virtual server `vs` to IPVS again (an operator drained or undrained one of its
    /// real servers).
    pub fn refresh_service(&mut self, vs: usize) {
        self.touched.insert(vs);
        self.table_dirty = true;
        self.flush_table();
    }

    /// keepalived's lines once the checkers run (at start and after a reload): one per checker
    /// of each real server but its FILE_CHECKs, in configuration order, then the BFD line.
    fn log_activating(&self) {
        use super::logline::{activating_bfd, Activity};
        for s in self.checker_slots(None) {
            let verb = if self.director.is_suspended(s.vs()) {
                Activity::Deactivating
            } else {
                Activity::Activating
            };
            self.log_activity(s, verb);
        }
        tracing::info!("{}", activating_bfd());
    }

    /// The slots of every checker keepalived names in its activity lines (of virtual server
    /// `vs` only, if given), in configuration order: all but FILE_CHECKs (keepalived has no
    /// such line for them, observed: file-check-weight*.log).
    fn checker_slots(&self, vs: Option<usize>) -> Vec<Slot> {
        let mut slots: Vec<Slot> = self
            .probes
            .values()
            .filter(|p| p.kind() != rka_check::CheckKind::File)
            .flat_map(ProbeTask::slots)
            .filter(|s| vs.is_none_or(|v| s.vs() == v))
            .collect();
        slots.sort_unstable_by_key(|s| (s.vs(), s.rs(), s.check()));
        slots
    }

    /// keepalived's activity line for the checker at `s`.
    fn log_activity(&self, s: Slot, verb: super::logline::Activity) {
        if let Some((sp, dp)) = rs_plan(&self.plan, s.vs(), s.rs()) {
            let name = super::logline::VirtualServerName::Label(&sp.label);
            let server = logline_server(sp, dp);
            tracing::info!("{}", super::logline::checker_activity(&server, &name, verb));
        }
    }

    /// Applies a new configuration (SIGHUP).
    pub fn reload(&mut self, config: &Config) {
        let started = std::time::Instant::now();
        self.notifier = LvsNotifier::new(config);
        let plan = Plan::from_config(config);
        let mapped = started.elapsed();
        // The previous plan and director, kept until the reload's lines are logged (install
        // replaces them; both existed together there already).
        let old_plan = std::mem::replace(&mut self.plan, Plan::empty());
        let old_director =
            std::mem::replace(&mut self.director, Director::new(DirectorSpec::default()));
        self.install(plan, Some(&old_plan));
        self.log_reload(&old_plan, &old_director);
        drop((old_plan, old_director));
        tracing::info!("checker configuration reloaded");
        self.log_activating();
        tracing::debug!(
            "reload: plan mapped in {} ms, installed in {} ms",
            mapped.as_millis(),
            (started.elapsed() - mapped).as_millis()
        );
    }

    /// keepalived's lines for what a reload changed, as keepalived 2.2.7 logs them (observed
    /// in the VM), from the previous plan and director to the ones in force:
    /// 1. for each real server the new configuration drops from a virtual server it keeps
    ///    (virtual servers by label, real servers by address and port), in the previous
    ///    order, "service ... no longer exist", then "Removing service ..." when it was in
    ///    the table;
    /// 2. for each virtual server in the new order: "Changing weight ..." for each real
    ///    server kept whose weight changed (its configured weight), then the quorum line:
    ///    "Gained quorum" for a new service that starts up or a kept one that regains it
    ///    (that case not observed), "Starting with quorum down" for a kept one that loses
    ///    it; nothing for a new service that starts down, as at start.
    fn log_reload(&self, old_plan: &Plan, old: &Director) {
        use super::logline::{self, QuorumChange, VirtualServerName};
        let old_by_label: HashMap<&str, usize> = old_plan
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.label.as_str(), i))
            .collect();
        // The services kept, as (new index, old index, new real server -> old real server).
        let mut kept: Vec<(usize, usize, Vec<Option<usize>>)> = self
            .plan
            .services
            .iter()
            .enumerate()
            .filter_map(|(n, sp)| {
                let o = *old_by_label.get(sp.label.as_str())?;
                let old_sp = old_plan.services.get(o)?;
                Some((
                    n,
                    o,
                    match_real_servers(&old_sp.real_servers, &sp.real_servers),
                ))
            })
            .collect();
        kept.sort_unstable_by_key(|(_, o, _)| *o);
        for (_, o, matched) in &kept {
            let Some(old_sp) = old_plan.services.get(*o) else {
                continue;
            };
            let mut still = vec![false; old_sp.real_servers.len()];
            for ori in matched.iter().flatten() {
                if let Some(s) = still.get_mut(*ori) {
                    *s = true;
                }
            }
            let name = VirtualServerName::Label(&old_sp.label);
            for (ori, dp) in old_sp.real_servers.iter().enumerate() {
                if still.get(ori).copied().unwrap_or(true) {
                    continue;
                }
                let server = logline_server(old_sp, dp);
                tracing::info!("{}", logline::no_longer_exists(&server));
                if old.real_server_weight(*o, ori).is_some() {
                    let inhibited = old.inhibits(*o, ori) && !old.is_up(*o, ori);
                    tracing::info!("{}", logline::cleared(&server, &name, false, inhibited));
                }
            }
        }
        kept.sort_unstable_by_key(|(n, _, _)| *n);
        let mut kept = kept.into_iter().peekable();
        for (n, sp) in self.plan.services.iter().enumerate() {
            let was_up = match kept.next_if(|(kn, _, _)| *kn == n) {
                Some((_, o, matched)) => {
                    for (ri, ori) in matched.iter().enumerate() {
                        if let Some(ori) = ori {
                            let before = old.effective_weight(o, *ori);
                            log_weight_change(&self.plan, &self.director, n, ri, before);
                        }
                    }
                    Some(old.has_quorum(o))
                }
                None => None,
            };
            let change = match (was_up, self.director.has_quorum(n)) {
                (Some(true), false) => QuorumChange::StartingDown,
                (Some(false) | None, true) => QuorumChange::Gained,
                _ => continue,
            };
            self.log_quorum(n, sp, change, false);
        }
    }

    /// Stops every probe, announces `omega` shutdowns, and releases IPVS as `mode` says.
    pub async fn stop(mut self, mode: StopMode) {
        self.pool.clear();
        self.probes.clear();
        self.watchers.clear();
        // keepalived's line for every real server, in configuration order.
        for (v, sp) in self.plan.services.iter().enumerate() {
            let name = super::logline::VirtualServerName::Label(&sp.label);
            for (r, dp) in sp.real_servers.iter().enumerate() {
                let rs = logline_server(sp, dp);
                let inhibited = self.director.inhibits(v, r) && !self.director.is_up(v, r);
                tracing::info!("{}", super::logline::cleared(&rs, &name, true, inhibited));
            }
        }
        for a in self.director.shutdown_actions() {
            let omega = match a {
                Action::RealServerDown { vs, .. } | Action::QuorumDown { vs } => {
                    self.plan.services.get(vs).is_some_and(|s| s.omega)
                }
                _ => false,
            };
            if omega {
                self.announce(&a);
            }
        }
        self.run_notifiers();
        self.ipvs.stop(mode).await;
    }
}

/// For each real server of `new`, its index in `old` (same address and port), if any. Lists
/// in the same order (the usual reload) are matched without a map.
fn match_real_servers(old: &[DestPlan], new: &[DestPlan]) -> Vec<Option<usize>> {
    let same = |a: &DestPlan, b: &DestPlan| a.addr == b.addr && a.port == b.port;
    if old.len() == new.len() && old.iter().zip(new).all(|(a, b)| same(a, b)) {
        return (0..new.len()).map(Some).collect();
    }
    let by_addr: HashMap<(IpAddr, u16), usize> = old
        .iter()
        .enumerate()
        .map(|(i, d)| ((d.addr, d.port), i))
        .collect();
    new.iter()
        .map(|d| by_addr.get(&(d.addr, d.port)).copied())
        .collect()
}

/// The slots of `new` (in plan `plan`) that `old` (in plan `old_plan`) does not have: a
/// slot is its virtual server's label, its real server's address and port, and the
/// checker's place on that real server.
fn joined_slots(old_plan: &Plan, old: &[Slot], plan: &Plan, new: &[Slot]) -> Vec<Slot> {
    fn identity(plan: &Plan, s: Slot) -> Option<(&str, IpAddr, u16, usize)> {
        let (sp, dp) = rs_plan(plan, s.vs(), s.rs())?;
        Some((&*sp.label, dp.addr, dp.port, s.check()))
    }
    // Most probes serve one real server: no set to build for them.
    if let ([o], [n]) = (old, new) {
        return match (identity(old_plan, *o), identity(plan, *n)) {
            (Some(a), Some(b)) if a == b => Vec::new(),
            _ => vec![*n],
        };
    }
    let had: std::collections::HashSet<_> =
        old.iter().filter_map(|&s| identity(old_plan, s)).collect();
    new.iter()
        .copied()
        .filter(|&s| identity(plan, s).is_none_or(|i| !had.contains(&i)))
        .collect()
}

/// Sets the starting state of every slot of a probe.
fn set_inits(spec: &mut DirectorSpec, slots: &[Slot], up: bool, weight: Option<i64>) {
    for s in slots {
        if let Some(c) = spec
            .services
            .get_mut(s.vs())
            .and_then(|v| v.real_servers.get_mut(s.rs()))
            .and_then(|r| r.checkers.get_mut(s.check()))
        {
            *c = CheckerInit {
                up,
                weight,
                mode: c.mode,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notifiers_run_after_the_table_is_handed_over() {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let fifo = dir.path().join("lvs.fifo");
        let text = format!(
            "global_defs {{\n lvs_notify_fifo {}\n}}\n\
             virtual_server 10.0.0.1 80 {{\n protocol TCP\n delay_loop 3600\n\
              real_server 127.0.0.1 9 {{\n  TCP_CHECK {{\n  }}\n }}\n}}\n",
            fifo.display()
        );
        let config = reload_cost_tests::parse(&text);
        let fake = super::super::ipvs::fake::Fake::default();
        let mut rt = Runtime::start(&config, fake.clone()).expect("start");
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .expect("open fifo");
        let mut buf = vec![0u8; 4096];
        let mut read = |f: &mut std::fs::File| match f.read(&mut buf) {
            Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => String::new(),
            Err(e) => panic!("read fifo: {e}"),
        };
        assert_eq!(
            read(&mut f),
            "VS [10.0.0.1]:tcp:80 UP\n",
            "start: told at once"
        );
        let id = rt.probes.keys().next().expect("one probe");
        rt.handle_event(
            id,
            CheckerEvent::Down {
                reason: rka_check::Failure::new("refused").into(),
            },
        );
        // Decided and logged, not told yet: the table goes first.
        assert_eq!(read(&mut f), "");
        assert_eq!(rt.to_notify.len(), 2);
        rt.take_queued_events();
        assert!(rt.to_notify.is_empty());
        assert_eq!(
            read(&mut f),
            "RS [127.0.0.1]:tcp:9 [10.0.0.1]:tcp:80 DOWN\nVS [10.0.0.1]:tcp:80 DOWN\n"
        );
        rt.ipvs.sync().await;
        let gone = fake
            .0
            .lock()
            .map(|s| s.table.services.values().all(|v| v.dests.is_empty()))
            .expect("lock");
        assert!(gone, "the real server left the table");
        rt.stop(StopMode::Keep).await;
    }

    fn slot(vs: usize, rs: usize) -> Slot {
        Slot::new(vs, rs, 0)
    }

    /// keepalived 2.2.7's log of tests/data/keepalived-reload-weights (see its README).
    fn captured_log() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/keepalived-reload-weights/keepalived.log"
        ))
        .expect("capture")
    }

    #[test]
    fn weight_lines_say_whether_the_server_is_active() {
        let log = captured_log();
        let rs = |port| super::super::logline::Server {
            addr: std::net::Ipv4Addr::LOCALHOST.into(),
            port,
            protocol: Some(rka_config::model::lvs::Protocol::Tcp),
        };
        use super::super::logline::{weight_changed, VirtualServerName};
        let (vs4, vs6) = (
            VirtualServerName::Label("[10.0.2.4]:tcp:80"),
            VirtualServerName::Label("[10.0.2.6]:tcp:80"),
        );
        for line in [
            weight_changed(2, 3, true, &rs(8604), &vs4),
            weight_changed(3, 7, false, &rs(8604), &vs4),
            weight_changed(2, 5, true, &rs(8606), &vs6),
        ] {
            assert!(log.lines().any(|l| l == line), "{line:?} not in\n{log}");
        }
    }

    fn dests(ports: &[u16]) -> Vec<DestPlan> {
        ports
            .iter()
            .map(|&p| {
                DestPlan::new(
                    std::net::Ipv4Addr::LOCALHOST.into(),
                    p,
                    rka_ipvs::ForwardMethod::Masq,
                )
            })
            .collect()
    }

    #[test]
    fn a_reload_matches_real_servers_by_address_and_port() {
        let same = match_real_servers(&dests(&[1, 2, 3]), &dests(&[1, 2, 3]));
        assert_eq!(same, [Some(0), Some(1), Some(2)]);
        // Reordered, one dropped (2), one added (9).
        let moved = match_real_servers(&dests(&[1, 2, 3]), &dests(&[3, 9, 1]));
        assert_eq!(moved, [Some(2), None, Some(0)]);
        assert!(match_real_servers(&dests(&[1]), &[]).is_empty());
        assert_eq!(match_real_servers(&[], &dests(&[4])), [None]);
    }

    #[test]
    fn probe_slots_read_as_the_slots_given() {
        let with = |slots: Vec<Slot>| {
            ProbeTask::new(
                ProbeKey([0, 0]),
                rka_check::CheckKind::Tcp,
                slots,
                true,
                Running::Pooled,
            )
        };
        let one = with(vec![slot(1, 2)]);
        assert!(matches!(one.head, ProbeHead::One { .. }));
        assert!(matches!(one.slots(), ProbeSlots::One(_)));
        assert_eq!(&one.slots()[..], &[slot(1, 2)]);
        let many = with(vec![slot(0, 0), slot(3, 1)]);
        assert_eq!(many.slots().len(), 2);
        assert_eq!(
            many.slots().into_iter().collect::<Vec<_>>(),
            vec![slot(0, 0), slot(3, 1)]
        );
        assert!(with(Vec::new()).slots().is_empty());
        // A checker index beyond a byte: boxed, read back whole.
        let far = Slot::new(u32::MAX as usize, 7, 256);
        let t = with(vec![far]);
        assert!(matches!(t.head, ProbeHead::Many { .. }));
        assert_eq!(t.slots().into_iter().collect::<Vec<_>>(), [far]);
        let near = Slot::new(u32::MAX as usize, u32::MAX as usize, 255);
        assert_eq!(
            with(vec![near]).slots().into_iter().collect::<Vec<_>>(),
            [near]
        );
        // New slots keep the transitions, kind and flags.
        let mut t = with(vec![slot(1, 2)]);
        t.count_transition();
        t.set_up(false);
        t.set_slots(vec![slot(0, 0), slot(3, 1)]);
        assert_eq!(
            (t.transitions(), t.up(), t.running()),
            (1, false, Running::Pooled)
        );
        assert_eq!(t.kind(), rka_check::CheckKind::Tcp);
        t.set_slots(vec![slot(4, 4)]);
        assert!(matches!(t.head, ProbeHead::One { .. }));
        assert_eq!(
            (t.transitions(), t.up(), t.running()),
            (1, false, Running::Pooled)
        );
        t.reset_transitions();
        assert_eq!(t.transitions(), 0);
        for running in [Running::Not, Running::Pooled, Running::Watcher] {
            for up in [false, true] {
                let f = Flags::new(up, running);
                assert_eq!((f.up(), f.running()), (up, running));
            }
        }
    }

    /// One probe record per checker (36,800 in issue 5's benchmark): the sizes that keep it
    /// small (bench/checker-memory/README.md).
    #[test]
    fn probe_records_stay_small() {
        use std::mem::size_of;
        assert_eq!(size_of::<Slot>(), 12);
        assert_eq!(size_of::<ProbeHead>(), 16);
        assert_eq!(size_of::<ProbeName>(), 20);
        assert_eq!(size_of::<Option<Box<DownReason>>>(), 8);
        assert!(size_of::<ProbeTask>() <= 40, "{}", size_of::<ProbeTask>());
    }

    #[test]
    fn probe_names_are_rebuilt_from_the_plan_with_only_other_targets_kept() {
        let text = "virtual_server 10.0.0.1 80 {\n protocol TCP\n \
                    real_server 127.0.0.1 8080 {\n  TCP_CHECK {\n  }\n }\n \
                    real_server 127.0.0.2 8080 {\n  TCP_CHECK {\n   connect_port 9000\n  }\n }\n \
                    real_server 127.0.0.3 8080 {\n  HTTP_GET {\n   url {\n    path /\n   }\n   \
                    connect_ip 127.0.0.9\n  }\n }\n \
                    real_server 127.0.0.4 8080 {\n  HTTP_GET {\n   url {\n    path /\n   }\n   \
                    connect_ip 127.0.0.9\n  }\n }\n}\n";
        let loaded = rka_config::load_str("t.conf", text, &Default::default());
        assert!(
            !loaded.diagnostics.is_fatal(),
            "{:?}",
            loaded.diagnostics.items()
        );
        let plan = Plan::from_config(&loaded.config);
        // The last two are one probe (same target, same parameters) serving two servers.
        assert_eq!(plan.probes.len(), 3);
        let mut targets = HashMap::new();
        for (id, pp) in (0u64..).zip(&plan.probes) {
            if let Some(t) = own_target(&plan, pp) {
                targets.insert(id, t);
            }
            let p = ProbeTask::new(
                ProbeKey([id, id]),
                pp.name.kind(),
                pp.slots.clone(),
                true,
                Running::Pooled,
            );
            let first = p.slots().first().copied();
            assert_eq!(name_of(&plan, &targets, id, p.kind(), first), pp.name);
        }
        let mut kept: Vec<String> = targets.values().map(|t| t.to_string()).collect();
        kept.sort();
        assert_eq!(kept, ["127.0.0.2:9000", "127.0.0.9:8080"]);
        let names: Vec<String> = plan.probes.iter().map(|p| p.name.to_string()).collect();
        assert_eq!(
            names,
            [
                "TCP_CHECK 127.0.0.1:8080",
                "TCP_CHECK 127.0.0.2:9000",
                "HTTP_GET 127.0.0.9:8080"
            ]
        );
    }

    #[test]
    fn probe_keys_match_equal_parameters_only() {
        let a: std::sync::Arc<str> = "127.0.0.1:80|Tcp|3s".into();
        let same: std::sync::Arc<str> = "127.0.0.1:80|Tcp|3s".into();
        assert_eq!(ProbeKey::of(&a), ProbeKey::of(&same));
        assert_ne!(ProbeKey::of(&a), ProbeKey::of("127.0.0.1:81|Tcp|3s"));
        assert_ne!(ProbeKey::of(&a), ProbeKey::of("127.0.0.1:80|Tcp|4s"));
        // Both halves carry the key.
        let [high, low] = ProbeKey::of(&a).0;
        assert_ne!(high, low);
    }

    fn task(key: u64) -> ProbeTask {
        ProbeTask::new(
            ProbeKey([key, key]),
            rka_check::CheckKind::Tcp,
            vec![slot(0, 0)],
            true,
            Running::Pooled,
        )
    }

    #[test]
    fn the_probe_table_reads_as_a_map_by_id() {
        let mut t = ProbeTable::from_unsorted(vec![7, 2, 5], vec![task(7), task(2), task(5)]);
        assert_eq!(t.len(), 3);
        assert!(!t.is_empty());
        assert_eq!(t.keys().collect::<Vec<_>>(), [2, 5, 7]);
        assert_eq!(t.get(&5).map(|p| p.key), Some(ProbeKey([5, 5])));
        assert!(t.get(&3).is_none() && t.get_mut(&8).is_none());
        if let Some(p) = t.get_mut(&7) {
            for _ in 0..4 {
                p.count_transition();
            }
        }
        for p in t.values_mut() {
            p.count_transition();
        }
        let pairs: Vec<(u64, u32)> = (&t)
            .into_iter()
            .map(|(id, p)| (id, p.transitions()))
            .collect();
        assert_eq!(pairs, [(2, 1), (5, 1), (7, 5)]);
        assert_eq!(t.values().filter(|p| p.up()).count(), 3);
        t.clear();
        assert!(t.is_empty());
    }

    #[test]
    fn the_probe_table_keeps_runs_of_consecutive_ids_not_an_id_per_probe() {
        // Three runs (10-13, 20, 22-23 and u64::MAX - 1 to u64::MAX), given out of order.
        let ids = [23, 10, 11, 20, 12, 13, 22, u64::MAX, u64::MAX - 1];
        let mut t = ProbeTable::from_unsorted(ids.to_vec(), ids.iter().map(|&i| task(i)).collect());
        assert_eq!(t.runs.len(), 4);
        assert_eq!(t.tasks.capacity(), ids.len());
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        assert_eq!(t.keys().collect::<Vec<_>>(), sorted);
        assert_eq!(t.iter().size_hint(), (ids.len(), Some(ids.len())));
        for id in sorted.iter().copied() {
            assert_eq!(t.get(&id).map(|p| p.key), Some(ProbeKey([id, id])), "{id}");
        }
        for absent in [0, 9, 14, 19, 21, 24, u64::MAX - 2] {
            assert!(t.get(&absent).is_none(), "{absent}");
        }
        // Taken whole (a reload) and rebuilt: the same pairs.
        let (all_ids, all) = t.take_all();
        assert!(t.is_empty() && t.get(&10).is_none());
        let pairs: Vec<(u64, ProbeKey)> = all_ids
            .iter()
            .copied()
            .zip(all.iter().map(|p| p.key))
            .collect();
        let want: Vec<(u64, ProbeKey)> = sorted.iter().map(|&i| (i, ProbeKey([i, i]))).collect();
        assert_eq!(pairs, want);
        let t = ProbeTable::from_unsorted(all_ids, all);
        assert_eq!(t.keys().collect::<Vec<_>>(), sorted);
        assert!(ProbeTable::default().get(&0).is_none());
    }

    #[test]
    fn the_probe_table_sorts_its_probes_in_place_by_id() {
        // 1,000 ids in a scrambled order (long permutation cycles), each probe its own key.
        let ids: Vec<u64> = (0..1000u64).map(|i| 5000 + (i * 7919) % 1000).collect();
        let tasks = ids.iter().map(|&i| task(i)).collect();
        let t = ProbeTable::from_unsorted(ids, tasks);
        assert_eq!(t.runs, [(5000, 0)]);
        assert_eq!(t.tasks.capacity(), 1000);
        for (id, p) in &t {
            assert_eq!(p.key, ProbeKey([id, id]), "{id}");
        }
        // A repeated id keeps one probe; ids without probes (or probes without ids) go.
        let t =
            ProbeTable::from_unsorted(vec![9, 3, 9, 4], vec![task(9), task(3), task(9), task(4)]);
        assert_eq!(
            t.iter().map(|(id, p)| (id, p.key.0[0])).collect::<Vec<_>>(),
            [(3, 3), (4, 4), (9, 9)]
        );
        let t = ProbeTable::from_unsorted(vec![2, 1, 8], vec![task(2), task(1)]);
        assert_eq!(t.keys().collect::<Vec<_>>(), [1, 2]);
        let t = ProbeTable::from_unsorted(vec![2], vec![task(2), task(1)]);
        assert_eq!(t.keys().collect::<Vec<_>>(), [2]);
    }
}

#[cfg(test)]
mod reload_cost_tests {
    //! What a reload of a large configuration costs: kernel operations (exactly the change)
    //! and, with `--ignored --nocapture`, the host time of each step at the benchmark's scale.

    use std::time::Instant;

    use rka_ipvs::Request;

    use super::super::ipvs::fake::Fake;
    use super::Runtime;

    /// The benchmark's configuration (bench/reload/gen.py): `vss` x `rss` TCP_CHECKs; variant
    /// b adds one virtual server and sets the first real server's weight to 5.
    pub(super) fn config_text(vss: u32, rss: u32, b: bool) -> String {
        let mut s = String::from("global_defs {\n router_id t\n}\n");
        for v in 0..vss {
            s.push_str(&format!(
                "virtual_server 10.100.{}.{} 80 {{\n protocol TCP\n lb_algo wrr\n delay_loop 3600\n",
                v / 256,
                v % 256
            ));
            for r in 0..rss {
                let w = if b && v == 0 && r == 0 { 5 } else { 1 };
                s.push_str(&format!(
                    " real_server 127.{}.{}.{} 8080 {{\n  weight {w}\n  TCP_CHECK {{\n   connect_timeout 3\n  }}\n }}\n",
                    16 + r,
                    v / 256,
                    v % 256
                ));
            }
            s.push_str("}\n");
        }
        if b {
            s.push_str(
                "virtual_server 10.99.0.1 80 {\n protocol TCP\n lb_algo rr\n delay_loop 3600\n \
                 real_server 127.99.0.1 8080 {\n  TCP_CHECK {\n   connect_timeout 3\n  }\n }\n}\n",
            );
        }
        s
    }

    pub(super) fn parse(text: &str) -> rka_config::Config {
        let loaded = rka_config::load_str("bench.conf", text, &Default::default());
        assert!(!loaded.diagnostics.is_fatal());
        loaded.config
    }

    /// Reloads a -> b on the model kernel: returns the requests the reload sent.
    async fn reload_ops(vss: u32, rss: u32) -> Vec<Request> {
        let (ta, tb) = (config_text(vss, rss, false), config_text(vss, rss, true));
        let fake = Fake::default();
        let t = Instant::now();
        let a = parse(&ta);
        let parsed = t.elapsed();
        let mut rt = Runtime::start(&a, fake.clone()).expect("start");
        drop(a);
        rt.ipvs.sync().await;
        let started = t.elapsed();
        let before = fake.0.lock().expect("lock").log.len();
        assert_eq!(
            before,
            (vss * (rss + 1)) as usize,
            "cold start programs everything"
        );
        let t = Instant::now();
        let b = parse(&tb);
        let parsed_b = t.elapsed();
        rt.reload(&b);
        let reloaded = t.elapsed();
        drop(b);
        rt.ipvs.sync().await;
        let synced = t.elapsed();
        println!(
            "{} RS: cold start {} ms (parse {} ms); reload: parse {} ms, plan + install {} ms, \
             IPVS compare and send {} ms, total {} ms",
            vss * rss,
            started.as_millis(),
            parsed.as_millis(),
            parsed_b.as_millis(),
            (reloaded - parsed_b).as_millis(),
            (synced - reloaded).as_millis(),
            synced.as_millis()
        );
        let log = fake.0.lock().expect("lock").log.split_off(before);
        rt.stop(super::StopMode::Keep).await;
        log
    }

    fn kinds(ops: &[Request]) -> Vec<&'static str> {
        let mut k: Vec<&'static str> = ops
            .iter()
            .map(|r| match r {
                Request::AddService(_) => "add service",
                Request::EditService(_) => "edit service",
                Request::DelService(_) => "del service",
                Request::AddDest(..) => "add dest",
                Request::EditDest(..) => "edit dest",
                Request::DelDest(..) => "del dest",
                _ => "other",
            })
            .collect();
        k.sort_unstable();
        k
    }

    #[tokio::test]
    async fn a_reload_sends_only_the_change() {
        let ops = reload_ops(40, 4).await;
        assert_eq!(
            kinds(&ops),
            ["add dest", "add service", "edit dest"],
            "{ops:?}"
        );
    }

    /// The benchmark's scale on the host: `cargo test -p rkeepalived --release reload_cost --
    /// --ignored --nocapture`.
    #[tokio::test]
    #[ignore = "timing at 36,800 real servers: run by hand"]
    async fn reload_cost_at_benchmark_scale() {
        let ops = reload_ops(2300, 16).await;
        assert_eq!(
            kinds(&ops),
            ["add dest", "add service", "edit dest"],
            "{ops:?}"
        );
    }
}

#[cfg(test)]
mod memory_tests {
    //! Where the checker child's memory goes at the benchmark's scale (36,800 TCP_CHECK real
    //! servers): `cargo test -p rkeepalived --release memory_profile -- --ignored --nocapture
    //! --test-threads 1`, one test per run (each reads the process's resident set).

    use rka_ipvs::{IpvsError, Request, Table};
    use rka_sys::alloc::{heap_usage, release_free_memory, HeapUsage};

    use super::super::ipvs::{Backend, StopMode};
    use super::Runtime;

    /// A kernel that accepts every request and keeps nothing: its table is the kernel's
    /// memory, not the checker's.
    struct Sink;

    impl Backend for Sink {
        fn dump(&mut self) -> Result<Table, IpvsError> {
            Ok(Table::new())
        }

        fn execute(
            &mut self,
            requests: &[Request],
        ) -> Result<Vec<Result<(), IpvsError>>, IpvsError> {
            Ok(requests.iter().map(|_| Ok(())).collect())
        }
    }

    /// `(VmRSS, VmHWM)` of this process in kB.
    fn rss_kb() -> (u64, u64) {
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    fn mb(bytes: usize) -> f64 {
        bytes as f64 / 1e6
    }

    /// Prints the heap and the resident set after `phase`; returns the heap.
    fn show(phase: &str) -> HeapUsage {
        let h = heap_usage();
        let (rss, hwm) = rss_kb();
        println!(
            "{phase:<44} live {:>7.1} MB  pages {:>7.1} MB  rss {:>7.1} MB  hwm {:>7.1} MB",
            mb(h.live),
            mb(h.committed),
            rss as f64 / 1e3,
            hwm as f64 / 1e3
        );
        h
    }

    /// Prints the resident memory that is not live heap, by mapping: the heap's pages beyond
    /// their live blocks, the rest of the anonymous memory (arena metadata, freed pages not yet
    /// returned, thread stacks) and the files mapped (the binary, libraries).
    fn show_mappings(heap: HeapUsage) {
        let r = rka_sys::alloc::resident_by_mapping();
        let anon: usize = r
            .mappings
            .iter()
            .filter(|(n, _)| n == "[anon]")
            .map(|(_, b)| b)
            .sum();
        println!(
            "  not live heap: {:.1} MB in heap pages, {:.1} MB other anonymous ({:.1} MB in \
             huge pages)",
            mb(heap.committed.saturating_sub(heap.live)),
            mb(anon.saturating_sub(heap.committed)),
            mb(r.huge)
        );
        for (name, bytes) in r.mappings.iter().filter(|(n, _)| n != "[anon]").take(6) {
            println!("    {name:<40} {:>7.1} MB", mb(*bytes));
        }
    }

    /// Prints the block sizes whose pages hold the most free space (more than 64 kB).
    fn show_slack() {
        for u in rka_sys::alloc::heap_usage_by_block_size()
            .iter()
            .take_while(|u| u.slack() > 64 << 10)
        {
            println!(
                "    blocks of {:>6} B: {:>5} pages {:>7.2} MB, live {:>7.2} MB, free {:>6.2} MB",
                u.block_size,
                u.pages,
                mb(u.committed),
                mb(u.live),
                mb(u.slack())
            );
        }
    }

    /// Prints how much live heap dropping `what` gave back.
    fn freed(what: &str, before: HeapUsage) -> HeapUsage {
        let after = heap_usage();
        println!(
            "  {what:<42} {:>7.1} MB live ({:.0} B per real server)",
            mb(before.live.saturating_sub(after.live)),
            before.live.saturating_sub(after.live) as f64 / 36_800.0
        );
        after
    }

    /// The checker child's start as `child::main` and `checker::run` do it, the
    /// configuration parsed on the calling thread (`threaded` false) or on a thread of its
    /// own that ends once it has returned the model; then the live data taken apart.
    async fn memory_profile(threaded: bool) {
        // As the daemon's `main` does.
        rka_sys::alloc::use_small_pages();
        show_mappings(show("start"));
        let text = super::reload_cost_tests::config_text(2300, 16, false);
        let parse = move || super::reload_cost_tests::parse(&text);
        let config = if threaded {
            std::thread::spawn(parse).join().expect("parser thread")
        } else {
            parse()
        };
        show("configuration parsed");
        // What the parse freed (its working memory), returned: the model alone is left. The
        // daemon does not purge here: its mapping reuses these pages (measured: same peak).
        release_free_memory();
        let model = show("parse's working memory released");
        let plan = super::Plan::from_config(&config);
        let with_plan = heap_usage();
        println!(
            "  plan alone (mapped, not installed)         {:>7.1} MB live",
            mb(with_plan.live.saturating_sub(model.live))
        );
        drop(plan);
        let mut rt = Runtime::start(&config, Sink).expect("start");
        rt.ipvs.sync().await;
        show("runtime started, IPVS programmed");
        drop(config);
        show("model dropped");
        // As `checker::run` does once the model is dropped, before the runtime's first step.
        rt.plan.compact();
        release_free_memory();
        show("long-lived blocks compacted, memory released");
        // The profile is of a whole install: every real server's checker has its probe.
        assert_eq!(rt.probes.len(), 2300 * 16, "probes installed");
        // What the step loop would do next; then the live data, piece by piece.
        let h = show("steady state");
        show_mappings(h);
        show_slack();
        let h = {
            let probes = std::mem::take(&mut rt.probes);
            drop(probes);
            freed("probe records (runtime.probes)", h)
        };
        let h = {
            rt.pool.clear();
            let pool = std::mem::take(&mut rt.pool);
            drop(pool);
            freed("checker pool", h)
        };
        let h = {
            rt.director = rka_check::Director::new(Default::default());
            freed("director", h)
        };
        let h = {
            rt.plan = super::Plan {
                services: Vec::new(),
                probes: Vec::new(),
                director: Default::default(),
            };
            freed("plan (services, destinations)", h)
        };
        rt.ipvs.stop(StopMode::Keep).await;
        freed("IPVS manager (its tables)", h);
        drop(rt.observe);
        release_free_memory();
        show_mappings(show("all dropped, memory released"));
    }

    #[tokio::test]
    #[ignore = "memory at 36,800 real servers: run by hand, one test per process"]
    async fn memory_profile_parse_on_main_thread() {
        memory_profile(false).await;
    }

    /// A start, then reloads alternating the benchmark's two variants, each as
    /// `checker::run` does it (model dropped, long-lived blocks compacted, memory released):
    /// what each reload leaves in heap pages beyond the live heap, and by which block sizes.
    #[tokio::test]
    #[ignore = "memory at 36,800 real servers: run by hand, one test per process"]
    async fn memory_profile_reloads() {
        rka_sys::alloc::use_small_pages();
        let load = |b: bool| {
            super::reload_cost_tests::parse(&super::reload_cost_tests::config_text(2300, 16, b))
        };
        let config = load(false);
        let mut rt = Runtime::start(&config, Sink).expect("start");
        rt.ipvs.sync().await;
        drop(config);
        rt.plan.compact();
        release_free_memory();
        show("started, compacted, released");
        show_slack();
        for n in 1..=3 {
            let config = load(n % 2 == 1);
            rt.reload(&config);
            rt.ipvs.sync().await;
            drop(config);
            rt.plan.compact();
            release_free_memory();
            show(&format!("reload {n}, compacted, released"));
            show_slack();
        }
        rt.ipvs.stop(StopMode::Keep).await;
    }

    #[tokio::test]
    #[ignore = "memory at 36,800 real servers: run by hand, one test per process"]
    async fn memory_profile_parse_on_own_thread() {
        memory_profile(true).await;
    }
}
