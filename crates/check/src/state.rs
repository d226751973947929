//! The per-checker scheduling state machine, free of I/O and of the system clock.
//!
//! Polling contract: call [`CheckerState::poll_timeout`] to learn when to wake; at that instant
//! call [`CheckerState::handle_timeout`], which returns `true` when a probe must start; when the
//! probe ends, hand its result to [`CheckerState::handle_result`]; then drain
//! [`CheckerState::poll_event`].
//!
//! An HTTP_GET / SSL_GET checker ([`CheckerState::for_probe`]) checks one url per probe: the
//! probe started must check [`CheckerState::url`], and only a completed pass of its urls
//! brings it up (see [`UrlCursor`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::http::{UrlCursor, UrlStep};
use crate::outcome::{Failure, ProbeResult};
use crate::probe::Probe;
use crate::schedule::Schedule;

/// Something the owner of a checker should act on or log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckerEvent {
    /// The checker now passes.
    Up {
        /// Why (the first successful probe after a failure, or startup in alpha mode).
        reason: String,
    },
    /// The checker now fails.
    Down {
        /// The failure of the probe that took it down, after its retries.
        reason: DownReason,
    },
    /// A probe failed while the checker is up and a retry is scheduled (only reported with
    /// `log_all_failures`).
    Retrying {
        /// The probe's failure.
        reason: Failure,
        /// This retry's number, from 1.
        attempt: u32,
        /// The configured `retry` count.
        retry: u32,
    },
    /// A dynamic checker reported a new weight.
    WeightChanged {
        /// The new weight.
        weight: i64,
    },
    /// A dynamic checker that had reported a weight now reports none: the real server's
    /// configured weight applies again (`misc_dynamic` exit 0, as keepalived 2.2.7).
    WeightReset,
}

/// Why a checker went down: the failure of its last probe and the retries before it. It
/// prints as logged: the failure's words, then `(after N retries)` when there were some.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownReason {
    /// The last probe's failure.
    pub failure: Failure,
    /// How many retries failed before it (the configured `retry`, 0 for a first probe that
    /// is settled at once).
    pub retries: u32,
}

impl DownReason {
    /// Whether the words of this reason contain `text`.
    pub fn contains(&self, text: &str) -> bool {
        self.to_string().contains(text)
    }
}

impl From<Failure> for DownReason {
    fn from(failure: Failure) -> Self {
        DownReason {
            failure,
            retries: 0,
        }
    }
}

impl std::fmt::Display for DownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.failure)?;
        if self.retries > 0 {
            write!(f, " (after {} retries)", self.retries)?;
        }
        Ok(())
    }
}

/// Where an HTTP_GET / SSL_GET checker is in its urls.
#[derive(Debug, Clone, Copy)]
struct UrlPacing {
    cursor: UrlCursor,
    /// How many urls the checker has.
    count: usize,
    /// `fast_recovery`.
    fast_recovery: bool,
    /// A full pass of the urls has completed.
    passed: bool,
}

/// Events waiting for [`CheckerState::poll_event`], oldest first (boxed in the state: a
/// pointer while none waits).
#[derive(Debug, Clone, Default)]
struct EventQueue(Vec<CheckerEvent>);

/// The scheduling and verdict state of one checker.
///
/// Kept small (a pool holds one per checker, tens of thousands of them): the schedule is
/// shared with every checker of the same timing, the url pacing of HTTP_GET / SSL_GET is
/// boxed, and the events queue exists only while events wait (between a result and the
/// owner's [`poll_event`](Self::poll_event) calls).
#[derive(Debug, Clone)]
pub struct CheckerState {
    schedule: Arc<Schedule>,
    up: bool,
    has_run: bool,
    /// Whether `retry` applies to the very first probe. keepalived 2.2.7 (observed) settles a
    /// first failing TCP_CHECK, UDP_CHECK, PING_CHECK or DNS_CHECK at once; HTTP_GET, SSL_GET,
    /// SMTP_CHECK and MISC_CHECK retry it.
    retry_first_run: bool,
    in_flight: bool,
    retries_done: u32,
    /// `Some` for HTTP_GET / SSL_GET: one url per probe.
    urls: Option<Box<UrlPacing>>,
    next_probe: Instant,
    /// The last weight reported by a dynamic checker, meaningful while `has_weight`.
    weight: i64,
    has_weight: bool,
    /// A verdict (Up or Down) was reported: an `alpha` checker that starts down reports its
    /// first failed verdict once, as keepalived 2.2.7 runs `notify_down` then.
    verdict_given: bool,
    /// Boxed: a pointer while the checker passes.
    last_failure: Option<Box<Failure>>,
    /// Oldest first; a probe queues at most a weight change and a verdict.
    events: Option<Box<EventQueue>>,
}

