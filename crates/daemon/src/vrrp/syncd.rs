//! `lvs_sync_daemon`: the kernel's IPVS connection-sync daemons following a VRRP instance.
//!
//! While the named instance is MASTER only the master sync daemon runs; in any other state
//! (starting, BACKUP, FAULT) only the backup one. They are removed when the child stops
//! (keepalived 2.2.7 does so whatever `-I` / `-V` say, observed in the VM). Without an
//! instance keepalived runs both from its checker child, not the VRRP one
//! ([`wanted_for`] with no state gives that pair); an unknown instance runs none.
//!
//! - [`SyncdCore`]: the decisions, with no I/O and no clock of its own: which daemon to stop
//!   or start and when. Changes are debounced and operations spaced (stopping a master sync
//!   daemon right after starting it can hang some kernels), failures retried.
//! - [`SyncdHandle`]: the engine's side; a blocking thread owns the IPVS socket and applies
//!   the core's operations through a [`SyncdSink`], so the VRRP engine never waits on it.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rka_config::model::global::LvsSyncDaemon;
use rka_ipvs::{Client, DaemonState, IpvsError, Request, SyncDaemon};
use rka_vrrp::State;

/// How long the wanted daemons must stay unchanged before the kernel is touched.
pub const DEBOUNCE: Duration = Duration::from_millis(200);
/// The least time between two operations on the kernel's sync daemons.
pub const MIN_GAP: Duration = Duration::from_millis(200);
/// Delay before an operation that failed is tried again.
pub const RETRY: Duration = Duration::from_secs(1);
/// How long a stopping child keeps trying to remove its daemons.
pub const STOP_BUDGET: Duration = Duration::from_secs(3);

/// One operation on the kernel's sync daemons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOp {
    /// Start this daemon.
    Start(SyncDaemon),
    /// Stop the daemon in this role.
    Stop(DaemonState),
}

fn slot(state: DaemonState) -> usize {
    match state {
        DaemonState::Master => 0,
        DaemonState::Backup => 1,
    }
}

const STATES: [DaemonState; 2] = [DaemonState::Master, DaemonState::Backup];

/// The sync daemons `lvs_sync_daemon` asks for while the instance is in `state` (`None`:
/// no instance named, both run).
pub fn wanted_for(cfg: &LvsSyncDaemon, vrid: Option<u8>, state: Option<State>) -> Vec<SyncDaemon> {
    let daemon = |role| SyncDaemon {
        state: role,
        interface: cfg.interface.clone(),
        sync_id: u32::from(cfg.sync_id.or(vrid).unwrap_or(0)),
        max_len: cfg.maxlen,
        group: cfg.group,
        port: cfg.port,
        ttl: cfg.ttl,
    };
    match state {
        None => vec![daemon(DaemonState::Master), daemon(DaemonState::Backup)],
        Some(State::Master) => vec![daemon(DaemonState::Master)],
        Some(_) => vec![daemon(DaemonState::Backup)],
    }
}

/// The sync-daemon decisions: what should run, what runs, and when the next operation may go.
#[derive(Debug, Default)]
pub struct SyncdCore {
    wanted: [Option<SyncDaemon>; 2],
    running: [Option<SyncDaemon>; 2],
    settle_at: Option<Instant>,
    next_allowed: Option<Instant>,
}

impl SyncdCore {
    /// A core with nothing wanted and nothing running.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the daemons that should run. A change waits [`DEBOUNCE`] for the state to settle,
    /// unless `at_once` (used when stopping).
    pub fn want(&mut self, now: Instant, daemons: Vec<SyncDaemon>, at_once: bool) {
        let mut wanted: [Option<SyncDaemon>; 2] = [None, None];
        for d in daemons {
            let i = slot(d.state);
            wanted[i] = Some(d);
        }
        if wanted != self.wanted {
            self.wanted = wanted;
            self.settle_at = Some(if at_once { now } else { now + DEBOUNCE });
        } else if at_once {
            self.settle_at = Some(now);
        }
    }

