//! The control-socket protocol shared by the children, the parent's HTTP endpoint and
//! `rkeepalivedctl`: one JSON request per line, one JSON reply per line, over a unix stream
//! socket under [`SOCKET_DIR`].
//!
//! This file depends on serde only: `rkeepalivedctl` compiles it in as well.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where the control sockets live.
pub const SOCKET_DIR: &str = "/run/rkeepalived";

/// The longest request or reply line accepted (a status of 36,800 real servers fits).
pub const MAX_LINE: usize = 64 * 1024 * 1024;

/// Which child a control socket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildKind {
    /// The VRRP child.
    Vrrp,
    /// The health-checker child.
    Checker,
}

impl ChildKind {
    /// Both children, VRRP first.
    pub const ALL: [ChildKind; 2] = [ChildKind::Vrrp, ChildKind::Checker];

    /// The name used in socket paths, JSON and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            ChildKind::Vrrp => "vrrp",
            ChildKind::Checker => "checker",
        }
    }
}

/// Keeps the characters of a configuration id or namespace name that are safe in a file name.
fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The control socket of `kind` for a daemon started with `-s namespace` / `-i config_id`:
/// `/run/rkeepalived/vrrp.sock`, `/run/rkeepalived/checker@ns=NS,id=ID.sock`, ...
///
/// A daemon started without `-s` inside a network namespace other than the host's (`ip netns
/// exec NAME rkeepalived`, a container sharing `/run`) gets that namespace's inode in the
/// name (`vrrp@netns=4026532281.sock`, see [`own_netns_inode`]): two daemons in different
/// namespaces never share a socket, and a client started in the same namespace finds it.
pub fn socket_path(kind: ChildKind, namespace: Option<&str>, config_id: Option<&str>) -> PathBuf {
    let netns = match namespace {
        Some(_) => None,
        None => own_netns_inode(),
    };
    socket_path_in(Path::new(SOCKET_DIR), kind, namespace, netns, config_id)
}

/// The inode of this process's network namespace when it is not the one of process 1 (the
/// host's, or the container's own); `None` in that namespace. When process 1's namespace
/// cannot be read (a container without ptrace rights on it), a namespace `ip netns` names in
/// `/run/netns` counts as another one and any other as the host's.
pub fn own_netns_inode() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let own = std::fs::metadata("/proc/self/ns/net").ok()?.ino();
    match std::fs::metadata("/proc/1/ns/net") {
        Ok(init) => (own != init.ino()).then_some(own),
        Err(_) => {
            let named = std::fs::read_dir("/run/netns")
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| std::fs::metadata(e.path()).is_ok_and(|m| m.ino() == own));
            named.then_some(own)
        }
    }
}

/// The inode of the named network namespace `/run/netns/NAME` (as `ip netns` names them).
pub fn named_netns_inode(name: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    std::fs::metadata(Path::new("/run/netns").join(name))
        .ok()
        .map(|m| m.ino())
}

/// [`socket_path`] under another directory, with the namespace inode given.
pub fn socket_path_in(
    dir: &Path,
    kind: ChildKind,
    namespace: Option<&str>,
    netns: Option<u64>,
    config_id: Option<&str>,
) -> PathBuf {
    let mut name = kind.name().to_string();
    let mut parts = Vec::new();
    if let Some(ns) = namespace {
        parts.push(format!("ns={}", file_safe(ns)));
    } else if let Some(inode) = netns {
        parts.push(format!("netns={inode}"));
    }
    if let Some(id) = config_id {
        parts.push(format!("id={}", file_safe(id)));
    }
    if !parts.is_empty() {
        name.push('@');
        name.push_str(&parts.join(","));
    }
    name.push_str(".sock");
    dir.join(name)
}

/// The checker child's drain state file beside its control socket `socket`
/// (`checker@ns=NS.sock` -> `checker@ns=NS.drains`).
pub fn drains_path(socket: &Path) -> PathBuf {
    socket.with_extension("drains")
}

/// A request to a child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// The child's state.
    Status,
    /// The child's metrics, in Prometheus text format.
    Metrics,
    /// Put a real server to weight 0 (checker child).
    Drain {
        /// The virtual server: `IP:PORT/PROTO`, `fwmark N` or `group NAME`.
        vs: String,
        /// The real server: `IP:PORT`.
        rs: String,
    },
    /// Give a drained real server its weight back (checker child).
    Undrain {
        /// The virtual server, as for [`Request::Drain`].
        vs: String,
        /// The real server, as for [`Request::Drain`].
        rs: String,
    },
}

