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
use crate::probe::{CheckKind, Probe};
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
    /// An HTTP_GET / SSL_GET url passed while the checker is not up (down, or before its
    /// first verdict); reported only by a state made to ([`CheckerState::report_url_passes`]).
    /// Changes no verdict: keepalived 2.2.7 logs a success line for each such url, before
    /// the checker's `Up` when that url completes a pass.
    UrlPassed {
        /// The url's index in the checker's urls.
        url: usize,
        /// Its response's body was not as long as its `Content-Length` said: keepalived
        /// logs that under `-D`, before the url's success line (`http-misbehaving.log`).
        length_mismatch: Option<crate::outcome::LengthMismatch>,
    },
    /// The probe could not run: its socket could not be set up as configured
    /// ([`Reason::SetUp`]: `fwmark`, `bind_if`, `bindto` refused). For a TCP_CHECK, HTTP_GET,
    /// SSL_GET, SMTP_CHECK or DNS_CHECK nothing changes (no failure, no retry) and the next
    /// probe comes a `delay_loop` later, as keepalived 2.2.7 reschedules them ("Checker bind
    /// failed: ...", "TCP socket bind failed. Rescheduling."): a `bindto` address not (yet) on
    /// the director leaves the real servers as they were.
    NotRun {
        /// Why.
        reason: Failure,
    },
}

/// Why a checker went down: the failure of its last probe and the retries before it. It
/// prints as logged: the failure's words, then `(after N retries)` when there were some.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownReason {
    /// The last probe's failure.
    pub failure: Failure,
    /// How many retries failed before it: the configured `retry`; 0 for a first probe that
    /// is settled at once, except for HTTP_GET/SSL_GET and MISC_CHECK, whose first probe
    /// keepalived 2.2.7 settles at once but words with the configured count.
    pub retries: u32,
    /// The verdict came from the checker's very first probe (no probe had run before it):
    /// keepalived 2.2.7 logs the down line of an `alpha` checker's first failing verdict
    /// then, and only then (`tests/data/alpha-first-*.log` of the daemon).
    pub first_probe: bool,
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
            first_probe: false,
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

/// What only some checkers hold, or hold only for a while: boxed in the state, which is a
/// null pointer for a checker that has none of it (a passing TCP_CHECK, the common case).
#[derive(Debug, Clone, Default)]
struct Extra {
    /// HTTP_GET / SSL_GET: one url per probe.
    urls: Option<UrlPacing>,
    /// The last weight reported by a dynamic checker.
    weight: Option<i64>,
    /// The failure of the last probe, while the last probe failed.
    last_failure: Option<Failure>,
    /// Events waiting for [`CheckerState::poll_event`], oldest first; a probe queues at
    /// most two: a weight change or a url pass, and a verdict.
    events: Vec<CheckerEvent>,
}

impl Extra {
    /// Whether the box can go.
    fn is_empty(&self) -> bool {
        self.urls.is_none()
            && self.weight.is_none()
            && self.last_failure.is_none()
            && self.events.is_empty()
    }
}

/// The checker passes.
const UP: u16 = 1;
/// A probe has finished.
const HAS_RUN: u16 = 1 << 1;
/// `retry` applies to the very first probe. keepalived 2.2.7 (observed) settles a first
/// failing TCP_CHECK, UDP_CHECK, PING_CHECK, DNS_CHECK, HTTP_GET, SSL_GET or MISC_CHECK at
/// once at start (the MISC_CHECK's next run comes a `delay_loop` later, alpha or not:
/// `alpha-first-timing.log` of the daemon); SMTP_CHECK retries it.
const RETRY_FIRST_RUN: u16 = 1 << 2;
/// A probe is running.
const IN_FLIGHT: u16 = 1 << 3;
/// A verdict (Up or Down) was reported: an `alpha` checker that starts down reports its
/// first failed verdict once, as keepalived 2.2.7 runs `notify_down` then.
const VERDICT_GIVEN: u16 = 1 << 4;
/// Report [`CheckerEvent::UrlPassed`].
const REPORT_URL_PASSES: u16 = 1 << 5;
/// A verdict settled at once is worded with the configured `retry` ("failed after N
/// retries"), as one settled after its retries: keepalived 2.2.7's HTTP_GET, SSL_GET and
/// MISC_CHECK word every down verdict with their `retry` (`http-recovery2.log`, 8610;
/// `alpha-first-timing.log`: "failed after 1 retry" from a single run; a two-url HTTP_GET
/// whose first url passed and second failed at start, settled at once: "failed after 1
/// retries.", observed in the VM; keepalived's `epilog` and MISC_CHECK's line print the
/// configured count).
const FIRST_WORDED_WITH_RETRY: u16 = 1 << 6;
/// A failure of a down checker retries too (silently), as one of an up checker does:
/// keepalived 2.2.7's TCP_CHECK and SMTP_CHECK, observed in the VM (`delay_loop 4`,
/// `retry 1`, `delay_before_retry 1`, a closed port: probes at 5.7 6.7 10.7 11.7 ... s while
/// down, at start or added by a reload, alpha or not; with `retry 2` three probes a cycle).
/// UDP_CHECK, PING_CHECK, DNS_CHECK, MISC_CHECK and HTTP_GET/SSL_GET probe once a cycle while
/// down.
const RETRY_WHILE_DOWN: u16 = 1 << 7;
/// While down, the next probe after a failure comes `delay_before_retry` later: keepalived
/// 2.2.7's `alpha` MISC_CHECK, HTTP_GET or SSL_GET that a reload creates, with `retry` 1 or
/// more (observed in the VM: every `delay_before_retry` for as long as it fails, silent after
/// its first retry's line; `alpha-first-timing-probes.txt` 9312/9313). Cleared by a success.
const DOWN_PACED_BY_RETRY: u16 = 1 << 8;
/// An `alpha` checker of this kind that a reload creates does not retry its first failure
/// ([`CheckerState::retry_first_probe`] leaves it): keepalived 2.2.7's UDP_CHECK and
/// PING_CHECK (observed in the VM, `delay_loop 4`, `retry 1`: a closed or silent UDP port,
/// an address nobody answers, probed 3.0 7.0 11.0 ... s after the SIGHUP where the same
/// checkers without `alpha` are retried at once).
const ALPHA_RELOAD_NO_RETRY: u16 = 1 << 9;
/// The first failure, settled at once, is told as a retried one ([`DownReason::first_probe`]
/// false): such an `alpha` UDP_CHECK/PING_CHECK with `retry` above 0 logs nothing for it, as
/// keepalived (`alpha-first.log`, 9111/9131), where `retry 0` logs its down line.
const FIRST_TOLD_AS_RETRIED: u16 = 1 << 10;
/// A probe whose socket cannot be set up ([`Reason::SetUp`]) does not count: it is reported
/// as [`CheckerEvent::NotRun`] and runs again a `delay_loop` later, the verdict and the
/// retries as they were (keepalived 2.2.7's TCP_CHECK, HTTP_GET, SSL_GET, SMTP_CHECK and
/// DNS_CHECK: `connect_error` reschedules; its UDP_CHECK fails).
const SET_UP_FAILURE_RESCHEDULES: u16 = 1 << 11;