impl CheckerState {
    /// A checker created at `now` whose first probe starts after `start_delay` (pass
    /// [`Schedule::random_warmup`] in production). With `alpha` it starts down, else up.
    /// Pass an `Arc<Schedule>` to share one schedule between many checkers.
    pub fn new(schedule: impl Into<Arc<Schedule>>, now: Instant, start_delay: Duration) -> Self {
        let schedule = schedule.into();
        let up = !schedule.alpha;
        CheckerState {
            schedule,
            up,
            verdict_given: false,
            has_run: false,
            retry_first_run: true,
            urls: None,
            retries_done: 0,
            next_probe: now + start_delay,
            in_flight: false,
            weight: 0,
            has_weight: false,
            last_failure: None,
            events: None,
        }
    }

    /// The state of a checker running `probe`, as [`CheckerState::new`]; an HTTP_GET / SSL_GET
    /// checker paces its urls (one per probe, see [`CheckerState::url`]).
    pub fn for_probe(
        probe: &Probe,
        schedule: impl Into<Arc<Schedule>>,
        now: Instant,
        start_delay: Duration,
    ) -> Self {
        let mut state = CheckerState::new(schedule, now, start_delay);
        state.retry_first_run = !matches!(
            probe,
            Probe::Tcp(_) | Probe::Udp(_) | Probe::Ping(_) | Probe::Dns(_)
        );
        match probe {
            Probe::Http(p) => state.pacing_urls(p.urls.len(), p.fast_recovery),
            _ => state,
        }
    }

    /// Paces `count` urls, one per probe.
    fn pacing_urls(mut self, count: usize, fast_recovery: bool) -> Self {
        self.urls = Some(Box::new(UrlPacing {
            cursor: UrlCursor::default(),
            count,
            fast_recovery,
            passed: false,
        }));
        self
    }

    /// The index of the url the next probe (or the one running) checks, for an HTTP_GET /
    /// SSL_GET checker made by [`CheckerState::for_probe`]; 0 for the other kinds.
    pub fn url(&self) -> usize {
        self.urls.as_ref().map_or(0, |u| u.cursor.current())
    }

    /// Whether the checker currently passes.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// The last weight reported by a dynamic checker.
    pub fn weight(&self) -> Option<i64> {
        self.has_weight.then_some(self.weight)
    }

    /// The reason of the last failed probe, if the last probe failed.
    pub fn last_failure(&self) -> Option<&Failure> {
        self.last_failure.as_deref()
    }

    /// The schedule in use.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The schedule in use, as shared with other checkers of the same timing.
    pub fn schedule_shared(&self) -> &Arc<Schedule> {
        &self.schedule
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called; `None` while a probe is
    /// running.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.in_flight).then_some(self.next_probe)
    }

