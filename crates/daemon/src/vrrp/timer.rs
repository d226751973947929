//! The engine's wake-up timer and its index of per-unit deadlines.
//!
//! tokio's timer wheel has a 1 ms resolution and rounds every deadline up to the next tick, so
//! a master-down timer fired through `tokio::time::sleep_until` is 1-2 ms late (measured:
//! bench/vrrp). [`WakeTimer`] arms a `timerfd` on CLOCK_MONOTONIC (the clock behind
//! [`Instant`]) with an absolute deadline instead, which fires within the kernel's timer slack
//! (50 µs by default); it falls back to tokio's timer if a timerfd cannot be created.
//!
//! [`Deadlines`] keeps every unit's next deadline in an ordered set, so that with a thousand
//! instances advertising every 100 ms the engine neither rescans every unit to find the next
//! wake-up nor to find the units that are due.

use std::collections::BTreeSet;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use nix::time::{clock_gettime, ClockId as Clock};
use tokio::io::unix::AsyncFd;

/// A timerfd as tokio's reactor wants it (an `AsRawFd`).
#[derive(Debug)]
struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// A one-shot timer precise to the kernel's timer slack.
#[derive(Debug)]
pub struct WakeTimer {
    fd: Option<AsyncFd<Fd>>,
    armed: Option<Instant>,
}

impl WakeTimer {
    /// Creates the timer (a timerfd; tokio's timer if that fails).
    pub fn new() -> WakeTimer {
        // `AsyncFd::new` is deprecated for types that could hand out a different descriptor
        // over time; `Fd` owns its timerfd for its whole life, which is what the unsafe
        // `register` asks, so the safe constructor is sound here.
        #[allow(deprecated)]
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map_err(io::Error::from)
        .and_then(|fd| AsyncFd::new(Fd(fd)));
        let fd = match fd {
            Ok(fd) => Some(fd),
            Err(e) => {
                tracing::warn!("no timerfd ({e}): VRRP timers fall back to 1 ms resolution");
                None
            }
        };
        WakeTimer { fd, armed: None }
    }

    /// Waits until `deadline`. Cancel-safe: dropping the future leaves the timer armed, and a
    /// later call with the same deadline does not re-arm it.
    pub async fn wait_until(&mut self, deadline: Instant) {
        let Some(fd) = &self.fd else {
            tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
            return;
        };
        if self.armed != Some(deadline) {
            if let Err(e) = fd.get_ref().0.set(
                Expiration::OneShot(monotonic_at(deadline)),
                TimerSetTimeFlags::TFD_TIMER_ABSTIME,
            ) {
                tracing::warn!("timerfd: {e}; using tokio's timer for this wait");
                self.armed = None;
                tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
                return;
            }
            self.armed = Some(deadline);
        }
        loop {
            let Ok(mut guard) = fd.readable().await else {
                tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
                return;
            };
            let mut buf = [0u8; 8];
            match nix::unistd::read(fd.get_ref().as_raw_fd(), &mut buf) {
                Ok(_) => {
                    // A one-shot timerfd stays unreadable until it is armed again: forget the
                    // readiness now rather than discover it with a failed read next time.
                    guard.clear_ready();
                    self.armed = None;
                    return;
                }
                Err(nix::errno::Errno::EAGAIN) => guard.clear_ready(),
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    tracing::warn!("timerfd read: {e}");
                    self.armed = None;
                    tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
                    return;
                }
            }
        }
    }
}

impl Default for WakeTimer {
    fn default() -> Self {
        WakeTimer::new()
    }
}

/// The CLOCK_MONOTONIC time of `deadline` (a deadline in the past maps to "now", which a
/// timerfd fires at once).
fn monotonic_at(deadline: Instant) -> TimeSpec {
    let now_std = Instant::now();
    let now = match clock_gettime(Clock::CLOCK_MONOTONIC) {
        Ok(t) => t,
        // Cannot happen on Linux; a tiny relative value still fires promptly.
        Err(_) => return TimeSpec::new(0, 1),
    };
    let ahead = deadline.saturating_duration_since(now_std);
    now + TimeSpec::from_duration(ahead)
}

/// Every unit's next deadline, ordered.
#[derive(Debug, Default)]
pub struct Deadlines {
    by_unit: Vec<Option<Instant>>,
    ordered: BTreeSet<(Instant, usize)>,
}

impl Deadlines {
    /// Forgets everything (the units were replaced).
    pub fn clear(&mut self) {
        self.by_unit.clear();
        self.ordered.clear();
    }

    /// Records unit `u`'s next deadline.
    pub fn set(&mut self, u: usize, deadline: Option<Instant>) {
        if self.by_unit.len() <= u {
            self.by_unit.resize(u + 1, None);
        }
        let old = std::mem::replace(&mut self.by_unit[u], deadline);
        if old == deadline {
            return;
        }
        if let Some(t) = old {
            self.ordered.remove(&(t, u));
        }
        if let Some(t) = deadline {
            self.ordered.insert((t, u));
        }
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.ordered.first().map(|(t, _)| *t)
    }

