//! The per-checker scheduling state machine, free of I/O and of the system clock.
//!
//! Polling contract: call [`CheckerState::poll_timeout`] to learn when to wake; at that instant
//! call [`CheckerState::handle_timeout`], which returns `true` when a probe must start; when the
//! probe ends, hand its result to [`CheckerState::handle_result`]; then drain
//! [`CheckerState::poll_event`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::outcome::ProbeResult;
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
        /// The reason given by the probe that took it down.
        reason: String,
    },
    /// A probe failed while the checker is up and a retry is scheduled (only reported with
    /// `log_all_failures`).
    Retrying {
        /// The probe's reason.
        reason: String,
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
}

/// The scheduling and verdict state of one checker.
#[derive(Debug, Clone)]
pub struct CheckerState {
    schedule: Schedule,
    up: bool,
    has_run: bool,
    retries_done: u32,
    next_probe: Instant,
    in_flight: bool,
    weight: Option<i64>,
    last_failure: Option<String>,
    events: VecDeque<CheckerEvent>,
}

impl CheckerState {
    /// A checker created at `now` whose first probe starts after `start_delay` (pass
    /// [`Schedule::random_warmup`] in production). With `alpha` it starts down, else up.
    pub fn new(schedule: Schedule, now: Instant, start_delay: Duration) -> Self {
        let up = !schedule.alpha;
        CheckerState {
            schedule,
            up,
            has_run: false,
            retries_done: 0,
            next_probe: now + start_delay,
            in_flight: false,
            weight: None,
            last_failure: None,
            events: VecDeque::new(),
        }
    }

    /// Whether the checker currently passes.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// The last weight reported by a dynamic checker.
    pub fn weight(&self) -> Option<i64> {
        self.weight
    }

    /// The reason of the last failed probe, if the last probe failed.
    pub fn last_failure(&self) -> Option<&str> {
        self.last_failure.as_deref()
    }

    /// The schedule in use.
    pub fn schedule(&self) -> &Schedule {
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
        // in alpha mode: the retries apply, then the verdict is settled.
        let counts_retries = self.up || !self.has_run;
        self.has_run = true;
        match result {
            Ok(success) => {
                self.retries_done = 0;
                self.last_failure = None;
                self.next_probe = now + self.schedule.delay_loop;
                if let Some(w) = success.weight {
                    if self.weight != Some(w) {
                        self.weight = Some(w);
                        self.events
                            .push_back(CheckerEvent::WeightChanged { weight: w });
                    }
                }
                if !self.up {
                    self.up = true;
                    self.events.push_back(CheckerEvent::Up {
                        reason: "check succeeded".to_string(),
                    });
                }
            }
            Err(failure) => {
                self.last_failure = Some(failure.reason.clone());
                if counts_retries && self.retries_done < self.schedule.retry {
                    self.retries_done += 1;
                    self.next_probe = now + self.schedule.delay_before_retry;
                    if self.schedule.log_all_failures {
                        self.events.push_back(CheckerEvent::Retrying {
                            reason: failure.reason,
                            attempt: self.retries_done,
                            retry: self.schedule.retry,
                        });
                    }
                } else {
                    self.retries_done = 0;
                    self.next_probe = now + self.schedule.delay_loop;
                    if self.up {
                        self.up = false;
                        let reason = if self.schedule.retry > 0 {
                            format!("{} (after {} retries)", failure.reason, self.schedule.retry)
                        } else {
                            failure.reason
                        };
                        self.events.push_back(CheckerEvent::Down { reason });
                    }
                }
            }
        }
    }

    /// The next event to act on, oldest first.
    pub fn poll_event(&mut self) -> Option<CheckerEvent> {
        self.events.pop_front()
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

    /// Drives the state machine on a virtual clock: at each wake-up, the probe result is taken
    /// from `results`; returns the probe instants (seconds from start) and the events.
    fn simulate(
        s: Schedule,
        start_delay: u64,
        results: Vec<ProbeResult>,
    ) -> (Vec<u64>, Vec<CheckerEvent>, bool) {
        let t0 = Instant::now();
        let mut st = CheckerState::new(s, t0, Duration::from_secs(start_delay));
        let mut times = Vec::new();
        let mut events = Vec::new();
        for r in results {
            let now = st.poll_timeout().expect("idle");
            assert!(!st.handle_timeout(now - Duration::from_millis(1)));
            assert!(st.handle_timeout(now));
            assert_eq!(st.poll_timeout(), None);
            times.push((now - t0).as_secs());
            st.handle_result(now, r);
            while let Some(e) = st.poll_event() {
                events.push(e);
            }
        }
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
    fn alpha_failures_retry_then_settle_without_a_down_event() {
        let (times, events, up) = simulate(sched(1, true), 0, vec![fail(), fail(), fail()]);
        assert_eq!(times, vec![0, 2, 12]);
        assert!(!up);
        assert!(events
            .iter()
            .all(|e| !matches!(e, CheckerEvent::Down { .. })));
    }

    #[test]
    fn retry_zero_goes_down_at_once() {
        let (times, events, up) = simulate(sched(0, false), 0, vec![fail(), fail()]);
        assert_eq!(times, vec![0, 10]);
        assert!(!up);
        assert_eq!(
            events,
            vec![CheckerEvent::Down {
                reason: "boom".into()
            }]
        );
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
    fn defaults_schedule_drives() {
        let s = Schedule::defaults_for(CheckKind::Http);
        let (times, _, up) = simulate(s, 0, vec![fail(), fail()]);
        assert_eq!(times, vec![0, 3]);
        assert!(!up);
    }
}