/// A child's reply: `ok` with one of the payloads, or an error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// Whether the request succeeded.
    pub ok: bool,
    /// Why it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The answer to [`Request::Status`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ChildStatus>,
    /// The answer to [`Request::Metrics`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
    /// The answer to drain/undrain: whether the flag changed (false: it was already so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
}

impl Reply {
    /// A failure.
    pub fn error(msg: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            error: Some(msg.into()),
            ..Reply::default()
        }
    }
}

/// Reloads a child went through (SIGHUP).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReloadStats {
    /// Reloads applied.
    pub ok: u64,
    /// Reloads refused (the new configuration could not run; the old one kept running).
    pub failed: u64,
    /// When the last reload (either result) happened, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_unix: Option<f64>,
    /// Whether the last reload succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ok: Option<bool>,
}

/// One child's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildStatus {
    /// Which child.
    pub child: ChildKind,
    /// Its process id.
    pub pid: u32,
    /// When it started, in seconds since the Unix epoch.
    pub started_unix: f64,
    /// Its reloads.
    pub reloads: ReloadStats,
    /// The VRRP child's instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp: Option<VrrpStatus>,
    /// The checker child's virtual servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checker: Option<CheckerStatus>,
    /// The child's `smtp_alert` mails.
    #[serde(default)]
    pub smtp: SmtpStatus,
}

/// `smtp_alert` mails of a child since it started, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpStatus {
    /// Accepted by the SMTP server.
    pub sent: u64,
    /// Refused, timed out or unreachable.
    pub failed: u64,
    /// Dropped: the queue was full.
    pub dropped: u64,
}

/// The VRRP child's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VrrpStatus {
    /// Every instance.
    pub instances: Vec<InstanceStatus>,
    /// Every sync group.
    pub sync_groups: Vec<SyncGroupStatus>,
    /// Datagrams that reached no instance (unknown VRID, unreadable, foreign source).
    pub foreign_drops: u64,
}

/// One VRRP instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    /// Its name.
    pub name: String,
    /// INIT, BACKUP, MASTER, FAULT or STOP.
    pub state: String,
    /// The configured priority.
    pub priority: u8,
    /// The priority after trackers.
    pub effective_priority: u8,
    /// The virtual router id.
    pub vrid: u8,
    /// The interface.
    pub interface: String,
    /// The master's address when known: our own source address while MASTER, the source of
    /// the adverts we accept while BACKUP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_address: Option<String>,
    /// The master's priority, known with `master_address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_priority: Option<u8>,
    /// When the state last changed, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_unix: Option<f64>,
    /// Why the instance cannot advertise (no VRRP socket, no address on its interface): it
    /// is in FAULT until this clears.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_reason: Option<String>,
    /// The sync group it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_group: Option<String>,
    /// Whether its virtual addresses are installed.
    pub holds_vips: bool,
    /// Its virtual addresses, `ADDR/LEN`.
    pub vips: Vec<String>,
    /// State transitions (into and out of MASTER).
    pub transitions: u64,
    /// Transitions into MASTER.
    pub became_master: u64,
    /// Transitions out of MASTER.
    pub released_master: u64,
    /// Adverts sent.
    pub adverts_sent: u64,
    /// Adverts accepted.
    pub adverts_received: u64,
    /// Adverts with priority 0 sent.
    pub priority_zero_sent: u64,
    /// Adverts with priority 0 accepted.
    pub priority_zero_received: u64,
    /// Dropped adverts by kind of error.
    pub errors: BTreeMap<String, u64>,
}

/// One sync group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncGroupStatus {
    /// Its name.
    pub name: String,
    /// The group's state: the members' common state, or `MIXED` while they differ.
    pub state: String,
    /// Its members.
    pub members: Vec<String>,
}

/// The checker child's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckerStatus {
    /// Every virtual server.
    pub virtual_servers: Vec<VirtualServerStatus>,
    /// The IPVS manager's counters.
    pub ipvs: IpvsStatus,
}

/// IPVS programming counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpvsStatus {
    /// Operations the kernel accepted.
    pub operations: u64,
    /// Batches sent.
    pub batches: u64,
    /// Services owned.
    pub owned_services: u64,
    /// Virtual servers whose programming currently fails, with the error.
    pub failing: BTreeMap<String, String>,
}

