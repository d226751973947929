//! The control socket of a child: a unix stream socket (mode 0600) under
//! [`protocol::SOCKET_DIR`], one JSON request per line, one JSON reply per line.
//!
//! Requests are handed to the child's runtime as [`Control::Observe`] with a oneshot reply,
//! so answers come from the runtime's own state between two of its events, with no lock shared
//! with its hot path. The socket is removed when the [`ControlSocket`] guard is dropped.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::protocol::{self, ChildKind, ChildStatus, ReloadStats, Reply, Request};
use super::{Answer, Query};
use crate::child::Control;

/// How long the runtime may take to pick a request up and answer it.
const RUNTIME_TIMEOUT: Duration = Duration::from_secs(5);

/// Reload results shared between the signal handler and the control socket.
pub type SharedReloads = Arc<Mutex<ReloadStats>>;

/// Records the result of a reload in `stats`.
pub fn record_reload(stats: &SharedReloads, ok: bool) {
    let now = unix_now();
    if let Ok(mut s) = stats.lock() {
        if ok {
            s.ok += 1;
        } else {
            s.failed += 1;
        }
        s.last_unix = Some(now);
        s.last_ok = Some(ok);
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A listening control socket; removed (and its task stopped) on drop.
#[derive(Debug)]
pub struct ControlSocket {
    path: PathBuf,
    task: JoinHandle<()>,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
        // The last socket out leaves no empty directory behind (as keepalived leaves no
        // /run/keepalived); one still holding another socket stays.
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Creates `dir` when missing, reachable by anyone (the sockets in it are 0600).
fn make_dir(dir: &std::path::Path) -> std::io::Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// What every connection needs.
#[derive(Debug, Clone)]
struct Shared {
    kind: ChildKind,
    control: mpsc::Sender<Control>,
    reloads: SharedReloads,
    started_unix: f64,
}

/// Binds `path` (creating its directory; replacing a stale socket but never one a live
/// daemon answers on) and serves it until dropped. Must run inside a tokio runtime.
pub fn spawn(
    path: PathBuf,
    kind: ChildKind,
    control: mpsc::Sender<Control>,
    reloads: SharedReloads,
) -> std::io::Result<ControlSocket> {
    if let Some(dir) = path.parent() {
        make_dir(dir)?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!(
                    "{} is in use by another running daemon (use -i or -s to tell them apart)",
                    path.display()
                ),
            ));
        }
        std::fs::remove_file(&path)?;
    }
    let listener = match UnixListener::bind(&path) {
        // The other child's socket went and took the directory with it meanwhile.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                make_dir(dir)?;
            }
            UnixListener::bind(&path)?
        }
        other => other?,
    };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let shared = Shared {
        kind,
        control,
        reloads,
        started_unix: unix_now(),
    };
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(serve(stream, shared.clone()));
                }
                Err(e) => {
                    tracing::warn!("control socket: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(ControlSocket { path, task })
}

/// Answers every request line of one connection.
async fn serve(stream: UnixStream, shared: Shared) {
    let (r, mut w) = stream.into_split();
    let limit = u64::try_from(protocol::MAX_LINE).unwrap_or(u64::MAX);
    let mut lines = BufReader::new(r.take(limit)).lines();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(e) => {
                let reply = Reply::error(format!("unreadable request: {e}"));
                let _ = w.write_all(protocol::to_line(&reply).as_bytes()).await;
                return;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let reply = handle(&line, &shared).await;
        if w.write_all(protocol::to_line(&reply).as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Answers one request line.
async fn handle(line: &str, shared: &Shared) -> Reply {
    let req: Request = match serde_json::from_str(line) {
        Ok(r) => r,
        Err(e) => return Reply::error(format!("bad request: {e}")),
    };
    let as_metrics = match req {
        Request::Status => false,
        Request::Metrics => true,
        Request::Drain { vs, rs } => return drain(shared, vs, rs, true).await,
        Request::Undrain { vs, rs } => return drain(shared, vs, rs, false).await,
    };
    let status = match ask(&shared.control, Query::Status).await {
        Ok(Answer::Vrrp(v)) => child_status(shared, Some(v), None),
        Ok(Answer::Checker(c)) => child_status(shared, None, Some(c)),
        Ok(Answer::Drained { .. }) => return Reply::error("unexpected answer"),
        Err(e) => return Reply::error(e),
    };
    if as_metrics {
        Reply {
            ok: true,
            metrics: Some(super::metrics::render(
                &[(shared.kind, Some(&status))],
                None,
            )),
            ..Reply::default()
        }
    } else {
        Reply {
            ok: true,
            status: Some(status),
            ..Reply::default()
        }
    }
}

async fn drain(shared: &Shared, vs: String, rs: String, drained: bool) -> Reply {
    match ask(&shared.control, Query::Drain { vs, rs, drained }).await {
        Ok(Answer::Drained { changed }) => Reply {
            ok: true,
            changed: Some(changed),
            ..Reply::default()
        },
        Ok(_) => Reply::error("unexpected answer"),
        Err(e) => Reply::error(e),
    }
}

fn child_status(
    shared: &Shared,
    vrrp: Option<protocol::VrrpStatus>,
    checker: Option<protocol::CheckerStatus>,
) -> ChildStatus {
    ChildStatus {
        child: shared.kind,
        pid: std::process::id(),
        started_unix: shared.started_unix,
        reloads: shared.reloads.lock().map(|r| r.clone()).unwrap_or_default(),
        vrrp,
        checker,
        smtp: {
            let t = crate::smtp::totals();
            protocol::SmtpStatus {
                sent: t.sent,
                failed: t.failed,
                dropped: t.dropped,
            }
        },
    }
}

/// Hands `query` to the runtime and waits for its answer, bounded by [`RUNTIME_TIMEOUT`].
async fn ask(control: &mpsc::Sender<Control>, query: Query) -> Result<Answer, String> {
    ask_within(control, query, RUNTIME_TIMEOUT).await
}

async fn ask_within(
    control: &mpsc::Sender<Control>,
    query: Query,
    limit: Duration,
) -> Result<Answer, String> {
    let (tx, rx) = oneshot::channel();
    let sent = tokio::time::timeout(limit, control.send(Control::Observe(query, tx)));
    match sent.await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Err("the runtime is stopping".to_string()),
        Err(_) => return Err("the runtime is busy: request not taken in time".to_string()),
    }
    match tokio::time::timeout(limit, rx).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => Err("the runtime dropped the request".to_string()),
        Err(_) => Err("the runtime did not answer in time".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::protocol::{InstanceStatus, VrrpStatus};

    /// A fake runtime answering status with one instance and refusing drains.
    async fn fake_runtime(mut rx: mpsc::Receiver<Control>) {
        while let Some(c) = rx.recv().await {
            if let Control::Observe(q, reply) = c {
                let a = match q {
                    Query::Status => Ok(Answer::Vrrp(VrrpStatus {
                        instances: vec![InstanceStatus {
                            name: "VI_1".into(),
                            state: "MASTER".into(),
                            priority: 100,
                            effective_priority: 100,
                            vrid: 51,
                            ..InstanceStatus::default()
                        }],
                        ..VrrpStatus::default()
                    })),
                    Query::Drain { .. } => Err("no real servers here".to_string()),
                };
                let _ = reply.send(a);
            }
        }
    }

    #[tokio::test]
    async fn requests_reach_the_runtime_and_replies_come_back_per_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("vrrp.sock");
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(fake_runtime(rx));
        let reloads: SharedReloads = Arc::default();
        record_reload(&reloads, true);
        record_reload(&reloads, false);
        let sock = spawn(path.clone(), ChildKind::Vrrp, tx, reloads).expect("binds");
        let mode = std::fs::metadata(&path).expect("exists").permissions();
        assert_eq!(mode.mode() & 0o777, 0o600);
        // A second daemon must not steal a live socket.
        let (tx2, _rx2) = mpsc::channel(1);
        assert!(spawn(path.clone(), ChildKind::Vrrp, tx2, Arc::default()).is_err());

        let p = path.clone();
        let replies = tokio::task::spawn_blocking(move || {
            let t = Duration::from_secs(5);
            let status =
                protocol::request_blocking(&p, ChildKind::Vrrp, &Request::Status, t).expect("ok");
            let metrics =
                protocol::request_blocking(&p, ChildKind::Vrrp, &Request::Metrics, t).expect("ok");
            let drain = protocol::request_blocking(
                &p,
                ChildKind::Vrrp,
                &Request::Drain {
                    vs: "10.0.0.1:80/tcp".into(),
                    rs: "10.0.0.2:80".into(),
                },
                t,
            )
            .expect("ok");
            (status, metrics, drain)
        })
        .await
        .expect("joins");
        let (status, metrics, drain) = replies;
        let st = status.status.expect("status");
        assert!(status.ok);
        assert_eq!(st.child, ChildKind::Vrrp);
        assert_eq!(st.pid, std::process::id());
        assert_eq!((st.reloads.ok, st.reloads.failed), (1, 1));
        assert_eq!(st.reloads.last_ok, Some(false));
        assert_eq!(st.vrrp.expect("vrrp").instances[0].name, "VI_1");
        let text = metrics.metrics.expect("metrics");
        assert!(
            text.contains("rkeepalived_vrrp_state{instance=\"VI_1\",state=\"MASTER\"} 1"),
            "{text}"
        );
        assert!(!drain.ok);
        assert_eq!(drain.error.as_deref(), Some("no real servers here"));

        // Two sockets in one directory: the directory goes with the last one.
        let (tx3, _rx3) = mpsc::channel(1);
        let other = dir.path().join("sub").join("checker.sock");
        let sock2 = spawn(other.clone(), ChildKind::Checker, tx3, Arc::default()).expect("binds");
        drop(sock);
        assert!(!path.exists(), "the socket is removed on drop");
        assert!(other.exists());
        drop(sock2);
        assert!(!dir.path().join("sub").exists(), "no empty directory left");
    }

    #[tokio::test]
    async fn a_bad_line_gets_an_error_and_the_connection_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("checker.sock");
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(fake_runtime(rx));
        let _sock = spawn(path.clone(), ChildKind::Checker, tx, Arc::default()).expect("binds");
        let mut s = UnixStream::connect(&path).await.expect("connects");
        s.write_all(b"{\"cmd\":\"explode\"}\nnot json\n{\"cmd\":\"status\"}\n")
            .await
            .expect("writes");
        let mut lines = BufReader::new(s).lines();
        let mut got = Vec::new();
        for _ in 0..3 {
            let l = lines.next_line().await.expect("reads").expect("a line");
            got.push(serde_json::from_str::<Reply>(&l).expect("json"));
        }
        assert!(
            !got[0].ok
                && got[0]
                    .error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("bad request"))
        );
        assert!(!got[1].ok);
        assert!(got[2].ok && got[2].status.is_some());
    }

    #[tokio::test]
    async fn a_runtime_that_never_answers_gives_an_error_not_a_hang() {
        let (tx, _rx) = mpsc::channel(1);
        let limit = Duration::from_millis(50);
        let r = ask_within(&tx, Query::Status, limit).await;
        assert_eq!(r, Err("the runtime did not answer in time".to_string()));
        // The channel is now full: the next request is not even taken.
        let r = ask_within(&tx, Query::Status, limit).await;
        assert_eq!(
            r,
            Err("the runtime is busy: request not taken in time".to_string())
        );
    }
}