    /// Advance the clock to `now`; returns `true` when a probe must start now.
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        if self.in_flight || now < self.next_probe {
            return false;
        }
        self.in_flight = true;
        true
    }

    /// Record the result of the probe started by the last [`handle_timeout`](Self::handle_timeout)
    /// that returned `true`, finished at `now`.
    pub fn handle_result(&mut self, now: Instant, result: ProbeResult) {
        self.in_flight = false;
        // Before the first probe has run, a failure counts as a failure of an up checker, even
        // in alpha mode: the retries apply (for the kinds that retry a first probe, see
        // `retry_first_run`), then the verdict is settled.
        let counts_retries = (self.up || !self.has_run) && (self.has_run || self.retry_first_run);
        self.has_run = true;
        match result {
            Ok(success) => {
                self.retries_done = 0;
                self.last_failure = None;
                // A url checker passes only when the last url of a pass does; a url before it
                // changes neither the verdict nor the down state.
                let (step, delay) = match &mut self.urls {
                    None => (UrlStep::PassComplete, self.schedule.delay_loop),
                    Some(u) => {
                        let step = u.cursor.on_success(u.count);
                        let delay = UrlCursor::delay_after_success(
                            step,
                            self.up,
                            u.passed,
                            u.fast_recovery,
                            self.schedule.delay_loop,
                        );
                        u.passed |= step == UrlStep::PassComplete;
                        (step, delay)
                    }
                };
                self.next_probe = now + delay;
                match success.weight {
                    Some(w) if self.weight() != Some(w) => {
                        self.weight = w;
                        self.has_weight = true;
                        self.push_event(CheckerEvent::WeightChanged { weight: w });
                    }
                    None if self.has_weight => {
                        self.has_weight = false;
                        self.push_event(CheckerEvent::WeightReset);
                    }
                    _ => {}
                }
                if step == UrlStep::PassComplete && !self.up {
                    self.up = true;
                    self.verdict_given = true;
                    self.push_event(CheckerEvent::Up {
                        reason: "check succeeded".to_string(),
                    });
                }
            }
            Err(failure) => {
                self.last_failure = Some(Box::new(failure.clone()));
                if counts_retries && self.retries_done < self.schedule.retry {
                    self.retries_done += 1;
                    self.next_probe = now + self.schedule.delay_before_retry;
                    if self.schedule.log_all_failures {
                        self.push_event(CheckerEvent::Retrying {
                            reason: failure,
                            attempt: self.retries_done,
                            retry: self.schedule.retry,
                        });
                    }
                } else {
                    let retried = std::mem::take(&mut self.retries_done);
                    self.next_probe = now + self.schedule.delay_loop;
                    if let Some(u) = &mut self.urls {
                        u.cursor.on_failure();
                    }
                    if self.up || !self.verdict_given {
                        self.up = false;
                        self.verdict_given = true;
                        let reason = DownReason {
                            failure,
                            retries: retried,
                        };
                        self.push_event(CheckerEvent::Down { reason });
                    }
                }
            }
        }
    }

    /// The next event to act on, oldest first.
    pub fn poll_event(&mut self) -> Option<CheckerEvent> {
        // At most two events wait: removing the first shifts at most one.
        let queue = &mut self.events.as_mut()?.0;
        let first = (!queue.is_empty()).then(|| queue.remove(0));
        if queue.is_empty() {
            self.events = None;
        }
        first
    }

    /// Queues an event for [`poll_event`](Self::poll_event).
    fn push_event(&mut self, event: CheckerEvent) {
        self.events
            .get_or_insert_with(|| Box::new(EventQueue(Vec::with_capacity(2))))
            .0
            .push(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Failure, Success};
    use crate::probe::CheckKind;

    fn sched(retry: u32, alpha: bool) -> Schedule {
        Schedule {
            delay_loop: Duration::from_secs(10),
            retry,
            delay_before_retry: Duration::from_secs(2),
            warmup: Duration::ZERO,
            alpha,
            log_all_failures: true,
        }
    }

    fn fail() -> ProbeResult {
        Err(Failure::new("boom"))
    }

    fn ok() -> ProbeResult {
        Ok(Success::default())
    }

    /// One probe run by [`drive`]: when it started (seconds from `t0`), the url it checked and
    /// the events its result produced.
    struct Run {
        at: u64,
        url: usize,
        events: Vec<CheckerEvent>,
    }

    /// Drives `st` on a virtual clock: at each wake-up, the probe result is taken from
    /// `results`.
    fn drive(st: &mut CheckerState, t0: Instant, results: Vec<ProbeResult>) -> Vec<Run> {
        let mut runs = Vec::new();
        for r in results {
            let now = st.poll_timeout().expect("idle");
            assert!(!st.handle_timeout(now - Duration::from_millis(1)));
            assert!(st.handle_timeout(now));
            assert_eq!(st.poll_timeout(), None);
            let (at, url) = ((now - t0).as_secs(), st.url());
            st.handle_result(now, r);
            let events = std::iter::from_fn(|| st.poll_event()).collect();
            runs.push(Run { at, url, events });
        }
        runs
    }

    /// [`drive`] for a checker of schedule `s` starting after `start_delay` seconds; returns the
    /// probe instants (seconds from start), the events and the final verdict.
    fn simulate(
        s: Schedule,
        start_delay: u64,
        results: Vec<ProbeResult>,
    ) -> (Vec<u64>, Vec<CheckerEvent>, bool) {
        let t0 = Instant::now();
        let mut st = CheckerState::new(s, t0, Duration::from_secs(start_delay));
        let runs = drive(&mut st, t0, results);
        let times = runs.iter().map(|r| r.at).collect();
        let events = runs.into_iter().flat_map(|r| r.events).collect();
        (times, events, st.is_up())
    }

    #[test]
    fn failure_counts_only_after_retries() {
        let (times, events, up) = simulate(sched(2, false), 5, vec![ok(), fail(), fail(), fail()]);
        assert_eq!(times, vec![5, 15, 17, 19]);
        assert!(!up);
        assert_eq!(events.len(), 3);
        assert!(matches!(
            events[0],
            CheckerEvent::Retrying {
                attempt: 1,
                retry: 2,
                ..
            }
        ));
        assert!(matches!(
            events[1],
            CheckerEvent::Retrying { attempt: 2, .. }
        ));
        assert!(matches!(&events[2], CheckerEvent::Down { reason } if reason.contains("boom")));
    }

    #[test]
    fn a_success_during_retries_resets_them() {
        let (times, events, up) =
            simulate(sched(1, false), 0, vec![fail(), ok(), fail(), fail(), ok()]);
        assert_eq!(times, vec![0, 2, 12, 14, 24]);
        assert!(up);
        let downs = events
            .iter()
            .filter(|e| matches!(e, CheckerEvent::Down { .. }))
            .count();
        let ups = events
            .iter()
            .filter(|e| matches!(e, CheckerEvent::Up { .. }))
            .count();
        assert_eq!((downs, ups), (1, 1));
    }

    #[test]
    fn down_checker_probes_every_delay_loop_and_one_success_brings_it_up() {
        let (times, events, up) = simulate(
            sched(3, false),
            0,
            vec![fail(), fail(), fail(), fail(), fail(), fail(), ok()],
        );
        // 3 retries 2 s apart, down at 6, then every 10 s.
        assert_eq!(times, vec![0, 2, 4, 6, 16, 26, 36]);
        assert!(up);
        assert!(matches!(events.last(), Some(CheckerEvent::Up { .. })));
    }

    #[test]
    fn alpha_starts_down_and_first_success_brings_up() {
        let t0 = Instant::now();
        let st = CheckerState::new(sched(1, true), t0, Duration::ZERO);
        assert!(!st.is_up());
        let (_, events, up) = simulate(sched(1, true), 0, vec![ok()]);
        assert!(up);
        assert_eq!(events.len(), 1);
        assert!(matches!(events[0], CheckerEvent::Up { .. }));
    }

    #[test]
    fn alpha_failures_retry_then_report_the_first_verdict_once() {
        // keepalived 2.2.7 runs notify_down for an alpha real server whose first verdict is a
        // failure (observed); later failures, already down, report nothing.
        let (times, events, up) = simulate(sched(1, true), 0, vec![fail(), fail(), fail()]);
        assert_eq!(times, vec![0, 2, 12]);
        assert!(!up);
        let verdicts: Vec<&CheckerEvent> = events
            .iter()
            .filter(|e| !matches!(e, CheckerEvent::Retrying { .. }))
            .collect();
        assert_eq!(
            verdicts,
            [&CheckerEvent::Down {
                reason: DownReason {
                    failure: Failure::new("boom"),
                    retries: 1
                }
            }]
        );
        if let CheckerEvent::Down { reason } = verdicts[0] {
            assert_eq!(reason.to_string(), "boom (after 1 retries)");
        }
    }

    #[test]
    fn a_first_failing_tcp_probe_is_settled_without_retries() {
        // keepalived 2.2.7 (observed, retry 1, log_all_failures): a TCP_CHECK that fails its
        // very first probe is down at once; HTTP_GET retries it; once a TCP_CHECK has run,
        // its retries apply again.
        let t0 = Instant::now();
        let tcp = Probe::Tcp(crate::net::ConnectOpts::new(
            "127.0.0.1:1".parse().expect("addr"),
        ));
        let mut st = CheckerState::for_probe(&tcp, sched(1, false), t0, Duration::ZERO);
        assert!(st.handle_timeout(t0));
        st.handle_result(t0, fail());
        assert!(!st.is_up());
        assert!(matches!(st.poll_event(), Some(CheckerEvent::Down { .. })));
        // Up again, then a failure: retried first.
        let t1 = t0 + Duration::from_secs(10);
        assert!(st.handle_timeout(t1));
        st.handle_result(t1, ok());
        assert!(st.is_up());
        let t2 = t1 + Duration::from_secs(10);
        assert!(st.handle_timeout(t2));
        st.handle_result(t2, fail());
        assert!(st.is_up(), "one retry before the verdict");
        // The other kinds keep retrying the first probe.
        let mut st = CheckerState::new(sched(1, false), t0, Duration::ZERO);
        assert!(st.handle_timeout(t0));
        st.handle_result(t0, fail());
        assert!(st.is_up(), "retried");
    }

    #[test]
    fn retry_zero_goes_down_at_once() {
        let (times, events, up) = simulate(sched(0, false), 0, vec![fail(), fail()]);
        assert_eq!(times, vec![0, 10]);
        assert!(!up);
        assert_eq!(
            events,
            vec![CheckerEvent::Down {
                reason: Failure::new("boom").into()
            }]
        );
        if let Some(CheckerEvent::Down { reason }) = events.first() {
            assert_eq!(reason.to_string(), "boom");
        }
    }

    #[test]
    fn retries_are_silent_without_log_all_failures() {
        let mut s = sched(1, false);
        s.log_all_failures = false;
        let (_, events, _) = simulate(s, 0, vec![fail(), fail()]);
        assert_eq!(events.len(), 1);
        assert!(matches!(events[0], CheckerEvent::Down { .. }));
    }

    #[test]
    fn dynamic_weight_changes_are_reported_once() {
        let w = |x| Ok(Success { weight: Some(x) });
        let (_, events, _) = simulate(sched(0, false), 0, vec![w(5), w(5), w(7)]);
        assert_eq!(
            events,
            vec![
                CheckerEvent::WeightChanged { weight: 5 },
                CheckerEvent::WeightChanged { weight: 7 }
            ]
        );
    }

    #[test]
    fn a_weightless_success_after_a_weight_resets_it_once() {
        let w = |x| Ok(Success { weight: Some(x) });
        let none = || Ok(Success { weight: None });
        let (_, events, _) = simulate(
            sched(0, false),
            0,
            vec![none(), w(10), none(), none(), w(4)],
        );
        assert_eq!(
            events,
            vec![
                CheckerEvent::WeightChanged { weight: 10 },
                CheckerEvent::WeightReset,
                CheckerEvent::WeightChanged { weight: 4 }
            ]
        );
    }

    #[test]
    fn defaults_schedule_drives() {
        let s = Schedule::defaults_for(CheckKind::Http);
        let (times, _, up) = simulate(s, 0, vec![fail(), fail()]);
        assert_eq!(times, vec![0, 3]);
        assert!(!up);
    }

    /// An HTTP_GET checker of three urls with `fast_recovery` as given.
    fn url_checker(s: Schedule, fast_recovery: bool, t0: Instant) -> CheckerState {
        CheckerState::new(s, t0, Duration::ZERO).pacing_urls(3, fast_recovery)
    }

    /// Up from the start; /b fails through its retries (down), fails once more, passes;
    /// then the full pass /a /b /c brings the checker up.
    fn down_and_recover() -> Vec<ProbeResult> {
        let mut r = vec![ok(), ok(), ok(), ok()];
        r.extend([fail(), fail(), fail(), fail()]);
        r.extend([ok(), ok(), ok(), ok(), ok()]);
        r
    }

    /// The indexes of the runs whose result produced `Up` / `Down`.
    fn verdicts(runs: &[Run]) -> (Vec<usize>, Vec<usize>) {
        let with = |f: fn(&CheckerEvent) -> bool| -> Vec<usize> {
            let hit = |(i, r): (usize, &Run)| r.events.iter().any(f).then_some(i);
            runs.iter().enumerate().filter_map(hit).collect()
        };
        (
            with(|e| matches!(e, CheckerEvent::Up { .. })),
            with(|e| matches!(e, CheckerEvent::Down { .. })),
        )
    }

    #[test]
    fn url_checker_checks_one_url_per_probe() {
        let t0 = Instant::now();
        let mut st = url_checker(sched(2, false), false, t0);
        let runs = drive(&mut st, t0, down_and_recover());
        let urls: Vec<usize> = runs.iter().map(|r| r.url).collect();
        assert_eq!(urls, vec![0, 1, 2, 0, 1, 1, 1, 1, 1, 0, 1, 2, 0]);
        let times: Vec<u64> = runs.iter().map(|r| r.at).collect();
        assert_eq!(
            times,
            vec![0, 10, 20, 30, 40, 42, 44, 54, 64, 74, 84, 94, 104]
        );
        // Down when /b's retries are exhausted; the passes of /b, /a and /b after it leave it
        // down; up when /c completes the pass.
        assert_eq!(verdicts(&runs), (vec![11], vec![6]));
        assert!(st.is_up());
    }

    #[test]
    fn fast_recovery_checks_the_next_url_at_once_only_while_recovering() {
        let t0 = Instant::now();
        let mut st = url_checker(sched(2, false), true, t0);
        let runs = drive(&mut st, t0, down_and_recover());
        let urls: Vec<usize> = runs.iter().map(|r| r.url).collect();
        assert_eq!(urls, vec![0, 1, 2, 0, 1, 1, 1, 1, 1, 0, 1, 2, 0]);
        let times: Vec<u64> = runs.iter().map(|r| r.at).collect();
        // The first pass at once; up: one url per delay_loop; retries after
        // delay_before_retry; down: the failed url after delay_loop, then at once.
        assert_eq!(times, vec![0, 0, 0, 10, 20, 22, 24, 34, 44, 44, 44, 44, 54]);
        assert_eq!(verdicts(&runs), (vec![11], vec![6]));
    }

    #[test]
    fn alpha_url_checker_comes_up_after_the_whole_first_pass() {
        let t0 = Instant::now();
        let mut st = url_checker(sched(1, true), false, t0);
        assert!(!st.is_up());
        let runs = drive(&mut st, t0, vec![ok(), ok(), ok()]);
        assert_eq!(
            runs.iter().map(|r| r.url).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(verdicts(&runs), (vec![2], vec![]));
        assert!(st.is_up());
    }

    #[test]
    fn for_probe_paces_http_urls_only() {
        use crate::http::{HttpParams, UrlCheck};
        use crate::net::ConnectOpts;
        let t0 = Instant::now();
        let target = "127.0.0.1:80".parse().expect("addr");
        let mut p = HttpParams::new(
            ConnectOpts::new(target),
            vec![UrlCheck::new("/a"), UrlCheck::new("/b")],
        );
        p.fast_recovery = true;
        let mut http =
            CheckerState::for_probe(&Probe::Http(p), sched(1, false), t0, Duration::ZERO);
        let runs = drive(&mut http, t0, vec![ok(), ok(), ok()]);
        assert_eq!(
            runs.iter().map(|r| (r.at, r.url)).collect::<Vec<_>>(),
            vec![(0, 0), (0, 1), (10, 0)]
        );
        let tcp = Probe::Tcp(ConnectOpts::new(target));
        let mut st = CheckerState::for_probe(&tcp, sched(1, false), t0, Duration::ZERO);
        let runs = drive(&mut st, t0, vec![ok(), ok()]);
        assert_eq!(
            runs.iter().map(|r| (r.at, r.url)).collect::<Vec<_>>(),
            vec![(0, 0), (10, 0)]
        );
    }
}
