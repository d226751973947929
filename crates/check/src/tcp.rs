//! TCP_CHECK: the server is up when a TCP connection opens.
//!
//! The connection is closed with a reset (`SO_LINGER` on with a zero timeout), where
//! keepalived 2.2.7 closes it with a FIN (observed with tcpdump: SYN, SYN-ACK, ACK, FIN, ACK,
//! FIN, ACK, then the director holds the connection in TIME_WAIT for 60 s). The reset spares
//! the FIN exchange on both ends and leaves no TIME_WAIT entry behind: a director running
//! thousands of checks a second no longer accumulates them (HAProxy's checks close the same
//! way). The server sees its accepted connection reset, which it must handle anyway.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use socket2::{Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

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

/// A connect in flight.
#[derive(Debug)]
struct Pending {
    /// The caller's token (the pool's checker id).
    token: u64,
    sock: Socket,
    target: SocketAddr,
    started: Instant,
    timeout: Duration,
}

/// A finished connect: the caller's token, the result, how long it took.
pub(crate) type Connected = (u64, ProbeResult, Duration);

/// What [`Connector::start`] did.
#[derive(Debug)]
pub(crate) enum Started {
    /// The connect is in flight under this key (for [`Connector::cancel`]).
    InFlight(u64),
    /// The result is already known.
    Done(Connected),
}

/// How many readiness events are read per `epoll_wait`.
const EVENT_BATCH: usize = 256;