/// One virtual server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VirtualServerStatus {
    /// keepalived's name for it: `[ADDR]:proto:PORT`, `FWM N` or `[GROUP]:0`.
    pub name: String,
    /// Whether quorum is met.
    pub quorum_up: bool,
    /// The sum of the live real servers' weights.
    pub live_weight: u64,
    /// Its real servers.
    pub real_servers: Vec<RealServerStatus>,
}

/// One real server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RealServerStatus {
    /// `[ADDR]:proto:PORT`, as keepalived names it.
    pub name: String,
    /// `ADDR:PORT` (`[ADDR]:PORT` for IPv6), as `drain` takes it.
    pub address: String,
    /// Whether every checker passes.
    pub up: bool,
    /// Weight in IPVS; `None` while it is not in the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Whether an operator drained it.
    pub drained: bool,
    /// Its checkers.
    pub checks: Vec<CheckStatus>,
}

/// One checker of a real server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckStatus {
    /// What it is, e.g. `TCP_CHECK 10.0.0.2:80`.
    pub name: String,
    /// Whether it passes.
    pub up: bool,
    /// Failed probes seen (each failure, retries included).
    pub failures: u64,
    /// How long the last probe took, in seconds, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_seconds: Option<f64>,
    /// Why it last failed, while it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The merged status of several children, as `/status` and `rkeepalivedctl show json` print
/// it: `{"up": {CHILD: bool}, "errors": {CHILD: why}, CHILD: status...}`.
pub fn merged_status(results: &[(ChildKind, Result<ChildStatus, String>)]) -> serde_json::Value {
    let mut root = serde_json::Map::new();
    let mut up = serde_json::Map::new();
    let mut errors = serde_json::Map::new();
    for (kind, r) in results {
        let name = kind.name().to_string();
        match r {
            Ok(st) => {
                up.insert(name.clone(), true.into());
                root.insert(
                    name,
                    serde_json::to_value(st).unwrap_or(serde_json::Value::Null),
                );
            }
            Err(e) => {
                up.insert(name.clone(), false.into());
                errors.insert(name.clone(), e.clone().into());
                root.insert(name, serde_json::Value::Null);
            }
        }
    }
    root.insert("up".into(), up.into());
    root.insert("errors".into(), errors.into());
    root.into()
}

/// Why a request could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket.
    #[error("the {child} child is not running (no control socket at {path})")]
    NotRunning {
        /// Which child.
        child: &'static str,
        /// The socket.
        path: String,
    },
    /// The exchange failed or timed out.
    #[error("{child} child at {path}: {source}")]
    Io {
        /// Which child.
        child: &'static str,
        /// The socket.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The reply was not valid JSON.
    #[error("{child} child sent an unreadable reply: {source}")]
    BadReply {
        /// Which child.
        child: &'static str,
        /// The parse error.
        source: serde_json::Error,
    },
}

/// Encodes a request or reply as one line.
pub fn to_line<T: Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string(v).unwrap_or_else(|e| {
        serde_json::json!({"ok": false, "error": format!("cannot encode: {e}")}).to_string()
    });
    s.push('\n');
    s
}