/// keepalived 2.2.7's retry rules for a checker of `kind`, as flags (each flag's doc says
/// what was observed): which kinds retry a first failure at start ([`RETRY_FIRST_RUN`]),
/// word a first failure with their `retry` ([`FIRST_WORDED_WITH_RETRY`]), retry while down
/// ([`RETRY_WHILE_DOWN`]), or leave an `alpha` checker a reload creates unretried
/// ([`ALPHA_RELOAD_NO_RETRY`]).
fn kind_rules(kind: CheckKind) -> u16 {
    match kind {
        CheckKind::Tcp => RETRY_WHILE_DOWN | SET_UP_FAILURE_RESCHEDULES,
        CheckKind::Smtp => RETRY_FIRST_RUN | RETRY_WHILE_DOWN | SET_UP_FAILURE_RESCHEDULES,
        CheckKind::Udp | CheckKind::Ping => ALPHA_RELOAD_NO_RETRY,
        CheckKind::Dns => SET_UP_FAILURE_RESCHEDULES,
        CheckKind::Http | CheckKind::Ssl => FIRST_WORDED_WITH_RETRY | SET_UP_FAILURE_RESCHEDULES,
        CheckKind::Misc => FIRST_WORDED_WITH_RETRY,
        CheckKind::File | CheckKind::Bfd => RETRY_FIRST_RUN,
    }
}

/// The origin of the checkers' instants, fixed at its first use in the process.
static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

/// An instant as signed nanoseconds from [`EPOCH`] (8 bytes where an `Instant` takes 16),
/// exact both ways; saturates 292 years away. The pool's due queue keeps these ticks too.
pub(crate) fn tick(at: Instant) -> i64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    match at.checked_duration_since(epoch) {
        Some(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        None => {
            let before = epoch.saturating_duration_since(at).as_nanos();
            i64::try_from(before).map_or(i64::MIN, |b| -b)
        }
    }
}

/// The instant of a [`tick`].
pub(crate) fn instant(tick: i64) -> Instant {
    let epoch = *EPOCH.get_or_init(Instant::now);
    let offset = Duration::from_nanos(tick.unsigned_abs());
    let at = if tick >= 0 {
        epoch.checked_add(offset)
    } else {
        epoch.checked_sub(offset)
    };
    at.unwrap_or(epoch)
}

/// `at` plus `delay`, as ticks (saturating).
fn tick_after(at: Instant, delay: Duration) -> i64 {
    tick(at).saturating_add(i64::try_from(delay.as_nanos()).unwrap_or(i64::MAX))
}

/// The scheduling and verdict state of one checker.
///
/// Kept small (a pool holds one per checker, tens of thousands of them; 32 bytes): the
/// schedule is shared with every checker of the same timing, the next probe's instant is
/// 8 bytes of ticks, the flags two bytes, and what only some checkers hold (url pacing,
/// dynamic weight, last failure, waiting events) one box that exists only while needed.
#[derive(Debug, Clone)]
pub struct CheckerState {
    schedule: Arc<Schedule>,
    /// When the next probe is due ([`tick`]).
    next_probe: i64,
    /// `None` while empty (see [`Extra`]).
    extra: Option<Box<Extra>>,
    retries_done: u32,
    /// [`UP`], [`HAS_RUN`], [`RETRY_FIRST_RUN`], [`IN_FLIGHT`], [`VERDICT_GIVEN`],
    /// [`REPORT_URL_PASSES`], [`FIRST_WORDED_WITH_RETRY`],
    /// [`RETRY_WHILE_DOWN`], [`DOWN_PACED_BY_RETRY`], [`ALPHA_RELOAD_NO_RETRY`],
    /// [`FIRST_TOLD_AS_RETRIED`], [`SET_UP_FAILURE_RESCHEDULES`].
    flags: u16,
}