/// Runs many TCP_CHECK connects without a task, a tokio registration or a timer each: every
/// socket is added to one epoll instance of its own (which tokio watches as a single
/// descriptor) and closing the socket removes it (no `EPOLL_CTL_DEL`); the verdict is read
/// from the readiness flags (`SO_ERROR` is read only on failure, for its reason); timeouts sit
/// in per-duration FIFO queues. Per probe: socket, connect, epoll_ctl, setsockopt (linger),
/// close, and a share of one epoll_wait.
#[derive(Debug)]
pub(crate) struct Connector {
    epoll: AsyncFd<EpollFd>,
    /// Connects in flight by slot; the epoll data and the deadlines carry `slot | gen << 32`.
    slots: Vec<Option<(u32, Pending)>>,
    free: Vec<u32>,
    generation: u32,
    in_flight: usize,
    /// Deadlines, one FIFO per connect timeout (sorted by construction).
    deadlines: Vec<(Duration, VecDeque<(Instant, u64)>)>,
    events: Vec<EpollEvent>,
    /// Sockets of finished connects, closed by [`close_deferred`](Self::close_deferred):
    /// the caller hands the verdicts on first (the closes cost a system call or two each).
    closing: Vec<Socket>,
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
        })
    }

    /// How many connects are in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Starts a connect for `token` to `target` with the rest of `opts` (its own target is not
    /// used: the options may be shared by many targets). Returns its result at once when it
    /// is already known (the socket cannot be set up, or the connect finished or failed
    /// immediately); otherwise the result comes from [`finished`](Self::finished) or
    /// [`expire`](Self::expire), under `token`.
    pub(crate) fn start(
        &mut self,
        token: u64,
        target: SocketAddr,
        opts: &ConnectOpts,
        now: Instant,
    ) -> Started {
        let quick = |r: ProbeResult| Started::Done((token, r, now.elapsed()));
        let target = match opts.resolve(target) {
            Ok(t) => t,
            Err(f) => return quick(Err(f)),
        };
        let sock = match opts.socket_to(target, Type::STREAM, Some(Protocol::TCP)) {
            Ok(s) => s,
            Err(f) => return quick(Err(f)),
        };
        match sock.connect(&target.into()) {
            Ok(()) => {
                reset_close(sock);
                return quick(up());
            }
            Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EINPROGRESS as i32) => {}
            Err(e) => return quick(Err(connect_failed(target, &e))),
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                let Ok(s) = u32::try_from(self.slots.len()) else {
                    return quick(Err(Failure::new("too many connects in flight")));
                };
                self.slots.push(None);
                s
            }
        };
        self.generation = self.generation.wrapping_add(1);
        let key = u64::from(slot) | (u64::from(self.generation) << 32);
        let interest = EpollFlags::EPOLLOUT | EpollFlags::EPOLLET;
        if let Err(e) = self
            .epoll
            .get_ref()
            .0
            .add(sock.as_fd(), EpollEvent::new(interest, key))
        {
            self.free.push(slot);
            return quick(Err(Failure::socket(format!(
                "cannot watch the connection: {e}"
            ))));
        }
        let deadline = now + opts.connect_timeout;
        push_deadline(&mut self.deadlines, opts.connect_timeout, deadline, key);
        if let Some(s) = self.slots.get_mut(slot as usize) {
            *s = Some((
                self.generation,
                Pending {
                    token,
                    sock,
                    target,
                    started: now,
                    timeout: opts.connect_timeout,
                },
            ));
        }
        self.in_flight += 1;
        Started::InFlight(key)
    }

    /// Takes the connect of `key` out of its slot, if it is still the one in flight.
    fn take(&mut self, key: u64) -> Option<Pending> {
        let slot = (key & 0xffff_ffff) as usize;
        let generation = (key >> 32) as u32;
        let cell = self.slots.get_mut(slot)?;
        if cell.as_ref().is_none_or(|(g, _)| *g != generation) {
            return None;
        }
        let (_, p) = cell.take()?;
        self.free.push(slot as u32);
        self.in_flight -= 1;
        Some(p)
    }

    /// Abandons the connect started under `key` (its checker is gone), if still in flight.
    pub(crate) fn cancel(&mut self, key: u64) {
        // Closing the socket removes it from the epoll set; its deadline goes stale.
        drop(self.take(key));
    }

    /// Abandons every connect in flight.
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.free.clear();
        self.deadlines.clear();
        self.in_flight = 0;
        self.close_deferred();
    }

    /// Closes (with a reset) the sockets of the connects collected since the last call.
    pub(crate) fn close_deferred(&mut self) {
        for s in self.closing.drain(..) {
            reset_close(s);
        }
    }

    /// Collects the connects already finished, without waiting (e.g. those decided inside
    /// `connect()` itself, as on loopback).
    pub(crate) fn collect_now(&mut self, out: &mut Vec<Connected>) {
        loop {
            let n = wait_now(&self.epoll.get_ref().0, &mut self.events);
            self.collect(n, out);
            if n < self.events.len() {
                break;
            }
        }
    }

    /// The earliest deadline of a connect in flight (stale entries may make it early).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines
            .iter()
            .filter_map(|(_, q)| q.front().map(|&(at, _)| at))
            .min()
    }

    /// Fails every connect whose timeout has passed at `now`, into `out`. Connects that
    /// finished meanwhile are collected first (the event loop may have been busy): only a
    /// connect still pending at `now` times out.
    pub(crate) fn expire(&mut self, now: Instant, out: &mut Vec<Connected>) {
        if self.next_deadline().is_some_and(|at| at <= now) {
            self.collect_now(out);
        }
        for qi in 0..self.deadlines.len() {
            while let Some(&(at, key)) = self.deadlines.get(qi).and_then(|(_, q)| q.front()) {
                if at > now {
                    break;
                }
                if let Some((_, q)) = self.deadlines.get_mut(qi) {
                    q.pop_front();
                }
                if let Some(p) = self.take(key) {
                    let reason = Reason::ConnectTimeout {
                        target: p.target,
                        after: p.timeout,
                    };
                    out.push((p.token, Err(reason.into()), p.started.elapsed()));
                }
            }
        }
        self.deadlines.retain(|(_, q)| !q.is_empty());
    }

    /// Waits until connects have finished and collects them into `out` (cancel-safe: nothing
    /// is taken before the wait ends). Pending forever if the runtime is shutting down.
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

    /// Records the first `n` readiness events of `self.events` as finished connects; their
    /// sockets wait in `closing` for [`close_deferred`](Self::close_deferred).
    fn collect(&mut self, n: usize, out: &mut Vec<Connected>) {
        // One clock read for the batch: the connects finished by the same epoll_wait.
        let now = Instant::now();
        for i in 0..n {
            let Some(ev) = self.events.get(i).copied() else {
                break;
            };
            let Some(p) = self.take(ev.data()) else {
                continue;
            };
            let failed = ev
                .events()
                .intersects(EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP);
            let result = if failed {
                Err(match p.sock.take_error() {
                    Ok(Some(e)) | Err(e) => connect_failed(p.target, &e),
                    Ok(None) => Reason::ConnectClosed { target: p.target }.into(),
                })
            } else {
                up()
            };
            let took = now.saturating_duration_since(p.started);
            out.push((p.token, result, took));
            self.closing.push(p.sock);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
        // A listener whose accept queue is full drops further SYNs: connects hang.
        let l = socket2::Socket::new(socket2::Domain::IPV4, Type::STREAM, None).expect("sock");
        l.bind(&"127.0.0.1:0".parse::<SocketAddr>().expect("addr").into())
            .expect("bind");
        l.listen(0).expect("listen");
        let addr = l.local_addr().expect("local").as_socket().expect("inet");
        let mut fill = Vec::new();
        for _ in 0..4 {
            let s = socket2::Socket::new(socket2::Domain::IPV4, Type::STREAM.nonblocking(), None)
                .expect("sock");
            let _ = s.connect(&addr.into());
            fill.push(s);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
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
