//! Tracked objects: `vrrp_script` runners (interval, timeout, rise, fall), `track_file`
//! readers (rka-check's [`FileWatcher`], shared with FILE_CHECK) and interface events (links
//! and addresses).
//! Each runs as its own task and reports changes to the engine over a channel, so nothing here
//! ever blocks the protocol.

use std::collections::HashSet;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use rka_check::file::{FileWatcher, POLL_INTERVAL};
use rka_config::model::vrrp::track::ParamMatch;
use rka_config::model::vrrp::{TrackFile, TrackProcess, VrrpScript};
use rka_netif::{AddressEvent, InterfaceEvent, LinkEvent};

use crate::lifecycle::{run_with_timeout, ScriptOutcome};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A change reported by a tracker task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackEvent {
    /// A link changed or went away.
    Link(LinkEvent),
    /// An address was added or removed.
    Address(AddressEvent),
    /// Interface events were lost (the kernel's buffer overflowed): read the host again.
    InterfacesOverrun,
    /// A `vrrp_script` changed status.
    Script {
        /// Script name.
        name: String,
        /// Passing.
        up: bool,
    },
    /// A `vrrp_track_process` met or lost its quorum.
    Process {
        /// Block name.
        name: String,
        /// Quorum met.
        up: bool,
    },
    /// A `track_file` holds a new value.
    File {
        /// track_file name.
        name: String,
        /// The number read (0 when unreadable).
        value: i64,
    },
}

/// Rise/fall accounting of a script (keepalived: `rise` successes to go up, `fall` failures to
/// go down).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiseFall {
    rise: u32,
    fall: u32,
    up: bool,
    run: u32,
    /// No result yet and no status to start from: the first result decides.
    unknown: bool,
}

impl RiseFall {
    /// Starts `up` or down.
    pub fn new(rise: u32, fall: u32, up: bool) -> RiseFall {
        RiseFall {
            rise: rise.max(1),
            fall: fall.max(1),
            up,
            run: 0,
            unknown: false,
        }
    }

    /// Starts with no status: the first result gives it, whatever `rise` and `fall` say
    /// (keepalived 2.2.7 with a script without `init_fail`, observed).
    pub fn unknown(rise: u32, fall: u32) -> RiseFall {
        RiseFall {
            unknown: true,
            ..RiseFall::new(rise, fall, false)
        }
    }

    /// Records one result; returns the new status when it changed (or was first given).
    pub fn record(&mut self, ok: bool) -> Option<bool> {
        if std::mem::take(&mut self.unknown) {
            self.up = ok;
            return Some(ok);
        }
        if ok == self.up {
            self.run = 0;
            return None;
        }
        self.run += 1;
        let needed = if ok { self.rise } else { self.fall };
        if self.run >= needed {
            self.up = ok;
            self.run = 0;
            Some(ok)
        } else {
            None
        }
    }
}

/// Starts the runner of `script`; it reports to `tx` until aborted.
/// `initial` is the status to start from (after a reload); by default a script starts up,
/// or down with `init_fail`.
pub fn spawn_script(
    script: &VrrpScript,
    initial: Option<bool>,
    user: Option<(String, Option<String>)>,
    tx: mpsc::UnboundedSender<TrackEvent>,
) -> JoinHandle<()> {
    let s = script.clone();
    tokio::spawn(async move {
        let mut state = match initial {
            Some(up) => RiseFall::new(s.rise, s.fall, up),
            None if s.init_fail => RiseFall::new(s.rise, s.fall, false),
            None => RiseFall::unknown(s.rise, s.fall),
        };
        let timeout = s.timeout.unwrap_or(s.interval);
        // keepalived logs each change of the exit status, from 0.
        let mut last_status = Some(0);
        loop {
            let outcome = run_script(&s.script.argv, timeout, user.as_ref()).await;
            let status = match outcome {
                ScriptOutcome::Succeeded => Some(0),
                ScriptOutcome::Failed(code) => code,
                _ => None,
            };
            if status != last_status {
                if let Some(code) = status {
                    tracing::info!("Script `{}` now returning {code}", s.name);
                }
                last_status = status;
            }
            let ok = matches!(outcome, ScriptOutcome::Succeeded);
            if let Some(up) = state.record(ok) {
                match (up, status) {
                    (true, _) => tracing::info!("VRRP_Script({}) succeeded", s.name),
                    (false, Some(code)) if code != 0 => {
                        tracing::info!("VRRP_Script({}) failed (exited with status {code})", s.name)
                    }
                    (false, _) => tracing::info!("VRRP_Script({}) failed", s.name),
                }
                if tx
                    .send(TrackEvent::Script {
                        name: s.name.clone(),
                        up,
                    })
                    .is_err()
                {
                    return;
                }
            }
            tokio::time::sleep(s.interval).await;
        }
    })
}