impl CheckerState {
    /// A checker created at `now` whose first probe starts after `start_delay` (pass
    /// [`Schedule::random_warmup`] in production). With `alpha` it starts down, else up.
    /// Pass an `Arc<Schedule>` to share one schedule between many checkers.
    pub fn new(schedule: impl Into<Arc<Schedule>>, now: Instant, start_delay: Duration) -> Self {
        let schedule = schedule.into();
        let up = if schedule.alpha { 0 } else { UP };
        CheckerState {
            schedule,
            next_probe: tick_after(now, start_delay),
            extra: None,
            retries_done: 0,
            flags: up | RETRY_FIRST_RUN,
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
        state.set(RETRY_FIRST_RUN, false);
        state.flags |= kind_rules(probe.kind());
        match probe {
            Probe::Http(p) => state.pacing_urls(p.urls.len(), p.fast_recovery),
            _ => state,
        }
    }

    /// Paces `count` urls, one per probe.
    fn pacing_urls(mut self, count: usize, fast_recovery: bool) -> Self {
        self.extra_mut().urls = Some(UrlPacing {
            cursor: UrlCursor::default(),
            count,
            fast_recovery,
            passed: false,
        });
        self
    }

    /// Makes an HTTP_GET / SSL_GET checker report each url passing while it is not up
    /// ([`CheckerEvent::UrlPassed`]); the other kinds have nothing to report.
    pub fn report_url_passes(&mut self) {
        self.set(REPORT_URL_PASSES, true);
    }

    /// Makes the first probe's failure count the retries whatever the checker's kind (see
    /// [`RETRY_FIRST_RUN`]): keepalived 2.2.7 settles a first failing TCP_CHECK at once at
    /// start, but retries it for a checker a reload creates (`tests/data/join-fresh*.log`,
    /// `join-fail*.log` of the daemon: "failed after 1 retries.").
    ///
    /// An `alpha` MISC_CHECK, HTTP_GET or SSL_GET with `retry` is also made to probe every
    /// `delay_before_retry` while it fails (see [`DOWN_PACED_BY_RETRY`]), as keepalived's
    /// checkers a reload creates do; an `alpha` UDP_CHECK or PING_CHECK is left settling its
    /// first failure at once, told as a retried one (see [`ALPHA_RELOAD_NO_RETRY`]).
    pub fn retry_first_probe(&mut self) {
        if self.schedule.alpha && self.has(ALPHA_RELOAD_NO_RETRY) {
            self.set(FIRST_TOLD_AS_RETRIED, self.schedule.retry > 0);
            return;
        }
        self.set(RETRY_FIRST_RUN, true);
        if self.schedule.alpha && self.schedule.retry > 0 && self.has(FIRST_WORDED_WITH_RETRY) {
            self.set(DOWN_PACED_BY_RETRY, true);
        }
    }

    /// Starts the checker down whatever its `alpha`, so that its first success is reported
    /// as an [`CheckerEvent::Up`] and its url passes before it (the daemon logs a checker's
    /// first success whether or not it started up, as keepalived does). Unlike forcing
    /// `alpha` in its schedule, the rules that follow keepalived's `alpha` (see
    /// [`retry_first_probe`](Self::retry_first_probe)) still see the configured one.
    pub fn start_down(&mut self) {
        self.set(UP, false);
    }

    /// Whether `flag` is set.
    fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    /// Sets or clears `flag`.
    fn set(&mut self, flag: u16, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    /// The extra state, made when missing.
    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Drops the extra state once it holds nothing.
    fn tidy(&mut self) {
        if self.extra.as_ref().is_some_and(|x| x.is_empty()) {
            self.extra = None;
        }
    }

    /// The url pacing of an HTTP_GET / SSL_GET checker.
    fn urls(&self) -> Option<&UrlPacing> {
        self.extra.as_ref()?.urls.as_ref()
    }

    /// The index of the url the next probe (or the one running) checks, for an HTTP_GET /
    /// SSL_GET checker made by [`CheckerState::for_probe`]; 0 for the other kinds.
    pub fn url(&self) -> usize {
        self.urls().map_or(0, |u| u.cursor.current())
    }

    /// Whether the checker currently passes.
    pub fn is_up(&self) -> bool {
        self.has(UP)
    }

    /// The last weight reported by a dynamic checker.
    pub fn weight(&self) -> Option<i64> {
        self.extra.as_ref()?.weight
    }

    /// The reason of the last failed probe, if the last probe failed.
    pub fn last_failure(&self) -> Option<&Failure> {
        self.extra.as_ref()?.last_failure.as_ref()
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
        (!self.has(IN_FLIGHT)).then(|| instant(self.next_probe))
    }

    /// [`poll_timeout`](Self::poll_timeout) as a [`tick`] (what the pool's due queue keeps).
    pub(crate) fn due_tick(&self) -> Option<i64> {
        (!self.has(IN_FLIGHT)).then_some(self.next_probe)
    }

    /// Advance the clock to `now`; returns `true` when a probe must start now.
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        self.handle_timeout_tick(tick(now))
    }

    /// [`handle_timeout`](Self::handle_timeout) at `now` given as a [`tick`].
    pub(crate) fn handle_timeout_tick(&mut self, now: i64) -> bool {
        if self.has(IN_FLIGHT) || now < self.next_probe {
            return false;
        }
        self.set(IN_FLIGHT, true);
        true
    }

    /// Record the result of the probe started by the last [`handle_timeout`](Self::handle_timeout)
    /// that returned `true`, finished at `now`.
    pub fn handle_result(&mut self, now: Instant, result: ProbeResult) {
        self.set(IN_FLIGHT, false);
        if let Err(f) = &result {
            if self.has(SET_UP_FAILURE_RESCHEDULES)
                && matches!(f.reason, crate::outcome::Reason::SetUp { .. })
            {
                self.next_probe = tick_after(now, self.schedule.delay_loop);
                self.push_event(CheckerEvent::NotRun { reason: f.clone() });
                return;
            }
        }
        let (up, has_run) = (self.has(UP), self.has(HAS_RUN));
        // Before the first probe has run, a failure counts as a failure of an up checker, even
        // in alpha mode: the retries apply (for the kinds that retry a first probe, see
        // `RETRY_FIRST_RUN`), then the verdict is settled.
        let counts_retries = (up || !has_run || self.has(RETRY_WHILE_DOWN))
            && (has_run || self.has(RETRY_FIRST_RUN));
        self.set(HAS_RUN, true);
        match result {
            Ok(success) => {
                self.retries_done = 0;
                self.set(DOWN_PACED_BY_RETRY, false);
                if let Some(x) = &mut self.extra {
                    x.last_failure = None;
                }
                // A url checker passes only when the last url of a pass does; a url before it
                // changes neither the verdict nor the down state.
                let delay_loop = self.schedule.delay_loop;
                let urls = self.extra.as_mut().and_then(|x| x.urls.as_mut());
                let mut passed_url = None;
                let (step, delay) = match urls {
                    None => (UrlStep::PassComplete, delay_loop),
                    Some(u) => {
                        passed_url = Some(u.cursor.current());
                        let step = u.cursor.on_success(u.count);
                        let delay = UrlCursor::delay_after_success(
                            step,
                            up,
                            u.passed,
                            u.fast_recovery,
                            delay_loop,
                        );
                        u.passed |= step == UrlStep::PassComplete;
                        (step, delay)
                    }
                };
                self.next_probe = tick_after(now, delay);
                match success.weight {
                    Some(w) if self.weight() != Some(w) => {
                        self.extra_mut().weight = Some(w);
                        self.push_event(CheckerEvent::WeightChanged { weight: w });
                    }
                    None if self.weight().is_some() => {
                        self.extra_mut().weight = None;
                        self.push_event(CheckerEvent::WeightReset);
                    }
                    _ => {}
                }
                let telling = !up;
                if let Some(url) = passed_url.filter(|_| telling && self.has(REPORT_URL_PASSES)) {
                    self.push_event(CheckerEvent::UrlPassed {
                        url,
                        length_mismatch: success.length_mismatch,
                    });
                }
                if step == UrlStep::PassComplete && telling {
                    self.set(UP, true);
                    self.set(VERDICT_GIVEN, true);
                    self.push_event(CheckerEvent::Up {
                        reason: "check succeeded".to_string(),
                    });
                }
                self.tidy();
            }
            Err(failure) => {
                self.extra_mut().last_failure = Some(failure.clone());
                if counts_retries && self.retries_done < self.schedule.retry {
                    self.retries_done += 1;
                    self.next_probe = tick_after(now, self.schedule.delay_before_retry);
                    // The retries of a down checker are silent (RETRY_WHILE_DOWN).
                    if self.schedule.log_all_failures && (up || !has_run) {
                        self.push_event(CheckerEvent::Retrying {
                            reason: failure,
                            attempt: self.retries_done,
                            retry: self.schedule.retry,
                        });
                    }
                } else {
                    let mut retried = std::mem::take(&mut self.retries_done);
                    let mut delay = self.schedule.delay_loop;
                    if let Some(u) = self.extra.as_mut().and_then(|x| x.urls.as_mut()) {
                        u.cursor.on_failure();
                        delay =
                            UrlCursor::delay_after_failure(delay, self.schedule.delay_before_retry);
                    }
                    // A verdict settled at once still counts the configured `retry` for
                    // some kinds (see FIRST_WORDED_WITH_RETRY).
                    if self.has(FIRST_WORDED_WITH_RETRY) {
                        retried = self.schedule.retry;
                    }
                    if !up && self.has(DOWN_PACED_BY_RETRY) {
                        delay = self.schedule.delay_before_retry;
                    }
                    self.next_probe = tick_after(now, delay);
                    if up || !self.has(VERDICT_GIVEN) {
                        self.set(UP, false);
                        self.set(VERDICT_GIVEN, true);
                        if failure.drops_dynamic_weight() {
                            // Dropped with the verdict (the director does the same): the next
                            // weight reported is a change again, even the same one.
                            if let Some(x) = self.extra.as_mut() {
                                x.weight = None;
                            }
                        }
                        let reason = DownReason {
                            failure,
                            retries: retried,
                            first_probe: !has_run && !self.has(FIRST_TOLD_AS_RETRIED),
                        };
                        self.push_event(CheckerEvent::Down { reason });
                    }
                }
            }
        }
    }

    /// The next event to act on, oldest first.
    pub fn poll_event(&mut self) -> Option<CheckerEvent> {
        let x = self.extra.as_mut()?;
        if x.events.is_empty() {
            return None;
        }
        // At most two events wait: removing the first shifts at most one.
        let first = x.events.remove(0);
        if x.events.is_empty() {
            // Its room goes with it (a checker holds it only between a result and its events'
            // polling).
            x.events = Vec::new();
            self.tidy();
        }
        Some(first)
    }

    /// Queues an event for [`poll_event`](Self::poll_event).
    fn push_event(&mut self, event: CheckerEvent) {
        let events = &mut self.extra_mut().events;
        if events.capacity() == 0 {
            events.reserve_exact(2);
        }
        events.push(event);
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
    fn ticks_give_back_the_exact_instant_on_either_side_of_the_epoch() {
        let now = Instant::now();
        let epoch = *EPOCH.get_or_init(Instant::now);
        for at in [
            now,
            epoch,
            epoch + Duration::from_nanos(1),
            now + Duration::from_secs(86_400 * 365),
        ] {
            assert_eq!(instant(tick(at)), at);
        }
        // Instants before the epoch (a caller's clock read before the first checker).
        if let Some(before) = epoch.checked_sub(Duration::from_millis(1500)) {
            assert_eq!(tick(before), -1_500_000_000);
            assert_eq!(instant(tick(before)), before);
        }
        // A delay beyond any clock saturates instead of overflowing.
        assert_eq!(tick_after(now, Duration::MAX), i64::MAX);
    }

    #[test]
    fn a_state_is_small_and_its_box_exists_only_while_needed() {
        assert_eq!(std::mem::size_of::<CheckerState>(), 32);
        let t0 = Instant::now();
        let mut st = CheckerState::new(sched(0, false), t0, Duration::ZERO);
        assert!(st.extra.is_none());
        assert!(st.handle_timeout(t0));
        st.handle_result(t0, fail());
        assert!(st.last_failure().is_some());
        assert!(matches!(st.poll_event(), Some(CheckerEvent::Down { .. })));
        assert!(st.extra.is_some(), "the failure is kept");
        let t1 = st.poll_timeout().expect("due");
        assert!(st.handle_timeout(t1));
        st.handle_result(t1, ok());
        assert!(matches!(st.poll_event(), Some(CheckerEvent::Up { .. })));
        assert!(st.poll_event().is_none());
        assert!(st.extra.is_none(), "nothing left to keep: {:?}", st.extra);
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
                    retries: 1,
                    first_probe: false,
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
        // very first probe is down at once; SMTP_CHECK retries it; once a TCP_CHECK has run,
        // its retries apply again.
        let t0 = Instant::now();
        let tcp = Probe::Tcp(crate::net::ConnectOpts::new(
            "127.0.0.1:1".parse().expect("addr"),
        ));
        let mut st = CheckerState::for_probe(&tcp, sched(1, false), t0, Duration::ZERO);
        assert!(st.handle_timeout(t0));
        st.handle_result(t0, fail());
        assert!(!st.is_up());
        assert!(matches!(
            st.poll_event(),
            Some(CheckerEvent::Down { reason }) if reason.first_probe && reason.retries == 0
        ));
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
    fn a_first_failing_misc_probe_is_settled_at_once_but_worded_with_the_retries() {
        // keepalived 2.2.7 (alpha-first-timing.log of the daemon, retry 1): a MISC_CHECK
        // failing its first run at start, alpha or not, says "failed after 1 retry" at once
        // and runs next a delay_loop later; an SMTP_CHECK retries its first probe.
        let t0 = Instant::now();
        let misc = crate::misc::MiscParams::new(vec!["/bin/false".into()], Duration::from_secs(1))
            .expect("params");
        let misc = Probe::Misc(misc);
        for alpha in [false, true] {
            let mut st = CheckerState::for_probe(&misc, sched(1, alpha), t0, Duration::ZERO);
            let runs = drive(&mut st, t0, vec![fail(), fail()]);
            assert_eq!(runs.iter().map(|r| r.at).collect::<Vec<_>>(), [0, 10]);
            let down = DownReason {
                failure: Failure::new("boom"),
                retries: 1,
                first_probe: true,
            };
            assert_eq!(runs[0].events, [CheckerEvent::Down { reason: down }]);
            assert!(runs[1].events.is_empty(), "nothing while down");
        }
        let smtp = Probe::Smtp(crate::smtp::SmtpParams::new(crate::net::ConnectOpts::new(
            "127.0.0.1:25".parse().expect("addr"),
        )));
        let mut st = CheckerState::for_probe(&smtp, sched(1, true), t0, Duration::ZERO);
        let runs = drive(&mut st, t0, vec![fail(), fail()]);
        assert_eq!(runs.iter().map(|r| r.at).collect::<Vec<_>>(), [0, 2]);
        assert!(
            matches!(&runs[1].events[..], [CheckerEvent::Down { reason }]
                if reason.retries == 1 && !reason.first_probe),
            "{:?}",
            runs[1].events
        );
    }

    #[test]
    fn a_socket_that_cannot_be_set_up_changes_nothing_but_udp_fails() {
        // keepalived 2.2.7: a TCP_CHECK/HTTP_GET/SSL_GET/SMTP_CHECK/DNS_CHECK whose bindto is
        // refused logs "Checker bind failed: ..." and runs again a delay_loop later, its
        // verdict and retries untouched (the Debian SMTP_CHECK sample in the VM); a
        // UDP_CHECK counts it as a failure.
        use crate::outcome::{IoCause, Reason, SetUpStep};
        let set_up = || {
            Err(Failure::from(Reason::SetUp {
                step: SetUpStep::Bind("192.0.2.1:0".parse().expect("addr")),
                cause: IoCause::Os(99),
            }))
        };
        let t0 = Instant::now();
        let addr = || crate::net::ConnectOpts::new("127.0.0.1:1".parse().expect("addr"));
        let tcp = Probe::Tcp(addr());
        let mut st = CheckerState::for_probe(&tcp, sched(1, false), t0, Duration::ZERO);
        let runs = drive(&mut st, t0, vec![ok(), set_up(), fail(), set_up(), fail()]);
        assert_eq!(
            runs.iter().map(|r| r.at).collect::<Vec<_>>(),
            [0, 10, 20, 22, 32],
            "delay_loop after each, the retry kept across one"
        );
        assert!(matches!(&runs[1].events[..], [CheckerEvent::NotRun { .. }]));
        assert!(matches!(&runs[3].events[..], [CheckerEvent::NotRun { .. }]));
        assert!(matches!(
            &runs[2].events[..],
            [CheckerEvent::Retrying { .. }]
        ));
        assert!(matches!(&runs[4].events[..], [CheckerEvent::Down { .. }]));
        let udp = Probe::Udp(crate::udp::UdpParams::new(addr()));
        let mut st = CheckerState::for_probe(&udp, sched(0, false), t0, Duration::ZERO);
        let runs = drive(&mut st, t0, vec![set_up()]);
        assert!(matches!(&runs[0].events[..], [CheckerEvent::Down { .. }]));
    }

    #[test]
    fn tcp_and_smtp_checkers_retry_while_down_the_others_probe_once_a_cycle() {
        // keepalived 2.2.7 in the VM (delay_loop 4, retry 1 or 2, delay_before_retry 1, a
        // closed port, log_all_failures): a TCP_CHECK down from its first probe probes at
        // 5.7 6.7 10.7 11.7 ... s (retry 2: 10.6 11.6 12.6 17.6 ...), silently; SMTP_CHECK
        // the same; UDP_CHECK, PING_CHECK and DNS_CHECK every delay_loop.
        let t0 = Instant::now();
        let addr = || crate::net::ConnectOpts::new("127.0.0.1:1".parse().expect("addr"));
        let tcp = Probe::Tcp(addr());
        let smtp = Probe::Smtp(crate::smtp::SmtpParams::new(addr()));
        let udp = Probe::Udp(crate::udp::UdpParams::new(addr()));
        for (probe, retry, cycle) in [
            (&tcp, 1, vec![0, 10, 12, 22, 24]),
            (&tcp, 2, vec![0, 10, 12, 14, 24]),
            (&smtp, 1, vec![0, 2, 12, 14, 24]),
            (&udp, 1, vec![0, 10, 20, 30, 40]),
        ] {
            let mut st = CheckerState::for_probe(probe, sched(retry, false), t0, Duration::ZERO);
            let runs = drive(&mut st, t0, vec![fail(), fail(), fail(), fail(), fail()]);
            let kind = probe.kind();
            assert_eq!(
                runs.iter().map(|r| r.at).collect::<Vec<_>>(),
                cycle,
                "{kind:?}"
            );
            let told: Vec<_> = runs.iter().filter(|r| !r.events.is_empty()).collect();
            assert_eq!(
                told.len(),
                if kind == CheckKind::Smtp { 2 } else { 1 },
                "{kind:?}"
            );
            assert!(!st.is_up());
        }
        // A retry that passes while down brings the checker up.
        let mut st = CheckerState::for_probe(&tcp, sched(1, false), t0, Duration::ZERO);
        let runs = drive(&mut st, t0, vec![fail(), fail(), ok(), fail(), fail()]);
        assert_eq!(
            runs.iter().map(|r| r.at).collect::<Vec<_>>(),
            [0, 10, 12, 22, 24]
        );
        assert!(matches!(&runs[2].events[..], [CheckerEvent::Up { .. }]));
        // Up again, its failure is retried and told as an up checker's is.
        assert!(matches!(
            &runs[3].events[..],
            [CheckerEvent::Retrying { attempt: 1, .. }]
        ));
        assert!(matches!(
            &runs[4].events[..],
            [CheckerEvent::Down { reason }] if reason.retries == 1
        ));
    }

    #[test]
    fn an_alpha_misc_or_http_checker_a_reload_creates_probes_every_delay_before_retry_while_down() {
        // keepalived 2.2.7 in the VM (delay_loop 4, retry 1, delay_before_retry 1, alpha,
        // added by a reload, failing): MISC_CHECK, HTTP_GET and SSL_GET run every second for as
        // long as they fail, with their first retry's line only; retry 0 or no alpha: every
        // delay_loop once down.
        let t0 = Instant::now();
        let misc = crate::misc::MiscParams::new(vec!["/bin/false".into()], Duration::from_secs(1))
            .expect("params");
        let misc = Probe::Misc(misc);
        let mut st = CheckerState::for_probe(&misc, sched(1, true), t0, Duration::ZERO);
        st.retry_first_probe();
        let runs = drive(
            &mut st,
            t0,
            vec![fail(), fail(), fail(), fail(), ok(), fail()],
        );
        assert_eq!(
            runs.iter().map(|r| r.at).collect::<Vec<_>>(),
            [0, 2, 4, 6, 8, 18]
        );
        assert!(matches!(
            &runs[0].events[..],
            [CheckerEvent::Retrying { attempt: 1, .. }]
        ));
        assert!(runs[2].events.is_empty() && runs[3].events.is_empty());
        assert!(matches!(&runs[4].events[..], [CheckerEvent::Up { .. }]));
        // Once it has passed, a failure is an up checker's again.
        assert!(matches!(
            &runs[5].events[..],
            [CheckerEvent::Retrying { attempt: 1, .. }]
        ));
        for (retry, alpha, reload) in [(0, true, true), (1, false, true), (1, true, false)] {
            let mut st = CheckerState::for_probe(&misc, sched(retry, alpha), t0, Duration::ZERO);
            if reload {
                st.retry_first_probe();
            }
            let runs = drive(&mut st, t0, vec![fail(), fail(), fail(), fail()]);
            let gaps: Vec<_> = runs.windows(2).map(|w| w[1].at - w[0].at).collect();
            assert_eq!(
                gaps.last(),
                Some(&10),
                "retry {retry} alpha {alpha} reload {reload}"
            );
        }
    }

    #[test]
    fn an_alpha_udp_or_ping_checker_a_reload_creates_settles_its_first_failure_at_once() {
        // keepalived 2.2.7 in the VM (delay_loop 4, retry 1, added by a reload): an alpha
        // UDP_CHECK or PING_CHECK probes 3.0 7.0 11.0 ... (no retry, nothing logged), without
        // alpha 4.8 5.8 9.8 ... (retried, "failed after 1 retries."); with retry 0 the alpha
        // one logs its down line as at start.
        let t0 = Instant::now();
        let udp = Probe::Udp(crate::udp::UdpParams::new(crate::net::ConnectOpts::new(
            "127.0.0.1:1".parse().expect("addr"),
        )));
        for (retry, alpha, at, first_probe) in [
            (1, true, vec![0, 10, 20], false),
            (0, true, vec![0, 10, 20], true),
            (1, false, vec![0, 2, 12], false),
        ] {
            let mut st = CheckerState::for_probe(&udp, sched(retry, alpha), t0, Duration::ZERO);
            st.retry_first_probe();
            let runs = drive(&mut st, t0, vec![fail(), fail(), fail()]);
            assert_eq!(
                runs.iter().map(|r| r.at).collect::<Vec<_>>(),
                at,
                "retry {retry}"
            );
            let downs: Vec<_> = runs
                .iter()
                .flat_map(|r| &r.events)
                .filter_map(|e| match e {
                    CheckerEvent::Down { reason } => Some(reason.first_probe),
                    _ => None,
                })
                .collect();
            assert_eq!(downs, [first_probe], "retry {retry} alpha {alpha}");
        }
    }

    #[test]
    fn a_checker_started_down_keeps_its_configured_alpha_for_the_reload_rules() {
        // The daemon starts every pooled checker down (start_down) to hear its first
        // success; a checker without alpha that a reload creates is still retried and paced
        // as keepalived's non-alpha one: UDP_CHECK retried (4.8 5.8 9.8 ...), MISC_CHECK
        // every delay_loop once down.
        let t0 = Instant::now();
        let udp = Probe::Udp(crate::udp::UdpParams::new(crate::net::ConnectOpts::new(
            "127.0.0.1:1".parse().expect("addr"),
        )));
        let misc = crate::misc::MiscParams::new(vec!["/bin/false".into()], Duration::from_secs(1))
            .expect("params");
        let misc = Probe::Misc(misc);
        for (probe, at) in [(&udp, [0, 2, 12, 22]), (&misc, [0, 2, 12, 22])] {
            let mut st = CheckerState::for_probe(probe, sched(1, false), t0, Duration::ZERO);
            st.start_down();
            assert!(!st.is_up());
            st.retry_first_probe();
            let runs = drive(&mut st, t0, vec![fail(), fail(), fail(), fail()]);
            assert_eq!(runs.iter().map(|r| r.at).collect::<Vec<_>>(), at);
        }
        // Its first success is told.
        let mut st = CheckerState::for_probe(&udp, sched(1, false), t0, Duration::ZERO);
        st.start_down();
        let runs = drive(&mut st, t0, vec![ok()]);
        assert!(matches!(&runs[0].events[..], [CheckerEvent::Up { .. }]));
    }

    #[test]
    fn a_checker_made_to_retry_its_first_probe_retries_it_whatever_its_kind() {
        // keepalived 2.2.7 (join-fresh.log): a TCP_CHECK a reload creates, retry 1, failing:
        // "failed after 1 retries.", where the same checker at start says "failed.".
        let t0 = Instant::now();
        let tcp = Probe::Tcp(crate::net::ConnectOpts::new(
            "127.0.0.1:1".parse().expect("addr"),
        ));
        for alpha in [false, true] {
            let mut st = CheckerState::for_probe(&tcp, sched(1, alpha), t0, Duration::ZERO);
            st.retry_first_probe();
            let runs = drive(&mut st, t0, vec![fail(), fail(), fail()]);
            assert_eq!(runs.iter().map(|r| r.at).collect::<Vec<_>>(), [0, 2, 12]);
            assert!(matches!(
                &runs[0].events[..],
                [CheckerEvent::Retrying { attempt: 1, .. }]
            ));
            assert!(
                matches!(&runs[1].events[..], [CheckerEvent::Down { reason }]
                    if reason.retries == 1 && !reason.first_probe),
                "alpha {alpha}: {:?}",
                runs[1].events
            );
            assert!(runs[2].events.is_empty(), "nothing while down");
        }
    }

    #[test]
    fn a_checker_started_down_reports_its_first_success_though_not_alpha() {
        let t0 = Instant::now();
        let mut st = CheckerState::new(sched(1, false), t0, Duration::ZERO);
        st.start_down();
        assert!(!st.is_up());
        let runs = drive(&mut st, t0, vec![ok(), ok(), fail(), fail(), ok()]);
        let events: Vec<Vec<CheckerEvent>> = runs.into_iter().map(|r| r.events).collect();
        let up = CheckerEvent::Up {
            reason: "check succeeded".into(),
        };
        assert_eq!(events[0], std::slice::from_ref(&up), "the first success");
        assert!(st.is_up());
        assert!(events[1].is_empty(), "once");
        assert!(matches!(&events[2][..], [CheckerEvent::Retrying { .. }]));
        assert!(matches!(&events[3][..], [CheckerEvent::Down { .. }]));
        assert_eq!(events[4], [up]);
        // A first failure settles the first verdict (told once, as a down): the recovery is
        // the one success told.
        let mut st = CheckerState::new(sched(0, false), t0, Duration::ZERO);
        st.start_down();
        let runs = drive(&mut st, t0, vec![fail(), fail(), ok(), ok()]);
        let count = |f: fn(&CheckerEvent) -> bool| {
            runs.iter().flat_map(|r| &r.events).filter(|e| f(e)).count()
        };
        assert_eq!(count(|e| matches!(e, CheckerEvent::Down { .. })), 1);
        assert_eq!(count(|e| matches!(e, CheckerEvent::Up { .. })), 1);
        assert!(runs[2]
            .events
            .iter()
            .any(|e| matches!(e, CheckerEvent::Up { .. })));
        // Left up (no `alpha`, not started down), a checker reports no success.
        let (_, events, up) = simulate(sched(1, false), 0, vec![ok(), ok()]);
        assert!(events.is_empty() && up);
    }

    #[test]
    fn a_url_checker_started_down_tells_its_url_passes_before_its_first_success() {
        let t0 = Instant::now();
        let mut st = reporting_http_checker(sched(0, false), 2, t0);
        st.start_down();
        let runs = drive(&mut st, t0, vec![ok(), ok(), ok(), ok()]);
        let url = |url| CheckerEvent::UrlPassed {
            url,
            length_mismatch: None,
        };
        assert_eq!(runs[0].events, [url(0)]);
        assert!(matches!(&runs[1].events[..], [u, CheckerEvent::Up { .. }] if *u == url(1)));
        assert!(runs[2].events.is_empty() && runs[3].events.is_empty());
    }

    #[test]
    fn a_url_checker_settled_at_once_after_a_url_passed_words_its_retry() {
        // Two urls, the first passing, the second failing, from the start (the pool starts
        // checkers down): settled at once, "failed after 1 retries." as keepalived 2.2.7.
        let t0 = Instant::now();
        let mut st = http_checker(sched(1, false), 2, false, t0);
        st.start_down();
        let runs = drive(&mut st, t0, vec![ok(), fail()]);
        assert!(
            matches!(&runs[1].events[..], [CheckerEvent::Down { reason }]
                if reason.retries == 1),
            "{:?}",
            runs[1].events
        );
    }

    /// An HTTP_GET checker of `urls` urls with `fast_recovery` as given, as the pool makes it
    /// (`for_probe`).
    fn http_checker(s: Schedule, urls: usize, fast_recovery: bool, t0: Instant) -> CheckerState {
        use crate::http::{HttpParams, UrlCheck};
        let target = "127.0.0.1:80".parse().expect("addr");
        let list = (0..urls).map(|i| UrlCheck::new(format!("/{i}"))).collect();
        let mut p = HttpParams::new(crate::net::ConnectOpts::new(target), list);
        p.fast_recovery = fast_recovery;
        CheckerState::for_probe(&Probe::Http(p), s, t0, Duration::ZERO)
    }

    /// [`http_checker`] reporting its url passes, as the daemon's pool makes it.
    fn reporting_http_checker(s: Schedule, urls: usize, t0: Instant) -> CheckerState {
        let mut st = http_checker(s, urls, false, t0);
        st.report_url_passes();
        st
    }

    #[test]
    fn a_first_failing_http_probe_is_settled_at_once_but_worded_with_the_retries() {
        // keepalived 2.2.7 (http-recovery2.log and its requests): 8610, retry 3, fails its
        // first request and is down at once, "failed after 3 retries."; the next request
        // comes max(delay_loop, delay_before_retry) later; retry 0 says "failed.".
        let t0 = Instant::now();
        let mut s = sched(3, false);
        s.delay_before_retry = Duration::from_secs(1);
        let mut st = reporting_http_checker(s, 1, t0);
        let runs = drive(&mut st, t0, vec![fail(), fail()]);
        assert_eq!(runs.iter().map(|r| r.at).collect::<Vec<_>>(), vec![0, 10]);
        let down = DownReason {
            failure: Failure::new("boom"),
            retries: 3,
            first_probe: true,
        };
        assert_eq!(runs[0].events, vec![CheckerEvent::Down { reason: down }]);
        assert!(runs[1].events.is_empty(), "nothing while down");
        let mut st = reporting_http_checker(sched(0, false), 1, t0);
        let runs = drive(&mut st, t0, vec![fail()]);
        assert!(
            matches!(&runs[0].events[..], [CheckerEvent::Down { reason }] if reason.retries == 0)
        );
        // Once it has run, an HTTP_GET retries as configured: two retries, two events each
        // under log_all_failures, then the verdict counting them.
        let mut st = reporting_http_checker(sched(2, false), 1, t0);
        let runs = drive(&mut st, t0, vec![ok(), fail(), fail(), fail()]);
        assert_eq!(
            runs.iter().map(|r| r.at).collect::<Vec<_>>(),
            vec![0, 10, 12, 14]
        );
        assert!(matches!(
            &runs[3].events[..],
            [CheckerEvent::Down { reason }] if reason.retries == 2
        ));
    }

    #[test]
    fn url_passes_are_reported_while_the_checker_is_not_up() {
        // http-recovery.log, 8609 (one url, retry 0): down, then the url passes twice (the
        // failed url, then a whole pass) and the checker is up: a url line each time, the
        // second before the checker's line. 8604 (/a /b, /b failing): /b, /a, /b.
        let t0 = Instant::now();
        let mut st = reporting_http_checker(sched(0, true), 1, t0);
        let runs = drive(&mut st, t0, vec![ok(), fail(), ok(), ok(), ok()]);
        let events: Vec<Vec<CheckerEvent>> = runs.into_iter().map(|r| r.events).collect();
        let up = || CheckerEvent::Up {
            reason: "check succeeded".into(),
        };
        let url0 = CheckerEvent::UrlPassed {
            url: 0,
            length_mismatch: None,
        };
        // alpha: the first pass is reported, then up; up: nothing per url.
        assert_eq!(events[0], vec![url0.clone(), up()]);
        assert!(matches!(&events[1][..], [CheckerEvent::Down { .. }]));
        assert_eq!(events[2], vec![url0.clone()]);
        assert_eq!(events[3], vec![url0, up()]);
        assert!(events[4].is_empty());

        let mut st = reporting_http_checker(sched(0, false), 2, t0);
        st.set(UP, true);
        let runs = drive(&mut st, t0, vec![ok(), fail(), ok(), ok(), ok(), ok()]);
        let passed: Vec<(usize, Vec<usize>)> = runs
            .iter()
            .map(|r| {
                let urls = r.events.iter().filter_map(|e| match e {
                    CheckerEvent::UrlPassed { url, .. } => Some(*url),
                    _ => None,
                });
                (r.url, urls.collect())
            })
            .collect();
        assert_eq!(
            passed,
            vec![
                (0, vec![]),
                (1, vec![]),
                (1, vec![1]),
                (0, vec![0]),
                (1, vec![1]),
                (0, vec![])
            ]
        );
        assert!(matches!(
            runs[4].events.last(),
            Some(CheckerEvent::Up { .. })
        ));
        // Not asked for: none.
        let mut quiet = http_checker(sched(0, true), 3, false, t0);
        let runs = drive(&mut quiet, t0, vec![ok(), ok(), ok()]);
        assert!(runs
            .iter()
            .flat_map(|r| &r.events)
            .all(|e| !matches!(e, CheckerEvent::UrlPassed { .. })));
    }

    /// A url's pass carries its body's length mismatch out while the checker is not up
    /// (keepalived's -D line, before the url's success line), and not once it is up
    /// (http-misbehaving.log: one line though 8702 was asked five times).
    #[test]
    fn a_url_pass_carries_its_length_mismatch() {
        let t0 = Instant::now();
        let short = crate::outcome::LengthMismatch {
            content_length: 100,
            received: 5,
        };
        let pass = || {
            Ok(Success {
                length_mismatch: Some(short),
                ..Success::default()
            })
        };
        let mut st = reporting_http_checker(sched(0, true), 1, t0);
        let runs = drive(&mut st, t0, vec![pass(), pass()]);
        let passed = CheckerEvent::UrlPassed {
            url: 0,
            length_mismatch: Some(short),
        };
        assert_eq!(runs[0].events.first(), Some(&passed));
        assert!(matches!(
            runs[0].events.get(1),
            Some(CheckerEvent::Up { .. })
        ));
        assert!(runs[1].events.is_empty());
    }

    #[test]
    fn retry_zero_goes_down_at_once() {
        let (times, events, up) = simulate(sched(0, false), 0, vec![fail(), fail()]);
        assert_eq!(times, vec![0, 10]);
        assert!(!up);
        assert_eq!(
            events,
            vec![CheckerEvent::Down {
                reason: DownReason {
                    first_probe: true,
                    ..Failure::new("boom").into()
                }
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
        let w = |x| Ok(Success::weighted(Some(x)));
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
        let w = |x| Ok(Success::weighted(Some(x)));
        let none = || Ok(Success::weighted(None));
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
    fn a_failing_exit_status_takes_the_dynamic_weight_back_but_a_timeout_does_not() {
        use crate::outcome::Reason;
        let w = |x| Ok(Success::weighted(Some(x)));
        let none = || Ok(Success::weighted(None));
        let exit1 = || Err(Failure::from(Reason::MiscExit { status: 1 }));
        let timeout = || {
            Err(Failure::from(Reason::MiscTimeout {
                program: "p".into(),
                after: Duration::from_secs(1),
            }))
        };
        let weights = |results| {
            let (_, events, _) = simulate(sched(0, false), 0, results);
            events
                .into_iter()
                .filter(|e| !matches!(e, CheckerEvent::Up { .. } | CheckerEvent::Down { .. }))
                .collect::<Vec<_>>()
        };
        // Exit 12, exit 1 (down: the weight goes with the verdict), exit 12: reported again;
        // exit 1, exit 0: nothing to take back.
        assert_eq!(
            weights(vec![w(10), exit1(), w(10), exit1(), none()]),
            [
                CheckerEvent::WeightChanged { weight: 10 },
                CheckerEvent::WeightChanged { weight: 10 },
            ]
        );
        // A timeout keeps it: the same weight after it is no change, none is a reset.
        assert_eq!(
            weights(vec![w(10), timeout(), w(10), timeout(), none()]),
            [
                CheckerEvent::WeightChanged { weight: 10 },
                CheckerEvent::WeightReset,
            ]
        );
        // A failure while already down keeps nothing to take back either: no event.
        let mut st = CheckerState::new(sched(0, false), Instant::now(), Duration::ZERO);
        let runs = drive(&mut st, Instant::now(), vec![w(10), exit1(), exit1()]);
        assert!(runs[2].events.is_empty());
        assert_eq!(st.weight(), None);
    }

    #[test]
    fn defaults_schedule_drives() {
        let s = Schedule::defaults_for(CheckKind::Http);
        let (times, _, up) = simulate(s, 0, vec![fail(), fail()]);
        assert_eq!(times, vec![0, 3]);
        assert!(!up);
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
        let mut st = http_checker(sched(2, false), 3, false, t0);
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
        let mut st = http_checker(sched(2, false), 3, true, t0);
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
    fn a_failed_url_checker_waits_the_longer_of_delay_loop_and_delay_before_retry() {
        // keepalived 2.2.7 (observed, see UrlCursor::delay_after_failure): after a failure
        // whose retries are exhausted, and after each failed run while down, an HTTP_GET
        // waits max(delay_loop, delay_before_retry); other kinds wait delay_loop.
        let mut s = sched(1, false);
        s.delay_loop = Duration::from_secs(2);
        s.delay_before_retry = Duration::from_secs(5);
        let t0 = Instant::now();
        let mut st = http_checker(s.clone(), 3, false, t0);
        let runs = drive(&mut st, t0, vec![fail(), fail(), fail(), ok()]);
        let times: Vec<u64> = runs.iter().map(|r| r.at).collect();
        // A first failure is settled at once (down at 0), then 5 s after each failed run.
        assert_eq!(times, vec![0, 5, 10, 15]);
        assert_eq!(verdicts(&runs), (vec![], vec![0]));
        // Once up, the retry after 5 s, down at 7, then 5 s after each failed run.
        let mut st = http_checker(s.clone(), 1, false, t0);
        let runs = drive(&mut st, t0, vec![ok(), fail(), fail(), fail(), ok()]);
        let times: Vec<u64> = runs.iter().map(|r| r.at).collect();
        assert_eq!(times, vec![0, 2, 7, 12, 17]);
        assert_eq!(verdicts(&runs), (vec![], vec![2]));
        let mut plain = CheckerState::new(s, t0, Duration::ZERO);
        let runs = drive(&mut plain, t0, vec![fail(), fail(), fail()]);
        let times: Vec<u64> = runs.iter().map(|r| r.at).collect();
        assert_eq!(times, vec![0, 5, 7]);
    }

    #[test]
    fn alpha_url_checker_comes_up_after_the_whole_first_pass() {
        let t0 = Instant::now();
        let mut st = http_checker(sched(1, true), 3, false, t0);
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
