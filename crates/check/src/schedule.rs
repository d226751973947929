//! Timing options shared by all scheduled checkers.

use std::time::Duration;

use crate::probe::CheckKind;

/// When a checker probes and how failures count (`delay_loop`, `retry`, `delay_before_retry`,
/// `warmup`, `alpha`, `log_all_failures`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Schedule {
    /// Time between two probes while nothing is being retried.
    pub delay_loop: Duration,
    /// How many extra probes must fail before a failure takes an up checker down.
    pub retry: u32,
    /// Time before a retry probe.
    pub delay_before_retry: Duration,
    /// The first probe starts after a random delay up to this value (0 = at once).
    pub warmup: Duration,
    /// Start down until the first success.
    pub alpha: bool,
    /// Report every failure of an up checker, not only the one that takes it down.
    pub log_all_failures: bool,
}

impl Schedule {
    /// keepalived's defaults for a checker kind: `delay_loop` 60 s, `retry` 1 (MISC 0, DNS 3),
    /// `delay_before_retry` 1 s (HTTP/SSL 3 s, DNS `delay_loop`), `warmup` = `delay_loop`.
    pub fn defaults_for(kind: CheckKind) -> Self {
        let delay_loop = Duration::from_secs(60);
        let retry = match kind {
            CheckKind::Misc => 0,
            CheckKind::Dns => 3,
            _ => 1,
        };
        let delay_before_retry = match kind {
            CheckKind::Http | CheckKind::Ssl => Duration::from_secs(3),
            CheckKind::Dns => delay_loop,
            _ => Duration::from_secs(1),
        };
        Schedule {
            delay_loop,
            retry,
            delay_before_retry,
            warmup: delay_loop,
            alpha: false,
            log_all_failures: false,
        }
    }

    /// A random start delay in `0..=warmup`.
    pub fn random_warmup(&self) -> Duration {
        let max = self.warmup.as_millis().min(u128::from(u64::MAX)) as u64;
        if max == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(fastrand::u64(0..=max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_keepalived() {
        let http = Schedule::defaults_for(CheckKind::Http);
        assert_eq!(http.delay_before_retry, Duration::from_secs(3));
        assert_eq!(http.retry, 1);
        let dns = Schedule::defaults_for(CheckKind::Dns);
        assert_eq!(dns.retry, 3);
        assert_eq!(dns.delay_before_retry, Duration::from_secs(60));
        assert_eq!(Schedule::defaults_for(CheckKind::Misc).retry, 0);
        assert_eq!(
            Schedule::defaults_for(CheckKind::Tcp).delay_before_retry,
            Duration::from_secs(1)
        );
    }

    #[test]
    fn warmup_is_bounded() {
        let mut s = Schedule::defaults_for(CheckKind::Tcp);
        s.warmup = Duration::from_secs(2);
        for _ in 0..100 {
            assert!(s.random_warmup() <= Duration::from_secs(2));
        }
        s.warmup = Duration::ZERO;
        assert_eq!(s.random_warmup(), Duration::ZERO);
    }
}