/// Runs a script once and returns how it ended, logging a timeout or a failure to start.
async fn run_script(
    argv: &[String],
    timeout: Duration,
    user: Option<&(String, Option<String>)>,
) -> ScriptOutcome {
    let outcome = run_with_timeout(argv, user, timeout).await;
    match &outcome {
        ScriptOutcome::TimedOut => {
            let program = argv.first().map_or("", String::as_str);
            tracing::warn!("script {program} timed out - killed");
        }
        ScriptOutcome::NotRun(e) => tracing::warn!("cannot run script {e}"),
        ScriptOutcome::Succeeded | ScriptOutcome::Failed(_) => {}
    }
    outcome
}

/// Writes `init_file`'s value when the file is missing, or always with `overwrite`.
fn init_track_file(file: &TrackFile, path: &Path) {
    let Some((value, overwrite)) = file.init_file else {
        return;
    };
    if overwrite || !path.exists() {
        if let Err(e) = std::fs::write(path, format!("{value}\n")) {
            tracing::warn!(
                "track_file {}: cannot write {}: {e}",
                file.name,
                path.display()
            );
        }
    }
}

/// Starts the reader of `file`: it reports the value at start and whenever it changes. The
/// file is followed by a [`FileWatcher`], so a change is seen as soon as the writer closes the
/// file; while the file's directory cannot be watched (it does not exist, or inotify is
/// exhausted) the file is read every 500 ms until it can. With `init_file`, the file is
/// created (or overwritten with `overwrite`) holding the initial value.
pub fn spawn_file(file: &TrackFile, tx: mpsc::UnboundedSender<TrackEvent>) -> JoinHandle<()> {
    let name = file.name.clone();
    let path = PathBuf::from(&file.file);
    init_track_file(file, &path);
    tokio::spawn(async move {
        // Watch first, then read, so no change between the two is missed.
        let mut watcher = match FileWatcher::new(&path) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(
                    "track_file {name}: cannot watch {} ({e}) - reading it every {}ms",
                    path.display(),
                    POLL_INTERVAL.as_millis()
                );
                None
            }
        };
        let mut last = None;
        loop {
            // As keepalived 2.2.7 reads it (shared with FILE_CHECK): strtol with base 0, a
            // missing file is 0, a value out of range is ignored (0 before any).
            let value = match rka_check::file::read_value(&path).await {
                Ok(v) => v,
                Err(bad) => {
                    tracing::info!("{}", rka_check::file::invalid_value_line(bad, &path));
                    last.unwrap_or(0)
                }
            };
            if last != Some(value) {
                last = Some(value);
                if tx
                    .send(TrackEvent::File {
                        name: name.clone(),
                        value,
                    })
                    .is_err()
                {
                    return;
                }
            }
            match watcher.as_mut() {
                Some(w) => {
                    if let Err(e) = w.changed().await {
                        tracing::warn!(
                            "track_file {name}: {e} - reading it every {}ms",
                            POLL_INTERVAL.as_millis()
                        );
                        watcher = None;
                    }
                }
                None => tokio::time::sleep(POLL_INTERVAL).await,
            }
        }
    })
}

/// Whether a process (its `comm` name, and its command line split into arguments) matches
/// what `vrrp_track_process` asks for.
pub fn process_matches(t: &TrackProcess, comm: &str, cmdline: &[String]) -> bool {
    let Some((want, params)) = t.process.split_first() else {
        return false;
    };
    let name_ok = if t.full_command {
        cmdline.first().is_some_and(|c| c == want)
    } else {
        // comm is truncated to 15 bytes by the kernel.
        let short: String = want.chars().take(15).collect();
        comm == short
    };
    if !name_ok {
        return false;
    }
    let args = cmdline.get(1..).unwrap_or(&[]);
    match t.param_match {
        None if params.is_empty() => true,
        None | Some(ParamMatch::Exact) => args == params,
        Some(ParamMatch::Partial) => args.len() >= params.len() && args[..params.len()] == *params,
        Some(ParamMatch::Initial) => match params.split_last() {
            None => true,
            Some((last, first)) => {
                args.len() >= params.len()
                    && args[..first.len()] == *first
                    && args[first.len()].starts_with(last.as_str())
            }
        },
    }
}

