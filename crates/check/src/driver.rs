//! Drives [`CheckerState`]s with real time and [`Probe`]s on tokio.
//!
//! [`CheckerPool`] runs any number of scheduled checkers from one owner: at rest a checker is
//! its state and its parameters only (no task, no timer of its own); one timer waits for the
//! earliest due probe, the probes due at that instant start a few per turn (with the results
//! already known read between turns). TCP_CHECK and plain HTTP_GET probes run on the pool's
//! epoll connector (`tcp::Connector`: no task, no tokio registration, no timer each, on
//! reused sockets); any other probe is a task only while it runs. [`run_checker`] drives a
//! single checker on a task of its own.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};

use crate::file::FileWatcher;
use crate::http::HttpParams;
use crate::net::ConnectOpts;
use crate::outcome::ProbeResult;
use crate::probe::Probe;
use crate::schedule::Schedule;
use crate::state::{self, CheckerEvent, CheckerState};
use crate::tcp::{Connected, Connector, Started};

/// The ids of a vector sorted by id, one per place, kept as runs of consecutive ids instead
/// of an id per place: the checkers a configuration starts get consecutive ids, so a pool's
/// tens of thousands of ids are a few runs (one per reload that started checkers, split
/// where checkers stopped).
#[derive(Debug, Default)]
struct IdRuns {
    /// `(first id, place)` of each run, by increasing id and place: a run ends where the
    /// next one starts, the last one at `len`.
    runs: Vec<(u64, usize)>,
    /// How many ids.
    len: usize,
}

impl IdRuns {
    /// The runs of `ids` (increasing).
    #[cfg(test)]
    fn of(ids: impl IntoIterator<Item = u64>) -> Self {
        let mut r = IdRuns::default();
        for id in ids {
            r.insert(r.len, id);
        }
        r
    }

    /// Where run `r` ends.
    fn end(&self, r: usize) -> usize {
        self.runs.get(r + 1).map_or(self.len, |&(_, start)| start)
    }

    /// The place of `id` (`Ok`), or the place it would be inserted at to keep the order
    /// (`Err`), as a sorted slice's `binary_search`.
    fn search(&self, id: u64) -> Result<usize, usize> {
        let after = self.runs.partition_point(|&(first, _)| first <= id);
        let Some(r) = after.checked_sub(1) else {
            return Err(0);
        };
        let Some(&(first, start)) = self.runs.get(r) else {
            return Err(0);
        };
        let end = self.end(r);
        match usize::try_from(id - first) {
            Ok(offset) if offset < end - start => Ok(start + offset),
            _ => Err(end),
        }
    }

    /// The id at place `i`.
    fn id_at(&self, i: usize) -> Option<u64> {
        if i >= self.len {
            return None;
        }
        let r = self
            .runs
            .partition_point(|&(_, start)| start <= i)
            .checked_sub(1)?;
        let &(first, start) = self.runs.get(r)?;
        first.checked_add(u64::try_from(i - start).ok()?)
    }

    /// The ids, in order.
    fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.runs
            .iter()
            .enumerate()
            .flat_map(|(r, &(first, start))| {
                (0..self.end(r) - start).map(move |offset| first.wrapping_add(offset as u64))
            })
    }

    /// Merges run `r` into the run before it when its ids continue that run's.
    fn merge_with_previous(&mut self, r: usize) {
        let (Some(p), Some(&(first, start))) = (r.checked_sub(1), self.runs.get(r)) else {
            return;
        };
        let Some(&(pfirst, pstart)) = self.runs.get(p) else {
            return;
        };
        if u64::try_from(start - pstart)
            .ok()
            .and_then(|n| pfirst.checked_add(n))
            == Some(first)
        {
            self.runs.remove(r);
        }
    }

    /// Records `id` inserted at place `i`, the place [`search`](Self::search) gave for it.
    fn insert(&mut self, i: usize, id: u64) {
        // The runs from place `i` on move one place on (`i` is never inside a run: its ids
        // are consecutive, with no room for another).
        let r = self.runs.partition_point(|&(_, start)| start < i);
        for run in &mut self.runs[r..] {
            run.1 += 1;
        }
        self.runs.insert(r, (id, i));
        self.len += 1;
        self.merge_with_previous(r + 1);
        self.merge_with_previous(r);
    }

    /// Records the id at place `i` removed.
    fn remove(&mut self, i: usize) {
        let Some(id) = self.id_at(i) else {
            return;
        };
        let Some(r) = self
            .runs
            .partition_point(|&(_, start)| start <= i)
            .checked_sub(1)
        else {
            return;
        };
        let (Some(&(_, start)), end) = (self.runs.get(r), self.end(r)) else {
            return;
        };
        for run in &mut self.runs[r + 1..] {
            run.1 -= 1;
        }
        self.len -= 1;
        if end - start == 1 {
            self.runs.remove(r);
            self.merge_with_previous(r);
        } else if i == start {
            if let Some(run) = self.runs.get_mut(r) {
                run.0 = id.wrapping_add(1);
            }
        } else if i + 1 < end {
            // From the middle: the ids after it start a run of their own.
            self.runs.insert(r + 1, (id.wrapping_add(1), i));
        }
    }
}

/// One checker of a [`CheckerPool`]: 56 bytes (tens of thousands of them). Its id is kept
/// apart, in the pool's [`IdRuns`].
#[derive(Debug)]
struct PoolEntry {
    state: CheckerState,
    probe: PoolProbe,
    /// The probe in flight, stopped when the checker is removed.
    running: Running,
    /// How long the last finished probe took, in microseconds (saturating); 0 before the
    /// first one finishes (a finished probe counts at least 1).
    last_micros: u32,
}

/// What a pooled checker probes, in 16 bytes. A TCP_CHECK connected by the pool's
/// [`Connector`] keeps an IPv4 target inline (an IPv6 one, with its scope, in a box of its
/// own) and shares the rest of its options with every checker of the same options (most
/// pools are all TCP_CHECKs, with a few option sets); a plain HTTP_GET, also run by the
/// connector, shares its parameters with the exchange in flight; the other kinds are shared
/// with the task that runs each probe.
#[derive(Debug)]
enum PoolProbe {
    /// A TCP_CHECK of an IPv4 target for the pool's connector: `opts` apply to `ip:port`
    /// (their own target is not used).
    Connect4 {
        ip: Ipv4Addr,
        port: u16,
        opts: Arc<ConnectOpts>,
    },
    /// A TCP_CHECK of an IPv6 target for the pool's connector, as `Connect4`.
    Connect6(Box<(SocketAddrV6, Arc<ConnectOpts>)>),
    /// An HTTP_GET without TLS, run by the pool's connector.
    Get(Arc<HttpParams>),
    /// Any probe, run as a task.
    Task(Arc<Probe>),
}

impl PoolProbe {
    /// A TCP_CHECK of `opts.target` for the pool's connector, its options shared through
    /// `shared` (which is given them without their target).
    fn connect(opts: ConnectOpts, shared: impl FnOnce(ConnectOpts) -> Arc<ConnectOpts>) -> Self {
        match opts.target {
            SocketAddr::V4(t) => PoolProbe::Connect4 {
                ip: *t.ip(),
                port: t.port(),
                opts: shared(opts),
            },
            SocketAddr::V6(t) => PoolProbe::Connect6(Box::new((t, shared(opts)))),
        }
    }

    /// What starting this probe takes: a connect (its whole target rebuilt) or a task.
    fn as_probe_ref(&self) -> ProbeRef<'_> {
        match self {
            PoolProbe::Connect4 { ip, port, opts } => {
                ProbeRef::Connect(SocketAddr::V4(SocketAddrV4::new(*ip, *port)), opts)
            }
            PoolProbe::Connect6(b) => ProbeRef::Connect(SocketAddr::V6(b.0), &b.1),
            PoolProbe::Get(p) => ProbeRef::Get(p),
            PoolProbe::Task(p) => ProbeRef::Task(p),
        }
    }

    /// The target and the shared options of a TCP_CHECK for the pool's connector.
    #[cfg(test)]
    fn connect_target(&self) -> Option<(SocketAddr, &Arc<ConnectOpts>)> {
        match self.as_probe_ref() {
            ProbeRef::Connect(target, opts) => Some((target, opts)),
            ProbeRef::Get(_) | ProbeRef::Task(_) => None,
        }
    }
}

/// A pooled checker's probe as it is started (see [`PoolProbe::as_probe_ref`]).
enum ProbeRef<'a> {
    /// A TCP_CHECK connect of this target, with these shared options, for the pool's
    /// [`Connector`].
    Connect(SocketAddr, &'a Arc<ConnectOpts>),
    /// An HTTP_GET without TLS, for the pool's [`Connector`].
    Get(&'a Arc<HttpParams>),
    /// Any probe, run as a task.
    Task(&'a Arc<Probe>),
}

/// How a pooled checker's probe in flight runs, in one byte: what stops it is kept by
/// checker id beside the entries while it runs (a few of the checkers at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Running {
    /// No probe in flight.
    Idle,
    /// A task of the pool's [`JoinSet`], its handle in [`CheckerPool::tasks`].
    Task,
    /// A TCP_CHECK connect or an HTTP_GET exchange of the pool's [`Connector`], its key in
    /// [`CheckerPool::connects`].
    Connect,
}

/// The last finished probe of a pooled checker (see [`CheckerPool::last_probe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeReport<'a> {
    /// How long it took, from its start to its result (to the microsecond, at most ~71 min).
    pub duration: std::time::Duration,
    /// Why it failed; `None` when it passed.
    pub failure: Option<&'a crate::outcome::Failure>,
}