    /// True when the kernel holds what is wanted.
    pub fn settled(&self) -> bool {
        self.wanted == self.running
    }

    /// When [`poll_op`](Self::poll_op) will next have something to do, if anything.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.settled() {
            return None;
        }
        let t = match (self.settle_at, self.next_allowed) {
            (Some(a), Some(b)) => a.max(b),
            (a, b) => a.or(b)?,
        };
        Some(t)
    }

    /// The next operation to apply at `now` (stops before starts), if it is time. Report its
    /// outcome with [`op_done`](Self::op_done) before asking again.
    pub fn poll_op(&self, now: Instant) -> Option<SyncOp> {
        if self.poll_timeout().is_none_or(|t| t > now) {
            return None;
        }
        for s in STATES {
            let i = slot(s);
            if self.running[i].is_some() && self.running[i] != self.wanted[i] {
                return Some(SyncOp::Stop(s));
            }
        }
        for s in STATES {
            let i = slot(s);
            if let (Some(w), None) = (&self.wanted[i], &self.running[i]) {
                return Some(SyncOp::Start(w.clone()));
            }
        }
        None
    }

    /// Records the outcome of `op`: on success the next operation waits [`MIN_GAP`], on
    /// failure it is retried after [`RETRY`].
    pub fn op_done(&mut self, now: Instant, op: &SyncOp, ok: bool) {
        if ok {
            match op {
                SyncOp::Start(d) => self.running[slot(d.state)] = Some(d.clone()),
                SyncOp::Stop(s) => self.running[slot(*s)] = None,
            }
            self.next_allowed = Some(now + MIN_GAP);
        } else {
            self.next_allowed = Some(now + RETRY);
        }
    }
}

/// Where the sync-daemon operations go: the kernel, or a recorder in tests.
pub trait SyncdSink: Send {
    /// Applies `op`; "already running" on start and "not running" on stop are success.
    fn apply(&mut self, op: &SyncOp) -> Result<(), IpvsError>;
}

/// The kernel through generic netlink, connected on first use and again after an error.
#[derive(Debug, Default)]
pub struct IpvsSink {
    client: Option<Client>,
}

impl SyncdSink for IpvsSink {
    fn apply(&mut self, op: &SyncOp) -> Result<(), IpvsError> {
        let client = match &mut self.client {
            Some(c) => c,
            None => self.client.insert(Client::connect()?),
        };
        let (request, adding) = match op {
            SyncOp::Start(d) => (Request::AddDaemon(d.clone()), true),
            SyncOp::Stop(s) => (Request::DelDaemon(*s), false),
        };
        match client.apply(&request) {
            Ok(()) => Ok(()),
            Err(e) if e.is_benign_for(adding) => Ok(()),
            Err(e) => {
                if matches!(e, IpvsError::Io(_) | IpvsError::Protocol(_)) {
                    self.client = None;
                }
                Err(e)
            }
        }
    }
}

enum Msg {
    Want(Vec<SyncDaemon>),
    Finish { remove: bool },
}

/// The engine's handle on the sync-daemon thread.
#[derive(Debug)]
pub struct SyncdHandle {
    tx: mpsc::Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Want(d) => write!(f, "Want({d:?})"),
            Msg::Finish { remove } => write!(f, "Finish {{ remove: {remove} }}"),
        }
    }
}

