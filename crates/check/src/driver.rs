//! Drives a [`CheckerState`] with real time and a [`Probe`] on tokio.

use std::time::Instant;

use tokio::sync::mpsc;

use crate::file::FileWatcher;
use crate::probe::Probe;
use crate::schedule::Schedule;
use crate::state::{CheckerEvent, CheckerState};

/// Run a scheduled checker forever, sending its events; returns when the receiver is gone.
/// Abort the task to stop the checker.
pub async fn run_checker(probe: Probe, schedule: Schedule, events: mpsc::Sender<CheckerEvent>) {
    let start = schedule.random_warmup();
    let mut state = CheckerState::new(schedule, Instant::now(), start);
    loop {
        if let Some(at) = state.poll_timeout() {
            tokio::time::sleep_until(at.into()).await;
        }
        if state.handle_timeout(Instant::now()) {
            let result = probe.probe().await;
            state.handle_result(Instant::now(), result);
        }
        while let Some(e) = state.poll_event() {
            if events.send(e).await.is_err() {
                return;
            }
        }
    }
}

/// Run a FILE_CHECK: read the file at start and whenever it changes, sending an event when
/// the verdict or the weight changes. Returns when the receiver is gone or the watch fails.
pub async fn run_file_checker(
    params: crate::file::FileParams,
    events: mpsc::Sender<CheckerEvent>,
) -> std::io::Result<()> {
    let mut watcher = FileWatcher::new(&params.path)?;
    let mut last: Option<(bool, Option<i64>)> = None;
    loop {
        let result = crate::file::probe(&params).await;
        let now = (result.is_ok(), result.as_ref().ok().and_then(|s| s.weight));
        if last != Some(now) {
            let mut out = Vec::new();
            if let Some(w) = now.1 {
                out.push(CheckerEvent::WeightChanged { weight: w });
            }
            match result {
                Ok(_) if last.is_none_or(|l| !l.0) => out.push(CheckerEvent::Up {
                    reason: format!("{} read", params.path.display()),
                }),
                Err(f) if last.is_none_or(|l| l.0) => {
                    out.push(CheckerEvent::Down { reason: f.reason })
                }
                _ => {}
            }
            for e in out {
                if events.send(e).await.is_err() {
                    return Ok(());
                }
            }
            last = Some(now);
        }
        watcher.changed().await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::ConnectOpts;
    use crate::probe::CheckKind;
    use std::time::Duration;

    #[tokio::test]
    async fn tcp_checker_goes_down_then_up() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        let mut s = Schedule::defaults_for(CheckKind::Tcp);
        s.delay_loop = Duration::from_millis(100);
        s.delay_before_retry = Duration::from_millis(50);
        s.warmup = Duration::ZERO;
        let (tx, mut rx) = mpsc::channel(8);
        let task = tokio::spawn(run_checker(Probe::Tcp(ConnectOpts::new(addr)), s, tx));
        let e = tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .expect("event");
        assert!(matches!(e, Some(CheckerEvent::Down { .. })), "{e:?}");
        let _l = tokio::net::TcpListener::bind(addr).await.expect("rebind");
        let e = tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .expect("event");
        assert!(matches!(e, Some(CheckerEvent::Up { .. })), "{e:?}");
        task.abort();
    }

    #[tokio::test]
    async fn file_checker_follows_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("w");
        std::fs::write(&path, "0").expect("write");
        let mut p = crate::file::FileParams::new(&path);
        p.weight = 0;
        let (tx, mut rx) = mpsc::channel(8);
        let task = tokio::spawn(run_file_checker(p, tx));
        let e = tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .expect("event");
        assert!(matches!(e, Some(CheckerEvent::Up { .. })), "{e:?}");
        std::fs::write(&path, "1").expect("write");
        let e = tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .expect("event");
        assert!(matches!(e, Some(CheckerEvent::Down { .. })), "{e:?}");
        task.abort();
    }
}