/// Whether process `pid` (a /proc entry name) matches `t`.
fn pid_matches(t: &TrackProcess, pid: &str) -> bool {
    let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
        return false;
    };
    let cmdline: Vec<String> = std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    process_matches(t, comm.trim_end_matches('\n'), &cmdline)
}

/// The running processes matching `t`, from /proc.
pub fn matching_pids(t: &TrackProcess) -> HashSet<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashSet::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|pid| pid_matches(t, &pid.to_string()))
        .collect()
}

/// Counts the running processes matching `t`, from /proc.
pub fn count_processes(t: &TrackProcess) -> u32 {
    u32::try_from(matching_pids(t).len()).unwrap_or(u32::MAX)
}

/// How often processes are counted when process events cannot be had.
const PROCESS_POLL: Duration = Duration::from_millis(500);

/// Quorum accounting of a `vrrp_track_process`: a change is reported once it has lasted
/// `fork_delay` (going up) or `terminate_delay` (going down).
#[derive(Debug)]
struct Quorum {
    t: TrackProcess,
    reported: Option<bool>,
    pending: Option<(bool, tokio::time::Instant)>,
}

impl Quorum {
    fn delay(&self, up: bool) -> Duration {
        let d = if up {
            self.t.fork_delay
        } else {
            self.t.terminate_delay
        };
        d.unwrap_or(Duration::ZERO)
    }

    /// Takes a count at `now`; returns the status to report, if any.
    fn observe(&mut self, n: u32, now: tokio::time::Instant) -> Option<bool> {
        let up = n >= self.t.quorum && self.t.quorum_max.is_none_or(|max| n <= max);
        let report = match (self.reported, self.pending) {
            (None, _) => true,
            (Some(r), _) if r == up => {
                self.pending = None;
                false
            }
            (Some(_), Some((p, since))) if p == up => now.duration_since(since) >= self.delay(up),
            (Some(_), _) => {
                self.pending = Some((up, now));
                self.delay(up).is_zero()
            }
        };
        if report {
            self.reported = Some(up);
            self.pending = None;
            tracing::info!(
                "Track process {} {} ({n} running)",
                self.t.name,
                if up { "quorum met" } else { "quorum lost" }
            );
            return Some(up);
        }
        None
    }

    /// When a pending change is due to be reported.
    fn deadline(&self) -> Option<tokio::time::Instant> {
        self.pending.map(|(up, since)| since + self.delay(up))
    }
}

/// Process events as tokio wants them.
struct ProcEventsFd(rka_sys::proc_events::ProcEvents);

impl AsRawFd for ProcEventsFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Starts the counter of `t`: it reports whether the quorum is met at start and on every
/// change that outlasts `fork_delay` (going up) or `terminate_delay` (going down). Processes
/// are followed through the kernel's proc connector (forks, execs, renames and exits, so a
/// change is seen at once); where that is refused (no CAP_NET_ADMIN, or a network namespace
/// other than the initial one) /proc is scanned every 500 ms instead.
pub fn spawn_process(t: &TrackProcess, tx: mpsc::UnboundedSender<TrackEvent>) -> JoinHandle<()> {
    let t = t.clone();
    tokio::spawn(async move {
        // `AsyncFd`'s safe constructors are deprecated for types that could hand out another
        // descriptor; `ProcEventsFd` owns its socket for its whole life, which is the
        // contract of the `unsafe` replacement (and `unsafe` is kept to crates/sys).
        #[allow(deprecated)]
        let events = rka_sys::proc_events::ProcEvents::subscribe()
            .and_then(|e| AsyncFd::with_interest(ProcEventsFd(e), Interest::READABLE));
        match events {
            Ok(fd) => follow_process_events(t, fd, tx).await,
            Err(e) => {
                tracing::info!(
                    "Track process {}: no process events ({e}) - scanning every {}ms",
                    t.name,
                    PROCESS_POLL.as_millis()
                );
                poll_processes(t, tx).await
            }
        }
    })
}

async fn scan(t: &TrackProcess) -> HashSet<u32> {
    let t = t.clone();
    tokio::task::spawn_blocking(move || matching_pids(&t))
        .await
        .unwrap_or_default()
}

