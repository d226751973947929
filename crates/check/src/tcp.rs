//! TCP_CHECK: the server is up when a TCP connection opens.
//!
//! The connection is closed with a reset (`SO_LINGER` on with a zero timeout), where
//! keepalived 2.2.7 closes it with a FIN (observed with tcpdump: SYN, SYN-ACK, ACK, FIN, ACK,
//! FIN, ACK, then the director holds the connection in TIME_WAIT for 60 s). The reset spares
//! the FIN exchange on both ends and leaves no TIME_WAIT entry behind: a director running
//! thousands of checks a second no longer accumulates them (HAProxy's checks close the same
//! way). The server sees its accepted connection reset, which it must handle anyway.
//!
//! The pool's `Connector` resets a connection by disconnecting its socket instead
//! ([`rka_sys::net::disconnect`]: the same reset on the wire) and keeps the socket for the
//! next check of the same address family, when the check sets no socket option of its own.
//! It also runs plain HTTP_GET exchanges (`http::PooledGet`) on the same sockets.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use socket2::{Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::http::{GetStep, HttpParams, PooledGet, POOL_READ_BUFFER};
use crate::net::ConnectOpts;
use crate::outcome::{up, Failure, ProbeResult, Reason};

/// Open a connection to `opts.target` and reset it at once.
pub async fn probe(opts: &ConnectOpts) -> ProbeResult {
    let stream = opts.tcp_connect().await?;
    // Best effort: if the option cannot be set the close is an ordinary FIN.
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
    up()
}

/// The epoll instance of a [`Connector`], watched by tokio as one readable descriptor.
#[derive(Debug)]
struct EpollFd(Epoll);

impl AsRawFd for EpollFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0 .0.as_raw_fd()
    }
}

/// A connect in flight, and for an HTTP_GET the exchange that follows it.
#[derive(Debug)]
struct Pending {
    /// The caller's token (the pool's checker id).
    token: u64,
    sock: Socket,
    target: SocketAddr,
    started: Instant,
    timeout: Duration,
    /// The socket is kept for another connect afterwards (see [`Slot::Parked`]).
    reusable: bool,
    /// An HTTP_GET's request and response, once connected; `None` for a TCP_CHECK (the
    /// connect is the verdict).
    get: Option<Box<PooledGet>>,
}

impl Pending {
    /// How the socket is let go after the verdict: a reusable one is disconnected and kept, a
    /// TCP_CHECK's own is reset, an HTTP_GET's own closed as keepalived closes it.
    fn release_as(&self, owner: Owner) -> Release {
        match (self.reusable, &self.get) {
            (true, _) => Release::Park(owner),
            (false, None) => Release::Reset,
            (false, Some(_)) => Release::Close,
        }
    }
}

/// How a finished probe's socket is let go (see [`Connector::close_deferred`]).
#[derive(Debug, Clone, Copy)]
enum Release {
    /// Disconnected (a connection it holds is reset) and kept for reuse in its slot.
    Park(Owner),
    /// Closed with a reset ([`reset_close`]).
    Reset,
    /// Closed: a FIN, or the kernel's reset when unread data is pending.
    Close,
}

/// What a slot of a [`Connector`] holds. A reusable socket owns its slot for its whole life:
/// it is registered in the epoll set once, with the slot as its data (generation 0), so that
/// its events find whichever connect it is running. Any other socket has a slot for one
/// connect, its epoll data the connect's key (`slot | generation << 32`, generation never 0).
#[derive(Debug)]
enum Slot {
    /// Free for another socket (its index is in [`Connector::free`]).
    Vacant,
    /// A reusable socket's, between two connects: it waits for its deferred disconnect or
    /// sits idle in [`Connector::idle`]. Its events are ignored.
    Parked,
    /// A connect (or an HTTP_GET exchange) in flight, under this generation.
    Busy(u32, Pending),
}

/// A reusable socket's slot and its address family's idle list (0: IPv4, 1: IPv6).
#[derive(Debug, Clone, Copy)]
struct Owner {
    slot: u32,
    family: usize,
}

/// A finished probe: the caller's token, the result, how long it took.
pub(crate) type Connected = (u64, ProbeResult, Duration);

/// What [`Connector::start`] did.
#[derive(Debug)]
pub(crate) enum Started {
    /// The probe is in flight under this key (for [`Connector::cancel`]).
    InFlight(u64),
    /// The result is already known.
    Done(Connected),
}

/// How many readiness events are read per `epoll_wait`.
const EVENT_BATCH: usize = 256;

/// How many disconnected sockets a [`Connector`] keeps for reuse, per address family; a
/// socket released beyond it is closed. A socket is released when its verdict has been
/// handed on and taken again by the next start, so the idle list holds about one turn's
/// finished connects; the cap bounds it after a burst (each idle socket is a descriptor and
/// a few KB of kernel memory).
const MAX_IDLE_SOCKETS: usize = 256;

/// The readiness a socket is watched for, edge-triggered: writable (a connect finished, room
/// for the rest of a request) and readable (an HTTP_GET's response, the server's close). A
/// TCP_CHECK's socket is let go at its first event, whatever else it reports later.
fn interest() -> EpollFlags {
    EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT | EpollFlags::EPOLLET
}

/// Runs many TCP_CHECK connects and plain HTTP_GET exchanges without a task, a tokio
/// registration or a timer each: the sockets are in one epoll instance of its own (which
/// tokio watches as a single descriptor), a connect's verdict is read from the readiness
/// flags (`SO_ERROR` is read only on failure, for its reason), timeouts sit in per-duration
/// FIFO queues.
///
/// A check with no socket option of its own (`bindto`, `bind_port`, `bind_if`, `fwmark`)
/// runs on a reused socket: after its verdict the socket is disconnected
/// ([`rka_sys::net::disconnect`], which resets the connection as a zero-linger close does),
/// stays in the epoll set and waits in an idle list for the next check of its family. Per
/// probe: connect, disconnect, and a share of one epoll_wait. A check with options gets a
/// socket of its own: socket, connect, epoll_ctl, setsockopt (linger), close (which also
/// removes it from the epoll set).
///
/// An HTTP_GET ([`PooledGet`]) goes on after its connect in the same slot: the request is
/// written when the socket is writable, the response read when it is readable, into one
/// buffer of the connector's, until the server closes. Its timeouts (each operation's, the
/// whole exchange's) share the connect's deadline entry, moved on when it comes due while
/// the exchange has made progress. Its socket is let go as a TCP_CHECK's, after our FIN: a
/// reused one is shut down for writing once the response is read (keepalived's close() sends
/// that FIN after the server's), then disconnected, which finds it in LAST_ACK or closed and
/// sends nothing more; one of its own is closed.
#[derive(Debug)]
pub(crate) struct Connector {
    epoll: AsyncFd<EpollFd>,
    /// The sockets, by slot (see [`Slot`]); deadlines and keys carry `slot | gen << 32`.
    slots: Vec<Slot>,
    /// The vacant slots.
    free: Vec<u32>,
    generation: u32,
    in_flight: usize,
    /// Deadlines, one queue per connect timeout, each sorted by instant (FIFO by
    /// construction; an HTTP_GET's entry moved on is put back in its place).
    deadlines: Vec<(Duration, VecDeque<(Instant, u64)>)>,
    events: Vec<EpollEvent>,
    /// Sockets of finished probes, let go by [`close_deferred`](Self::close_deferred) (the
    /// caller hands the verdicts on first: a reset costs a system call or two).
    closing: Vec<(Socket, Release)>,
    /// Disconnected reusable sockets by address family (IPv4, IPv6), the last released on
    /// top, each with its slot.
    idle: [Vec<(u32, Socket)>; 2],
    /// At most this many sockets per idle list ([`MAX_IDLE_SOCKETS`]).
    idle_cap: usize,
    /// Where HTTP_GET responses are read (empty until the first one).
    read_buf: Vec<u8>,
}

