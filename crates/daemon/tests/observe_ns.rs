//! Observability end to end: the parent's `/metrics` (parsed with the Prometheus project's
//! own Python parsers, `python3-prometheus-client`) and `/status`, the children's control
//! sockets and `rkeepalivedctl`.
//!
//! - `vrrp_metrics_status_and_ctl`: a VRRP instance in a network namespace with a veth; it
//!   becomes MASTER and every view (metrics, status, `rkeepalivedctl show`) says so; reload
//!   results are counted; a child that is not running gives a clear error and exit code. A
//!   second daemon with the same `-i` in another namespace (both started with `ip netns exec`,
//!   no `-s`) gets its own control socket, named after its namespace's inode, reached with
//!   `rkeepalivedctl -s NAME` or from inside the namespace. A reload that changes
//!   `rkeepalived_http_listen` moves the endpoint.
//! - `checker_drain_in_vm`: the checker child needs IPVS, which this host's kernel may lack,
//!   so the test re-runs itself in the rka-vmtest VM (Debian's kernel): a real server that is
//!   a local TCP listener comes up, `rkeepalivedctl drain` puts it to weight 0 in IPVS (kept in
//!   the table, still up), a reload keeps it drained, so does a restart of the checker child
//!   (killed), `undrain` gives its weight back; the drain state file goes with the daemon.
//!
//! Needs root; skipped with a message otherwise (a failure under `CI=true`).

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const RKEEPALIVED: &str = env!("CARGO_BIN_EXE_rkeepalived");
const CTL: &str = env!("CARGO_BIN_EXE_rkeepalivedctl");
/// Debian's interpreter, where python3-prometheus-client is installed.
const PYTHON: &str = "/usr/bin/python3";

/// One parsed sample: metric name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses exposition text with prometheus_client's text parser (and checks it with the
/// stricter OpenMetrics parser, which also checks the types and the `# EOF`).
fn parse_metrics(text: &str) -> Vec<Sample> {
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.openmetrics.parser import text_string_to_metric_families as strict
text = sys.stdin.read()
list(strict(text))
for fam in text_string_to_metric_families(text):
    for s in fam.samples:
        print(json.dumps([s.name, s.labels, s.value]))
"#;
    let mut child = Command::new(PYTHON)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (Debian's, with python3-prometheus-client)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed the parser");
    let out = child.wait_with_output().expect("parser output");
    assert!(
        out.status.success(),
        "the Prometheus parsers rejected the metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Sample>(l).expect("parser line"))
        .collect()
}

/// The value of the sample `name` whose labels include `want`.
fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
}

/// `GET path` on `port` of 127.0.0.1 inside namespace `ns` (`None`: this namespace), on a
/// thread of its own so that entering the namespace does not leak.
fn http_get(ns: Option<&str>, port: u16, path: &str) -> Option<(u16, String)> {
    let ns = ns.map(str::to_string);
    let path = path.to_string();
    std::thread::spawn(move || {
        if let Some(ns) = ns {
            rka_sys::netns::enter_named(&ns).ok()?;
        }
        let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        let code = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((code, body.to_string()))
    })
    .join()
    .ok()
    .flatten()
}

/// Polls `/metrics` until `ok` holds for the parsed samples.
fn wait_metrics(
    ns: Option<&str>,
    port: u16,
    what: &str,
    ok: impl Fn(&[Sample]) -> bool,
) -> Vec<Sample> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Some((200, text)) = http_get(ns, port, "/metrics") {
            let samples = parse_metrics(&text);
            if ok(&samples) {
                return samples;
            }
            last = text;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("timed out waiting for {what}; last metrics:\n{last}");
}

fn status_json(ns: Option<&str>, port: u16) -> serde_json::Value {
    let (code, body) = http_get(ns, port, "/status").expect("/status answers");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("/status is JSON")
}

fn ctl(id: &str, args: &[&str]) -> Output {
    Command::new(CTL)
        .args(["-i", id])
        .args(args)
        .output()
        .expect("run rkeepalivedctl")
}

/// `rkeepalivedctl -s ns -i id args...` from this namespace.
fn ctl_ns(ns: &str, id: &str, args: &[&str]) -> Output {
    Command::new(CTL)
        .args(["-s", ns, "-i", id])
        .args(args)
        .output()
        .expect("run rkeepalivedctl")
}

/// `rkeepalivedctl -i id args...` run inside namespace `ns`.
fn ctl_inside(ns: &str, id: &str, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns, CTL, "-i", id])
        .args(args)
        .output()
        .expect("run rkeepalivedctl")
}

