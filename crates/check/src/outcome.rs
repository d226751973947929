//! The result of one probe.

/// A passed probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Success {
    /// A weight reported by a dynamic checker (`misc_dynamic`, FILE_CHECK `dynamic`);
    /// `None` leaves the real server's weight alone.
    pub weight: Option<i64>,
}

/// A failed probe, with a reason fit for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Failure {
    /// Why the probe failed, in words.
    pub reason: String,
}

impl Failure {
    /// A failure with the given reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Failure {
            reason: reason.into(),
        }
    }
}

/// What every probe returns.
pub type ProbeResult = Result<Success, Failure>;

/// A plain success with no weight change.
pub(crate) fn up() -> ProbeResult {
    Ok(Success::default())
}