impl Connector {
    /// A connector; must be created inside a tokio runtime with I/O enabled.
    pub(crate) fn new() -> std::io::Result<Self> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        // `AsyncFd`'s safe constructors are deprecated for types that could hand out another
        // descriptor over time; `EpollFd` owns its descriptor for its whole life, which is
        // the contract of the `unsafe` replacement (and `unsafe` is kept to crates/sys).
        #[allow(deprecated)]
        let epoll = AsyncFd::with_interest(EpollFd(epoll), tokio::io::Interest::READABLE)?;
        Ok(Connector {
            epoll,
            slots: Vec::new(),
            free: Vec::new(),
            generation: 0,
            in_flight: 0,
            deadlines: Vec::new(),
            events: vec![EpollEvent::empty(); EVENT_BATCH],
            closing: Vec::new(),
            idle: [Vec::new(), Vec::new()],
            idle_cap: MAX_IDLE_SOCKETS,
            read_buf: Vec::new(),
        })
    }

    /// How many probes are in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Starts a TCP_CHECK connect for `token` to `target` with the rest of `opts` (its own
    /// target is not used: the options may be shared by many targets). Returns its result at
    /// once when it is already known (the socket cannot be set up, or the connect finished or
    /// failed immediately); otherwise the result comes from [`finished`](Self::finished) or
    /// [`expire`](Self::expire), under `token`.
    pub(crate) fn start(
        &mut self,
        token: u64,
        target: SocketAddr,
        opts: &ConnectOpts,
        now: Instant,
    ) -> Started {
        self.start_probe(token, target, opts, None, now)
    }

    /// Starts a plain HTTP_GET of url `url` of `params` (which must have no TLS client) for
    /// `token`: a connect to `params.connect.target`, then the exchange. Results as for
    /// [`start`](Self::start), with the url's verdict (the failures [`crate::http::probe_url`]
    /// gives, in its words).
    pub(crate) fn start_get(
        &mut self,
        token: u64,
        params: &Arc<HttpParams>,
        url: usize,
        now: Instant,
    ) -> Started {
        match PooledGet::new(Arc::clone(params), url, now) {
            Ok(get) => {
                let p = Arc::clone(get.params());
                self.start_probe(
                    token,
                    p.connect.target,
                    &p.connect,
                    Some(Box::new(get)),
                    now,
                )
            }
            Err(f) => Started::Done((token, Err(f), now.elapsed())),
        }
    }

    fn start_probe(
        &mut self,
        token: u64,
        target: SocketAddr,
        opts: &ConnectOpts,
        get: Option<Box<PooledGet>>,
        now: Instant,
    ) -> Started {
        let quick = |r: ProbeResult, get: &Option<Box<PooledGet>>| {
            let r = match get {
                Some(g) => r.map_err(|f| g.connect_failed(f)),
                None => r,
            };
            Started::Done((token, r, now.elapsed()))
        };
        let target = match opts.resolve(target) {
            Ok(t) => t,
            Err(f) => return quick(Err(f), &get),
        };
        // A socket option of the check's own would have to be set or undone on every reuse.
        let reusable = opts.bindto.is_none()
            && opts.bind_port.is_none()
            && opts.bind_if.is_none()
            && opts.fwmark.is_none();
        let family = usize::from(target.is_ipv6());
        let reused = if reusable {
            self.idle.get_mut(family).and_then(Vec::pop)
        } else {
            None
        };
        let (sock, parked) = match reused {
            Some((slot, sock)) => (sock, Some(Owner { slot, family })),
            None => match opts.socket_to(target, Type::STREAM, Some(Protocol::TCP)) {
                Ok(s) => (s, None),
                Err(f) => return quick(Err(f), &get),
            },
        };
        match sock.connect(&target.into()) {
            // An HTTP_GET goes on when its socket reports the connect (a TCP connect on
            // Linux is never done inside connect() anyway).
            Ok(()) if get.is_some() => {}
            Ok(()) => {
                match parked {
                    Some(owner) => self.park(sock, owner),
                    None => reset_close(sock),
                }
                return quick(up(), &get);
            }
            Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EINPROGRESS as i32) => {}
            Err(e) => {
                let failed = connect_failed(target, &e);
                if let Some(owner) = parked {
                    self.park(sock, owner);
                }
                return quick(Err(failed), &get);
            }
        }
        let generation = self.next_generation();
        let slot = match parked {
            Some(owner) => owner.slot,
            None => {
                let Some(slot) = self.vacant_slot() else {
                    let full = Failure::new("too many connects in flight");
                    return quick(Err(full), &get);
                };
                let key = slot_key(slot, generation);
                // A reusable socket's events name its slot, whatever connect it runs.
                let data = if reusable { u64::from(slot) } else { key };
                if let Err(e) = self
                    .epoll
                    .get_ref()
                    .0
                    .add(sock.as_fd(), EpollEvent::new(interest(), data))
                {
                    self.free.push(slot);
                    let f = Failure::socket(format!("cannot watch the connection: {e}"));
                    return quick(Err(f), &get);
                }
                slot
            }
        };
        let key = slot_key(slot, generation);
        let deadline = now + opts.connect_timeout;
        push_deadline(&mut self.deadlines, opts.connect_timeout, deadline, key);
        if let Some(s) = self.slots.get_mut(slot as usize) {
            *s = Slot::Busy(
                generation,
                Pending {
                    token,
                    sock,
                    target,
                    started: now,
                    timeout: opts.connect_timeout,
                    reusable,
                    get,
                },
            );
        }
        self.in_flight += 1;
        Started::InFlight(key)
    }

    /// The next connect's generation (never 0: that marks a reusable socket's events).
    fn next_generation(&mut self) -> u32 {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.generation = 1;
        }
        self.generation
    }

    /// A vacant slot, made if none is; `None` when the slots' count would overflow a `u32`.
    fn vacant_slot(&mut self) -> Option<u32> {
        if let Some(s) = self.free.pop() {
            return Some(s);
        }
        let s = u32::try_from(self.slots.len()).ok()?;
        self.slots.push(Slot::Vacant);
        Some(s)
    }

    /// The probe in flight in `slot` (see [`busy_in`]).
    fn busy(&mut self, slot: usize, generation: Option<u32>) -> Option<&mut Pending> {
        busy_in(&mut self.slots, slot, generation)
    }

    /// Takes the probe in flight in `slot` (see [`busy`](Self::busy)). Its slot stays the
    /// reusable socket's, or is freed.
    fn take_slot(&mut self, slot: usize, generation: Option<u32>) -> Option<(Owner, Pending)> {
        self.busy(slot, generation)?;
        let cell = self.slots.get_mut(slot)?;
        let Slot::Busy(_, p) = std::mem::replace(cell, Slot::Parked) else {
            return None;
        };
        let owner = Owner {
            slot: slot as u32,
            family: usize::from(p.target.is_ipv6()),
        };
        if !p.reusable {
            *cell = Slot::Vacant;
            self.free.push(owner.slot);
        }
        self.in_flight -= 1;
        Some((owner, p))
    }

    /// Takes the connect of `key` out of its slot, if it is still the one in flight.
    fn take(&mut self, key: u64) -> Option<(Owner, Pending)> {
        let (slot, generation) = split_key(key);
        self.take_slot(slot, Some(generation))
    }

    /// Releases the socket of a probe taken out of its slot, now: a reusable one is
    /// disconnected and parked, any other closed (a connect still in progress is dropped by
    /// either).
    fn release(&mut self, owner: Owner, p: Pending) {
        if p.reusable {
            self.park(p.sock, owner);
        }
    }

    /// Disconnects reusable socket `sock` (a connection it holds is reset) and keeps it idle,
    /// or closes it when its family's idle list is full or the disconnect failed (its slot is
    /// then freed).
    fn park(&mut self, sock: Socket, owner: Owner) {
        let disconnected = match rka_sys::net::disconnect(sock.as_fd()) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!("TCP_CHECK: cannot disconnect a socket for reuse: {e}");
                false
            }
        };
        let cap = self.idle_cap;
        match self.idle.get_mut(owner.family) {
            Some(idle) if disconnected && idle.len() < cap => idle.push((owner.slot, sock)),
            _ => {
                if disconnected {
                    drop(sock);
                } else {
                    reset_close(sock);
                }
                if let Some(cell) = self.slots.get_mut(owner.slot as usize) {
                    *cell = Slot::Vacant;
                    self.free.push(owner.slot);
                }
            }
        }
    }

    /// Abandons the probe started under `key` (its checker is gone), if still in flight.
    pub(crate) fn cancel(&mut self, key: u64) {
        // Closing a socket removes it from the epoll set; its deadline goes stale.
        if let Some((owner, p)) = self.take(key) {
            self.release(owner, p);
        }
    }

    /// Abandons every probe in flight and closes every socket.
    pub(crate) fn clear(&mut self) {
        // Slots are forgotten: no socket is kept for reuse.
        for (s, _) in self.closing.drain(..) {
            reset_close(s);
        }
        self.idle = [Vec::new(), Vec::new()];
        self.slots.clear();
        self.free.clear();
        self.deadlines.clear();
        self.in_flight = 0;
        self.read_buf = Vec::new();
    }

    /// Lets go of the sockets of the probes finished since the last call: a reusable socket
    /// is disconnected and kept idle, any other closed.
    pub(crate) fn close_deferred(&mut self) {
        if self.closing.is_empty() {
            return;
        }
        let mut closing = std::mem::take(&mut self.closing);
        for (s, how) in closing.drain(..) {
            match how {
                Release::Park(owner) => self.park(s, owner),
                Release::Reset => reset_close(s),
                Release::Close => drop(s),
            }
        }
        self.closing = closing;
    }

    /// Collects the probes already finished, without waiting (e.g. those decided inside
    /// `connect()` itself, as on loopback). Once the ready list is drained, the readiness
    /// tokio holds for the epoll instance is cleared, as [`finished`](Self::finished) clears
    /// it: the next wait then sleeps until the I/O driver reports a new event, instead of an
    /// `epoll_wait` finding nothing.
    pub(crate) fn collect_now(&mut self, out: &mut Vec<Connected>) {
        loop {
            let n = {
                // Without a task to wake: only the readiness tokio holds now is read.
                let mut cx = Context::from_waker(Waker::noop());
                let ready = self.epoll.poll_read_ready(&mut cx);
                let n = wait_now(&self.epoll.get_ref().0, &mut self.events);
                if n < self.events.len() {
                    if let Poll::Ready(Ok(mut guard)) = ready {
                        guard.clear_ready();
                    }
                }
                n
            };
            self.collect(n, out);
            if n < self.events.len() {
                break;
            }
        }
    }

    /// The earliest deadline of a probe in flight (stale entries may make it early).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines
            .iter()
            .filter_map(|(_, q)| q.front().map(|&(at, _)| at))
            .min()
    }

    /// Fails every probe whose timeout has passed at `now`, into `out`. Probes that
    /// progressed meanwhile are collected first (the event loop may have been busy): only a
    /// connect still pending at `now`, or an HTTP_GET whose current operation or whole
    /// exchange is late at `now`, times out. Entries of probes already finished are dropped
    /// without a look at the epoll instance.
    pub(crate) fn expire(&mut self, now: Instant, out: &mut Vec<Connected>) {
        let mut collected = false;
        for qi in 0..self.deadlines.len() {
            while let Some(&(at, key)) = self.deadlines.get(qi).and_then(|(_, q)| q.front()) {
                if at > now {
                    break;
                }
                let (slot, generation) = split_key(key);
                if self.busy(slot, Some(generation)).is_some() && !collected {
                    // Look at this entry again once the progress made is known.
                    collected = true;
                    self.collect_now(out);
                    continue;
                }
                if let Some((_, q)) = self.deadlines.get_mut(qi) {
                    q.pop_front();
                }
                let verdict = match self.busy(slot, Some(generation)) {
                    None => continue,
                    Some(p) => match &p.get {
                        None => Err(Reason::ConnectTimeout {
                            target: p.target,
                            after: p.timeout,
                        }
                        .into()),
                        Some(get) => match get.timed_out(now, p.target) {
                            Some(verdict) => verdict,
                            None => {
                                // Progress since this entry was made: it moves on.
                                let at = get.deadline();
                                if let Some((_, q)) = self.deadlines.get_mut(qi) {
                                    let place = q.partition_point(|&(t, _)| t <= at);
                                    q.insert(place, (at, key));
                                }
                                continue;
                            }
                        },
                    },
                };
                if let Some((owner, p)) = self.take(key) {
                    out.push((p.token, verdict, p.started.elapsed()));
                    // A connect still in progress, or an exchange cut short, is dropped.
                    self.release(owner, p);
                }
            }
        }
        self.deadlines.retain(|(_, q)| !q.is_empty());
    }

    /// Waits until probes have made progress and collects those finished into `out`
    /// (cancel-safe: nothing is taken before the wait ends). Pending forever if the runtime
    /// is shutting down.
    pub(crate) async fn finished(&mut self, out: &mut Vec<Connected>) {
        let n = {
            let Ok(mut guard) = self.epoll.readable().await else {
                return std::future::pending().await;
            };
            let n = wait_now(&guard.get_inner().0, &mut self.events);
            if n < self.events.len() {
                // The ready list is empty: the next connect to finish makes a new edge. With
                // a full batch the readiness stays, and the next call reads on.
                guard.clear_ready();
            }
            n
        };
        self.collect(n, out);
    }

    /// Acts on the first `n` readiness events of `self.events`: a finished connect's verdict,
    /// an HTTP_GET's next step. The sockets of finished probes wait in `closing` for
    /// [`close_deferred`](Self::close_deferred).
    fn collect(&mut self, n: usize, out: &mut Vec<Connected>) {
        // One clock read for the batch: the connects finished by the same epoll_wait.
        let now = Instant::now();
        for i in 0..n {
            let Some(ev) = self.events.get(i).copied() else {
                break;
            };
            let data = ev.data();
            let (slot, generation) = split_key(data);
            // Generation 0: a reusable socket's event, for its current probe if it runs one
            // (a parked socket reports its disconnect: ignored). The flags are the socket's
            // state when the event is read, so an event queued before the socket was taken
            // again describes the new probe.
            let generation = (generation != 0).then_some(generation);
            let Some(p) = busy_in(&mut self.slots, slot, generation) else {
                continue;
            };
            let flags = ev.events();
            let result = match step(p, flags, &mut self.read_buf, now) {
                GetStep::Wait => continue,
                GetStep::ReadAgain => {
                    // No new edge comes for bytes already there: ask epoll for one.
                    let mut again = EpollEvent::new(interest(), data);
                    if let Err(e) = self.epoll.get_ref().0.modify(p.sock.as_fd(), &mut again) {
                        let f = Failure::socket(format!("cannot watch the connection: {e}"));
                        match &p.get {
                            Some(get) => Err(get.connect_failed(f)),
                            None => Err(f),
                        }
                    } else {
                        continue;
                    }
                }
                GetStep::Done(result) => result,
            };
            let Some((owner, p)) = self.take_slot(slot, generation) else {
                continue;
            };
            let took = now.saturating_duration_since(p.started);
            out.push((p.token, result, took));
            let how = p.release_as(owner);
            if p.get.is_some() && p.reusable {
                // Our FIN, as keepalived's close() sends after the server's: by the deferred
                // disconnect the socket is in LAST_ACK or closed, which it leaves without a
                // reset (bench/checkers/HTTP.md: keepalived's 10 packets, ~2 us per probe).
                let _ = p.sock.shutdown(std::net::Shutdown::Write);
            }
            self.closing.push((p.sock, how));
        }
    }

    /// How many sockets the connector has made and still holds (in flight, parked or idle):
    /// with reuse, far fewer than the probes run.
    #[cfg(test)]
    pub(crate) fn sockets(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| !matches!(s, Slot::Vacant))
            .count()
    }
}