/// A probe task's output: the checker's id, the result, how long the probe took.
type Finished = (u64, ProbeResult, std::time::Duration);

/// Due instants of a [`CheckerPool`]: one FIFO queue per rescheduling period (`delay_loop`,
/// `delay_before_retry`) and a heap for the random first starts. A checker rescheduled after
/// `period` from "now" lands behind every checker rescheduled earlier with the same period, so
/// each queue is sorted by construction: O(1) per probe instead of a heap's O(log n).
///
/// Instants are the checkers' own ticks ([`state::tick`]: nanoseconds from a process-wide
/// epoch, what [`CheckerState`] keeps, so that a due check compares two integers), exact. A
/// queue's entry is 8 bytes (one per checker, [`PeriodQueue`]); a heap entry 16 (its tick and
/// id: the heap fills once, at the first starts, and gives its room back as it empties). A
/// period is kept in nanoseconds.
#[derive(Debug, Default)]
struct DueQueue {
    periods: Vec<PeriodQueue>,
    heap: BinaryHeap<Reverse<(i64, u64)>>,
}

/// Beyond this many distinct periods, entries go to the heap (the queues' fronts are scanned).
const MAX_PERIODS: usize = 16;

/// One entry of a [`PeriodQueue`]: 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DueEntry {
    /// Nanoseconds after the entry before it (0 for the first of a queue).
    gap: u32,
    /// The checker's id; [`DueEntry::FILLER`] for an entry that only carries time (a gap
    /// longer than a `u32` holds, ~4.3 s, is split over fillers).
    id: u32,
}

impl DueEntry {
    /// The id of an entry that carries no checker.
    const FILLER: u32 = u32::MAX;
}

/// The entries of one rescheduling period, in order: each keeps its distance to the one
/// before it, the queue the ticks of its front and back entries, so an entry is 8 bytes
/// instead of a tick and an id (16). The front is never a filler.
#[derive(Debug)]
struct PeriodQueue {
    /// The period, in nanoseconds.
    period: i64,
    /// The tick of the front entry (when there is one).
    front: i64,
    /// The tick of the back entry (when there is one).
    back: i64,
    entries: VecDeque<DueEntry>,
}

impl PeriodQueue {
    /// An empty queue of `period`.
    fn new(period: i64) -> Self {
        PeriodQueue {
            period,
            front: 0,
            back: 0,
            entries: VecDeque::new(),
        }
    }

    /// Whether an entry of tick `at` may go last (no earlier than the last one).
    fn fits(&self, at: i64) -> bool {
        self.entries.is_empty() || self.back <= at
    }

    /// Appends `id` at tick `at` (which [`fits`](Self::fits)), growing the room as
    /// [`DueQueue::growth`] says for a pool of `checkers`.
    fn push_back(&mut self, at: i64, id: u32, checkers: usize) {
        let mut gap = if self.entries.is_empty() {
            self.front = at;
            0
        } else {
            u64::try_from(at.saturating_sub(self.back)).unwrap_or(0)
        };
        let mut push = |e: DueEntry| {
            if self.entries.len() == self.entries.capacity() {
                self.entries
                    .reserve_exact(DueQueue::growth(self.entries.len(), checkers));
            }
            self.entries.push_back(e);
        };
        let most = u64::from(u32::MAX);
        while gap > most {
            push(DueEntry {
                gap: u32::MAX,
                id: DueEntry::FILLER,
            });
            gap -= most;
        }
        let gap = u32::try_from(gap).unwrap_or(u32::MAX);
        push(DueEntry { gap, id });
        self.back = at;
    }

    /// The front entry: its tick and id.
    fn first(&self) -> Option<(i64, u64)> {
        self.entries.front().map(|e| (self.front, u64::from(e.id)))
    }

    /// Removes the front entry, and the fillers behind it.
    fn pop_front(&mut self) {
        self.entries.pop_front();
        while let Some(next) = self.entries.front() {
            self.front = self.front.saturating_add(i64::from(next.gap));
            if next.id != DueEntry::FILLER {
                break;
            }
            self.entries.pop_front();
        }
    }
}

impl DueQueue {
    /// Schedules `id` at tick `at`; `period` is `at - now` (in nanoseconds) when `at` was
    /// computed from the current time (rescheduling), `None` for an arbitrary instant.
    /// `checkers` is how many checkers the pool holds (the room a queue grows to at once).
    /// An id a queue's entry cannot hold (`u32::MAX` or more) goes to the heap.
    fn push(&mut self, at: i64, id: u64, period: Option<i64>, checkers: usize) {
        let small = u32::try_from(id).ok().filter(|&i| i != DueEntry::FILLER);
        if let (Some(p), Some(small)) = (period, small) {
            if let Some(q) = self.periods.iter_mut().find(|q| q.period == p) {
                if q.fits(at) {
                    q.push_back(at, small, checkers);
                    return;
                }
            } else if self.periods.len() < MAX_PERIODS {
                let mut q = PeriodQueue::new(p);
                q.push_back(at, small, checkers);
                self.periods.push(q);
                return;
            }
        }
        self.heap.push(Reverse((at, id)));
    }

    /// How much room to add to a full queue of `len` entries. A queue holds up to one entry
    /// per checker for good (stale entries aside), so it doubles up to the number of
    /// `checkers` and no further (doubling past it would leave up to half its room empty:
    /// ~0.3 MB at 36,800 checkers), then grows by an eighth (stale entries of removed or
    /// rescheduled checkers, until they are popped).
    fn growth(len: usize, checkers: usize) -> usize {
        if len < checkers {
            len.max(16).min(checkers - len)
        } else {
            (len / 8).max(16)
        }
    }

    /// Whether an entry of tick `tick` is the checker's current due tick `due`
    /// ([`CheckerState::due_tick`]).
    fn is_current(tick: i64, due: Option<i64>) -> bool {
        due == Some(tick)
    }

    /// The earliest entry: `(queue index or None for the heap, its tick, id)`.
    fn first(&self) -> Option<(Option<usize>, i64, u64)> {
        let mut best = self.heap.peek().map(|&Reverse((at, id))| (None, at, id));
        for (i, q) in self.periods.iter().enumerate() {
            if let Some((at, id)) = q.first() {
                if best.is_none_or(|(_, b, _)| at < b) {
                    best = Some((Some(i), at, id));
                }
            }
        }
        best
    }

    /// Removes the entry [`first`](Self::first) returned.
    fn pop(&mut self, from: Option<usize>) {
        match from {
            Some(i) => {
                if let Some(q) = self.periods.get_mut(i) {
                    q.pop_front();
                }
            }
            None => {
                self.heap.pop();
                // The random first starts fill the heap once: give its room back as it empties.
                if self.heap.capacity() > 64 && self.heap.len() < self.heap.capacity() / 4 {
                    self.heap.shrink_to(self.heap.len() * 2);
                }
            }
        }
    }

    /// Forgets every entry.
    fn clear(&mut self) {
        self.periods = Vec::new();
        self.heap = BinaryHeap::new();
    }
}

/// The copy of `value` shared through `map`, made and kept there when it is new.
fn intern<T: std::hash::Hash + Eq + Clone>(map: &mut HashMap<T, Arc<T>>, value: T) -> Arc<T> {
    if let Some(v) = map.get(&value) {
        return Arc::clone(v);
    }
    let v = Arc::new(value.clone());
    map.insert(value, Arc::clone(&v));
    v
}

/// At most this many due probes start per turn of [`CheckerPool::next_event`]; the others
/// start on the next turn, at once. Starting a probe costs a connect (and a socket and an
/// epoll_ctl when no idle socket is reused: ~10 us on hardware, 0.3-0.5 ms under emulation),
/// and probes coalesce (a checker is rescheduled `delay_loop` after its result, so probes
/// finishing together are due together again). Without a cap a turn starts every due probe
/// before any result is read, and a verdict decided inside the first `connect()` waits for
/// the whole batch: 85 % of the verdict-to-kernel latency measured in
/// bench/checkers/VERDICT.md. Small enough to keep a turn well under a millisecond on
/// hardware, large enough that a turn's fixed costs (one `epoll_wait` without waiting, the
/// clock) stay a small share.
const MAX_STARTS_PER_TURN: usize = 8;

/// Turns cut short by [`MAX_STARTS_PER_TURN`] in a row after which
/// [`CheckerPool::next_event`] yields to the runtime once, so that probe tasks, timers and
/// the I/O driver still run while probes are always due (overload).
const YIELD_EVERY_CAPPED_TURNS: u32 = 4;

