//! The parent's HTTP endpoint (`rkeepalived_http_listen ADDR:PORT` in `global_defs`):
//! `GET /metrics` (Prometheus / OpenMetrics text) and `GET /status` (JSON), both built by
//! asking the children over their control sockets. Served by the parent so that it survives
//! child respawns; a child that does not answer within [`CHILD_TIMEOUT`] is reported down
//! (`rkeepalived_up` 0) and the answer is partial, never late.
//!
//! A reload (SIGHUP) that changes `rkeepalived_http_listen` moves the endpoint: the new
//! address is bound first (then the old one is closed); when the new address can only be had
//! once the old socket is closed (same port, wildcard address), the old one is closed first,
//! and when the new address cannot be bound at all the old one is kept (logged). Removing the
//! keyword closes the endpoint, adding it opens one. Connections in progress finish.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request as HttpRequest, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixStream};
use tokio::task::JoinHandle;

use super::metrics::{self, ParentStats};
use super::protocol::{self, ChildKind, ChildStatus, Reply, Request};
use crate::cli::Cli;
use crate::logging::Role;

/// How long a child may take to answer one scrape.
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(2);

/// The children the endpoint asks, with their sockets, and what the parent counts.
#[derive(Debug, Clone, Default)]
struct Targets {
    children: Arc<Mutex<Vec<(ChildKind, PathBuf)>>>,
    parent: Arc<Mutex<ParentStats>>,
}

/// The control socket of each child among `roles`.
fn child_sockets(cli: &Cli, roles: &[Role]) -> Vec<(ChildKind, PathBuf)> {
    roles
        .iter()
        .filter_map(|r| match r {
            Role::Vrrp => Some(ChildKind::Vrrp),
            Role::Checker => Some(ChildKind::Checker),
            Role::Parent => None,
        })
        .map(|k| {
            (
                k,
                protocol::socket_path(k, cli.namespace.as_deref(), cli.config_id.as_deref()),
            )
        })
        .collect()
}

/// The endpoint: the supervisor tells it what only the parent knows and where to listen.
#[derive(Debug)]
pub struct Endpoint {
    targets: Targets,
    /// The address listened on and the task accepting there.
    listening: Option<(SocketAddr, JoinHandle<()>)>,
}

impl Endpoint {
    /// The children running now (at start, and after a reload that starts or stops one).
    pub fn set_roles(&self, cli: &Cli, roles: &[Role]) {
        if let Ok(mut c) = self.targets.children.lock() {
            *c = child_sockets(cli, roles);
        }
    }

    /// The supervisor restarted the child of `role`.
    pub fn child_restarted(&self, role: Role) {
        let kind = match role {
            Role::Vrrp => ChildKind::Vrrp,
            Role::Checker => ChildKind::Checker,
            Role::Parent => return,
        };
        if let Ok(mut s) = self.targets.parent.lock() {
            *s.restarts.entry(kind).or_insert(0) += 1;
        }
    }

    /// The address listened on, if any.
    pub fn address(&self) -> Option<SocketAddr> {
        self.listening.as_ref().map(|(a, _)| *a)
    }

    /// Listens on `addr` (`rkeepalived_http_listen` of the running configuration), or stops
    /// listening when `None`; nothing changes when it is the address already listened on.
    pub async fn listen(&mut self, addr: Option<SocketAddr>) {
        if addr == self.address() {
            return;
        }
        let Some(addr) = addr else {
            if let Some((old, task)) = self.listening.take() {
                close(task).await;
                tracing::info!("HTTP endpoint on {old} closed (rkeepalived_http_listen removed)");
            }
            return;
        };
        let listener = match TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(first) => match self.listening.take() {
                // The old socket may hold the port (0.0.0.0:P -> 127.0.0.1:P): close it and
                // try again, and take the old address back if the new one still fails.
                Some((old, task)) => {
                    close(task).await;
                    match TcpListener::bind(addr).await {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(
                                "rkeepalived_http_listen {addr}: cannot listen: {e} - keeping {old}"
                            );
                            match TcpListener::bind(old).await {
                                Ok(l) => self.serve_on(old, l),
                                Err(e) => tracing::error!(
                                    "HTTP endpoint: cannot listen on {old} again: {e}"
                                ),
                            }
                            return;
                        }
                    }
                }
                None => {
                    tracing::error!("rkeepalived_http_listen {addr}: cannot listen: {first}");
                    return;
                }
            },
        };
        if let Some((_, task)) = self.listening.take() {
            close(task).await;
        }
        self.serve_on(addr, listener);
    }

    fn serve_on(&mut self, addr: SocketAddr, listener: TcpListener) {
        // The address actually bound (port 0 asks the kernel for one).
        let bound = listener.local_addr().unwrap_or(addr);
        tracing::info!("HTTP endpoint listening on {bound} (/metrics, /status)");
        let task = tokio::spawn(serve(listener, self.targets.clone()));
        self.listening = Some((addr, task));
    }
}

/// Stops an accepting task and waits until its socket is closed.
async fn close(task: JoinHandle<()>) {
    task.abort();
    let _ = task.await;
}

/// The endpoint of the parent, asking the children of `roles`, listening where the
/// configuration says (nowhere without `rkeepalived_http_listen`). Must run inside a tokio
/// runtime.
pub async fn start(cli: &Cli, config: &rka_config::Config, roles: &[Role]) -> Endpoint {
    let mut e = Endpoint {
        targets: Targets::default(),
        listening: None,
    };
    e.set_roles(cli, roles);
    e.listen(config.global.rkeepalived_http_listen).await;
    e
}