/// The probe in flight in slot `slot` of `slots`: of generation `generation`, or of any when
/// it is `None` (a reusable socket's event).
fn busy_in(slots: &mut [Slot], slot: usize, generation: Option<u32>) -> Option<&mut Pending> {
    let Some(Slot::Busy(g, p)) = slots.get_mut(slot) else {
        return None;
    };
    let current = match generation {
        Some(want) => *g == want,
        None => p.reusable,
    };
    current.then_some(p)
}

/// Acts on readiness `flags` of the socket of probe `p`, at `now`: a TCP_CHECK's verdict, or
/// an HTTP_GET's next step (its connect's verdict, the rest of its request written, its
/// response read through `read_buf`).
fn step(p: &mut Pending, flags: EpollFlags, read_buf: &mut Vec<u8>, now: Instant) -> GetStep {
    let failed = flags.intersects(EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP);
    let Some(get) = &mut p.get else {
        return GetStep::Done(if failed {
            Err(connect_error(&p.sock, p.target))
        } else {
            up()
        });
    };
    if !get.connected() {
        if failed {
            return GetStep::Done(Err(get.connect_failed(connect_error(&p.sock, p.target))));
        }
        if !flags.contains(EpollFlags::EPOLLOUT) {
            return GetStep::Wait;
        }
        if let GetStep::Done(r) = get.on_connected(&p.sock, now) {
            return GetStep::Done(r);
        }
    } else if !get.request_sent() {
        // A socket in error or hung up fails the write, as it fails `write_all`.
        if !flags.intersects(EpollFlags::EPOLLOUT | EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP) {
            return GetStep::Wait;
        }
        if let GetStep::Done(r) = get.on_writable(&p.sock, now) {
            return GetStep::Done(r);
        }
    }
    let readable = EpollFlags::EPOLLIN | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR;
    if !get.request_sent() || !flags.intersects(readable) {
        return GetStep::Wait;
    }
    if read_buf.is_empty() {
        read_buf.resize(POOL_READ_BUFFER, 0);
    }
    get.on_readable(&p.sock, read_buf, now)
}