/// Scheduled checkers driven together; see the [module documentation](self).
///
/// Polling contract: [`insert`](Self::insert) and [`remove`](Self::remove) checkers at any
/// time; await [`next_event`](Self::next_event) (cancel-safe, fit for `select!`) to run them and
/// receive their events.
pub struct CheckerPool {
    /// The checkers, sorted by id.
    entries: Vec<PoolEntry>,
    /// Their ids, place by place (a checker is found by searching them).
    ids: IdRuns,
    /// One schedule per distinct timing, shared by the checkers' states.
    schedules: HashMap<Schedule, Arc<Schedule>>,
    /// One copy of each distinct set of TCP_CHECK options (their target unspecified), shared
    /// by the checkers' [`PoolProbe::Connect4`] and [`PoolProbe::Connect6`].
    connect_opts: HashMap<ConnectOpts, Arc<ConnectOpts>>,
    /// Due instants; an entry is stale (skipped) when its checker is gone or has moved on.
    due: DueQueue,
    running: JoinSet<Finished>,
    /// The probe tasks in flight, by checker id (their checkers' `running` is
    /// [`Running::Task`]).
    tasks: HashMap<u64, AbortHandle>,
    /// The connector keys of the probes in flight on it, by checker id (their checkers'
    /// `running` is [`Running::Connect`]).
    connects: HashMap<u64, u64>,
    /// TCP_CHECK connects and plain HTTP_GET exchanges (no task each); `None` if its epoll
    /// instance could not be made (those probes then run as tasks).
    tcp: Option<Connector>,
    /// Connects just finished, before they are recorded.
    connected: Vec<Connected>,
    events: VecDeque<(u64, CheckerEvent)>,
    /// The one timer, armed for the earliest due instant.
    timer: Pin<Box<tokio::time::Sleep>>,
    armed: Option<Instant>,
    /// HTTP_GET / SSL_GET checkers report their urls passing while down
    /// ([`CheckerEvent::UrlPassed`], see [`report_url_passes`](Self::report_url_passes)).
    report_url_passes: bool,
    /// The checkers inserted from now on retry their first probe's failure
    /// ([`retry_first_probes`](Self::retry_first_probes)).
    retry_first_probes: bool,
    /// The checkers inserted from now on start down
    /// ([`start_checkers_down`](Self::start_checkers_down)).
    start_down: bool,
}

impl std::fmt::Debug for CheckerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckerPool")
            .field("checkers", &self.entries.len())
            .field("running", &self.in_flight())
            .field("events", &self.events.len())
            .finish()
    }
}

impl Default for CheckerPool {
    fn default() -> Self {
        Self::new()
    }
}

impl CheckerPool {
    /// An empty pool. Must be created inside a tokio runtime with time enabled.
    pub fn new() -> Self {
        CheckerPool {
            entries: Vec::new(),
            ids: IdRuns::default(),
            schedules: HashMap::new(),
            connect_opts: HashMap::new(),
            due: DueQueue::default(),
            running: JoinSet::new(),
            tasks: HashMap::new(),
            connects: HashMap::new(),
            tcp: Connector::new()
                .inspect_err(|e| {
                    tracing::warn!("TCP_CHECK probes run as tasks (no epoll instance: {e})")
                })
                .ok(),
            connected: Vec::new(),
            events: VecDeque::new(),
            timer: Box::pin(tokio::time::sleep_until(tokio::time::Instant::now())),
            armed: None,
            report_url_passes: false,
            retry_first_probes: false,
            start_down: false,
        }
    }

    /// Makes the checkers inserted from now on start down whatever their `alpha`
    /// ([`CheckerState::start_down`]), so that each reports its first success.
    pub fn start_checkers_down(&mut self) {
        self.start_down = true;
    }

    /// Makes the HTTP_GET / SSL_GET checkers inserted from now on report each url passing
    /// while they are not up ([`CheckerEvent::UrlPassed`]: keepalived logs a line for each).
    pub fn report_url_passes(&mut self) {
        self.report_url_passes = true;
    }

    /// Makes the checkers inserted from now on retry their first probe's failure, whatever
    /// their kind ([`CheckerState::retry_first_probe`]): keepalived 2.2.7 settles a first
    /// failing TCP_CHECK (UDP, PING, DNS, HTTP) at once at start, but retries it in a
    /// checker a reload creates. The runtime turns it on once its first checkers are in.
    pub fn retry_first_probes(&mut self) {
        self.retry_first_probes = true;
    }

    /// Adds checker `id` (replacing any checker of that id); its first probe starts after a
    /// random delay up to `schedule.warmup`. FILE_CHECK is not scheduled: use
    /// [`run_file_checker`] for it.
    pub fn insert(&mut self, id: u64, probe: Probe, schedule: Schedule) {
        let start = schedule.random_warmup();
        self.insert_at(id, probe, schedule, Instant::now(), start);
    }

    fn insert_at(
        &mut self,
        id: u64,
        probe: Probe,
        schedule: Schedule,
        now: Instant,
        start: std::time::Duration,
    ) {
        let schedule = self.shared(schedule);
        let mut state = CheckerState::for_probe(&probe, schedule, now, start);
        if self.report_url_passes {
            state.report_url_passes();
        }
        if self.start_down {
            state.start_down();
        }
        if self.retry_first_probes {
            state.retry_first_probe();
        }
        if let Some(at) = state.due_tick() {
            self.due.push(at, id, None, self.entries.len() + 1);
        }
        let probe = match probe {
            Probe::Tcp(c) if self.tcp.is_some() => {
                PoolProbe::connect(c, |c| self.shared_connect(c))
            }
            Probe::Http(h) if h.tls.is_none() && self.tcp.is_some() => PoolProbe::Get(Arc::new(h)),
            other => PoolProbe::Task(Arc::new(other)),
        };
        let entry = PoolEntry {
            state,
            probe,
            running: Running::Idle,
            last_micros: 0,
        };
        // Ids usually come in increasing order: the new checker goes last.
        match self.ids.search(id) {
            Ok(i) => {
                if let Some(slot) = self.entries.get_mut(i) {
                    let old = std::mem::replace(slot, entry);
                    self.stop(id, old);
                }
            }
            // Ids usually come in increasing order: the new checker goes last.
            Err(i) if i >= self.entries.len() => {
                self.ids.insert(self.entries.len(), id);
                self.entries.push(entry);
            }
            Err(i) => {
                self.entries.insert(i, entry);
                self.ids.insert(i, id);
            }
        }
    }

    /// The shared copy of `opts` without its target.
    fn shared_connect(&mut self, mut opts: ConnectOpts) -> Arc<ConnectOpts> {
        opts.target = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
        intern(&mut self.connect_opts, opts)
    }

    /// The shared copy of `schedule`.
    fn shared(&mut self, schedule: Schedule) -> Arc<Schedule> {
        intern(&mut self.schedules, schedule)
    }