impl SyncdHandle {
    /// Starts the thread applying operations through `sink`.
    pub fn spawn(sink: Box<dyn SyncdSink>) -> std::io::Result<SyncdHandle> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("lvs-syncd".into())
            .spawn(move || run_worker(rx, sink))?;
        Ok(SyncdHandle {
            tx,
            thread: Some(thread),
        })
    }

    /// Asks for exactly `daemons` to run (applied after [`DEBOUNCE`]).
    pub fn want(&self, daemons: Vec<SyncDaemon>) {
        if self.tx.send(Msg::Want(daemons)).is_err() {
            tracing::warn!("lvs_sync_daemon thread has gone");
        }
    }

    /// Stops the thread, first removing the daemons it started when `remove` (giving up
    /// after [`STOP_BUDGET`]). Waits for it without blocking the async runtime.
    pub async fn finish(mut self, remove: bool) {
        let _ = self.tx.send(Msg::Finish { remove });
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

/// The thread's loop: apply the core's operations through `sink` until told to finish.
fn run_worker(rx: mpsc::Receiver<Msg>, mut sink: Box<dyn SyncdSink>) {
    let mut core = SyncdCore::new();
    let mut failures = 0u32;
    let mut stop_deadline: Option<Instant> = None;
    loop {
        let now = Instant::now();
        while let Some(op) = core.poll_op(now) {
            let result = sink.apply(&op);
            let now = Instant::now();
            core.op_done(now, &op, result.is_ok());
            match result {
                Ok(()) => {
                    failures = 0;
                    tracing::info!("lvs_sync_daemon: {}", describe(&op));
                }
                Err(e) => {
                    failures += 1;
                    // Once, then every minute of retries: a missing module must not flood.
                    if failures == 1 || failures.is_multiple_of(60) {
                        tracing::warn!(
                            "lvs_sync_daemon: cannot {}: {e} (retrying every {}s)",
                            describe(&op),
                            RETRY.as_secs()
                        );
                    }
                    break;
                }
            }
        }
        if let Some(deadline) = stop_deadline {
            if core.settled() {
                return;
            }
            if Instant::now() >= deadline {
                tracing::warn!("lvs_sync_daemon: gave up removing the sync daemons");
                return;
            }
        }
        let wait = core
            .poll_timeout()
            .map(|t| t.saturating_duration_since(Instant::now()));
        let msg = match wait {
            Some(w) => match rx.recv_timeout(w) {
                Ok(m) => Some(m),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => Some(Msg::Finish { remove: true }),
            },
            None => Some(rx.recv().unwrap_or(Msg::Finish { remove: true })),
        };
        match msg {
            None => {}
            Some(Msg::Want(d)) if stop_deadline.is_none() => core.want(Instant::now(), d, false),
            Some(Msg::Want(_)) => {}
            Some(Msg::Finish { remove: false }) => return,
            Some(Msg::Finish { remove: true }) => {
                let now = Instant::now();
                core.want(now, Vec::new(), true);
                stop_deadline.get_or_insert(now + STOP_BUDGET);
            }
        }
    }
}

fn describe(op: &SyncOp) -> String {
    match op {
        SyncOp::Start(d) => format!(
            "start {:?} sync daemon on {} (id {})",
            d.state, d.interface, d.sync_id
        ),
        SyncOp::Stop(s) => format!("stop {s:?} sync daemon"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn cfg() -> LvsSyncDaemon {
        LvsSyncDaemon {
            interface: "eth1".into(),
            instance: Some("VI_1".into()),
            sync_id: None,
            maxlen: Some(1400),
            port: Some(9000),
            ttl: Some(3),
            group: Some("224.0.0.90".parse().expect("addr")),
        }
    }

    /// Drives the core on a virtual clock until it has nothing left to do before `until`.
    fn drive(core: &mut SyncdCore, now: &mut Instant, until: Instant, log: &mut Vec<String>) {
        while let Some(t) = core.poll_timeout() {
            if t > until {
                break;
            }
            *now = (*now).max(t);
            while let Some(op) = core.poll_op(*now) {
                log.push(format!("{:?}@{}", op_name(&op), now.elapsed_from_base()));
                core.op_done(*now, &op, true);
            }
        }
        *now = until;
    }

    fn op_name(op: &SyncOp) -> String {
        match op {
            SyncOp::Start(d) => format!("start {:?}", d.state),
            SyncOp::Stop(s) => format!("stop {s:?}"),
        }
    }

    trait Base {
        fn elapsed_from_base(&self) -> u128;
    }
    thread_local! {
        static BASE: Instant = Instant::now();
    }
    impl Base for Instant {
        fn elapsed_from_base(&self) -> u128 {
            BASE.with(|b| self.duration_since(*b).as_millis())
        }
    }

    fn base() -> Instant {
        BASE.with(|b| *b)
    }

    #[test]
    fn options_are_mapped_and_sync_id_defaults_to_the_vrid() {
        let d = wanted_for(&cfg(), Some(51), Some(State::Master));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].state, DaemonState::Master);
        assert_eq!(d[0].interface, "eth1");
        assert_eq!(d[0].sync_id, 51);
        assert_eq!(d[0].max_len, Some(1400));
        assert_eq!(d[0].port, Some(9000));
        assert_eq!(d[0].ttl, Some(3));
        assert_eq!(d[0].group, Some("224.0.0.90".parse().expect("addr")));
        let mut c = cfg();
        c.sync_id = Some(7);
        assert_eq!(wanted_for(&c, Some(51), None)[0].sync_id, 7);
        c.sync_id = None;
        let both = wanted_for(&c, None, None);
        assert_eq!(both.len(), 2);
        assert_eq!(both[0].sync_id, 0);
    }

    #[test]
    fn only_master_runs_the_master_daemon() {
        for (state, want) in [
            (State::Master, DaemonState::Master),
            (State::Backup, DaemonState::Backup),
            (State::Fault, DaemonState::Backup),
            (State::Init, DaemonState::Backup),
        ] {
            let d = wanted_for(&cfg(), Some(1), Some(state));
            assert_eq!(d.len(), 1, "{state:?}");
            assert_eq!(d[0].state, want, "{state:?}");
        }
    }

    #[test]
    fn transitions_give_stop_then_start_after_the_debounce() {
        let mut core = SyncdCore::new();
        let mut now = base();
        let mut log = Vec::new();
        core.want(now, wanted_for(&cfg(), Some(1), Some(State::Backup)), false);
        assert_eq!(core.poll_op(now), None, "debounced");
        drive(
            &mut core,
            &mut now,
            base() + Duration::from_secs(1),
            &mut log,
        );
        core.want(now, wanted_for(&cfg(), Some(1), Some(State::Master)), false);
        drive(
            &mut core,
            &mut now,
            base() + Duration::from_secs(2),
            &mut log,
        );
        core.want(now, wanted_for(&cfg(), Some(1), Some(State::Fault)), false);
        drive(
            &mut core,
            &mut now,
            base() + Duration::from_secs(3),
            &mut log,
        );
        assert_eq!(
            log,
            [
                "\"start Backup\"@200",
                "\"stop Backup\"@1200",
                "\"start Master\"@1400",
                "\"stop Master\"@2200",
                "\"start Backup\"@2400",
            ]
        );
        assert!(core.settled());
    }

    #[test]
    fn a_flap_inside_the_debounce_does_nothing() {
        let mut core = SyncdCore::new();
        let mut now = base();
        let mut log = Vec::new();
        core.want(now, wanted_for(&cfg(), Some(1), Some(State::Backup)), false);
        drive(
            &mut core,
            &mut now,
            base() + Duration::from_secs(1),
            &mut log,
        );
        log.clear();
        // MASTER for 50 ms then BACKUP again: the kernel is never touched.
        core.want(now, wanted_for(&cfg(), Some(1), Some(State::Master)), false);
        now += Duration::from_millis(50);
        core.want(now, wanted_for(&cfg(), Some(1), Some(State::Backup)), false);
        drive(
            &mut core,
            &mut now,
            base() + Duration::from_secs(2),
            &mut log,
        );
        assert!(log.is_empty(), "{log:?}");
        // A flap that keeps changing delays the operation until it has settled.
        core.want(now, wanted_for(&cfg(), Some(1), Some(State::Master)), false);
        now += Duration::from_millis(150);
        core.want(now, wanted_for(&cfg(), Some(1), Some(State::Backup)), false);
        now += Duration::from_millis(150);
        core.want(now, wanted_for(&cfg(), Some(1), Some(State::Master)), false);
        drive(
            &mut core,
            &mut now,
            base() + Duration::from_secs(3),
            &mut log,
        );
        assert_eq!(log, ["\"stop Backup\"@2500", "\"start Master\"@2700"]);
    }

    #[test]
    fn operations_are_never_back_to_back_even_when_stopping() {
        let mut core = SyncdCore::new();
        let mut now = base();
        core.want(now, wanted_for(&cfg(), Some(1), Some(State::Master)), false);
        now += DEBOUNCE;
        let op = core.poll_op(now).expect("start");
        core.op_done(now, &op, true);
        now += Duration::from_millis(1);
        core.want(now, Vec::new(), true);
        assert_eq!(core.poll_op(now), None);
        assert_eq!(
            core.poll_timeout(),
            Some(now - Duration::from_millis(1) + MIN_GAP)
        );
        now += MIN_GAP;
        assert_eq!(core.poll_op(now), Some(SyncOp::Stop(DaemonState::Master)));
    }

    #[test]
    fn a_failure_is_retried_and_a_changed_option_restarts() {
        let mut core = SyncdCore::new();
        let mut now = base();
        core.want(now, wanted_for(&cfg(), Some(1), Some(State::Backup)), false);
        now += DEBOUNCE;
        let op = core.poll_op(now).expect("start");
        core.op_done(now, &op, false);
        assert_eq!(core.poll_op(now + Duration::from_millis(999)), None);
        now += RETRY;
        assert_eq!(core.poll_op(now), Some(op.clone()));
        core.op_done(now, &op, true);
        assert!(core.settled());
        let mut c = cfg();
        c.port = Some(9001);
        core.want(now, wanted_for(&c, Some(1), Some(State::Backup)), false);
        now += DEBOUNCE;
        assert_eq!(core.poll_op(now), Some(SyncOp::Stop(DaemonState::Backup)));
        core.op_done(now, &SyncOp::Stop(DaemonState::Backup), true);
        now += MIN_GAP;
        match core.poll_op(now) {
            Some(SyncOp::Start(d)) => assert_eq!(d.port, Some(9001)),
            other => panic!("expected a start, got {other:?}"),
        }
    }

    #[derive(Clone, Default)]
    struct Recorder {
        ops: Arc<Mutex<Vec<SyncOp>>>,
        fail_first: Arc<Mutex<u32>>,
    }

    impl SyncdSink for Recorder {
        fn apply(&mut self, op: &SyncOp) -> Result<(), IpvsError> {
            let mut fail = self.fail_first.lock().expect("lock");
            if *fail > 0 {
                *fail -= 1;
                return Err(IpvsError::Protocol("injected".into()));
            }
            self.ops.lock().expect("lock").push(op.clone());
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_thread_follows_wants_and_removes_on_finish() {
        let rec = Recorder::default();
        *rec.fail_first.lock().expect("lock") = 1;
        let h = SyncdHandle::spawn(Box::new(rec.clone())).expect("spawn");
        h.want(wanted_for(&cfg(), Some(1), Some(State::Backup)));
        h.want(wanted_for(&cfg(), Some(1), Some(State::Master)));
        // 200 ms debounce, one failure, 1 s retry: wait for the start (bounded).
        let t0 = Instant::now();
        while rec.ops.lock().expect("lock").is_empty() && t0.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            t0.elapsed() >= RETRY,
            "the failed start was retried after RETRY"
        );
        h.finish(true).await;
        let ops: Vec<String> = rec.ops.lock().expect("lock").iter().map(op_name).collect();
        assert_eq!(ops, ["start Master", "stop Master"]);
    }

    #[tokio::test]
    async fn finish_without_remove_leaves_the_daemons() {
        let rec = Recorder::default();
        let h = SyncdHandle::spawn(Box::new(rec.clone())).expect("spawn");
        h.want(wanted_for(&cfg(), Some(1), Some(State::Backup)));
        tokio::time::sleep(Duration::from_millis(400)).await;
        h.finish(false).await;
        let ops: Vec<String> = rec.ops.lock().expect("lock").iter().map(op_name).collect();
        assert_eq!(ops, ["start Backup"]);
    }
}