/// Why the connect of `sock` to `target` failed, the socket having reported an error or a
/// hang-up.
fn connect_error(sock: &Socket, target: SocketAddr) -> Failure {
    match sock.take_error() {
        Ok(Some(e)) | Err(e) => connect_failed(target, &e),
        Ok(None) => Reason::ConnectClosed { target }.into(),
    }
}

/// Reads `epoll`'s ready list into `events` without waiting; how many were read.
fn wait_now(epoll: &Epoll, events: &mut [EpollEvent]) -> usize {
    loop {
        match epoll.wait(events, EpollTimeout::ZERO) {
            Ok(n) => return n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                tracing::error!("TCP_CHECK: epoll_wait: {e}");
                return 0;
            }
        }
    }
}

/// The key of a connect: its slot and generation.
fn slot_key(slot: u32, generation: u32) -> u64 {
    u64::from(slot) | (u64::from(generation) << 32)
}

/// The slot and generation of a key (or of a reusable socket's epoll data: generation 0).
fn split_key(key: u64) -> (usize, u32) {
    ((key & 0xffff_ffff) as usize, (key >> 32) as u32)
}

/// Adds `key`'s deadline to the FIFO of its timeout.
fn push_deadline(
    queues: &mut Vec<(Duration, VecDeque<(Instant, u64)>)>,
    timeout: Duration,
    at: Instant,
    key: u64,
) {
    if let Some((_, q)) = queues.iter_mut().find(|(d, _)| *d == timeout) {
        // Same timeout, started no earlier: stays sorted. A clock that went backwards only
        // makes this deadline fire late by the difference.
        q.push_back((at, key));
    } else {
        queues.push((timeout, VecDeque::from([(at, key)])));
    }
}