    /// The units due at `now`, earliest first.
    pub fn due_units(&self, now: Instant) -> impl Iterator<Item = usize> + '_ {
        self.ordered
            .iter()
            .take_while(move |(t, _)| *t <= now)
            .map(|(_, u)| *u)
    }

    /// [`Deadlines::due_units`], collected (for a caller that changes the deadlines as it goes).
    pub fn due(&self, now: Instant) -> Vec<usize> {
        self.due_units(now).collect()
    }
}

/// The [`Instant`] at which a packet the kernel stamped `rx` (CLOCK_REALTIME) arrived, given
/// that it is `now`. Without a stamp, or if the wall clock was stepped so that the stamp lies
/// in the future or more than [`MAX_QUEUED`] ago, `now`.
pub fn received_at(rx: Option<SystemTime>, now: Instant) -> Instant {
    let Some(rx) = rx else { return now };
    match SystemTime::now().duration_since(rx) {
        Ok(age) if age <= MAX_QUEUED => now.checked_sub(age).unwrap_or(now),
        _ => now,
    }
}

/// The longest time a datagram is believed to have waited in a socket queue.
pub const MAX_QUEUED: Duration = Duration::from_secs(5);

/// How late `fired` is after `due`, for the debug log.
pub fn lateness(due: Instant, fired: Instant) -> Duration {
    fired.saturating_duration_since(due)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_ordered_and_replaced() {
        let t0 = Instant::now();
        let mut d = Deadlines::default();
        d.set(2, Some(t0 + Duration::from_millis(30)));
        d.set(0, Some(t0 + Duration::from_millis(10)));
        d.set(1, Some(t0 + Duration::from_millis(20)));
        assert_eq!(d.next(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(d.due(t0 + Duration::from_millis(20)), vec![0, 1]);
        d.set(0, Some(t0 + Duration::from_millis(40)));
        assert_eq!(d.due(t0 + Duration::from_millis(30)), vec![1, 2]);
        d.set(1, None);
        d.set(2, None);
        assert_eq!(d.next(), Some(t0 + Duration::from_millis(40)));
        d.clear();
        assert_eq!(d.next(), None);
        assert!(d.due(t0 + Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn equal_deadlines_of_different_units_coexist() {
        let t = Instant::now();
        let mut d = Deadlines::default();
        d.set(0, Some(t));
        d.set(1, Some(t));
        assert_eq!(d.due(t), vec![0, 1]);
        d.set(0, Some(t));
        assert_eq!(d.due(t), vec![0, 1]);
    }

    #[test]
    fn reception_times_map_to_instants_and_bad_stamps_fall_back_to_now() {
        let now = Instant::now();
        assert_eq!(received_at(None, now), now);
        let rx = SystemTime::now() - Duration::from_millis(40);
        let at = received_at(Some(rx), now);
        let age = now.duration_since(at);
        assert!(age >= Duration::from_millis(40), "{age:?}");
        assert!(
            age < Duration::from_millis(40) + Duration::from_secs(1),
            "{age:?}"
        );
        // A stamp from the future (clock stepped back) or from long ago (stepped forward).
        let future = SystemTime::now() + Duration::from_secs(60);
        assert_eq!(received_at(Some(future), now), now);
        let ancient = SystemTime::now() - Duration::from_secs(3600);
        assert_eq!(received_at(Some(ancient), now), now);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn wake_timer_fires_close_to_the_deadline() {
        let mut timer = WakeTimer::new();
        let mut worst = Duration::ZERO;
        for _ in 0..20 {
            let due = Instant::now() + Duration::from_micros(2_300);
            timer.wait_until(due).await;
            let fired = Instant::now();
            assert!(fired >= due, "fired before its deadline");
            worst = worst.max(lateness(due, fired));
        }
        // tokio's wheel rounds up to the next millisecond; the timerfd should not. A loaded
        // machine can still delay a wake-up, so only an outrageous lateness fails.
        assert!(
            worst < Duration::from_millis(50),
            "worst lateness {worst:?}"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_past_deadline_fires_at_once_and_rearming_is_cancel_safe() {
        let mut timer = WakeTimer::new();
        let past = Instant::now() - Duration::from_millis(5);
        tokio::time::timeout(Duration::from_secs(1), timer.wait_until(past))
            .await
            .expect("a past deadline fires at once");
        let far = Instant::now() + Duration::from_secs(3600);
        let r = tokio::time::timeout(Duration::from_millis(5), timer.wait_until(far)).await;
        assert!(r.is_err(), "a far deadline must not fire");
        let soon = Instant::now() + Duration::from_millis(3);
        tokio::time::timeout(Duration::from_secs(1), timer.wait_until(soon))
            .await
            .expect("re-armed for the nearer deadline");
    }
}
