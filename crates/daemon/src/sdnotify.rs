//! systemd's readiness protocol (`sd_notify(3)`) for the supervising parent, through the
//! sd-notify crate.
//!
//! The unit in `packaging/rkeepalived.service` is `Type=notify`: systemd considers the service
//! started when the parent says `READY=1` (its children are running), shows the `STATUS=` lines
//! in `systemctl status`, and follows a reload from `RELOADING=1` to the next `READY=1`.
//!
//! Only the main process may notify (systemd's default `NotifyAccess=main`); the children and
//! the scripts they run inherit `NOTIFY_SOCKET` but never write to it. Every function here is
//! a no-op when `NOTIFY_SOCKET` is unset (started from a shell or another init system), and a
//! failure to notify is logged, never fatal: the daemon's job is VRRP, not reporting.

use sd_notify::NotifyState;

/// The service is up: the children that the configuration needs have been started.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload begins (SIGHUP). systemd wants the monotonic time with `RELOADING=1` so that it
/// can tell this reload from an older one; [`ready`] ends it.
pub fn reloading() {
    send(&reloading_states(NotifyState::monotonic_usec_now().ok()));
}

/// The states announcing a reload, with the monotonic time when it could be read.
fn reloading_states(now: Option<NotifyState<'static>>) -> Vec<NotifyState<'static>> {
    let mut states = vec![NotifyState::Reloading];
    states.extend(now);
    states.push(NotifyState::Status("Reloading the configuration"));
    states
}

/// The service is stopping (SIGTERM/SIGINT): children are being told to release what they own.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("Stopping")]);
}

/// A free-form status line for `systemctl status` (a child died, a reload was refused...).
pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// The status line after the children in `running` were started, e.g.
/// `Running: VRRP, Healthcheck`.
pub fn running_status<'a>(running: impl IntoIterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = running.into_iter().collect();
    names.sort_unstable();
    if names.is_empty() {
        "Running: no child needed by the configuration".to_owned()
    } else {
        format!("Running: {}", names.join(", "))
    }
}

/// Sends `states`; sd-notify does nothing when `NOTIFY_SOCKET` is unset.
fn send(states: &[NotifyState]) {
    // `false`: keep NOTIFY_SOCKET in our environment (the next reload notifies again);
    // changing the environment of a running multi-threaded process is not safe anyway.
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!("cannot notify the service manager: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(states: &[NotifyState]) -> Vec<String> {
        states.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_reload_carries_the_monotonic_time_after_reloading() {
        let states = reloading_states(Some(NotifyState::MonotonicUsec(1_234_567)));
        assert_eq!(
            text(&states),
            [
                "RELOADING=1",
                "MONOTONIC_USEC=1234567",
                "STATUS=Reloading the configuration"
            ]
        );
        // Without a clock reading, the reload is still announced.
        assert_eq!(
            text(&reloading_states(None)),
            ["RELOADING=1", "STATUS=Reloading the configuration"]
        );
    }

    #[test]
    fn the_clock_of_a_real_reload_is_read() {
        let states = reloading_states(NotifyState::monotonic_usec_now().ok());
        let usec = text(&states)
            .iter()
            .find_map(|s| s.strip_prefix("MONOTONIC_USEC=").map(str::to_owned))
            .expect("monotonic time present");
        assert!(usec.parse::<u64>().expect("a number") > 0);
    }

    #[test]
    fn running_status_names_the_children_in_a_stable_order() {
        assert_eq!(
            running_status(["VRRP", "Healthcheck"]),
            "Running: Healthcheck, VRRP"
        );
        assert_eq!(
            running_status(std::iter::empty()),
            "Running: no child needed by the configuration"
        );
    }
}