fn connect_failed(target: SocketAddr, e: &std::io::Error) -> Failure {
    Failure::connect(target, e)
}

/// Closes a probe's connection with a reset (see the module documentation).
fn reset_close(sock: Socket) {
    let _ = sock.set_linger(Some(Duration::ZERO));
    drop(sock);
}

/// A loopback listener whose accept queue is full (test support): it drops further SYNs, so
/// connects to its address hang. Keep the sockets returned alive while the hang is needed.
#[cfg(test)]
pub(crate) async fn hanging_listener() -> (SocketAddr, (Socket, Vec<Socket>)) {
    let l = Socket::new(socket2::Domain::IPV4, Type::STREAM, None).expect("sock");
    l.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind");
    l.listen(0).expect("listen");
    let addr = l.local_addr().expect("local").as_socket().expect("inet");
    let mut fill = Vec::new();
    for _ in 0..4 {
        let s = Socket::new(socket2::Domain::IPV4, Type::STREAM.nonblocking(), None).expect("sock");
        let _ = s.connect(&addr.into());
        fill.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    (addr, (l, fill))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::HttpError;

    #[tokio::test]
    async fn tcp_up_and_down() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let opts = ConnectOpts::new(l.local_addr().expect("addr"));
        assert!(probe(&opts).await.is_ok());
        drop(l);
        assert!(probe(&opts).await.is_err());
    }

    #[tokio::test]
    async fn the_probe_resets_the_connection_instead_of_closing_it() {
        use tokio::io::AsyncReadExt;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let opts = ConnectOpts::new(l.local_addr().expect("addr"));
        assert!(probe(&opts).await.is_ok());
        let (mut server, _) = l.accept().await.expect("accept");
        let mut buf = [0u8; 8];
        // A FIN would read as end of file (Ok(0)); a reset is an error.
        let r = tokio::time::timeout(Duration::from_secs(3), server.read(&mut buf))
            .await
            .expect("the prober's close reached the server");
        let e = r.expect_err("reset, not an orderly close");
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }

    /// Runs `c` until `token`'s result comes, at most 3 s.
    async fn result_of(c: &mut Connector, token: u64, started: Started) -> ProbeResult {
        if let Started::Done((t, r, _)) = started {
            assert_eq!(t, token);
            return r;
        }
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(3), async {
            while out.is_empty() {
                c.finished(&mut out).await;
            }
        })
        .await
        .expect("a result");
        let (t, r, took) = out.pop().expect("one");
        assert_eq!(t, token);
        assert!(took < Duration::from_secs(3));
        r
    }

    #[tokio::test]
    async fn connector_passes_resets_and_fails() {
        use tokio::io::AsyncReadExt;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let opts = ConnectOpts::new(l.local_addr().expect("addr"));
        let mut c = Connector::new().expect("connector");
        let started = c.start(1, opts.target, &opts, Instant::now());
        assert!(result_of(&mut c, 1, started).await.is_ok());
        assert_eq!(c.in_flight(), 0);
        c.close_deferred();
        let (mut server, _) = l.accept().await.expect("accept");
        let mut buf = [0u8; 4];
        let e = server.read(&mut buf).await.expect_err("reset");
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
        drop(l);
        let started = c.start(2, opts.target, &opts, Instant::now());
        let f = result_of(&mut c, 2, started).await.expect_err("refused");
        assert!(f.reason.contains("refused"), "{}", f.reason);
        assert_eq!(c.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_finished_connect_is_not_timed_out_by_a_busy_loop() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut opts = ConnectOpts::new(l.local_addr().expect("addr"));
        opts.connect_timeout = Duration::from_millis(50);
        let mut c = Connector::new().expect("connector");
        let t0 = Instant::now();
        let Started::InFlight(_) = c.start(4, opts.target, &opts, t0) else {
            panic!("a loopback connect is in progress at first");
        };
        // The loop was busy past the deadline without reading readiness.
        std::thread::sleep(Duration::from_millis(100));
        let mut out = Vec::new();
        c.expire(Instant::now(), &mut out);
        let (token, r, _) = out.pop().expect("a result");
        assert_eq!(token, 4);
        assert!(r.is_ok(), "{r:?}");
    }

    #[tokio::test]
    async fn connector_times_out_and_cancels() {
        let (addr, _hang) = hanging_listener().await;
        let mut opts = ConnectOpts::new(addr);
        opts.connect_timeout = Duration::from_millis(200);
        let mut c = Connector::new().expect("connector");
        let t0 = Instant::now();
        let Started::InFlight(_) = c.start(7, opts.target, &opts, t0) else {
            panic!("the connect should hang");
        };
        let Started::InFlight(cancelled) = c.start(8, opts.target, &opts, t0) else {
            panic!("the connect should hang");
        };
        c.cancel(cancelled);
        assert_eq!(c.in_flight(), 1);
        let at = c.next_deadline().expect("deadline");
        assert_eq!(at, t0 + opts.connect_timeout);
        let mut out = Vec::new();
        c.expire(t0 + Duration::from_millis(100), &mut out);
        assert!(out.is_empty());
        c.expire(at, &mut out);
        assert_eq!(out.len(), 1, "only the connect not cancelled times out");
        let (token, r, _) = out.pop().expect("one");
        assert_eq!(token, 7);
        let f = r.expect_err("timed out");
        assert!(f.reason.contains("timed out after 0.2s"), "{}", f.reason);
        assert_eq!(c.in_flight(), 0);
        assert_eq!(c.next_deadline(), None);
    }

    /// The descriptor of the socket running connect `key`.
    fn fd_of(c: &Connector, key: u64) -> RawFd {
        match c.slots.get((key & 0xffff_ffff) as usize) {
            Some(Slot::Busy(_, p)) => p.sock.as_raw_fd(),
            other => panic!("no connect in flight under {key:#x}: {other:?}"),
        }
    }

    /// The descriptors of the idle sockets of `family` (0: IPv4, 1: IPv6).
    fn idle_fds(c: &Connector, family: usize) -> Vec<RawFd> {
        c.idle[family].iter().map(|(_, s)| s.as_raw_fd()).collect()
    }

    /// Starts a connect that must be in flight (on loopback it is, at first); its key.
    fn start_in_flight(c: &mut Connector, token: u64, opts: &ConnectOpts) -> u64 {
        match c.start(token, opts.target, opts, Instant::now()) {
            Started::InFlight(key) => key,
            Started::Done(d) => panic!("a loopback connect is in progress at first: {d:?}"),
        }
    }

    /// Reads from an accepted connection until the prober's reset arrives.
    fn assert_reset(server: &mut std::net::TcpStream) {
        server
            .set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        let e = std::io::Read::read(server, &mut [0u8; 4]).expect_err("reset");
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
    }

    #[tokio::test]
    async fn a_check_without_options_reuses_its_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let opts = ConnectOpts::new(l.local_addr().expect("addr"));
        let mut c = Connector::new().expect("connector");
        let first = start_in_flight(&mut c, 1, &opts);
        let fd = fd_of(&c, first);
        assert!(result_of(&mut c, 1, Started::InFlight(first)).await.is_ok());
        // Reset (disconnected) only once the verdict has been handed on.
        assert!(idle_fds(&c, 0).is_empty());
        let (mut server, _) = l.accept().expect("accept");
        c.close_deferred();
        assert_eq!(idle_fds(&c, 0), [fd]);
        assert_reset(&mut server);
        // The parked socket reports its disconnect: not a result.
        let mut out = Vec::new();
        c.collect_now(&mut out);
        assert!(out.is_empty(), "{out:?}");
        let second = start_in_flight(&mut c, 2, &opts);
        assert_eq!(fd_of(&c, second), fd, "the same socket");
        assert_eq!(second & 0xffff_ffff, first & 0xffff_ffff, "in its own slot");
        assert_ne!(second, first, "under another key");
        assert!(idle_fds(&c, 0).is_empty());
        assert!(result_of(&mut c, 2, Started::InFlight(second))
            .await
            .is_ok());
        c.close_deferred();
        let (mut server, _) = l.accept().expect("accept");
        assert_reset(&mut server);
        assert_eq!(idle_fds(&c, 0), [fd]);
        assert_eq!(c.slots.len(), 1, "one socket for both checks");
    }

    #[tokio::test]
    async fn a_refused_check_then_a_passing_one_on_the_same_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let open = ConnectOpts::new(l.local_addr().expect("addr"));
        let closed = {
            let gone = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            ConnectOpts::new(gone.local_addr().expect("addr"))
        };
        let mut c = Connector::new().expect("connector");
        let key = start_in_flight(&mut c, 1, &open);
        let fd = fd_of(&c, key);
        assert!(result_of(&mut c, 1, Started::InFlight(key)).await.is_ok());
        c.close_deferred();
        // Refused on the reused socket, with the reason a socket of its own gives.
        let refused = c.start(2, closed.target, &closed, Instant::now());
        if let Started::InFlight(key) = refused {
            assert_eq!(fd_of(&c, key), fd);
        }
        let f = result_of(&mut c, 2, refused).await.expect_err("refused");
        assert_eq!(
            f.reason,
            Reason::ConnectFailed {
                target: closed.target,
                cause: crate::outcome::IoCause::Os(nix::libc::ECONNREFUSED),
            }
        );
        assert_eq!(
            f.to_string(),
            format!(
                "connection to {} failed: Connection refused (os error 111)",
                closed.target
            )
        );
        c.close_deferred();
        assert_eq!(idle_fds(&c, 0), [fd]);
        // Its error does not follow it: the next check on it passes.
        let key = start_in_flight(&mut c, 3, &open);
        assert_eq!(fd_of(&c, key), fd);
        assert!(result_of(&mut c, 3, Started::InFlight(key)).await.is_ok());
        assert_eq!(c.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_timed_out_check_then_a_passing_one_on_the_same_socket() {
        let (full_addr, _hang) = hanging_listener().await;
        let mut hangs = ConnectOpts::new(full_addr);
        hangs.connect_timeout = Duration::from_millis(100);
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let open = ConnectOpts::new(l.local_addr().expect("addr"));
        let mut c = Connector::new().expect("connector");
        let key = start_in_flight(&mut c, 1, &hangs);
        let fd = fd_of(&c, key);
        let mut out = Vec::new();
        c.expire(Instant::now() + Duration::from_millis(100), &mut out);
        let (token, r, _) = out.pop().expect("timed out");
        assert_eq!(token, 1);
        assert!(r.is_err(), "{r:?}");
        // The connect in progress was dropped at once and its socket parked.
        assert_eq!(idle_fds(&c, 0), [fd]);
        let key = start_in_flight(&mut c, 2, &open);
        assert_eq!(fd_of(&c, key), fd);
        assert!(result_of(&mut c, 2, Started::InFlight(key)).await.is_ok());
        // A cancelled connect parks its socket too.
        c.close_deferred();
        let key = start_in_flight(&mut c, 3, &hangs);
        assert_eq!(fd_of(&c, key), fd);
        c.cancel(key);
        assert_eq!((idle_fds(&c, 0), c.in_flight()), (vec![fd], 0));
    }

    #[tokio::test]
    async fn the_idle_sockets_are_bounded_and_cleared() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let opts = ConnectOpts::new(l.local_addr().expect("addr"));
        let mut c = Connector::new().expect("connector");
        c.idle_cap = 2;
        for token in 0..5 {
            start_in_flight(&mut c, token, &opts);
        }
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(3), async {
            while out.len() < 5 {
                c.finished(&mut out).await;
            }
        })
        .await
        .expect("five results");
        assert!(out.iter().all(|(_, r, _)| r.is_ok()), "{out:?}");
        c.close_deferred();
        // Two kept, three closed (each connection reset either way), their slots vacant.
        assert_eq!(idle_fds(&c, 0).len(), 2);
        assert_eq!(c.free.len(), 3);
        let parked = c.slots.iter().filter(|s| matches!(s, Slot::Parked)).count();
        assert_eq!(parked, 2);
        for _ in 0..5 {
            let (mut server, _) = l.accept().expect("accept");
            assert_reset(&mut server);
        }
        // The next five take the two idle sockets and three new ones in the vacant slots.
        let kept = idle_fds(&c, 0);
        let fds: Vec<RawFd> = (5..10)
            .map(|token| {
                let key = start_in_flight(&mut c, token, &opts);
                fd_of(&c, key)
            })
            .collect();
        assert!(kept.iter().all(|fd| fds.contains(fd)), "{kept:?} {fds:?}");
        assert_eq!(c.slots.len(), 5);
        c.clear();
        assert!(idle_fds(&c, 0).is_empty() && c.slots.is_empty());
        assert_eq!(c.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_check_with_socket_options_never_takes_a_reused_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let plain = ConnectOpts::new(l.local_addr().expect("addr"));
        let mut c = Connector::new().expect("connector");
        let key = start_in_flight(&mut c, 1, &plain);
        let fd = fd_of(&c, key);
        assert!(result_of(&mut c, 1, Started::InFlight(key)).await.is_ok());
        c.close_deferred();
        drop(l.accept().expect("accept"));
        let mut bound = plain.clone();
        bound.bindto = Some("127.0.0.1".parse().expect("ip"));
        let mut marked = plain.clone();
        // Setting SO_MARK needs CAP_NET_ADMIN: without it the check fails at once.
        marked.fwmark = Some(7);
        let mut on_lo = plain.clone();
        on_lo.bind_if = Some("lo".into());
        for (token, opts) in [(2, &bound), (3, &marked), (4, &on_lo)] {
            let started = c.start(token, opts.target, opts, Instant::now());
            if let Started::InFlight(key) = started {
                assert_ne!(fd_of(&c, key), fd, "{opts:?}");
            }
            assert_eq!(idle_fds(&c, 0), [fd], "{opts:?}");
            let r = result_of(&mut c, token, started).await;
            c.close_deferred();
            // Its own socket is closed, not kept.
            assert_eq!(idle_fds(&c, 0), [fd], "{opts:?}");
            if r.is_ok() {
                let (mut server, _) = l.accept().expect("accept");
                assert_reset(&mut server);
            }
        }
        assert_eq!(c.in_flight(), 0);
        // Nor does a check of the other family.
        let l6 = std::net::TcpListener::bind("[::1]:0").expect("bind ::1");
        let v6 = ConnectOpts::new(l6.local_addr().expect("addr"));
        let key = start_in_flight(&mut c, 5, &v6);
        assert_ne!(fd_of(&c, key), fd);
        assert!(result_of(&mut c, 5, Started::InFlight(key)).await.is_ok());
        c.close_deferred();
        assert_eq!(idle_fds(&c, 0), [fd]);
        assert_eq!(idle_fds(&c, 1).len(), 1);
    }

    /// What an HTTP test server does with a connection once it has read the request.
    type Behaviour = fn(
        tokio::net::TcpStream,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

    /// A server on loopback that reads each request (up to its blank line) then behaves as
    /// told, for any number of connections.
    async fn http_server(behave: Behaviour) -> SocketAddr {
        use tokio::io::AsyncReadExt;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !req.ends_with(b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    behave(s).await;
                });
            }
        });
        addr
    }

    /// HTTP_GET of `/` at `addr` with read timeouts of 300 ms and a whole-exchange bound of
    /// 1 s, with `digest` when given.
    fn get_params(addr: SocketAddr, digest: Option<&[u8]>) -> Arc<HttpParams> {
        let mut c = ConnectOpts::new(addr);
        c.connect_timeout = Duration::from_millis(300);
        let mut url = crate::http::UrlCheck::new("/");
        url.digest = digest.map(|b| <md5::Md5 as md5::Digest>::digest(b).into());
        let mut p = HttpParams::new(c, vec![url]);
        p.limits.total_timeout = Duration::from_secs(1);
        Arc::new(p)
    }

    /// Runs `c` (its deadlines included) until the probe started as `started` has a result.
    async fn run_to_result(c: &mut Connector, token: u64, started: Started) -> ProbeResult {
        if let Started::Done((t, r, _)) = started {
            assert_eq!(t, token);
            return r;
        }
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), async {
            while out.is_empty() {
                let at = c
                    .next_deadline()
                    .unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
                let late = tokio::select! {
                    () = c.finished(&mut out) => false,
                    () = tokio::time::sleep_until(at.into()) => true,
                };
                if late {
                    c.expire(Instant::now(), &mut out);
                }
            }
        })
        .await
        .expect("a result");
        let (t, r, _) = out.pop().expect("one");
        assert_eq!(t, token);
        assert_eq!(c.in_flight(), 0);
        r
    }

    /// The url's verdict from the connector, its socket then let go as the pool does.
    async fn pooled_get(c: &mut Connector, p: &Arc<HttpParams>) -> ProbeResult {
        let started = c.start_get(9, p, 0, Instant::now());
        let r = run_to_result(c, 9, started).await;
        c.close_deferred();
        r
    }

    #[tokio::test]
    async fn a_pooled_get_gives_probe_url_s_verdicts() {
        use tokio::io::AsyncWriteExt;
        let behaviours: [(&str, Behaviour, Option<&[u8]>); 13] = [
            (
                "a good page with its digest",
                |mut s| {
                    Box::pin(async move {
                        let _ = s
                            .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA")
                            .await;
                    })
                },
                Some(b"hello"),
            ),
            (
                "a wrong digest",
                |mut s| {
                    Box::pin(async move {
                        let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\nbye").await;
                    })
                },
                Some(b"hello"),
            ),
            (
                "a short body, passing with both lengths",
                |mut s| {
                    Box::pin(async move {
                        let _ = s
                            .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nhello")
                            .await;
                    })
                },
                None,
            ),
            (
                "a wrong status",
                |mut s| {
                    Box::pin(async move {
                        let _ = s.write_all(b"HTTP/1.0 503 Busy\r\n\r\n").await;
                    })
                },
                None,
            ),
            (
                "no status line",
                |mut s| {
                    Box::pin(async move {
                        let _ = s.write_all(b"SPDY/9 what\r\n\r\n").await;
                    })
                },
                None,
            ),
            (
                "garbage",
                |mut s| {
                    Box::pin(async move {
                        let _ = s.write_all(b"garbage\n\n").await;
                    })
                },
                None,
            ),
            (
                "a reset before the response",
                |s| {
                    Box::pin(async move {
                        let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
                    })
                },
                None,
            ),
            (
                "a reset after a whole response",
                |mut s| {
                    Box::pin(async move {
                        let _ = s
                            .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                            .await;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
                    })
                },
                Some(b"hello"),
            ),
            (
                "a stall before the headers",
                |s| {
                    Box::pin(async move {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        drop(s);
                    })
                },
                None,
            ),
            (
                "a whole response on a connection kept open",
                |mut s| {
                    Box::pin(async move {
                        let _ = s
                            .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            .await;
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    })
                },
                Some(b"ok"),
            ),
            (
                "a slowloris body",
                |mut s| {
                    Box::pin(async move {
                        let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await;
                        for _ in 0..60 {
                            if s.write_all(b"x").await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    })
                },
                Some(b"x"),
            ),
            (
                "endless headers",
                |mut s| {
                    Box::pin(async move {
                        let _ = s.write_all(b"HTTP/1.0 200 OK\r\n").await;
                        let line = [b"X-Pad: 0123456789012345678901234567890123456789\r\n"
                            .as_slice(); 100]
                            .concat();
                        for _ in 0..100 {
                            if s.write_all(&line).await.is_err() {
                                return;
                            }
                        }
                    })
                },
                None,
            ),
            (
                "a chunked body, hashed raw",
                |mut s| {
                    Box::pin(async move {
                        let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
                        .await;
                    })
                },
                Some(b"5\r\nhello\r\n0\r\n\r\n"),
            ),
        ];
        let mut c = Connector::new().expect("connector");
        let mut failed = 0;
        for (what, behave, digest) in behaviours {
            let p = get_params(http_server(behave).await, digest);
            let task = crate::http::probe_url(&p, 0).await;
            let pooled = pooled_get(&mut c, &p).await;
            assert_eq!(pooled, task, "{what}");
            failed += usize::from(pooled.is_err());
        }
        assert_eq!(
            failed, 10,
            "all but the good page, the short body and the chunked one"
        );
        // A url that does not exist, and a refused connect, as probe_url words them.
        let p = get_params(closed_addr(), None);
        assert_eq!(
            pooled_get(&mut c, &p).await,
            crate::http::probe_url(&p, 0).await
        );
        let started = c.start_get(9, &p, 3, Instant::now());
        assert_eq!(
            run_to_result(&mut c, 9, started).await,
            crate::http::probe_url(&p, 3).await
        );
        // One socket served every check.
        assert_eq!(c.sockets(), 1);
    }

    /// A loopback address nothing listens on.
    fn closed_addr() -> SocketAddr {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    }

    #[tokio::test]
    async fn the_timeouts_of_a_pooled_get() {
        use tokio::io::AsyncWriteExt;
        let mut c = Connector::new().expect("connector");
        let reason = |r: ProbeResult| match r.expect_err("fails").reason {
            Reason::Http { error, .. } => error,
            other => panic!("{other:?}"),
        };
        let op = Duration::from_millis(300);
        let stall = get_params(
            http_server(|s| {
                Box::pin(async move {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    drop(s);
                })
            })
            .await,
            None,
        );
        let t0 = Instant::now();
        assert_eq!(
            reason(pooled_get(&mut c, &stall).await),
            HttpError::HeaderTimeout(op)
        );
        assert!(
            t0.elapsed() < Duration::from_millis(900),
            "{:?}",
            t0.elapsed()
        );
        // keepalived 2.2.7 fails a whole response whose connection stays open.
        let open = get_params(
            http_server(|mut s| {
                Box::pin(async move {
                    let _ = s
                        .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .await;
                    tokio::time::sleep(Duration::from_secs(2)).await;
                })
            })
            .await,
            None,
        );
        assert_eq!(
            reason(pooled_get(&mut c, &open).await),
            HttpError::BodyTimeout(op)
        );
        // Each byte within the read timeout: the whole exchange's bound ends it, the
        // deadline having moved on with each read.
        let slow = get_params(
            http_server(|mut s| {
                Box::pin(async move {
                    let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await;
                    for _ in 0..60 {
                        if s.write_all(b"x").await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                })
            })
            .await,
            Some(b"x"),
        );
        let t0 = Instant::now();
        assert_eq!(
            reason(pooled_get(&mut c, &slow).await),
            HttpError::TotalTimeout(Duration::from_secs(1))
        );
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_millis(1500),
            "{took:?}"
        );
        assert_eq!(c.sockets(), 1);
    }

    #[tokio::test]
    async fn a_pooled_get_reuses_its_socket_and_closes_with_a_fin() {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let p = get_params(l.local_addr().expect("addr"), Some(b"ok"));
        // The server answers, shuts its side down (its FIN) and reads what comes next: end of
        // file for a FIN, an error for a reset.
        let server = std::thread::spawn(move || {
            let mut after = Vec::new();
            for _ in 0..3 {
                let (mut s, _) = l.accept().expect("accept");
                let mut req = [0u8; 512];
                let _ = s.read(&mut req);
                s.write_all(b"HTTP/1.0 200 OK\r\n\r\nok").expect("write");
                s.shutdown(std::net::Shutdown::Write).expect("shutdown");
                s.set_read_timeout(Some(Duration::from_secs(3)))
                    .expect("timeout");
                after.push(s.read(&mut req).map_err(|e| e.kind()));
            }
            after
        });
        let mut c = Connector::new().expect("connector");
        let mut fds = Vec::new();
        for token in 0..3 {
            let key = start_get_in_flight(&mut c, token, &p);
            fds.push(fd_of(&c, key));
            let r = run_to_result(&mut c, token, Started::InFlight(key)).await;
            assert!(r.is_ok(), "{r:?}");
            c.close_deferred();
        }
        assert!(fds.iter().all(|&fd| fd == fds[0]), "{fds:?}");
        assert_eq!((c.sockets(), idle_fds(&c, 0)), (1, vec![fds[0]]));
        // As keepalived, a FIN after the server's (read as the end of the stream), though
        // the socket is disconnected afterwards for its next probe.
        let after = server.join().expect("server");
        assert_eq!(after, vec![Ok(0); 3]);
    }

    #[tokio::test]
    async fn a_pooled_get_with_socket_options_closes_its_own_socket() {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut p = HttpParams::clone(&get_params(l.local_addr().expect("addr"), None));
        p.connect.bindto = Some("127.0.0.1".parse().expect("ip"));
        let p = Arc::new(p);
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            let mut req = [0u8; 512];
            let _ = s.read(&mut req);
            s.write_all(b"HTTP/1.0 200 OK\r\n\r\n").expect("write");
            s.shutdown(std::net::Shutdown::Write).expect("shutdown");
            s.set_read_timeout(Some(Duration::from_secs(3)))
                .expect("timeout");
            s.read(&mut req).map_err(|e| e.kind())
        });
        let mut c = Connector::new().expect("connector");
        assert!(pooled_get(&mut c, &p).await.is_ok());
        // Closed as keepalived closes it: a FIN, read as the end of the stream.
        assert_eq!(server.join().expect("server"), Ok(0));
        assert_eq!((c.sockets(), idle_fds(&c, 0).len()), (0, 0));
    }

    #[tokio::test]
    async fn a_pooled_get_writes_a_long_request_in_parts_and_reads_a_long_body() {
        use tokio::io::AsyncWriteExt;
        // A path longer than the socket's send buffer takes several writes.
        let body = http_server(|mut s| {
            Box::pin(async move {
                let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await;
                let block = vec![b'a'; 1 << 16];
                for _ in 0..64 {
                    if s.write_all(&block).await.is_err() {
                        return;
                    }
                }
            })
        })
        .await;
        let mut p = HttpParams::clone(&get_params(body, Some(&vec![b'a'; 1 << 22])));
        p.urls[0].path = format!("/{}", "p".repeat(8 << 20));
        p.connect.connect_timeout = Duration::from_secs(3);
        p.limits.total_timeout = Duration::from_secs(10);
        let p = Arc::new(p);
        let mut c = Connector::new().expect("connector");
        let r = pooled_get(&mut c, &p).await;
        assert!(r.is_ok(), "{r:?}");
        // Beyond the body limit: the same failure as probe_url's.
        let mut small = HttpParams::clone(&p);
        small.limits.max_body = Some(1 << 20);
        let small = Arc::new(small);
        let pooled = pooled_get(&mut c, &small).await;
        assert_eq!(pooled, crate::http::probe_url(&small, 0).await);
        assert!(pooled.is_err_and(|f| f.reason.contains("body exceeds")));
    }

    /// Starts an HTTP_GET that must be in flight; its key.
    fn start_get_in_flight(c: &mut Connector, token: u64, p: &Arc<HttpParams>) -> u64 {
        match c.start_get(token, p, 0, Instant::now()) {
            Started::InFlight(key) => key,
            Started::Done(d) => panic!("a loopback connect is in progress at first: {d:?}"),
        }
    }

    #[tokio::test]
    async fn ipv6_loopback() {
        let l = tokio::net::TcpListener::bind("[::1]:0")
            .await
            .expect("bind ::1");
        let mut opts = ConnectOpts::new(l.local_addr().expect("addr"));
        opts.connect_timeout = Duration::from_secs(1);
        assert!(probe(&opts).await.is_ok());
    }
}