    /// Makes room for `additional` more checkers at once (a configuration being installed),
    /// instead of growing step by step.
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve_exact(additional);
        // Each new checker's first start is due once, in the heap (random warmup).
        self.due.heap.reserve_exact(additional);
    }

    /// Gives back the room of checkers removed or reserved and not used, and forgets the
    /// timings and options no checker uses any more. Call after a batch of changes (a reload).
    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
        self.ids.runs.shrink_to_fit();
        self.schedules.retain(|_, s| Arc::strong_count(s) > 1);
        self.connect_opts.retain(|_, o| Arc::strong_count(o) > 1);
    }

    /// The place of checker `id` in `entries` (sorted by id).
    fn position(&self, id: u64) -> Option<usize> {
        self.ids.search(id).ok()
    }

    /// Checker `id`.
    fn entry(&self, id: u64) -> Option<&PoolEntry> {
        let i = self.position(id)?;
        self.entries.get(i)
    }

    /// Checker `id`, to change it.
    #[cfg(test)]
    fn entry_mut(&mut self, id: u64) -> Option<&mut PoolEntry> {
        let i = self.position(id)?;
        self.entries.get_mut(i)
    }

    /// Removes checker `id`, aborting its probe in flight; its pending events are dropped.
    /// Costs a move of the checkers after it: remove many with [`remove_many`](Self::remove_many).
    pub fn remove(&mut self, id: u64) {
        let Some(i) = self.position(id) else {
            return;
        };
        let e = self.entries.remove(i);
        self.ids.remove(i);
        self.stop(id, e);
        self.events.retain(|(i, _)| *i != id);
    }

    /// Removes every checker of `ids` (unknown ids are ignored), in one pass over the pool.
    pub fn remove_many(&mut self, ids: impl IntoIterator<Item = u64>) {
        let mut gone: Vec<u64> = ids.into_iter().collect();
        if gone.is_empty() {
            return;
        }
        gone.sort_unstable();
        let is_gone = |id: &u64| gone.binary_search(id).is_ok();
        let mut stopped = Vec::new();
        let mut kept = Vec::with_capacity(self.entries.len());
        let mut kept_ids = IdRuns::default();
        let ids = std::mem::take(&mut self.ids);
        for (id, e) in ids.iter().zip(std::mem::take(&mut self.entries)) {
            if is_gone(&id) {
                stopped.push((id, e));
            } else {
                kept_ids.insert(kept.len(), id);
                kept.push(e);
            }
        }
        self.entries = kept;
        self.ids = kept_ids;
        for (id, e) in stopped {
            self.stop(id, e);
        }
        self.events.retain(|(id, _)| !is_gone(id));
    }

    /// Stops the probe in flight of checker `id`, taken out of the pool.
    fn stop(&mut self, id: u64, e: PoolEntry) {
        match e.running {
            Running::Idle => {}
            Running::Task => {
                if let Some(h) = self.tasks.remove(&id) {
                    h.abort();
                }
            }
            Running::Connect => {
                if let (Some(key), Some(t)) = (self.connects.remove(&id), &mut self.tcp) {
                    t.cancel(key);
                }
            }
        }
    }

    /// An event already waiting, without running anything (to drain a batch after
    /// [`next_event`](Self::next_event)).
    pub fn try_next_event(&mut self) -> Option<(u64, CheckerEvent)> {
        self.events.pop_front()
    }

    /// Removes every checker, aborting the probes in flight.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.ids = IdRuns::default();
        self.schedules.clear();
        self.connect_opts.clear();
        self.due.clear();
        self.running.abort_all();
        self.tasks.clear();
        self.connects.clear();
        if let Some(t) = &mut self.tcp {
            t.clear();
        }
        self.connected.clear();
        self.events.clear();
    }

    /// How many checkers the pool holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the pool holds no checker.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The last finished probe of checker `id`: its duration and, when it failed, the
    /// reason. `None` for an unknown checker or before its first probe has finished.
    pub fn last_probe(&self, id: u64) -> Option<ProbeReport<'_>> {
        let e = self.entry(id)?;
        (e.last_micros > 0).then(|| ProbeReport {
            duration: std::time::Duration::from_micros(u64::from(e.last_micros)),
            failure: e.state.last_failure(),
        })
    }

    /// The weight dynamic checker `id` last reported; `None` for the configured weight, an
    /// unknown checker or a kind that reports none.
    pub fn weight(&self, id: u64) -> Option<i64> {
        self.entry(id)?.state.weight()
    }

    /// The schedule of checker `id`.
    pub fn schedule(&self, id: u64) -> Option<&Schedule> {
        Some(self.entry(id)?.state.schedule())
    }

    /// Url `index` of HTTP_GET / SSL_GET checker `id` (as [`CheckerEvent::UrlPassed`] names
    /// it); `None` for the other kinds.
    pub fn url(&self, id: u64, index: usize) -> Option<&crate::http::UrlCheck> {
        let h = match &self.entry(id)?.probe {
            PoolProbe::Get(h) => &**h,
            PoolProbe::Task(p) => match &**p {
                Probe::Http(h) => h,
                _ => return None,
            },
            PoolProbe::Connect4 { .. } | PoolProbe::Connect6(_) => return None,
        };
        h.urls.get(index)
    }

    /// How many probes are in flight.
    pub fn in_flight(&self) -> usize {
        self.running.len() + self.tcp.as_ref().map_or(0, Connector::in_flight)
    }

    /// Starts the probes due at `now`, at most [`MAX_STARTS_PER_TURN`]; the results known at
    /// once go to `self.connected`. Returns how many connects it left in flight.
    fn start_due(&mut self, now: Instant) -> usize {
        let mut started = 0;
        let mut connects = 0;
        let now_tick = state::tick(now);
        while let Some((from, at, id)) = self.due.first() {
            if at > now_tick || started >= MAX_STARTS_PER_TURN {
                break;
            }
            self.due.pop(from);
            let Some(i) = self.position(id) else {
                continue;
            };
            let Some(e) = self.entries.get_mut(i) else {
                continue;
            };
            if !DueQueue::is_current(at, e.state.due_tick())
                || !e.state.handle_timeout_tick(now_tick)
            {
                continue;
            }
            started += 1;
            let url = e.state.url();
            let on_connector = match (e.probe.as_probe_ref(), &mut self.tcp) {
                (ProbeRef::Connect(target, opts), Some(tcp)) => {
                    Ok(tcp.start(id, target, opts, now))
                }
                (ProbeRef::Get(p), Some(tcp)) => Ok(tcp.start_get(id, p, url, now)),
                // Not made: the pool keeps a connector for as long as it holds such checkers.
                (ProbeRef::Connect(target, opts), None) => Err(Arc::new(Probe::Tcp(ConnectOpts {
                    target,
                    ..ConnectOpts::clone(opts)
                }))),
                (ProbeRef::Get(p), None) => Err(Arc::new(Probe::Http(HttpParams::clone(p)))),
                (ProbeRef::Task(p), _) => Err(Arc::clone(p)),
            };
            let probe = match on_connector {
                Ok(Started::InFlight(key)) => {
                    e.running = Running::Connect;
                    self.connects.insert(id, key);
                    connects += 1;
                    continue;
                }
                Ok(Started::Done(done)) => {
                    self.connected.push(done);
                    continue;
                }
                Err(task) => task,
            };
            e.running = Running::Task;
            let handle = self.running.spawn(async move {
                let started = Instant::now();
                // TCP_CHECK is bounded by its connect timeout and small enough to run inline;
                // the other kinds are boxed so that a running TCP probe stays small.
                let result = match &*probe {
                    Probe::Tcp(c) => crate::tcp::probe(c).await,
                    other => Box::pin(other.probe(url)).await,
                };
                (id, result, started.elapsed())
            });
            self.tasks.insert(id, handle);
        }
        connects
    }

    /// Records the connects collected in `self.connected`.
    fn record_connected(&mut self) {
        let mut done = std::mem::take(&mut self.connected);
        for (id, result, took) in done.drain(..) {
            // Removing a checker cancels its connect: a result is always for the checker
            // of that id, waiting for it (immediate results never got a key).
            let waiting = self
                .entry(id)
                .is_some_and(|e| e.state.due_tick().is_none() && e.running != Running::Task);
            if waiting {
                self.finish(id, result, took);
            }
        }
        self.connected = done;
    }

    /// Takes a probe task's outcome. A probe that panicked counts as a failed probe (its
    /// checker goes on); one aborted belonged to a checker already removed.
    fn joined(&mut self, done: Result<(tokio::task::Id, Finished), tokio::task::JoinError>) {
        match done {
            Ok((task, (id, result, took))) => {
                // A task aborted too late still delivers: only the checker's current one counts.
                if self.tasks.get(&id).is_some_and(|h| h.id() == task) {
                    self.finish(id, result, took);
                }
            }
            Err(e) if e.is_panic() => {
                let task = e.id();
                let id = self
                    .tasks
                    .iter()
                    .find_map(|(id, h)| (h.id() == task).then_some(*id));
                if let Some(id) = id {
                    tracing::error!("checker {id}: the probe panicked - counted as failed");
                    self.finish(
                        id,
                        Err(crate::outcome::Failure::new("the probe panicked")),
                        std::time::Duration::ZERO,
                    );
                }
            }
            Err(_) => {}
        }
    }

    /// Records a finished probe and queues its events.
    fn finish(&mut self, id: u64, result: ProbeResult, took: std::time::Duration) {
        let Some(i) = self.position(id) else {
            return;
        };
        let Some(e) = self.entries.get_mut(i) else {
            return;
        };
        match e.running {
            Running::Idle => {}
            Running::Task => {
                self.tasks.remove(&id);
            }
            Running::Connect => {
                self.connects.remove(&id);
            }
        }
        e.running = Running::Idle;
        e.last_micros = u32::try_from(took.as_micros()).unwrap_or(u32::MAX).max(1);
        let now = Instant::now();
        e.state.handle_result(now, result);
        while let Some(ev) = e.state.poll_event() {
            self.events.push_back((id, ev));
        }
        if let Some(at) = e.state.due_tick() {
            let checkers = self.entries.len();
            let period = at.saturating_sub(state::tick(now));
            self.due.push(at, id, Some(period), checkers);
        }
    }

    /// Runs the checkers until one of them has an event: `(id, event)`. Cancel-safe: dropping
    /// the future loses nothing. Pending forever while the pool is empty.
    ///
    /// A turn starts at most a few due probes (`MAX_STARTS_PER_TURN`), then records the connects
    /// already decided (on loopback or a near server, inside `connect()` itself) before
    /// starting more: a verdict waits for a few starts, not for the whole due batch. The
    /// finished connects are reset at the next call (their sockets disconnected for reuse, or
    /// closed), once the caller has had the verdicts (and handed them on).
    pub async fn next_event(&mut self) -> (u64, CheckerEvent) {
        let mut capped_turns = 0u32;
        loop {
            if let Some(e) = self.events.pop_front() {
                return e;
            }
            if let Some(t) = &mut self.tcp {
                t.close_deferred();
            }
            let now = Instant::now();
            if let Some(t) = &mut self.tcp {
                t.expire(now, &mut self.connected);
            }
            if self.start_due(now) > 0 {
                if let Some(t) = &mut self.tcp {
                    t.collect_now(&mut self.connected);
                }
            }
            self.record_connected();
            if !self.events.is_empty() {
                continue;
            }
            let next = loop {
                match self.due.first() {
                    Some((from, at, id))
                        if self
                            .entry(id)
                            .is_none_or(|e| !DueQueue::is_current(at, e.state.due_tick())) =>
                    {
                        self.due.pop(from);
                    }
                    Some((_, at, _)) => break Some(state::instant(at)),
                    None => break None,
                }
            };
            if next.is_some_and(|at| at <= now) {
                // Due probes left over by the cap: take the probe tasks already finished, then
                // start them (without going through the runtime: a yield would cost a poll
                // of its driver per turn).
                while let Some(done) = self.running.try_join_next_with_id() {
                    self.joined(done);
                }
                // But not forever: under overload probes are always due, and without a yield
                // the runtime would never poll the probe tasks (HTTP_GET, SMTP...), its timers
                // or its I/O driver again.
                capped_turns += 1;
                if capped_turns.is_multiple_of(YIELD_EVERY_CAPPED_TURNS) {
                    tokio::task::yield_now().await;
                }
                continue;
            }
            let deadline = self.tcp.as_ref().and_then(Connector::next_deadline);
            let next = match (next, deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(at) = next {
                if self.armed != Some(at) {
                    self.timer.as_mut().reset(at.into());
                    self.armed = Some(at);
                }
            }
            let timer_on = next.is_some();
            let connecting = self.tcp.as_ref().is_some_and(|t| t.in_flight() > 0);
            let tcp = self.tcp.as_mut();
            tokio::select! {
                done = self.running.join_next_with_id(), if !self.running.is_empty() => {
                    if let Some(done) = done {
                        self.joined(done);
                    }
                    // Drain what else finished, without waiting.
                    while let Some(done) = self.running.try_join_next_with_id() {
                        self.joined(done);
                    }
                }
                () = async {
                    match tcp {
                        Some(t) => t.finished(&mut self.connected).await,
                        None => std::future::pending().await,
                    }
                }, if connecting => {
                    self.record_connected();
                }
                () = self.timer.as_mut(), if timer_on => {
                    self.armed = None;
                }
                else => std::future::pending::<()>().await,
            }
        }
    }
}