async fn follow_process_events(
    t: TrackProcess,
    fd: AsyncFd<ProcEventsFd>,
    tx: mpsc::UnboundedSender<TrackEvent>,
) {
    use rka_sys::proc_events::ProcEvent;
    let mut q = Quorum {
        t: t.clone(),
        reported: None,
        pending: None,
    };
    let mut pids = scan(&t).await;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = u32::try_from(pids.len()).unwrap_or(u32::MAX);
        if let Some(up) = q.observe(n, tokio::time::Instant::now()) {
            if tx
                .send(TrackEvent::Process {
                    name: t.name.clone(),
                    up,
                })
                .is_err()
            {
                return;
            }
        }
        let deadline = q.deadline();
        tokio::select! {
            ready = fd.readable() => {
                let Ok(mut guard) = ready else {
                    return poll_processes(t, tx).await;
                };
                loop {
                    match guard.try_io(|fd| fd.get_ref().0.read(&mut buf)) {
                        Ok(Ok(events)) => {
                            for ev in events {
                                match ev {
                                    ProcEvent::Fork { child: pid, .. }
                                    | ProcEvent::Exec { pid }
                                    | ProcEvent::Comm { pid } => {
                                        if pid_matches(&t, &pid.to_string()) {
                                            pids.insert(pid);
                                        } else {
                                            pids.remove(&pid);
                                        }
                                    }
                                    ProcEvent::Exit { pid } => {
                                        pids.remove(&pid);
                                    }
                                }
                            }
                        }
                        // Events were lost (ENOBUFS): count again from /proc.
                        Ok(Err(_)) => {
                            pids = scan(&t).await;
                            break;
                        }
                        Err(_would_block) => break,
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                if deadline.is_some() => {}
        }
    }
}

async fn poll_processes(t: TrackProcess, tx: mpsc::UnboundedSender<TrackEvent>) {
    let mut q = Quorum {
        t: t.clone(),
        reported: None,
        pending: None,
    };
    loop {
        let counter = t.clone();
        let n = tokio::task::spawn_blocking(move || count_processes(&counter))
            .await
            .unwrap_or(0);
        if let Some(up) = q.observe(n, tokio::time::Instant::now()) {
            if tx
                .send(TrackEvent::Process {
                    name: t.name.clone(),
                    up,
                })
                .is_err()
            {
                return;
            }
        }
        tokio::time::sleep(PROCESS_POLL).await;
    }
}

/// Forwards link and address events to the engine; `None` (logged) when the kernel refuses
/// the subscription.
pub fn spawn_interface_events(tx: mpsc::UnboundedSender<TrackEvent>) -> Option<JoinHandle<()>> {
    let mut rx = match rka_netif::Netif::interface_events() {
        Ok(rx) => rx,
        Err(e) => {
            tracing::error!("cannot watch interfaces: {e}");
            return None;
        }
    };
    Some(tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            let ev = match ev {
                InterfaceEvent::Link(l) => TrackEvent::Link(l),
                InterfaceEvent::Address(a) => TrackEvent::Address(a),
                InterfaceEvent::Overrun => TrackEvent::InterfacesOverrun,
            };
            if tx.send(ev).is_err() {
                return;
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_status_is_given_by_the_first_result() {
        for first in [true, false] {
            let mut r = RiseFall::unknown(3, 3);
            assert_eq!(r.record(first), Some(first), "whatever rise and fall say");
            assert_eq!(r.record(first), None);
            // Then the usual counting.
            assert_eq!(r.record(!first), None);
            assert_eq!(r.record(!first), None);
            assert_eq!(r.record(!first), Some(!first));
        }
    }

    #[test]
    fn rise_and_fall_need_consecutive_results() {
        let mut r = RiseFall::new(2, 3, true);
        assert_eq!(r.record(false), None);
        assert_eq!(r.record(true), None);
        assert_eq!(r.record(false), None);
        assert_eq!(r.record(false), None);
        assert_eq!(r.record(false), Some(false));
        assert_eq!(r.record(true), None);
        assert_eq!(r.record(true), Some(true));
    }

    fn tracked(process: &[&str], pm: Option<ParamMatch>, full: bool) -> TrackProcess {
        TrackProcess {
            name: "p".into(),
            origin: rka_config::Origin::new("test.conf", 1),
            process: process.iter().map(|s| s.to_string()).collect(),
            param_match: pm,
            weight: 1,
            weight_reverse: false,
            quorum: 1,
            quorum_max: None,
            fork_delay: None,
            terminate_delay: None,
            full_command: full,
        }
    }

    #[test]
    fn process_matching_rules() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cmd = argv(&["/usr/sbin/nginx", "-g", "daemon off;"]);
        assert!(process_matches(
            &tracked(&["nginx"], None, false),
            "nginx",
            &cmd
        ));
        assert!(!process_matches(
            &tracked(&["nginx"], None, false),
            "apache",
            &cmd
        ));
        assert!(process_matches(
            &tracked(&["/usr/sbin/nginx"], None, true),
            "nginx",
            &cmd
        ));
        assert!(process_matches(
            &tracked(&["nginx", "-g", "daemon off;"], None, false),
            "nginx",
            &cmd
        ));
        assert!(!process_matches(
            &tracked(&["nginx", "-g"], Some(ParamMatch::Exact), false),
            "nginx",
            &cmd
        ));
        assert!(process_matches(
            &tracked(&["nginx", "-g"], Some(ParamMatch::Partial), false),
            "nginx",
            &cmd
        ));
        assert!(process_matches(
            &tracked(&["nginx", "-g", "dae"], Some(ParamMatch::Initial), false),
            "nginx",
            &cmd
        ));
        assert!(!process_matches(
            &tracked(&["nginx", "-x"], Some(ParamMatch::Initial), false),
            "nginx",
            &cmd
        ));
        // The kernel truncates comm to 15 bytes.
        assert!(process_matches(
            &tracked(&["a-very-long-process-name"], None, false),
            "a-very-long-pro",
            &argv(&["x"])
        ));
    }

    #[test]
    fn counts_this_test_process() {
        let comm = std::fs::read_to_string("/proc/self/comm").expect("comm");
        let t = tracked(&[comm.trim_end()], None, false);
        assert!(count_processes(&t) >= 1);
        assert_eq!(
            count_processes(&tracked(&["no-such-process-xyz"], None, false)),
            0
        );
    }

    #[test]
    fn quorum_changes_wait_for_their_delay() {
        let mut t = tracked(&["x"], None, false);
        t.quorum = 2;
        t.fork_delay = Some(Duration::from_secs(3));
        let mut q = Quorum {
            t,
            reported: None,
            pending: None,
        };
        let t0 = tokio::time::Instant::now();
        assert_eq!(q.observe(1, t0), Some(false), "first count is reported");
        assert_eq!(q.observe(2, t0), None, "going up waits for fork_delay");
        assert_eq!(q.deadline(), Some(t0 + Duration::from_secs(3)));
        assert_eq!(q.observe(2, t0 + Duration::from_secs(2)), None);
        assert_eq!(q.observe(2, t0 + Duration::from_secs(3)), Some(true));
        assert_eq!(q.deadline(), None);
        // No terminate_delay: going down is reported at once.
        assert_eq!(q.observe(0, t0 + Duration::from_secs(4)), Some(false));
        // A blip shorter than the delay is never reported.
        assert_eq!(q.observe(5, t0 + Duration::from_secs(5)), None);
        assert_eq!(q.observe(1, t0 + Duration::from_secs(6)), None);
        assert_eq!(q.deadline(), None);
    }

    /// The next event reported within `within` (tests pick a bound below the tracker's poll
    /// period, so that only the event-driven path can meet it).
    async fn next_event(
        rx: &mut mpsc::UnboundedReceiver<TrackEvent>,
        within: Duration,
    ) -> TrackEvent {
        match tokio::time::timeout(within, rx.recv()).await {
            Ok(Some(event)) => event,
            other => panic!("no event within {within:?}: {other:?}"),
        }
    }

    /// The next process status reported, well within the 500 ms scan period.
    async fn next_process(rx: &mut mpsc::UnboundedReceiver<TrackEvent>) -> bool {
        match next_event(rx, Duration::from_millis(300)).await {
            TrackEvent::Process { up, .. } => up,
            other => panic!("not a process event: {other:?}"),
        }
    }

    /// In the initial network namespace, as root, processes are followed through the proc
    /// connector: a start and an end are seen within milliseconds, not at the next scan.
    #[tokio::test]
    async fn process_events_are_followed_when_available() {
        if rka_sys::proc_events::ProcEvents::subscribe().is_err() {
            eprintln!("proc connector unavailable here: skipped");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let name = format!("rkpe{}", std::process::id());
        let bin = dir.path().join(&name);
        std::os::unix::fs::symlink("/bin/sleep", &bin).expect("link");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let task = spawn_process(&tracked(&[&name], None, false), tx);
        assert!(!next_process(&mut rx).await, "none running at first");
        // Let the subscription settle before the process starts.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut child = std::process::Command::new(&bin)
            .arg("30")
            .spawn()
            .expect("spawn");
        assert!(next_process(&mut rx).await, "seen running");
        child.kill().expect("kill");
        child.wait().expect("wait");
        assert!(!next_process(&mut rx).await, "seen gone");
        task.abort();
    }

    /// The next value reported, well within the 500 ms fallback poll (inotify sees it).
    async fn next_value(rx: &mut mpsc::UnboundedReceiver<TrackEvent>) -> i64 {
        match next_event(rx, Duration::from_millis(400)).await {
            TrackEvent::File { value, .. } => value,
            other => panic!("not a track_file event: {other:?}"),
        }
    }

    /// The values keepalived 2.2.7 reported for the same sequence (observed in a namespace).
    #[tokio::test]
    async fn track_file_reports_every_change_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tf");
        let file = TrackFile {
            name: "TF".into(),
            origin: rka_config::Origin::new("test.conf", 1),
            file: path.display().to_string(),
            weight: 0,
            weight_reverse: false,
            init_file: None,
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let task = spawn_file(&file, tx);
        assert_eq!(next_value(&mut rx).await, 0, "missing file");
        std::fs::write(&path, "5\n").expect("write");
        assert_eq!(next_value(&mut rx).await, 5);
        std::fs::write(&path, "abc\n").expect("write");
        assert_eq!(next_value(&mut rx).await, 0, "not a number");
        let tmp = dir.path().join("tf2");
        std::fs::write(&tmp, "7\n").expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        assert_eq!(next_value(&mut rx).await, 7);
        std::fs::remove_file(&path).expect("rm");
        assert_eq!(next_value(&mut rx).await, 0, "deleted");
        std::fs::write(&path, "  -2x").expect("write");
        assert_eq!(next_value(&mut rx).await, -2);
        // Truncated and left open: nothing is read until the writer closes the file.
        let mut open = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .expect("open");
        assert!(
            tokio::time::timeout(Duration::from_millis(200), rx.recv())
                .await
                .is_err(),
            "read before close"
        );
        std::io::Write::write_all(&mut open, b"9\n").expect("write");
        drop(open);
        assert_eq!(next_value(&mut rx).await, 9);
        // strtol with base 0, as keepalived reads it: hexadecimal, octal.
        std::fs::write(&path, "0x10\n").expect("write");
        assert_eq!(next_value(&mut rx).await, 16);
        std::fs::write(&path, "010\n").expect("write");
        assert_eq!(next_value(&mut rx).await, 8);
        // Out of keepalived's range: ignored, the last value stands (no report).
        std::fs::write(&path, "4294967296\n").expect("write");
        assert!(
            tokio::time::timeout(Duration::from_millis(300), rx.recv())
                .await
                .is_err(),
            "an invalid number is ignored"
        );
        std::fs::write(&path, "3\n").expect("write");
        assert_eq!(next_value(&mut rx).await, 3);
        task.abort();
    }

    #[test]
    fn init_file_creates_or_overwrites() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tf");
        let mut file = TrackFile {
            name: "TF".into(),
            origin: rka_config::Origin::new("test.conf", 1),
            file: path.display().to_string(),
            weight: 1,
            weight_reverse: false,
            init_file: Some((3, false)),
        };
        init_track_file(&file, &path);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "3\n");
        file.init_file = Some((4, false));
        init_track_file(&file, &path);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "3\n");
        file.init_file = Some((4, true));
        init_track_file(&file, &path);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "4\n");
    }

    #[tokio::test]
    async fn script_timeout_is_a_failure() {
        let argv = vec!["/bin/sleep".to_owned(), "5".to_owned()];
        let start = std::time::Instant::now();
        assert_eq!(
            run_script(&argv, Duration::from_millis(100), None).await,
            ScriptOutcome::TimedOut
        );
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(
            run_script(&["/bin/true".to_owned()], Duration::from_secs(5), None).await,
            ScriptOutcome::Succeeded
        );
        assert_eq!(
            run_script(&["/bin/false".to_owned()], Duration::from_secs(5), None).await,
            ScriptOutcome::Failed(Some(1))
        );
    }
}