/// The inode of the named network namespace.
fn netns_inode(ns: &str) -> u64 {
    std::os::unix::fs::MetadataExt::ino(
        &std::fs::metadata(Path::new("/run/netns").join(ns)).expect("named namespace"),
    )
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A running daemon (stopped with SIGTERM on drop) and the namespaces it needs.
struct Lab {
    namespaces: Vec<String>,
    daemon: Option<Child>,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        Lab {
            namespaces: Vec::new(),
            daemon: None,
            log: PathBuf::new(),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn pidfile(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts rkeepalived with `conf` (in namespace `ns`, if given) and `extra` options.
    fn start(&mut self, ns: Option<&str>, conf: &str, extra: &[&str]) {
        let path = self.dir.path().join("keepalived.conf");
        std::fs::write(&path, conf).expect("write the configuration");
        self.log = self.dir.path().join("daemon.log");
        let out = std::fs::File::create(&self.log).expect("log");
        let err = out.try_clone().expect("log");
        let mut cmd = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, RKEEPALIVED]);
                c
            }
            None => Command::new(RKEEPALIVED),
        };
        cmd.args(["-n", "-l", "-D", "-f"])
            .arg(&path)
            .arg("-p")
            .arg(self.pidfile("parent.pid"))
            .arg("-r")
            .arg(self.pidfile("vrrp.pid"))
            .arg("-c")
            .arg(self.pidfile("checker.pid"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        self.daemon = Some(cmd.spawn().expect("start rkeepalived"));
    }

    fn signal(&self, sig: &str) {
        let pid = std::fs::read_to_string(self.pidfile("parent.pid")).expect("parent pidfile");
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), pid.trim()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig} {pid}");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the daemon and waits for it.
    fn stop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            if let Ok(pid) = std::fs::read_to_string(self.pidfile("parent.pid")) {
                let _ = Command::new("kill").args(["-TERM", pid.trim()]).status();
            }
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = d.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop();
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ip(args: &[&str]) {
    let ok = Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ip {}", args.join(" "));
}

fn socket(kind: &str, id: &str) -> PathBuf {
    Path::new("/run/rkeepalived").join(format!("{kind}@id={id}.sock"))
}

/// The control socket of a daemon started with `ip netns exec ns` (no `-s`) and `-i id`.
fn socket_in(kind: &str, ns: &str, id: &str) -> PathBuf {
    Path::new("/run/rkeepalived").join(format!("{kind}@netns={},id={id}.sock", netns_inode(ns)))
}

#[test]
fn vrrp_metrics_status_and_ctl() {
    if !rka_sys::netns::privileged_tests_available("observe_ns") {
        return;
    }
    let pid = std::process::id();
    let (a, b) = (format!("rko{pid}a"), format!("rko{pid}b"));
    let id = format!("obs-vrrp-{pid}");
    let port = 9651;
    let mut lab = Lab::new();
    for ns in [&a, &b] {
        ip(&["netns", "add", ns]);
        lab.namespaces.push(ns.clone());
    }
    let veth = format!("rko{pid}");
    ip(&[
        "link", "add", &veth, "netns", &a, "type", "veth", "peer", "name", "peer0", "netns", &b,
    ]);
    ip(&["-n", &a, "link", "set", &veth, "name", "eth0"]);
    for (ns, dev) in [(&a, "eth0"), (&a, "lo"), (&b, "peer0")] {
        ip(&["-n", ns, "link", "set", dev, "up"]);
    }
    ip(&["-n", &a, "addr", "add", "10.9.8.1/24", "dev", "eth0"]);
    let conf = format!(
        "global_defs {{\n  router_id obs\n  rkeepalived_http_listen 127.0.0.1:{port}\n}}\n\
         vrrp_instance VI_OBS {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 61\n  \
         priority 150\n  advert_int 1\n  virtual_ipaddress {{\n    10.9.8.100/24\n  }}\n}}\n"
    );
    lab.start(Some(&a), &conf, &["-P", "-i", &id]);

    let samples = wait_metrics(Some(&a), port, "VI_OBS MASTER", |s| {
        value(
            s,
            "rkeepalived_vrrp_state",
            &[("instance", "VI_OBS"), ("state", "MASTER")],
        ) == Some(1.0)
    });
    let v = |name: &str, labels: &[(&str, &str)]| {
        value(&samples, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?}"))
    };
    assert_eq!(v("rkeepalived_up", &[("child", "vrrp")]), 1.0);
    assert_eq!(
        v(
            "rkeepalived_vrrp_state",
            &[("instance", "VI_OBS"), ("state", "BACKUP")]
        ),
        0.0
    );
    assert_eq!(
        v("rkeepalived_vrrp_priority", &[("instance", "VI_OBS")]),
        150.0
    );
    assert_eq!(
        v(
            "rkeepalived_vrrp_effective_priority",
            &[("instance", "VI_OBS")]
        ),
        150.0
    );
    assert!(
        v(
            "rkeepalived_vrrp_adverts_sent_total",
            &[("instance", "VI_OBS")]
        ) >= 1.0
    );
    assert_eq!(
        v(
            "rkeepalived_vrrp_became_master_total",
            &[("instance", "VI_OBS")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "rkeepalived_vrrp_errors_total",
            &[("instance", "VI_OBS"), ("kind", "bad_ttl")]
        ),
        0.0
    );
    assert_eq!(
        v("rkeepalived_child_restarts_total", &[("child", "vrrp")]),
        0.0
    );
    assert_eq!(
        v(
            "rkeepalived_reloads_total",
            &[("child", "vrrp"), ("result", "ok")]
        ),
        0.0
    );
    // -P: no checker child is expected, so none is reported down.
    assert!(value(&samples, "rkeepalived_up", &[("child", "checker")]).is_none());

    let st = status_json(Some(&a), port);
    assert_eq!(st["up"]["vrrp"], true, "{st}");
    let inst = &st["vrrp"]["vrrp"]["instances"][0];
    assert_eq!(inst["name"], "VI_OBS");
    assert_eq!(inst["state"], "MASTER");
    assert_eq!(inst["vrid"], 61);
    assert_eq!(inst["interface"], "eth0");
    assert_eq!(inst["master_address"], "10.9.8.1");
    assert_eq!(inst["holds_vips"], true);
    assert_eq!(
        http_get(Some(&a), port, "/nothing").map(|(c, _)| c),
        Some(404)
    );

    // The control socket is private and named after -i and the namespace (the daemon was
    // started inside it without -s).
    let sock = socket_in("vrrp", &a, &id);
    assert!(!socket("vrrp", &id).exists());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&sock).expect("socket").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // From this namespace without -s: not that daemon.
    let o = ctl(&id, &["show", "instances"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = ctl_inside(&a, &id, &["show", "instances"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = ctl_ns(&a, &id, &["show", "instances"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let row = out
        .lines()
        .find(|l| l.starts_with("VI_OBS"))
        .unwrap_or_else(|| panic!("no VI_OBS row: {}", text(&o)));
    for cell in [
        "MASTER",
        "61",
        "eth0",
        "150/150",
        "10.9.8.1",
        "10.9.8.100/24",
    ] {
        assert!(row.split_whitespace().any(|c| c == cell), "{cell} in {row}");
    }
    let o = ctl_ns(&a, &id, &["show", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(j["vrrp"]["vrrp"]["instances"][0]["state"], "MASTER");
    assert_eq!(j["up"]["checker"], false);
    // The checker child does not run (-P): a clear error, exit code 1.
    let o = ctl_ns(&a, &id, &["drain", "10.0.0.1:80/tcp", "10.0.0.2:80"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("checker child is not running"),
        "{}",
        text(&o)
    );

    // Reloads are counted, with their time.
    let counter =
        |s: &[Sample], name: &str| value(s, name, &[("instance", "VI_OBS")]).unwrap_or(-1.0);
    let sent_before = counter(&samples, "rkeepalived_vrrp_adverts_sent_total");
    let transitions_before = counter(&samples, "rkeepalived_vrrp_transitions_total");
    lab.signal("HUP");
    let after = wait_metrics(Some(&a), port, "one reload counted", |s| {
        value(
            s,
            "rkeepalived_reloads_total",
            &[("child", "vrrp"), ("result", "ok")],
        ) == Some(1.0)
            && value(
                s,
                "rkeepalived_last_reload_timestamp_seconds",
                &[("child", "vrrp")],
            )
            .is_some_and(|t| t > 1.0e9)
    });
    // The instance the reload kept goes on counting; staying MASTER is no transition.
    assert!(
        counter(&after, "rkeepalived_vrrp_adverts_sent_total") >= sent_before,
        "adverts counter went back after the reload"
    );
    assert_eq!(
        counter(&after, "rkeepalived_vrrp_transitions_total"),
        transitions_before,
        "the reload counted a transition"
    );

    // A second daemon with the same -i in the other namespace: its own socket, no conflict.
    let mut other = Lab::new();
    let conf_b = "global_defs {\n  router_id obs2\n}\n\
         vrrp_instance VI_B {\n  state BACKUP\n  interface peer0\n  virtual_router_id 62\n  \
         priority 100\n  advert_int 1\n  virtual_ipaddress {\n    10.9.8.200/24\n  }\n}\n";
    other.start(Some(&b), conf_b, &["-P", "-i", &id]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let found = loop {
        let o = ctl_ns(&b, &id, &["show", "json"]);
        if o.status.success() || Instant::now() > deadline {
            break o;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(found.status.success(), "{}\n{}", text(&found), other.log());
    let j: serde_json::Value = serde_json::from_slice(&found.stdout).expect("json");
    assert_eq!(j["vrrp"]["vrrp"]["instances"][0]["name"], "VI_B");
    assert!(socket_in("vrrp", &b, &id).exists() && sock.exists());
    let o = ctl_ns(&a, &id, &["show", "json"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(j["vrrp"]["vrrp"]["instances"][0]["name"], "VI_OBS");
    for log in [lab.log(), other.log()] {
        assert!(!log.contains("in use"), "{log}");
    }
    other.stop();

    // A reload that changes rkeepalived_http_listen moves the endpoint.
    let moved = port + 10;
    std::fs::write(
        lab.dir.path().join("keepalived.conf"),
        conf.replace(&format!(":{port}"), &format!(":{moved}")),
    )
    .expect("rewrite the configuration");
    lab.signal("HUP");
    wait_metrics(Some(&a), moved, "the endpoint on its new port", |s| {
        value(
            s,
            "rkeepalived_reloads_total",
            &[("child", "vrrp"), ("result", "ok")],
        ) == Some(2.0)
    });
    assert!(
        http_get(Some(&a), port, "/metrics").is_none(),
        "the old port is closed"
    );

    lab.stop();
    assert!(!sock.exists(), "socket removed on stop:\n{}", lab.log());
    let o = ctl_ns(&a, &id, &["show"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not running"),
        "{}",
        text(&o)
    );
}

/// The line of `ipvsadm -Ln` for real server `rs`.
fn ipvs_line(rs: &str) -> Option<String> {
    let out = Command::new("ipvsadm").arg("-Ln").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.contains(rs))
        .map(str::to_string)
}

/// The weight column of `ipvsadm -Ln` for `rs`.
fn ipvs_weight(rs: &str) -> Option<u32> {
    ipvs_line(rs)?.split_whitespace().nth(3)?.parse().ok()
}

fn wait_for(what: &str, lab: &Lab, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}; log:\n{}", lab.log());
}

fn checker_drain_body() {
    let port = 9652;
    let id = "obs-check";
    let rs = "127.0.0.1:8011";
    let _listener = std::net::TcpListener::bind(rs).expect("real server listens");
    let mut lab = Lab::new();
    let conf = format!(
        "global_defs {{\n  router_id obs\n  rkeepalived_http_listen 127.0.0.1:{port}\n}}\n\
         virtual_server 10.0.0.50 80 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  \
         protocol TCP\n  real_server 127.0.0.1 8011 {{\n    weight 5\n    TCP_CHECK {{\n      \
         connect_timeout 1\n    }}\n  }}\n}}\n"
    );
    let _ = Command::new("ipvsadm").arg("-C").status();
    lab.start(None, &conf, &["-C", "-i", id]);
    let vs = "virtual_server";
    let vsn = "[10.0.0.50]:tcp:80";
    let samples = wait_metrics(None, port, "the real server up", |s| {
        value(
            s,
            "rkeepalived_real_server_up",
            &[(vs, vsn), ("real_server", rs)],
        ) == Some(1.0)
    });
    let labels = [(vs, vsn), ("real_server", rs)];
    assert_eq!(
        value(&samples, "rkeepalived_up", &[("child", "checker")]),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "rkeepalived_real_server_weight", &labels),
        Some(5.0)
    );
    assert_eq!(
        value(&samples, "rkeepalived_real_server_drained", &labels),
        Some(0.0)
    );
    assert!(value(&samples, "rkeepalived_ipvs_operations_total", &[]).is_some_and(|n| n >= 2.0));
    assert_eq!(
        value(
            &samples,
            "rkeepalived_virtual_server_quorum_up",
            &[(vs, vsn)]
        ),
        Some(1.0)
    );
    wait_for("weight 5 in IPVS", &lab, || ipvs_weight(rs) == Some(5));

    let o = ctl(id, &["show", "virtual-servers"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let row = out
        .lines()
        .find(|l| l.contains(rs))
        .expect("real server row");
    assert!(
        row.contains("UP") && row.contains(" 5 ") && row.contains(" no "),
        "{row}"
    );

    let o = ctl(id, &["drain", "10.0.0.50:80/tcp", rs]);
    assert!(o.status.success(), "{}", text(&o));
    wait_for("weight 0 in IPVS", &lab, || ipvs_weight(rs) == Some(0));
    let st = status_json(None, port);
    let r = &st["checker"]["checker"]["virtual_servers"][0]["real_servers"][0];
    assert_eq!(r["drained"], true, "{st}");
    assert_eq!(r["weight"], 0);
    assert_eq!(r["up"], true, "a drained server is still checked and up");
    let o = ctl(id, &["drain", "10.0.0.50:80/tcp", rs]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("already drained"),
        "{}",
        text(&o)
    );
    // Unknown servers: a clear refusal, exit code 3.
    let o = ctl(id, &["drain", "10.0.0.50:80/tcp", "127.0.0.1:9"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no real server"));
    let o = ctl(id, &["drain", "10.0.0.51:80/tcp", rs]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown virtual server"));

    // A reload keeps the drain.
    lab.signal("HUP");
    wait_metrics(None, port, "the reload", |s| {
        value(
            s,
            "rkeepalived_reloads_total",
            &[("child", "checker"), ("result", "ok")],
        ) == Some(1.0)
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(ipvs_weight(rs), Some(0), "drained across the reload");
    let s = wait_metrics(None, port, "drained flag", |s| {
        value(s, "rkeepalived_real_server_drained", &labels) == Some(1.0)
    });
    assert_eq!(
        value(&s, "rkeepalived_real_server_weight", &labels),
        Some(0.0)
    );

    // A restart of the checker child (killed: nothing cleaned up) keeps the drain: the new
    // child reads the state file before it programs IPVS, so the weight never comes back.
    let drains = Path::new("/run/rkeepalived").join(format!("checker@id={id}.drains"));
    assert!(drains.exists(), "drain state file");
    let old_pid = std::fs::read_to_string(lab.pidfile("checker.pid")).expect("checker pidfile");
    let ok = Command::new("kill")
        .args(["-KILL", old_pid.trim()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill the checker child");
    wait_metrics(None, port, "a new checker child, drained and up", |s| {
        value(
            s,
            "rkeepalived_child_restarts_total",
            &[("child", "checker")],
        ) == Some(1.0)
            && value(s, "rkeepalived_real_server_drained", &labels) == Some(1.0)
            && value(s, "rkeepalived_real_server_up", &labels) == Some(1.0)
    });
    for _ in 0..10 {
        assert_eq!(ipvs_weight(rs), Some(0), "drained across the restart");
        std::thread::sleep(Duration::from_millis(200));
    }

    let o = ctl(id, &["undrain", "10.0.0.50:80/tcp", rs]);
    assert!(o.status.success(), "{}", text(&o));
    wait_for("weight 5 again", &lab, || ipvs_weight(rs) == Some(5));
    assert!(!drains.exists(), "nothing drained: no state file");
    let s = wait_metrics(None, port, "undrained", |s| {
        value(s, "rkeepalived_real_server_drained", &labels) == Some(0.0)
    });
    assert_eq!(
        value(&s, "rkeepalived_real_server_weight", &labels),
        Some(5.0)
    );
    // A drain does not outlive the daemon.
    let o = ctl(id, &["drain", "10.0.0.50:80/tcp", rs]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(drains.exists());
    lab.stop();
    assert!(!socket("checker", id).exists());
    assert!(!drains.exists(), "drains forgotten when the daemon stops");
    println!("all observe VM checks passed");
}

#[test]
fn checker_drain_in_vm() {
    common::vm::vm_test(
        "observe VM test",
        "checker_drain_in_vm",
        &["--timeout", "600"],
        "all observe VM checks passed",
        checker_drain_body,
    );
}