/// Run a scheduled checker forever, sending its events; returns when the receiver is gone.
/// Abort the task to stop the checker.
pub async fn run_checker(probe: Probe, schedule: Schedule, events: mpsc::Sender<CheckerEvent>) {
    let start = schedule.random_warmup();
    let mut state = CheckerState::for_probe(&probe, schedule, Instant::now(), start);
    loop {
        if let Some(at) = state.poll_timeout() {
            tokio::time::sleep_until(at.into()).await;
        }
        if state.handle_timeout(Instant::now()) {
            let result = probe.probe(state.url()).await;
            state.handle_result(Instant::now(), result);
        }
        while let Some(e) = state.poll_event() {
            if events.send(e).await.is_err() {
                return;
            }
        }
    }
}

/// Run a FILE_CHECK: read the file at start and whenever it changes, sending an event when
/// the verdict or the weight changes. `initial` is the verdict (passing, weight) the caller
/// started the checker with ([`crate::file::judge_now`]): only a change from it is reported;
/// `None` reports the first reading. A value keepalived rejects is logged and ignored (the
/// last one stands; 0 before any). Returns when the receiver is gone or the watch fails.
pub async fn run_file_checker(
    params: crate::file::FileParams,
    initial: Option<(bool, Option<i64>)>,
    events: mpsc::Sender<CheckerEvent>,
) -> std::io::Result<()> {
    let mut watcher = FileWatcher::new(&params.path)?;
    let mut last: Option<(bool, Option<i64>)> = initial;
    loop {
        let value = match crate::file::read_value(&params.path).await {
            Ok(v) => Some(v),
            Err(bad) => {
                tracing::info!("{}", crate::file::invalid_value_line(bad, &params.path));
                last.is_none().then_some(0)
            }
        };
        let Some(value) = value else {
            watcher.changed().await?;
            continue;
        };
        let result = crate::file::evaluate(&params, value);
        let now = (result.is_ok(), result.as_ref().ok().and_then(|s| s.weight));
        if last != Some(now) {
            let mut out = Vec::new();
            if let Some(w) = now.1 {
                out.push(CheckerEvent::WeightChanged { weight: w });
            }
            match result {
                Ok(_) if last.is_none_or(|l| !l.0) => out.push(CheckerEvent::Up {
                    reason: format!("{} read", params.path.display()),
                }),
                Err(f) if last.is_none_or(|l| l.0) => {
                    out.push(CheckerEvent::Down { reason: f.into() })
                }
                _ => {}
            }
            for e in out {
                if events.send(e).await.is_err() {
                    return Ok(());
                }
            }
            last = Some(now);
        }
        watcher.changed().await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::ConnectOpts;
    use crate::probe::CheckKind;
    use std::time::Duration;

    /// A loopback address nothing listens on (until the test binds it again).
    async fn closed_port() -> std::net::SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        l.local_addr().expect("addr")
    }

    #[tokio::test]
    async fn tcp_checker_goes_down_then_up() {
        let addr = closed_port().await;
        let mut s = Schedule::defaults_for(CheckKind::Tcp);
        s.delay_loop = Duration::from_millis(100);
        s.delay_before_retry = Duration::from_millis(50);
        s.warmup = Duration::ZERO;
        let (tx, mut rx) = mpsc::channel(8);
        let task = tokio::spawn(run_checker(Probe::Tcp(ConnectOpts::new(addr)), s, tx));
        let e = tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .expect("event");
        assert!(matches!(e, Some(CheckerEvent::Down { .. })), "{e:?}");
        let _l = tokio::net::TcpListener::bind(addr).await.expect("rebind");
        let e = tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .expect("event");
        assert!(matches!(e, Some(CheckerEvent::Up { .. })), "{e:?}");
        task.abort();
    }

    fn fast(delay_ms: u64) -> Schedule {
        let mut s = Schedule::defaults_for(CheckKind::Tcp);
        s.delay_loop = Duration::from_millis(delay_ms);
        s.delay_before_retry = Duration::from_millis(delay_ms / 2);
        s.warmup = Duration::ZERO;
        s
    }

    async fn next(pool: &mut CheckerPool) -> (u64, CheckerEvent) {
        tokio::time::timeout(Duration::from_secs(3), pool.next_event())
            .await
            .expect("event")
    }

    #[tokio::test]
    async fn pool_checker_goes_down_then_up() {
        let addr = closed_port().await;
        let mut pool = CheckerPool::new();
        pool.insert(7, Probe::Tcp(ConnectOpts::new(addr)), fast(100));
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.last_probe(7), None, "no probe has finished yet");
        let (id, e) = next(&mut pool).await;
        assert_eq!(id, 7);
        assert!(matches!(e, CheckerEvent::Down { .. }), "{e:?}");
        let failed = pool.last_probe(7).expect("reported");
        assert!(failed.duration > Duration::ZERO);
        assert!(failed.duration < Duration::from_secs(3), "{failed:?}");
        assert!(
            failed.failure.is_some_and(|r| r.reason.contains("refused")),
            "{failed:?}"
        );
        let _l = tokio::net::TcpListener::bind(addr).await.expect("rebind");
        let (id, e) = next(&mut pool).await;
        assert_eq!(id, 7);
        assert!(matches!(e, CheckerEvent::Up { .. }), "{e:?}");
        let passed = pool.last_probe(7).expect("reported");
        assert_eq!(passed.failure, None);
        assert!(passed.duration > Duration::ZERO);
    }

    #[tokio::test]
    async fn checkers_inserted_after_retry_first_probes_retry_their_first_failure() {
        let addr = closed_port().await;
        let mut pool = CheckerPool::new();
        let mut s = fast(100);
        s.retry = 1;
        // At start: a first failing TCP_CHECK is settled at once, as keepalived's.
        pool.insert(1, Probe::Tcp(ConnectOpts::new(addr)), s.clone());
        let (id, e) = next(&mut pool).await;
        assert_eq!(id, 1);
        let CheckerEvent::Down { reason } = e else {
            panic!("{e:?}");
        };
        assert_eq!(reason.retries, 0);
        pool.remove(1);
        // Created by a reload: its retry first, then the verdict counting it.
        pool.retry_first_probes();
        pool.insert(2, Probe::Tcp(ConnectOpts::new(addr)), s);
        let mut events = Vec::new();
        loop {
            let (id, e) = next(&mut pool).await;
            assert_eq!(id, 2);
            let down = matches!(e, CheckerEvent::Down { .. });
            events.push(e);
            if down {
                break;
            }
        }
        // (A Retrying event before it only when the state tells each failed attempt.)
        assert!(
            matches!(events.last(), Some(CheckerEvent::Down { reason }) if reason.retries == 1),
            "{events:?}"
        );
    }

    #[tokio::test]
    async fn pool_runs_many_checkers_and_forgets_removed_ones() {
        let addr = closed_port().await;
        let mut pool = CheckerPool::new();
        for id in 0..50 {
            pool.insert(id, Probe::Tcp(ConnectOpts::new(addr)), fast(100));
        }
        pool.remove(49);
        assert_eq!(pool.len(), 49);
        let mut seen = std::collections::BTreeSet::new();
        while seen.len() < 49 {
            let (id, e) = next(&mut pool).await;
            assert!(matches!(e, CheckerEvent::Down { .. }), "{e:?}");
            assert!(seen.insert(id), "checker {id} went down twice");
        }
        assert!(!seen.contains(&49));
        // Once every checker is gone, nothing more comes.
        for id in 0..50 {
            pool.remove(id);
        }
        assert!(pool.is_empty());
        let quiet = tokio::time::timeout(Duration::from_millis(400), pool.next_event()).await;
        assert!(quiet.is_err(), "{quiet:?}");
    }

    #[tokio::test]
    async fn pool_shares_schedules_and_keeps_ids_through_removals() {
        let addr = closed_port().await;
        let mut pool = CheckerPool::new();
        pool.reserve(6);
        assert!(pool.due.heap.capacity() >= 6 && pool.entries.capacity() >= 6);
        for id in 10..16 {
            // Two timings: ids 10..13 one, 13..16 the other.
            let s = fast(if id < 13 { 100_000 } else { 200_000 });
            pool.insert(id, Probe::Tcp(ConnectOpts::new(addr)), s);
        }
        assert_eq!(
            pool.schedules.len(),
            2,
            "one shared copy per distinct timing"
        );
        let first = Arc::clone(pool.entry(10).expect("10").state.schedule_shared());
        assert!(Arc::ptr_eq(
            &first,
            pool.entry(12).expect("12").state.schedule_shared()
        ));
        // Removing from the middle: every id still finds its own checker.
        pool.remove(11);
        pool.remove(10);
        assert_eq!(pool.len(), 4);
        for id in 12..16 {
            let e = pool.entry(id).expect("still there");
            assert_eq!(pool.position(id).and_then(|i| pool.ids.id_at(i)), Some(id));
            let delay = if id < 13 { 100_000 } else { 200_000 };
            assert_eq!(e.state.schedule().delay_loop, Duration::from_millis(delay));
        }
        assert!(pool.entry(10).is_none() && pool.entry(11).is_none());
        // Once the last checker of a timing goes, its shared copy goes at the next shrink.
        pool.remove(12);
        drop(first);
        pool.shrink_to_fit();
        assert_eq!(pool.schedules.len(), 1);
        // TCP_CHECKs keep their target inline and share their other options; other kinds
        // are shared with their task.
        let e = pool.entry(13).expect("13");
        assert!(
            e.probe
                .connect_target()
                .is_some_and(|(target, _)| target == addr),
            "{:?}",
            e.probe
        );
        pool.insert(20, Probe::Ping(ConnectOpts::new(addr)), fast(100_000));
        let e = pool.entry(20).expect("20");
        assert!(matches!(e.probe, PoolProbe::Task(_)), "{:?}", e.probe);
    }

    /// The shared options of checker `id`'s TCP_CHECK.
    fn connect_opts(pool: &CheckerPool, id: u64) -> Arc<ConnectOpts> {
        let probe = &pool.entry(id).expect("checker").probe;
        match probe.connect_target() {
            Some((_, opts)) => Arc::clone(opts),
            None => panic!("not a connect: {probe:?}"),
        }
    }

    #[tokio::test]
    async fn tcp_checks_share_their_options_and_keep_their_own_target() {
        let mut pool = CheckerPool::new();
        let mut slow = ConnectOpts::new("127.0.0.1:1".parse().expect("addr"));
        slow.connect_timeout = Duration::from_secs(9);
        for id in 0..6u16 {
            let mut c = if id < 4 {
                ConnectOpts::new("127.0.0.1:1".parse().expect("addr"))
            } else {
                slow.clone()
            };
            c.target.set_port(1000 + id);
            pool.insert(u64::from(id), Probe::Tcp(c), fast(100_000));
        }
        assert_eq!(pool.connect_opts.len(), 2, "two option sets");
        assert!(Arc::ptr_eq(
            &connect_opts(&pool, 0),
            &connect_opts(&pool, 3)
        ));
        assert!(!Arc::ptr_eq(
            &connect_opts(&pool, 0),
            &connect_opts(&pool, 4)
        ));
        assert_eq!(
            connect_opts(&pool, 5).connect_timeout,
            Duration::from_secs(9)
        );
        for id in 0..6u16 {
            let e = pool.entry(u64::from(id)).expect("checker");
            assert!(e
                .probe
                .connect_target()
                .is_some_and(|(t, _)| t.port() == 1000 + id));
        }
        // The last checkers of an option set gone, the set goes at the next shrink.
        pool.remove_many([4, 5, 77]);
        assert_eq!(pool.len(), 4);
        pool.shrink_to_fit();
        assert_eq!(pool.connect_opts.len(), 1);
    }

    #[tokio::test]
    async fn checkers_are_kept_in_id_order_whatever_the_insertion_order() {
        let addr = closed_port().await;
        let mut pool = CheckerPool::new();
        for id in [5, 1, 9, 3, 7, 3] {
            pool.insert(id, Probe::Tcp(ConnectOpts::new(addr)), fast(100_000));
        }
        let ids: Vec<u64> = pool.ids.iter().collect();
        assert_eq!(
            ids,
            [1, 3, 5, 7, 9],
            "sorted, the second 3 replacing the first"
        );
        pool.remove_many([9, 1]);
        pool.remove(5);
        let ids: Vec<u64> = pool.ids.iter().collect();
        assert_eq!(ids, [3, 7]);
        assert!(pool.entry(5).is_none() && pool.entry(7).is_some());
    }

    #[tokio::test]
    async fn connects_in_flight_are_kept_by_id_until_they_finish_or_their_checker_goes() {
        let (addr, _hang) = crate::tcp::hanging_listener().await;
        let mut pool = CheckerPool::new();
        let mut opts = ConnectOpts::new(addr);
        opts.connect_timeout = Duration::from_millis(200);
        let now = Instant::now();
        for id in [1, 2] {
            pool.insert_at(
                id,
                Probe::Tcp(opts.clone()),
                fast(10_000),
                now,
                Duration::ZERO,
            );
        }
        assert_eq!(pool.start_due(now), 2);
        assert!(pool.entries.iter().all(|e| e.running == Running::Connect));
        assert_eq!(pool.connects.len(), 2);
        // Removing a checker cancels its connect and forgets its key.
        pool.remove(2);
        assert_eq!(pool.connects.keys().copied().collect::<Vec<_>>(), [1]);
        assert_eq!(pool.in_flight(), 1);
        // The other one times out: its key goes with its result.
        let (id, e) = next(&mut pool).await;
        assert_eq!(id, 1);
        assert!(matches!(e, CheckerEvent::Down { .. }), "{e:?}");
        assert!(pool.connects.is_empty());
        assert_eq!(pool.entry(1).map(|e| e.running), Some(Running::Idle));
        assert_eq!(pool.in_flight(), 0);
    }

    #[test]
    fn id_runs_read_as_the_sorted_ids_they_keep() {
        // Random inserts and removals, checked against a plain sorted vector after each.
        let mut rng = fastrand::Rng::with_seed(5);
        let mut runs = IdRuns::default();
        let mut plain: Vec<u64> = Vec::new();
        for step in 0..20_000 {
            // Ids mostly in increasing order (as a runtime gives them), sometimes anywhere.
            let id = if rng.u8(..4) == 0 {
                rng.u64(..600)
            } else {
                plain.last().map_or(0, |l| l + 1 + u64::from(rng.u8(..2)))
            };
            if rng.u8(..3) == 0 && !plain.is_empty() {
                let i = rng.usize(..plain.len());
                runs.remove(i);
                plain.remove(i);
            } else if let Err(i) = plain.binary_search(&id) {
                assert_eq!(runs.search(id), Err(i), "step {step}: place of {id}");
                runs.insert(i, id);
                plain.insert(i, id);
            }
            assert_eq!(runs.len, plain.len());
            if step % 97 == 0 {
                assert_eq!(runs.iter().collect::<Vec<_>>(), plain, "step {step}");
                for (i, &id) in plain.iter().enumerate() {
                    assert_eq!(runs.search(id), Ok(i));
                    assert_eq!(runs.id_at(i), Some(id));
                }
                for probe in 0..700 {
                    assert_eq!(runs.search(probe), plain.binary_search(&probe), "{probe}");
                }
                // Adjacent runs never continue each other: as few runs as the ids allow.
                let breaks = plain.windows(2).filter(|w| w[1] != w[0] + 1).count();
                assert_eq!(runs.runs.len(), breaks + usize::from(!plain.is_empty()));
            }
        }
        assert_eq!(
            runs.id_at(plain.len().saturating_sub(1)),
            plain.last().copied()
        );
        assert_eq!(runs.id_at(plain.len()), None);
        // Consecutive ids (one configuration's checkers) are a single run.
        let one = IdRuns::of(1000..37_800);
        assert_eq!((one.runs.len(), one.len), (1, 36_800));
        assert_eq!(one.search(37_799), Ok(36_799));
        assert_eq!(one.search(37_800), Err(36_800));
        assert_eq!(one.search(999), Err(0));
        assert_eq!(IdRuns::of([u64::MAX - 1, u64::MAX]).search(u64::MAX), Ok(1));
    }

    #[test]
    fn a_pooled_checker_is_small() {
        // Tens of thousands of them: the state, the target, shared options and timing.
        let sizes = (
            std::mem::size_of::<PoolEntry>(),
            std::mem::size_of::<CheckerState>(),
            std::mem::size_of::<PoolProbe>(),
        );
        println!("PoolEntry, CheckerState, PoolProbe: {sizes:?}");
        assert!(sizes.0 <= 56 && sizes.1 <= 32 && sizes.2 <= 16, "{sizes:?}");
        assert_eq!(std::mem::size_of::<Running>(), 1);
    }

    #[test]
    fn a_connect_keeps_its_whole_target_either_family() {
        let shared = Arc::new(ConnectOpts::new("0.0.0.0:0".parse().expect("addr")));
        let v6 = SocketAddrV6::new("fe80::1".parse().expect("ip"), 8080, 7, 3);
        for target in [SocketAddr::from(([10, 0, 0, 2], 80)), SocketAddr::V6(v6)] {
            let p = PoolProbe::connect(ConnectOpts::new(target), |_| Arc::clone(&shared));
            let (t, opts) = p.connect_target().expect("a connect");
            assert_eq!(t, target);
            assert!(Arc::ptr_eq(opts, &shared));
        }
        let task = PoolProbe::Task(Arc::new(Probe::Ping(ConnectOpts::new(v6.into()))));
        assert!(task.connect_target().is_none());
    }

    #[test]
    fn a_period_queue_grows_to_the_number_of_checkers() {
        let mut q = DueQueue::default();
        let t0 = Instant::now();
        let period = Some(30_000_000_000);
        for id in 0..10_000u64 {
            q.push(
                state::tick(t0 + Duration::from_micros(id)),
                id,
                period,
                10_000,
            );
        }
        let queue = &q.periods.first().expect("one period").entries;
        assert_eq!(queue.len(), 10_000);
        assert!(queue.capacity() < 10_016, "{}", queue.capacity());
        // Beyond it (stale entries), by an eighth.
        assert_eq!(DueQueue::growth(10_000, 10_000), 1250);
        assert_eq!(DueQueue::growth(100, 10_000), 100);
        assert_eq!(DueQueue::growth(9_990, 10_000), 10);
        // Still in order: earliest first.
        let (from, at, id) = q.first().expect("first");
        assert_eq!((from, id), (Some(0), 0));
        assert_eq!(state::instant(at), t0);
    }

    #[test]
    fn due_entries_are_small_and_the_heap_gives_its_room_back() {
        let t0 = Instant::now();
        let mut q = DueQueue::default();
        assert_eq!(std::mem::size_of::<Reverse<(i64, u64)>>(), 16);
        for id in 0..1000u64 {
            q.push(
                state::tick(t0 + Duration::from_millis(1000 - id)),
                id,
                None,
                1000,
            );
        }
        let full = q.heap.capacity();
        // Earliest first (the last pushed), instants kept to the nanosecond.
        let (from, at, id) = q.first().expect("first");
        assert_eq!((from, id), (None, 999));
        assert_eq!(state::instant(at), t0 + Duration::from_millis(1));
        for _ in 0..990 {
            let (from, _, _) = q.first().expect("entry");
            q.pop(from);
        }
        assert_eq!(q.heap.len(), 10);
        assert!(
            q.heap.capacity() < full / 4,
            "{} of {full}",
            q.heap.capacity()
        );
        // An instant before the ticks' epoch comes first, and is still recognised.
        let early = t0 - Duration::from_secs(1);
        let early_tick = state::tick(early);
        assert!(early_tick < state::tick(t0));
        q.push(early_tick, 5000, None, 1000);
        let (_, at, id) = q.first().expect("first");
        assert_eq!((at, id), (early_tick, 5000));
        assert_eq!(state::instant(at), early);
        assert!(DueQueue::is_current(at, Some(early_tick)));
        assert!(!DueQueue::is_current(at, Some(early_tick + 1)));
        assert!(!DueQueue::is_current(at, None));
    }

    #[test]
    fn queued_due_entries_are_eight_bytes_and_keep_exact_ticks_over_long_gaps() {
        assert_eq!(std::mem::size_of::<DueEntry>(), 8);
        let t0 = state::tick(Instant::now());
        let s = 1_000_000_000i64;
        let period = Some(60 * s);
        let mut q = DueQueue::default();
        // 1 ns apart, then 10 s (two fillers), a tie, then ~8.6 s plus 7 ns (exactly two
        // u32 gaps: one filler and a full gap), then one past the u32 range by a nanosecond.
        let most = i64::from(u32::MAX);
        let ticks = [
            t0,
            t0 + 1,
            t0 + 10 * s,
            t0 + 10 * s,
            t0 + 10 * s + 2 * most + 7,
            t0 + 10 * s + 3 * most + 8,
        ];
        for (id, at) in ticks.iter().enumerate() {
            q.push(*at, id as u64, period, 100);
        }
        assert!(q.heap.is_empty(), "all in the period's queue");
        assert!(q.periods[0].entries.len() > ticks.len(), "with fillers");
        for (id, at) in ticks.iter().enumerate() {
            assert_eq!(q.first(), Some((Some(0), *at, id as u64)));
            q.pop(Some(0));
        }
        assert_eq!(q.first(), None);
        assert!(q.periods[0].entries.is_empty(), "no filler left behind");
        // Emptied, the queue starts again from any tick, earlier ones included.
        q.push(t0 - s, 9, period, 100);
        assert_eq!(q.first(), Some((Some(0), t0 - s, 9)));
        // An id an entry cannot hold goes to the heap, still in order.
        q.push(t0 - 2 * s, u64::from(u32::MAX), period, 100);
        assert_eq!(q.first(), Some((None, t0 - 2 * s, u64::from(u32::MAX))));
        assert_eq!(q.periods[0].entries.len(), 1);
    }

    /// The due queue as it was with 16-byte entries (tick and id in each): the reference
    /// the 8-byte entries must give the same order as.
    #[derive(Default)]
    struct WideDueQueue {
        periods: Vec<(i64, VecDeque<(i64, u64)>)>,
        heap: BinaryHeap<Reverse<(i64, u64)>>,
    }

    impl WideDueQueue {
        fn push(&mut self, at: i64, id: u64, period: Option<i64>) {
            if let Some(p) = period {
                if let Some((_, q)) = self.periods.iter_mut().find(|(d, _)| *d == p) {
                    if q.back().is_none_or(|&(last, _)| last <= at) {
                        q.push_back((at, id));
                        return;
                    }
                } else if self.periods.len() < MAX_PERIODS {
                    self.periods.push((p, VecDeque::from([(at, id)])));
                    return;
                }
            }
            self.heap.push(Reverse((at, id)));
        }

        fn first(&self) -> Option<(Option<usize>, i64, u64)> {
            let mut best = self.heap.peek().map(|&Reverse((at, id))| (None, at, id));
            for (i, (_, q)) in self.periods.iter().enumerate() {
                if let Some(&(at, id)) = q.front() {
                    if best.is_none_or(|(_, b, _)| at < b) {
                        best = Some((Some(i), at, id));
                    }
                }
            }
            best
        }

        fn pop(&mut self, from: Option<usize>) {
            match from {
                Some(i) => {
                    self.periods[i].1.pop_front();
                }
                None => {
                    self.heap.pop();
                }
            }
        }
    }

    #[test]
    fn eight_byte_due_entries_keep_the_order_of_tick_and_id_entries() {
        // A simulated pool: checkers finishing probes reschedule after one of a few periods
        // (long ones too, gaps beyond a u32 of nanoseconds), on a coarse clock (ties), some
        // at arbitrary instants; entries popped as they come due.
        let s = 1_000_000_000i64;
        let periods = [3 * s, 30 * s, 60 * s, 7 * s + 1, 10 * s];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let (mut new, mut old) = (DueQueue::default(), WideDueQueue::default());
        let (mut now, mut long_gaps) = (0i64, 0);
        for step in 0..200_000u64 {
            match rand(10) {
                0..=5 => {
                    let id = rand(5_000);
                    let (at, period) = if rand(20) == 0 {
                        (now + i64::try_from(rand(90)).expect("small") * s, None)
                    } else {
                        let p = periods[usize::try_from(rand(5)).expect("small")];
                        (now + p, Some(p))
                    };
                    let back = old
                        .periods
                        .iter()
                        .find(|(d, _)| Some(*d) == period)
                        .and_then(|(_, q)| q.back());
                    if back.is_some_and(|&(b, _)| at - b > i64::from(u32::MAX)) {
                        long_gaps += 1;
                    }
                    new.push(at, id, period, 5_000);
                    old.push(at, id, period);
                }
                6 | 7 => {
                    assert_eq!(new.first(), old.first(), "step {step}");
                    if let Some((from, at, _)) = old.first() {
                        now = now.max(at);
                        new.pop(from);
                        old.pop(from);
                    }
                }
                // The clock moves on in whole milliseconds (many equal ticks), now and then
                // by seconds.
                8 if rand(50) == 0 => now += 5 * s + i64::try_from(rand(1000)).expect("small"),
                _ => now += i64::try_from(rand(400)).expect("small") * 1_000_000,
            }
        }
        while let Some((from, _, _)) = old.first() {
            assert_eq!(new.first(), old.first());
            new.pop(from);
            old.pop(from);
        }
        assert_eq!(new.first(), None);
        assert!(long_gaps > 100, "gaps beyond a u32: {long_gaps}");
    }

    /// Whether checker `id` has not started a probe yet.
    fn not_started(pool: &CheckerPool, id: u64) -> bool {
        pool.entry(id)
            .is_some_and(|e| e.last_micros == 0 && e.running == Running::Idle)
    }

    #[tokio::test]
    async fn a_verdict_is_reported_before_the_rest_of_a_due_batch_starts() {
        let open = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let open_addr = open.local_addr().expect("addr");
        let closed = closed_port().await;
        let mut pool = CheckerPool::new();
        // 50 checkers all due at the same instant; ids start in order, so checker 3 (the one
        // on a closed port) is in the first turn's starts.
        let t0 = Instant::now();
        for id in 0..50 {
            let mut s = fast(60_000);
            s.retry = 0;
            let addr = if id == 3 { closed } else { open_addr };
            pool.insert_at(
                id,
                Probe::Tcp(ConnectOpts::new(addr)),
                s,
                t0,
                Duration::ZERO,
            );
        }
        let (id, e) = next(&mut pool).await;
        assert_eq!(id, 3);
        assert!(matches!(e, CheckerEvent::Down { .. }), "{e:?}");
        // Without the cap all 50 would have started (and finished) before the verdict.
        let waiting = (0..50).filter(|&id| not_started(&pool, id)).count();
        assert!(
            waiting >= 40 && waiting + MAX_STARTS_PER_TURN >= 50,
            "only {waiting} of 50 probes not started yet when the verdict came"
        );
        // The connects finished in that turn (loopback: inside connect()) are open still:
        // they are reset at the next call.
        open.set_nonblocking(false).expect("blocking");
        let (mut server, _) = open.accept().expect("accept");
        server
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let mut buf = [0u8; 4];
        let r = std::io::Read::read(&mut server, &mut buf);
        assert!(
            r.as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
            "the probe's connection is still open before the next call: {r:?}"
        );
        // Nothing else has an event: the rest of the batch passes (the checkers start up).
        let quiet = tokio::time::timeout(Duration::from_millis(300), pool.next_event()).await;
        assert!(quiet.is_err(), "{quiet:?}");
        server
            .set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        let e = std::io::Read::read(&mut server, &mut buf).expect_err("reset");
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
        assert_eq!((0..50).filter(|&id| not_started(&pool, id)).count(), 0);
        assert_eq!(pool.in_flight(), 0);
    }

    #[test]
    fn tasks_beside_the_pool_run_while_probes_are_always_due() {
        // 100 checkers on a closed port with delay_loop 0: after their first verdicts more
        // probes are due than a turn starts, at every turn (overload). A task spawned beside
        // the pool (as a probe task, a timer or a signal handler is) must still run.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let addr = closed_port().await;
                let mut pool = CheckerPool::new();
                let t0 = Instant::now();
                for id in 0..100 {
                    let mut s = fast(0);
                    s.retry = 0;
                    pool.insert_at(
                        id,
                        Probe::Tcp(ConnectOpts::new(addr)),
                        s,
                        t0,
                        Duration::ZERO,
                    );
                }
                tokio::spawn(async move {
                    let _ = tx.send(());
                });
                loop {
                    let _ = pool.next_event().await;
                }
            });
        });
        assert!(
            rx.recv_timeout(Duration::from_secs(10)).is_ok(),
            "the task beside an overloaded pool never ran"
        );
    }

    #[tokio::test]
    async fn pool_survives_being_cancelled_between_events() {
        let addr = closed_port().await;
        let mut pool = CheckerPool::new();
        let mut s = fast(100);
        s.retry = 0;
        pool.insert(1, Probe::Tcp(ConnectOpts::new(addr)), s);
        // Poll in slices much shorter than the probe period, as a select! loop would.
        let mut down = false;
        for _ in 0..300 {
            if let Ok((1, CheckerEvent::Down { .. })) =
                tokio::time::timeout(Duration::from_millis(1), pool.next_event()).await
            {
                down = true;
                break;
            }
        }
        assert!(down);
    }

    #[tokio::test]
    async fn a_panicking_probe_counts_as_failed_and_the_checker_goes_on() {
        let mut pool = CheckerPool::new();
        let mut s = fast(100_000);
        s.retry = 0;
        pool.insert(
            3,
            Probe::Tcp(ConnectOpts::new("127.0.0.1:1".parse().expect("addr"))),
            s,
        );
        // Stand in for the probe the pool would start: one that panics.
        let e = pool.entry_mut(3).expect("entry");
        let at = e.state.poll_timeout().expect("due");
        assert!(e.state.handle_timeout(at.max(Instant::now())));
        let h = pool.running.spawn(async {
            if std::hint::black_box(true) {
                panic!("probe bug");
            }
            (3, crate::outcome::up(), Duration::ZERO)
        });
        pool.entry_mut(3).expect("entry").running = Running::Task;
        pool.tasks.insert(3, h);
        let (id, e) = next(&mut pool).await;
        assert_eq!(id, 3);
        assert!(
            matches!(&e, CheckerEvent::Down { reason } if reason.contains("panicked")),
            "{e:?}"
        );
        // Rescheduled: the checker is idle again with a next probe due.
        assert!(pool.entry(3).expect("entry").state.poll_timeout().is_some());
        let last = pool.last_probe(3).expect("reported");
        assert!(last.failure.is_some_and(|r| r.reason.contains("panicked")));
    }

    /// A server answering each request with the next of `statuses` (then 200) and closing;
    /// the number of requests served so far.
    fn status_server(statuses: Vec<u16>) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = Arc::clone(&served);
        std::thread::spawn(move || {
            let mut statuses = statuses.into_iter();
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                let mut req = [0u8; 512];
                let _ = s.read(&mut req);
                let status = statuses.next().unwrap_or(200);
                let _ = write!(s, "HTTP/1.0 {status} X\r\nContent-Length: 2\r\n\r\nok");
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        (addr, served)
    }

    fn http_get(addr: SocketAddr) -> crate::http::HttpParams {
        let mut c = ConnectOpts::new(addr);
        c.connect_timeout = Duration::from_secs(1);
        let mut url = crate::http::UrlCheck::new("/health");
        url.digest = Some(
            md5::Digest::finalize(md5::Digest::chain_update(
                <md5::Md5 as md5::Digest>::new(),
                b"ok",
            ))
            .into(),
        );
        crate::http::HttpParams::new(c, vec![url])
    }

    #[tokio::test]
    async fn an_http_get_checker_runs_on_the_connector_on_one_socket() {
        let (addr, served) = status_server(vec![200, 500]);
        let mut pool = CheckerPool::new();
        let mut s = fast(50);
        s.retry = 0;
        pool.insert(4, Probe::Http(http_get(addr)), s);
        let e = pool.entry(4).expect("checker");
        assert!(matches!(e.probe, PoolProbe::Get(_)), "{:?}", e.probe);
        assert_eq!(pool.url(4, 0).map(|u| u.path.as_str()), Some("/health"));
        assert!(pool.url(4, 1).is_none());
        // The second probe gets a 500: down, with probe_url's reason; then up again.
        let (id, e) = next(&mut pool).await;
        assert_eq!(id, 4);
        assert!(
            matches!(&e, CheckerEvent::Down { reason } if reason.contains("HTTP status 500")),
            "{e:?}"
        );
        let failed = pool.last_probe(4).expect("reported");
        assert!(
            failed.failure.is_some_and(|f| matches!(
                &f.reason,
                crate::Reason::Http { path, error: crate::outcome::HttpError::Status(500) }
                    if &**path == "/health"
            )),
            "{failed:?}"
        );
        let (id, e) = next(&mut pool).await;
        assert_eq!(id, 4);
        assert!(matches!(e, CheckerEvent::Up { .. }), "{e:?}");
        assert_eq!(pool.running.len(), 0, "no task ran a probe");
        // Every probe so far on the same socket.
        let probes = served.load(std::sync::atomic::Ordering::SeqCst);
        assert!(probes >= 3, "{probes}");
        assert_eq!(pool.tcp.as_ref().map(Connector::sockets), Some(1));
    }

    #[tokio::test]
    async fn an_ssl_get_checker_stays_a_task_and_a_removed_http_get_stops() {
        let addr = closed_port().await;
        let mut pool = CheckerPool::new();
        let mut ssl = http_get(addr);
        ssl.tls =
            Some(crate::tls::TlsClient::new(&crate::tls::TlsFiles::default(), None).expect("tls"));
        pool.insert(1, Probe::Http(ssl), fast(100_000));
        assert!(matches!(
            pool.entry(1).expect("1").probe,
            PoolProbe::Task(_)
        ));
        assert_eq!(pool.url(1, 0).map(|u| u.path.as_str()), Some("/health"));
        // A server that never answers: the exchange stays in flight until its checker goes.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let now = Instant::now();
        pool.insert_at(
            2,
            Probe::Http(http_get(silent.local_addr().expect("addr"))),
            fast(100_000),
            now,
            Duration::ZERO,
        );
        // Both due: the SSL_GET as a task, the HTTP_GET on the connector.
        assert_eq!(pool.start_due(now), 1);
        assert_eq!(pool.entry(1).map(|e| e.running), Some(Running::Task));
        assert_eq!(pool.entry(2).map(|e| e.running), Some(Running::Connect));
        assert_eq!(pool.in_flight(), 2);
        pool.remove(2);
        assert!(pool.connects.is_empty());
        assert_eq!(pool.in_flight(), 1);
    }

    #[tokio::test]
    async fn file_checker_follows_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("w");
        std::fs::write(&path, "0").expect("write");
        let mut p = crate::file::FileParams::new(&path);
        p.weight = 0;
        let (tx, mut rx) = mpsc::channel(8);
        let task = tokio::spawn(run_file_checker(p, None, tx));
        let e = tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .expect("event");
        assert!(matches!(e, Some(CheckerEvent::Up { .. })), "{e:?}");
        std::fs::write(&path, "1").expect("write");
        let e = tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .expect("event");
        assert!(matches!(e, Some(CheckerEvent::Down { .. })), "{e:?}");
        task.abort();
    }
}