/// Sends one request to the child `kind` listening at `path` and waits (at most `timeout` per
/// read or write) for its reply. Blocking: for `rkeepalivedctl`.
pub fn request_blocking(
    path: &Path,
    kind: ChildKind,
    req: &Request,
    timeout: Duration,
) -> Result<Reply, ClientError> {
    let child = kind.name();
    let shown = path.display().to_string();
    let io = |source| ClientError::Io {
        child,
        path: shown.clone(),
        source,
    };
    let mut stream = match UnixStream::connect(path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(ClientError::NotRunning { child, path: shown })
        }
        Err(e) => return Err(io(e)),
    };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    stream.write_all(to_line(req).as_bytes()).map_err(io)?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).map_err(io)?;
    if line.is_empty() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed without a reply",
        )));
    }
    serde_json::from_str(&line).map_err(|source| ClientError::BadReply { child, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_one_tagged_object_per_line() {
        assert_eq!(to_line(&Request::Status), "{\"cmd\":\"status\"}\n");
        let d = Request::Drain {
            vs: "10.0.0.1:80/tcp".into(),
            rs: "10.0.0.2:80".into(),
        };
        let line = to_line(&d);
        assert_eq!(
            line,
            "{\"cmd\":\"drain\",\"vs\":\"10.0.0.1:80/tcp\",\"rs\":\"10.0.0.2:80\"}\n"
        );
        let back: Request = serde_json::from_str(line.trim()).expect("parses");
        assert_eq!(back, d);
        assert!(serde_json::from_str::<Request>("{\"cmd\":\"reboot\"}").is_err());
        assert!(serde_json::from_str::<Request>("{\"cmd\":\"drain\"}").is_err());
    }

    #[test]
    fn replies_round_trip_and_omit_empty_parts() {
        let e = Reply::error("unknown real server");
        assert_eq!(
            to_line(&e),
            "{\"ok\":false,\"error\":\"unknown real server\"}\n"
        );
        let status = ChildStatus {
            child: ChildKind::Checker,
            pid: 7,
            started_unix: 1.5,
            reloads: ReloadStats {
                ok: 2,
                failed: 1,
                last_unix: Some(3.0),
                last_ok: Some(false),
            },
            vrrp: None,
            smtp: SmtpStatus::default(),
            checker: Some(CheckerStatus {
                virtual_servers: vec![VirtualServerStatus {
                    name: "[10.0.0.1]:tcp:80".into(),
                    quorum_up: true,
                    live_weight: 1,
                    real_servers: vec![RealServerStatus {
                        name: "[10.0.0.2]:tcp:80".into(),
                        address: "10.0.0.2:80".into(),
                        up: true,
                        weight: Some(0),
                        drained: true,
                        checks: Vec::new(),
                    }],
                }],
                ipvs: IpvsStatus::default(),
            }),
        };
        let r = Reply {
            ok: true,
            status: Some(status),
            ..Reply::default()
        };
        let line = to_line(&r);
        assert!(!line.contains("\"vrrp\""), "{line}");
        let back: Reply = serde_json::from_str(&line).expect("parses");
        assert_eq!(back, r);
    }

    #[test]
    fn socket_names_keep_namespace_and_config_id_apart() {
        let dir = Path::new("/run/rkeepalived");
        let at = |ns, netns, id| socket_path_in(dir, ChildKind::Vrrp, ns, netns, id);
        assert_eq!(at(None, None, None), dir.join("vrrp.sock"));
        assert_eq!(
            socket_path_in(dir, ChildKind::Checker, Some("blue"), None, Some("lb/1")),
            dir.join("checker@ns=blue,id=lb_1.sock")
        );
        assert_ne!(at(Some("a"), None, None), at(None, None, Some("a")));
        // Without -s, a daemon in another network namespace is told apart by its inode;
        // -s names the namespace itself and wins.
        assert_eq!(
            at(None, Some(4026532281), Some("x")),
            dir.join("vrrp@netns=4026532281,id=x.sock")
        );
        assert_ne!(at(None, Some(1), None), at(None, Some(2), None));
        assert_eq!(at(Some("b"), Some(7), None), dir.join("vrrp@ns=b.sock"));
    }

    #[test]
    fn the_host_namespace_adds_nothing_to_the_socket_name() {
        // These tests run in the namespace of process 1 unless started in another one: the
        // name follows whichever it is.
        let expected = match own_netns_inode() {
            None => PathBuf::from("/run/rkeepalived/vrrp.sock"),
            Some(i) => PathBuf::from(format!("/run/rkeepalived/vrrp@netns={i}.sock")),
        };
        assert_eq!(socket_path(ChildKind::Vrrp, None, None), expected);
        assert_eq!(named_netns_inode("../x"), None);
        assert_eq!(named_netns_inode(""), None);
    }

    #[test]
    fn a_merged_status_says_which_child_answered() {
        let st = ChildStatus {
            child: ChildKind::Vrrp,
            pid: 3,
            started_unix: 0.0,
            reloads: ReloadStats::default(),
            vrrp: Some(VrrpStatus::default()),
            checker: None,
            smtp: SmtpStatus::default(),
        };
        let v = merged_status(&[
            (ChildKind::Vrrp, Ok(st)),
            (ChildKind::Checker, Err("timed out".into())),
        ]);
        assert_eq!(v["up"]["vrrp"], true);
        assert_eq!(v["up"]["checker"], false);
        assert_eq!(v["errors"]["checker"], "timed out");
        assert_eq!(v["vrrp"]["pid"], 3);
        assert!(v["checker"].is_null());
    }

    #[test]
    fn a_missing_socket_means_not_running() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = socket_path_in(dir.path(), ChildKind::Vrrp, None, None, None);
        let e = request_blocking(
            &p,
            ChildKind::Vrrp,
            &Request::Status,
            Duration::from_secs(1),
        )
        .expect_err("nothing listens");
        assert!(matches!(e, ClientError::NotRunning { .. }), "{e}");
        assert!(e.to_string().contains("not running"));
    }
}