async fn serve(listener: TcpListener, targets: Targets) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("HTTP endpoint: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let t = targets.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(req, t.clone()));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                tracing::debug!("HTTP connection: {e}");
            }
        });
    }
}

fn reply(code: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = code;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

async fn handle(
    req: HttpRequest<Incoming>,
    targets: Targets,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    if path != "/metrics" && path != "/status" {
        return Ok(reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics or /status\n".into(),
        ));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        ));
    }
    let children = targets
        .children
        .lock()
        .map(|c| c.clone())
        .unwrap_or_default();
    let results = ask_all(&children).await;
    if path == "/metrics" {
        let parent = targets.parent.lock().map(|p| p.clone()).unwrap_or_default();
        let children: Vec<(ChildKind, Option<&ChildStatus>)> =
            results.iter().map(|(k, r)| (*k, r.as_ref().ok())).collect();
        Ok(reply(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics::render(&children, Some(&parent)),
        ))
    } else {
        let mut body = protocol::merged_status(&results).to_string();
        body.push('\n');
        Ok(reply(StatusCode::OK, "application/json", body))
    }
}

/// Asks every child for its status at once (each bounded by [`CHILD_TIMEOUT`]).
async fn ask_all(
    children: &[(ChildKind, PathBuf)],
) -> Vec<(ChildKind, Result<ChildStatus, String>)> {
    let tasks: Vec<_> = children
        .iter()
        .map(|(k, p)| {
            let (k, p) = (*k, p.clone());
            let task = tokio::spawn(async move {
                match tokio::time::timeout(CHILD_TIMEOUT, status_of(&p)).await {
                    Ok(r) => r,
                    Err(_) => Err(format!("no answer within {CHILD_TIMEOUT:?}")),
                }
            });
            (k, task)
        })
        .collect();
    let mut out = Vec::new();
    for (k, t) in tasks {
        out.push((
            k,
            t.await
                .unwrap_or_else(|e| Err(format!("query failed: {e}"))),
        ));
    }
    out
}

/// One status exchange with the child at `path`.
async fn status_of(path: &std::path::Path) -> Result<ChildStatus, String> {
    let stream = UnixStream::connect(path)
        .await
        .map_err(|e| format!("not running ({}: {e})", path.display()))?;
    let (r, mut w) = stream.into_split();
    w.write_all(protocol::to_line(&Request::Status).as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(r)
        .read_line(&mut line)
        .await
        .map_err(|e| e.to_string())?;
    let reply: Reply = serde_json::from_str(&line).map_err(|e| format!("bad reply: {e}"))?;
    match (reply.ok, reply.status) {
        (true, Some(s)) => Ok(s),
        _ => Err(reply
            .error
            .unwrap_or_else(|| "no status in the reply".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_supervisors_restarts_are_counted_per_child() {
        let e = Endpoint {
            targets: Targets::default(),
            listening: None,
        };
        e.child_restarted(Role::Checker);
        e.child_restarted(Role::Checker);
        e.child_restarted(Role::Vrrp);
        e.child_restarted(Role::Parent);
        let s = e.targets.parent.lock().expect("stats");
        assert_eq!(s.restarts.get(&ChildKind::Checker), Some(&2));
        assert_eq!(s.restarts.get(&ChildKind::Vrrp), Some(&1));
        assert_eq!(s.restarts.len(), 2);
    }

    /// A port free on the loopback now.
    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("ephemeral port")
            .port()
    }

    async fn answers(addr: SocketAddr) -> bool {
        tokio::net::TcpStream::connect(addr).await.is_ok()
    }

    #[tokio::test]
    async fn a_reload_moves_opens_and_closes_the_listener() {
        let mut e = Endpoint {
            targets: Targets::default(),
            listening: None,
        };
        let a: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let b: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        e.listen(Some(a)).await;
        assert_eq!(e.address(), Some(a));
        assert!(answers(a).await);
        // Moved: the new address answers, the old one no longer does.
        e.listen(Some(b)).await;
        assert_eq!(e.address(), Some(b));
        assert!(answers(b).await);
        assert!(!answers(a).await);
        // The same port on the wildcard address: only free once the old socket is closed.
        let wide: SocketAddr = ([0, 0, 0, 0], b.port()).into();
        e.listen(Some(wide)).await;
        assert_eq!(e.address(), Some(wide));
        assert!(answers(b).await);
        // An address this host does not have cannot be bound: the old one is kept.
        let foreign: SocketAddr = ([192, 0, 2, 1], b.port()).into();
        e.listen(Some(foreign)).await;
        assert_eq!(e.address(), Some(wide));
        assert!(answers(b).await);
        // Removed from the configuration: closed.
        e.listen(None).await;
        assert_eq!(e.address(), None);
        assert!(!answers(b).await);
    }

    #[tokio::test]
    async fn the_children_asked_follow_the_running_roles() {
        let cli = <Cli as clap::Parser>::parse_from(["rkeepalived", "-i", "lb1"]);
        let e = Endpoint {
            targets: Targets::default(),
            listening: None,
        };
        e.set_roles(&cli, &[Role::Vrrp]);
        let kinds = |e: &Endpoint| -> Vec<ChildKind> {
            let c = e.targets.children.lock().expect("children");
            c.iter().map(|(k, _)| *k).collect()
        };
        assert_eq!(kinds(&e), vec![ChildKind::Vrrp]);
        e.set_roles(&cli, &[Role::Parent, Role::Vrrp, Role::Checker]);
        assert_eq!(kinds(&e), vec![ChildKind::Vrrp, ChildKind::Checker]);
        let c = e.targets.children.lock().expect("children");
        assert!(c[1].1.to_string_lossy().contains("lb1"), "{:?}", c[1].1);
    }
}
