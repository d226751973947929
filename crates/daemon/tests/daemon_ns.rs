//! keepalived's operational contract (issue 6, parts 1-2), in network namespaces: pidfiles and
//! "already running", signals (HUP reload, TERM/INT stop, USR1/USR2/RTMIN+2/RTMAX-1 dumps),
//! `--signum`, `-P`/`-C`, `-R`, respawn with back-off, logging (`-l`, `-g`, `-G`, `-d`, syslog
//! identities), `-s`, `-u`, `-m`, startup/shutdown scripts, `reload_check_config`,
//! `vrrp_startup_delay`, the process keywords at start and on reload, `reload_file`,
//! `reload_time_file` and `data_use_instance`.
//!
//! The data dump's Global definitions and Interfaces sections are compared with keepalived's
//! line by line (labels, and values where both run the same configuration).
//!
//! Each scenario takes the daemon as a parameter and most run against both rkeepalived and
//! Debian's keepalived 2.2.7, concurrently: the same assertions hold for both. Every test has
//! its own namespace (a veth pair, `eth0` = 10.8.0.1/24) and runs the daemon under a private
//! tmpfs `/tmp` (and `/run` where the default pidfiles are tested), so that the fixed dump
//! file names never collide with other tests; those files are read through
//! `/proc/PID/root`. Syslog is captured by pointing `/dev/log` of a private `/dev` at a
//! socket of the test.
//!
//! The checker child's dump needs IPVS, which this kernel lacks: that one scenario runs in the
//! rka-vmtest VM (`checker_dump_in_vm`), beside keepalived there.
//!
//! Needs root; skipped with a message otherwise (a failure under `CI=true`).

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{run, tail, Impl, RKEEPALIVED};

const VIP: &str = "10.8.0.100";
const VIP2: &str = "10.8.0.101";
const VIP3: &str = "10.8.0.102";

const BOTH: [Impl; 2] = [Impl::Rust, Impl::Keepalived];

/// Runs `scenario` for each implementation in its own thread; fails if any fails.
fn each(imps: &[Impl], scenario: fn(Impl)) {
    if !common::privileged("daemon_ns") {
        return;
    }
    let handles: Vec<_> = imps
        .iter()
        .map(|&i| (i, thread::spawn(move || scenario(i))))
        .collect();
    let failed: Vec<String> = handles
        .into_iter()
        .filter_map(|(i, h)| h.join().is_err().then(|| format!("{i:?}")))
        .collect();
    assert!(failed.is_empty(), "failed for {}", failed.join(", "));
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// How a daemon is started.
#[derive(Debug, Clone, Copy, Default)]
struct Wrap {
    /// A private tmpfs on `/run` (default pidfiles).
    private_run: bool,
    /// A private `/dev` whose `/dev/log` is the lab's syslog socket.
    syslog: bool,
    /// Start from the host's namespace (for `-s`), not inside the lab's.
    host_ns: bool,
}

/// One namespace and a work directory outside `/tmp` (the daemons get a private `/tmp`).
struct Lab {
    ns: String,
    dir: tempfile::TempDir,
    daemons: Vec<Child>,
    /// Syslog datagrams, read continuously (a full socket queue would block the daemons).
    syslog: Option<Arc<Mutex<Vec<String>>>>,
    stop: Arc<AtomicBool>,
}

/// A started daemon: the parent's pid, its log.
struct Daemon {
    pid: i32,
    log: PathBuf,
    index: usize,
}

impl Lab {
    fn new() -> Lab {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let ns = format!("rkd{}-{n}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        run("ip", &["netns", "add", &ns]);
        let lab = Lab {
            ns,
            dir: tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir"),
            daemons: Vec::new(),
            syslog: None,
            stop: Arc::new(AtomicBool::new(false)),
        };
        let ns = lab.ns.as_str();
        run(
            "ip",
            &[
                "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
            ],
        );
        for dev in ["lo", "eth0", "eth1"] {
            run("ip", &["-n", ns, "link", "set", dev, "up"]);
        }
        run(
            "ip",
            &["-n", ns, "addr", "add", "10.8.0.1/24", "dev", "eth0"],
        );
        lab
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn write(&self, name: &str, text: &str) -> String {
        fs::write(self.path(name), text).expect("write");
        self.p(name)
    }

    /// The lab's syslog socket, bound on first use.
    fn syslog_socket(&mut self) -> String {
        let path = self.path("log.sock");
        if self.syslog.is_none() {
            let s = UnixDatagram::bind(&path).expect("bind syslog socket");
            s.set_read_timeout(Some(Duration::from_millis(100)))
                .expect("timeout");
            let lines = Arc::new(Mutex::new(Vec::new()));
            let (out, stop) = (lines.clone(), self.stop.clone());
            thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(n) = s.recv(&mut buf) {
                        let line = String::from_utf8_lossy(&buf[..n]).into_owned();
                        out.lock().expect("lock").push(line);
                    }
                }
            });
            self.syslog = Some(lines);
        }
        path.display().to_string()
    }

    /// Every syslog datagram received so far.
    fn syslog_lines(&self) -> Vec<String> {
        self.syslog
            .as_ref()
            .map(|l| l.lock().expect("lock").clone())
            .unwrap_or_default()
    }

    /// Starts `imp` with `args` (the lab adds nothing but what `wrap` asks for).
    fn start(&mut self, imp: Impl, args: &[&str], wrap: Wrap) -> Daemon {
        let index = self.daemons.len();
        let log_path = self.path(&format!("daemon{index}.log"));
        let log = fs::File::create(&log_path).expect("log");
        // The daemon gets a private tmpfs on /tmp. When the binary or the lab directory live
        // under /tmp (a checkout in /tmp, as CI may use), their top directories are bound back
        // into it through /mnt, so the daemon still finds them.
        let mut setup = common::private_tmp(None, &[Path::new(RKEEPALIVED), self.dir.path()]);
        if wrap.private_run {
            setup.push_str(" && mount -t tmpfs tmpfs /run");
        }
        if wrap.syslog {
            let sock = self.syslog_socket();
            setup.push_str(&format!(
                " && mount -t tmpfs tmpfs /dev && mknod -m 666 /dev/null c 1 3 && mknod -m 666 /dev/urandom c 1 9 && ln -s {sock} /dev/log"
            ));
        }
        setup.push_str(" && exec \"$@\"");
        let mut cmd = if wrap.host_ns {
            let mut c = Command::new("unshare");
            c.args(["-m", "--propagation", "private", "sh", "-c", &setup, "sh"]);
            c
        } else {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", &self.ns, "sh", "-c", &setup, "sh"]);
            c
        };
        let child = cmd
            .arg(imp.program())
            .args(args)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn daemon");
        let pid = i32::try_from(child.id()).expect("pid");
        self.daemons.push(child);
        Daemon {
            pid,
            log: log_path,
            index,
        }
    }

    /// `-P` (VRRP only: the namespace has no IPVS) and [`Lab::start_plain`].
    fn start_vrrp(&mut self, imp: Impl, conf: &str, extra: &[&str]) -> Daemon {
        let mut args = vec!["-P"];
        args.extend_from_slice(extra);
        self.start_plain(imp, conf, &args)
    }

    /// `-n -l -D`, private pidfiles in the lab directory (`k.pid`, `v.pid`, `c.pid`), `conf`.
    fn start_plain(&mut self, imp: Impl, conf: &str, extra: &[&str]) -> Daemon {
        let conf = self.write("keepalived.conf", conf);
        let (p, r, c) = (self.p("k.pid"), self.p("v.pid"), self.p("c.pid"));
        let mut args = vec!["-n", "-l", "-D", "-f", &conf, "-p", &p, "-r", &r, "-c", &c];
        args.extend_from_slice(extra);
        self.start(imp, &args, Wrap::default())
    }

    fn has_addr(&self, addr: &str) -> bool {
        Command::new("ip")
            .args(["-n", &self.ns, "-o", "addr", "show", "dev", "eth0"])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .any(|w| w.split('/').next() == Some(addr))
            })
            .unwrap_or(false)
    }

    /// Waits for the daemon's exit; its status code.
    fn wait_exit(&mut self, d: &Daemon, limit: Duration) -> Option<i32> {
        let child = &mut self.daemons[d.index];
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(st)) = child.try_wait() {
                return st.code();
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{}: daemon did not exit within {limit:?}\n{}",
            self.ns,
            tail(&d.log_text(), 30)
        );
    }

    fn exited(&mut self, d: &Daemon) -> bool {
        matches!(self.daemons[d.index].try_wait(), Ok(Some(_)))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.daemons {
            if let Ok(None) = c.try_wait() {
                if let Ok(pid) = i32::try_from(c.id()) {
                    signal(pid, libc::SIGTERM);
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for c in &mut self.daemons {
            while Instant::now() < deadline {
                if !matches!(c.try_wait(), Ok(None)) {
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        self.stop.store(true, Ordering::Relaxed);
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

impl Daemon {
    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A file as the daemon sees it (its private `/tmp` and `/run`).
    fn file(&self, path: &str) -> Option<String> {
        fs::read_to_string(format!("/proc/{}/root{path}", self.pid)).ok()
    }

    fn signal(&self, signo: i32) {
        signal(self.pid, signo);
    }
}

fn signal(pid: i32, signo: i32) {
    let _ = rka_sys::host::send_signal(pid as u32, signo);
}

/// Waits until `f` holds; panics with the daemon's log after `limit`.
fn wait(d: &Daemon, limit: Duration, what: &str, f: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if f() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}\n--- log ---\n{}",
            tail(&d.log_text(), 40)
        );
        thread::sleep(Duration::from_millis(25));
    }
}

fn pid_in(text: Option<String>) -> Option<i32> {
    text.and_then(|t| t.trim().parse().ok())
}

fn ppid(pid: i32) -> Option<i32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
}

fn proc_status(pid: i32, key: &str) -> String {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
        .unwrap_or_default()
}

/// One VRRPv3 instance (fast adverts: MASTER in about 0.4 s) with `vips`, and extra
/// `global_defs` lines.
fn conf(global: &str, vips: &[&str]) -> String {
    format!(
        "global_defs {{\n  router_id lab\n{global}\n}}\nvrrp_instance VI_1 {{\n  interface eth0\n  state BACKUP\n  version 3\n  virtual_router_id 51\n  priority 150\n  advert_int 0.1\n  virtual_ipaddress {{\n{}  }}\n}}\n",
        vips.iter().map(|v| format!("    {v}/24\n")).collect::<String>()
    )
}

/// glibc's SIGRTMIN + 2 (`--signum=JSON`) and SIGRTMAX - 1 (`--signum=STATS_CLEAR`).
const SIG_JSON: i32 = 36;
const SIG_STATS_CLEAR: i32 = 63;

#[allow(non_snake_case)]
fn SECS(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn signum_prints_keepalived_numbers() {
    if !common::privileged("daemon_ns") {
        return;
    }
    for name in [
        "STOP",
        "RELOAD",
        "DATA",
        "STATS",
        "STATS_CLEAR",
        "JSON",
        "BOGUS",
    ] {
        let outs: Vec<(Option<i32>, String)> = BOTH
            .iter()
            .map(|i| {
                let o = Command::new(i.program())
                    .arg(format!("--signum={name}"))
                    .output()
                    .expect("run");
                (
                    o.status.code(),
                    String::from_utf8_lossy(&o.stdout).trim().to_string(),
                )
            })
            .collect();
        assert_eq!(outs[0].1, outs[1].1, "--signum={name} prints differently");
        assert_eq!(
            outs[0].0 == Some(0),
            outs[1].0 == Some(0),
            "--signum={name} succeeds for one only: {outs:?}"
        );
    }
}

#[test]
fn missing_configuration_file_exits_6() {
    if !common::privileged("daemon_ns") {
        return;
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    for imp in BOTH {
        let p = |n: &str| dir.path().join(n).display().to_string();
        let out = Command::new(imp.program())
            .args(["-n", "-l", "-P", "-f", &p("missing.conf")])
            .args(["-p", &p("k.pid"), "-r", &p("v.pid"), "-c", &p("c.pid")])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(6), "{imp:?}");
    }
}

fn scenario_default_pidfiles(imp: Impl) {
    let mut lab = Lab::new();
    let conf = lab.write("keepalived.conf", &conf("", &[VIP]));
    let args = ["-n", "-l", "-P", "-f", &conf];
    let wrap = Wrap {
        private_run: true,
        ..Wrap::default()
    };
    let d = lab.start(imp, &args, wrap);
    wait(&d, SECS(10), "the VRRP pidfile", || {
        pid_in(d.file("/run/vrrp.pid")).is_some()
    });
    assert_eq!(pid_in(d.file("/run/keepalived.pid")), Some(d.pid));
    let vrrp = pid_in(d.file("/run/vrrp.pid")).expect("vrrp pid");
    assert_eq!(ppid(vrrp), Some(d.pid), "the VRRP child's parent");
    assert!(
        d.file("/run/checkers.pid").is_none(),
        "-P: no checker child"
    );
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    // A second daemon in the same mount namespace sees the pidfile and steps back, exit 0.
    let out = Command::new("nsenter")
        .args(["-t", &d.pid.to_string(), "-m", "-n", imp.program()])
        .args(args)
        .output()
        .expect("second start");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("already running"), "{text}");
    assert_eq!(pid_in(d.file("/run/keepalived.pid")), Some(d.pid));
    // TERM: exit 0, VIP and pidfiles gone.
    d.signal(libc::SIGTERM);
    assert_eq!(lab.wait_exit(&d, SECS(10)), Some(0));
    assert!(!lab.has_addr(VIP), "the VIP was left behind");
}

#[test]
fn default_pidfiles_already_running_and_term() {
    each(&BOTH, scenario_default_pidfiles);
}

/// `instance NAME` (and `use_pid_dir`): the default pidfiles are named after the instance in
/// /run/keepalived/, which goes with them on stop (seen from a process kept in the daemon's
/// private mount namespace).
fn scenario_instance_pidfiles(imp: Impl) {
    for (keyword, parent, vrrp) in [
        (
            "instance foo",
            "/run/keepalived/keepalived_foo.pid",
            "/run/keepalived/vrrp_foo.pid",
        ),
        (
            "use_pid_dir",
            "/run/keepalived/keepalived.pid",
            "/run/keepalived/vrrp.pid",
        ),
    ] {
        let mut lab = Lab::new();
        let text = format!("{keyword}\n{}", conf("", &[VIP]));
        let conf = lab.write("keepalived.conf", &text);
        let args = ["-n", "-l", "-P", "-f", &conf];
        let wrap = Wrap {
            private_run: true,
            ..Wrap::default()
        };
        let d = lab.start(imp, &args, wrap);
        wait(&d, SECS(10), "the VRRP pidfile", || {
            pid_in(d.file(vrrp)).is_some()
        });
        assert_eq!(pid_in(d.file(parent)), Some(d.pid), "{imp:?} {keyword}");
        assert!(d.file("/run/keepalived.pid").is_none(), "{imp:?} {keyword}");
        let mut keeper = Command::new("nsenter")
            .args(["-t", &d.pid.to_string(), "-m", "sleep", "30"])
            .spawn()
            .expect("a process in the daemon's mount namespace");
        thread::sleep(Duration::from_millis(200));
        let run = format!("/proc/{}/root/run", keeper.id());
        assert!(
            Path::new(&run).join(&parent[5..]).exists(),
            "{imp:?} {keyword}: the keeper sees the daemon's /run"
        );
        d.signal(libc::SIGTERM);
        assert_eq!(lab.wait_exit(&d, SECS(10)), Some(0), "{imp:?} {keyword}");
        let left = Path::new(&run).join("keepalived").exists();
        let _ = keeper.kill();
        let _ = keeper.wait();
        assert!(!left, "{imp:?} {keyword}: /run/keepalived left behind");
    }
}

#[test]
fn instance_and_use_pid_dir_pidfiles() {
    each(&BOTH, scenario_instance_pidfiles);
}

fn scenario_custom_pidfiles_int(imp: Impl) {
    let mut lab = Lab::new();
    let d = lab.start_vrrp(imp, &conf("", &[VIP]), &[]);
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    assert_eq!(
        pid_in(fs::read_to_string(lab.path("k.pid")).ok()),
        Some(d.pid)
    );
    let vrrp = pid_in(fs::read_to_string(lab.path("v.pid")).ok()).expect("vrrp pidfile");
    assert_eq!(ppid(vrrp), Some(d.pid));
    // Another parent pidfile but the same VRRP pidfile: still "already running".
    let (conf_path, other, v) = (lab.p("keepalived.conf"), lab.p("other.pid"), lab.p("v.pid"));
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.ns, imp.program(), "-n", "-l", "-P"])
        .args(["-f", &conf_path, "-p", &other, "-r", &v])
        .output()
        .expect("second start");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{imp:?}: {text}");
    assert!(text.contains("already running"), "{imp:?}: {text}");
    assert_eq!(
        pid_in(fs::read_to_string(lab.path("v.pid")).ok()),
        Some(vrrp)
    );
    let mode = fs::metadata(lab.path("k.pid")).expect("stat");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o644
    );
    d.signal(libc::SIGINT);
    assert_eq!(lab.wait_exit(&d, SECS(10)), Some(0));
    assert!(!lab.path("k.pid").exists(), "parent pidfile left");
    assert!(!lab.path("v.pid").exists(), "VRRP pidfile left");
    assert!(!lab.has_addr(VIP), "the VIP was left behind");
}

#[test]
fn custom_pidfiles_and_int_stop() {
    each(&BOTH, scenario_custom_pidfiles_int);
}

fn scenario_reload(imp: Impl) {
    let mut lab = Lab::new();
    let d = lab.start_vrrp(imp, &conf("", &[VIP]), &[]);
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    lab.write("keepalived.conf", &conf("", &[VIP2]));
    d.signal(libc::SIGHUP);
    wait(&d, SECS(10), "the new VIP in, the old out", || {
        lab.has_addr(VIP2) && !lab.has_addr(VIP)
    });
    assert!(!lab.exited(&d));
}

#[test]
fn hup_reload_swaps_vips() {
    each(&BOTH, scenario_reload);
}

fn scenario_reload_check_config(imp: Impl) {
    let mut lab = Lab::new();
    let check = lab.p("check.log");
    let global = format!("  reload_check_config {check}");
    let d = lab.start_vrrp(imp, &conf(&global, &[VIP]), &[]);
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    // A new configuration with a warning is refused as a whole.
    let broken = conf(&global, &[VIP3]).replace("priority 150", "priority 150\n  bogus_keyword 1");
    lab.write("keepalived.conf", &broken);
    d.signal(libc::SIGHUP);
    wait(&d, SECS(10), "the check log", || {
        fs::read_to_string(&check).is_ok_and(|t| t.contains("bogus_keyword"))
    });
    wait(&d, SECS(5), "the refusal in the log", || {
        d.log_text().contains("failed validation")
    });
    thread::sleep(Duration::from_millis(500));
    assert!(
        lab.has_addr(VIP) && !lab.has_addr(VIP3),
        "a refused reload changed the VIPs"
    );
    // Fixed: the reload goes through.
    lab.write("keepalived.conf", &conf(&global, &[VIP3]));
    d.signal(libc::SIGHUP);
    wait(&d, SECS(10), "the reload", || {
        lab.has_addr(VIP3) && !lab.has_addr(VIP)
    });
}

#[test]
fn reload_check_config_refuses_a_bad_config() {
    each(&BOTH, scenario_reload_check_config);
}

/// The dumps of `imp` after it became MASTER: (data, parent data, stats, json).
fn dumps(imp: Impl) -> (String, String, String, serde_json::Value, String) {
    let mut lab = Lab::new();
    let d = lab.start_vrrp(imp, &conf("", &[VIP]), &[]);
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    thread::sleep(Duration::from_millis(300));
    d.signal(libc::SIGUSR1);
    d.signal(libc::SIGUSR2);
    d.signal(SIG_JSON);
    let files = [
        "/tmp/keepalived.data",
        "/tmp/keepalived_parent.data",
        "/tmp/keepalived.stats",
        "/tmp/keepalived.json",
    ];
    wait(&d, SECS(10), "the dump files", || {
        files
            .iter()
            .all(|f| d.file(f).is_some_and(|t| t.ends_with('\n')))
    });
    thread::sleep(Duration::from_millis(300));
    let read = |f: &str| d.file(f).unwrap_or_default();
    let json: serde_json::Value =
        serde_json::from_str(&read(files[3])).unwrap_or_else(|e| panic!("{imp:?} JSON: {e}"));
    for f in files {
        let meta = fs::metadata(format!("/proc/{}/root{f}", d.pid)).expect("stat dump");
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777;
        assert_eq!(mode, 0o600, "{imp:?} {f}: umask 0177 gives 0600");
    }
    // Stats and clear (SIGRTMAX-1), then stats again: the counters start over.
    let first = read(files[2]);
    d.signal(SIG_STATS_CLEAR);
    thread::sleep(Duration::from_millis(400));
    d.signal(libc::SIGUSR2);
    thread::sleep(Duration::from_millis(400));
    let cleared = read(files[2]);
    (read(files[0]), read(files[1]), first, json, cleared)
}

fn sections(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("------<"))
        .map(str::to_string)
        .collect()
}

/// The lines of section `name` of a dump, without its header.
fn section(text: &str, name: &str) -> Vec<String> {
    let header = format!("------< {name} >------");
    text.lines()
        .skip_while(|l| *l != header)
        .skip(1)
        .take_while(|l| !l.starts_with("------<"))
        .map(str::to_string)
        .collect()
}

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn dumps_have_keepalived_names_and_shape() {
    if !common::privileged("daemon_ns") {
        return;
    }
    let ours = thread::spawn(|| dumps(Impl::Rust));
    let theirs = thread::spawn(|| dumps(Impl::Keepalived));
    let (data, parent, stats, json, cleared) = ours.join().expect("rkeepalived dumps");
    let (k_data, k_parent, k_stats, k_json, k_cleared) = theirs.join().expect("keepalived dumps");
    for (imp, data, parent, stats, cleared) in [
        ("rkeepalived", &data, &parent, &stats, &cleared),
        ("keepalived", &k_data, &k_parent, &k_stats, &k_cleared),
    ] {
        assert!(data.contains(" VRRP Instance = VI_1\n"), "{imp}:\n{data}");
        assert!(data.contains("   State = MASTER\n"), "{imp}:\n{data}");
        assert!(
            data.contains("   Virtual Router ID = 51\n"),
            "{imp}:\n{data}"
        );
        assert!(
            parent.starts_with("------< Global definitions >------\n"),
            "{imp}"
        );
        assert!(stats.contains("VRRP Instance: VI_1\n"), "{imp}:\n{stats}");
        assert!(stats.contains("  Became master: 1\n"), "{imp}:\n{stats}");
        assert!(
            cleared.contains("  Became master: 0\n"),
            "{imp}: not cleared\n{cleared}"
        );
    }
    // Every section keepalived writes for this configuration is there, in order.
    let ours_sections = sections(&data);
    let wanted: Vec<String> = sections(&k_data);
    let found: Vec<String> = ours_sections
        .iter()
        .filter(|s| wanted.contains(s))
        .cloned()
        .collect();
    assert_eq!(found, wanted, "sections of keepalived.data");
    // Global definitions: keepalived's lines in its order, label by label (its libnftnl
    // version line has no counterpart: rkeepalived does not use libnftnl).
    let labels_of = |t: &str| -> Vec<String> {
        section(t, "Global definitions")
            .into_iter()
            .filter(|l| !l.contains("libnftnl"))
            .map(|l| l.split(" = ").next().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(labels_of(&data), labels_of(&k_data), "Global definitions");
    assert_eq!(
        labels_of(&parent),
        labels_of(&k_parent),
        "parent's Global definitions"
    );
    // The interface the instance runs on: keepalived's lines but those of its own
    // bookkeeping, with the same values (addresses, MAC, flags, MTU, hardware type).
    let internal = [
        "Seen up",
        "Delayed state change running",
        "Up debounce timer",
        "Down debounce timer",
        "Reset ARP config counter",
        "Original arp_ignore",
        "Original arp_filter",
        "Original promote_secondaries",
        "Reset promote_secondaries counter",
    ];
    let eth0 = |t: &str| -> Vec<String> {
        section(t, "Interfaces")
            .into_iter()
            .skip_while(|l| l != " Name = eth0")
            .enumerate()
            .take_while(|(i, l)| *i == 0 || !l.starts_with(" Name = "))
            .map(|(_, l)| l)
            .filter(|l| !internal.iter().any(|x| l.trim_start().starts_with(x)))
            // Each lab has its own veth: its MAC and link-local address differ.
            .map(|l| match l.split_once(" = ") {
                Some((k, _)) if k.ends_with("MAC") || k.ends_with("IPv6 address") => k.to_string(),
                _ => l,
            })
            .collect()
    };
    assert_eq!(eth0(&data), eth0(&k_data), "Interfaces: eth0");
    assert!(eth0(&data).iter().any(|l| l == "   MTU = 1500"), "{data}");
    // Stats: the same labels line by line.
    let labels = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| l.split(':').next().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(labels(&stats), labels(&k_stats), "keepalived.stats layout");
    // JSON: keepalived's keys are all there.
    let (o, k) = (&json[0], &k_json[0]);
    assert_eq!(o["data"]["iname"], "VI_1");
    assert_eq!(o["data"]["state"], 2);
    assert_eq!(o["data"]["vrid"], k["data"]["vrid"]);
    // Known gap: the instances do not record when they last changed state.
    let lacking = ["last_transition"];
    for part in ["data", "stats"] {
        let missing: Vec<String> = keys(&k[part])
            .difference(&keys(&o[part]))
            .filter(|k| !lacking.contains(&k.as_str()))
            .cloned()
            .collect();
        assert!(missing.is_empty(), "JSON {part} lacks {missing:?}");
    }
    assert_eq!(keys(o), keys(k));
}

fn scenario_dont_respawn(imp: Impl) {
    let mut lab = Lab::new();
    let marker = lab.p("shutdown-ran");
    let stop = lab.write("stop.sh", &format!("#!/bin/sh\ntouch {marker}\n"));
    fs::set_permissions(&stop, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let global = format!("  shutdown_script {stop}");
    let d = lab.start_vrrp(imp, &conf(&global, &[VIP]), &["-R"]);
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    let vrrp = pid_in(fs::read_to_string(lab.path("v.pid")).ok()).expect("vrrp pid");
    signal(vrrp, libc::SIGKILL);
    assert_eq!(
        lab.wait_exit(&d, SECS(5)),
        Some(0),
        "-R: the parent stops, exit 0"
    );
    assert!(
        lab.path("shutdown-ran").exists(),
        "{imp:?} -R: the shutdown script runs"
    );
    assert!(!lab.path("k.pid").exists());
}

#[test]
fn dont_respawn_stops_with_the_child() {
    each(&BOTH, scenario_dont_respawn);
}

#[test]
fn respawn_backs_off_and_term_during_back_off_is_prompt() {
    if !common::privileged("daemon_ns") {
        return;
    }
    let mut lab = Lab::new();
    let d = lab.start_vrrp(Impl::Rust, &conf("", &[VIP]), &[]);
    let vpid = || pid_in(fs::read_to_string(lab.path("v.pid")).ok());
    wait(&d, SECS(10), "the VRRP child", || vpid().is_some());
    let mut gaps = Vec::new();
    for _ in 0..2 {
        let old = vpid().expect("vrrp pid");
        let killed = Instant::now();
        signal(old, libc::SIGKILL);
        wait(&d, SECS(10), "the respawned child", || {
            vpid().is_some_and(|p| p != old)
        });
        gaps.push(killed.elapsed());
    }
    // 1 s, then 2 s: a child that keeps dying is restarted less and less often.
    assert!(gaps[0] >= Duration::from_millis(900), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(1900), "{gaps:?}");
    assert!(gaps[1] > gaps[0], "{gaps:?}");
    // Killed again: a 4 s back-off, during which TERM must stop everything at once.
    let old = vpid().expect("vrrp pid");
    signal(old, libc::SIGKILL);
    thread::sleep(Duration::from_millis(500));
    let asked = Instant::now();
    d.signal(libc::SIGTERM);
    assert_eq!(lab.wait_exit(&d, SECS(10)), Some(0));
    assert!(
        asked.elapsed() < Duration::from_millis(1500),
        "{:?}",
        asked.elapsed()
    );
    assert!(!lab.path("v.pid").exists() && !lab.path("k.pid").exists());
    // keepalived's lines for a child that died.
    let log = d.log_text();
    assert!(log.contains("VRRP child process("), "{log}");
    assert!(log.contains(") died: Respawning"), "{log}");
    assert!(
        log.contains("Restart of VRRP process delayed 2 seconds to limit respawn rate"),
        "{log}"
    );
}

#[test]
fn log_file_detail_and_dump_conf() {
    if !common::privileged("daemon_ns") {
        return;
    }
    let mut lab = Lab::new();
    let log = lab.p("k.log");
    let d = lab.start_vrrp(Impl::Rust, &conf("", &[VIP]), &["-g", &log, "-d"]);
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    let vrrp_log = lab.path("k_vrrp.log");
    wait(&d, SECS(5), "both log files", || {
        fs::read_to_string(&log).is_ok_and(|t| t.contains("Starting"))
            && fs::read_to_string(&vrrp_log).is_ok_and(|t| t.contains("VI_1"))
    });
    // -d: the configuration is in the log at start; -l: the console has it too.
    let parent_log = fs::read_to_string(&log).unwrap_or_default();
    assert!(parent_log.contains("virtual_router_id 51"), "{parent_log}");
    assert!(parent_log.contains("------< Global definitions >------"));
    assert!(d.log_text().contains("virtual_router_id 51"));
}

/// Where the daemon learns its network namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NsFrom {
    /// Started inside it.
    Inside,
    /// `-s NAME`.
    Option,
    /// `net_namespace NAME` in the configuration.
    Config,
}

fn syslog_scenario(imp: Impl, from: NsFrom, no_syslog: bool) -> Vec<String> {
    let mut lab = Lab::new();
    let ns = lab.ns.clone();
    let top = if from == NsFrom::Config {
        format!("net_namespace {ns}\n")
    } else {
        String::new()
    };
    let conf_path = lab.write("keepalived.conf", &(top + &conf("", &[VIP])));
    let (p, r) = (lab.p("k.pid"), lab.p("v.pid"));
    let mut args = vec!["-n", "-P", "-f", &conf_path, "-p", &p, "-r", &r];
    let namespace = from != NsFrom::Inside;
    if from == NsFrom::Option {
        args.extend(["-s", &ns]);
    }
    if no_syslog {
        args.push("-G");
    }
    let wrap = Wrap {
        syslog: true,
        host_ns: namespace,
        ..Wrap::default()
    };
    let d = lab.start(imp, &args, wrap);
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    thread::sleep(Duration::from_millis(500));
    d.signal(libc::SIGTERM);
    assert_eq!(lab.wait_exit(&d, SECS(10)), Some(0));
    thread::sleep(Duration::from_millis(200));
    lab.syslog_lines()
}

fn idents(lines: &[String]) -> BTreeSet<String> {
    lines
        .iter()
        .filter_map(|l| {
            // `<PRI>Mmm dd hh:mm:ss IDENT[PID]: message`
            let rest = l.split_once('>')?.1;
            let ident = rest.get(16..)?.split('[').next()?;
            Some(ident.to_string())
        })
        .collect()
}

fn scenario_syslog(imp: Impl) {
    let plain = syslog_scenario(imp, NsFrom::Inside, false);
    let ids = idents(&plain);
    assert!(
        ids.contains("Keepalived") && ids.contains("Keepalived_vrrp"),
        "{imp:?}: {ids:?}\n{plain:?}"
    );
    assert!(plain.iter().all(|l| l.starts_with("<")), "{plain:?}");
    let silent = syslog_scenario(imp, NsFrom::Inside, true);
    assert!(
        silent.is_empty(),
        "{imp:?} -G still logs to syslog: {silent:?}"
    );
}

#[test]
fn syslog_identities_and_no_syslog() {
    each(&BOTH, scenario_syslog);
}

fn scenario_namespace(imp: Impl) {
    for from in [NsFrom::Option, NsFrom::Config] {
        let lines = syslog_scenario(imp, from, false);
        let ids = idents(&lines);
        assert!(
            ids.iter().any(|i| i.starts_with("Keepalived_rkd"))
                && ids.iter().any(|i| i.starts_with("Keepalived_vrrp_rkd")),
            "{imp:?} {from:?}: {ids:?}"
        );
    }
    // Default pidfiles move into /run/keepalived/NAME/ (and go on stop, with the directory).
    let mut lab = Lab::new();
    let conf_path = lab.write("keepalived.conf", &conf("", &[VIP]));
    let ns = lab.ns.clone();
    let args = ["-n", "-l", "-P", "-s", &ns, "-f", &conf_path];
    let wrap = Wrap {
        host_ns: true,
        ..Wrap::default()
    };
    let d = lab.start(imp, &args, wrap);
    wait(&d, SECS(10), "the VIP inside the namespace", || {
        lab.has_addr(VIP)
    });
    let dir = PathBuf::from(format!("/run/keepalived/{ns}"));
    assert_eq!(
        pid_in(fs::read_to_string(dir.join("keepalived.pid")).ok()),
        Some(d.pid)
    );
    assert!(dir.join("vrrp.pid").exists());
    d.signal(libc::SIGTERM);
    assert_eq!(lab.wait_exit(&d, SECS(10)), Some(0));
    assert!(!dir.join("keepalived.pid").exists() && !dir.join("vrrp.pid").exists());
    // keepalived removes the namespace's directory too (and /run/keepalived when empty:
    // not checked here, the other implementation's scenario may be using it).
    assert!(!dir.exists(), "{imp:?}: {} left behind", dir.display());
    // A namespace that does not exist: the daemon says so and ends at once.
    let missing = format!("{ns}-missing");
    let args = ["-n", "-l", "-P", "-s", &missing, "-f", &conf_path];
    let d = lab.start(imp, &args, wrap);
    lab.wait_exit(&d, SECS(5));
    assert!(
        d.log_text().contains("Unable to set network namespace"),
        "{}",
        d.log_text()
    );
}

#[test]
fn namespace_option() {
    each(&BOTH, scenario_namespace);
}

fn scenario_scripts(imp: Impl) {
    let mut lab = Lab::new();
    let marks = lab.p("marks");
    let vpid = lab.p("v.pid");
    let start = lab.write(
        "start.sh",
        &format!(
            "#!/bin/sh\nif [ -e {vpid} ]; then echo start-with-child; else echo start-alone; fi >> {marks}\nsleep 0.3\necho start-done >> {marks}\n"
        ),
    );
    let stop = lab.write(
        "stop.sh",
        &format!(
            "#!/bin/sh\nif [ -e {vpid} ]; then echo stop-with-child; else echo stop-alone; fi >> {marks}\nip -o addr show dev eth0 | grep -q {VIP}/ && echo stop-vip-held >> {marks}\necho stop-$1 >> {marks}\n"
        ),
    );
    for s in [&start, &stop] {
        fs::set_permissions(s, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    }
    let global = format!("  startup_script {start}\n  shutdown_script \"{stop} bye\"");
    let d = lab.start_vrrp(imp, &conf(&global, &[VIP]), &[]);
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    d.signal(libc::SIGTERM);
    assert_eq!(lab.wait_exit(&d, SECS(10)), Some(0));
    let got = fs::read_to_string(&marks).unwrap_or_default();
    assert_eq!(
        got.lines().collect::<Vec<_>>(),
        ["start-alone", "start-done", "stop-alone", "stop-bye"],
        "{imp:?}: the startup script runs before the children, the shutdown script after"
    );
}

#[test]
fn startup_and_shutdown_scripts() {
    each(&BOTH, scenario_scripts);
}

fn scenario_script_timeout(imp: Impl) {
    let mut lab = Lab::new();
    let token = format!("{}/slow-token", lab.dir.path().display());
    let slow = lab.write("slow.sh", &format!("#!/bin/sh\n# {token}\nsleep 30\n"));
    fs::set_permissions(&slow, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let global = format!("  startup_script {slow}\n  startup_script_timeout 1");
    let started = Instant::now();
    let d = lab.start_vrrp(imp, &conf(&global, &[VIP]), &[]);
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "{imp:?}: did not wait: {took:?}"
    );
    assert!(took < SECS(6), "{imp:?}: waited past the timeout: {took:?}");
    // The script was killed at its timeout.
    let alive = fs::read_dir("/proc")
        .expect("proc")
        .filter_map(|e| e.ok())
        .filter_map(|e| fs::read_to_string(e.path().join("cmdline")).ok())
        .any(|c| c.contains(&slow));
    assert!(!alive, "{imp:?}: the timed-out startup script still runs");
}

#[test]
fn startup_script_timeout() {
    each(&BOTH, scenario_script_timeout);
}

fn scenario_startup_delay(imp: Impl) {
    let mut lab = Lab::new();
    let started = Instant::now();
    let d = lab.start_vrrp(imp, &conf("  vrrp_startup_delay 2", &[VIP]), &[]);
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    let took = started.elapsed();
    assert!(
        took >= SECS(2),
        "{imp:?}: MASTER after {took:?}, before the 2 s startup delay"
    );
}

#[test]
fn vrrp_startup_delay_holds_instances() {
    each(&BOTH, scenario_startup_delay);
}

fn scenario_umask_core(imp: Impl) {
    let mut lab = Lab::new();
    let d = lab.start_vrrp(imp, &conf("", &[VIP]), &[]);
    wait(&d, SECS(10), "this daemon's VRRP child", || {
        pid_in(fs::read_to_string(lab.path("v.pid")).ok()).is_some_and(|v| ppid(v) == Some(d.pid))
    });
    assert_eq!(
        proc_status(d.pid, "Umask:"),
        "0177",
        "{imp:?} default umask"
    );
    d.signal(libc::SIGTERM);
    lab.wait_exit(&d, SECS(10));
    let d = lab.start_vrrp(imp, &conf("", &[VIP]), &["-u", "027", "-m"]);
    wait(&d, SECS(10), "this daemon's VRRP child", || {
        pid_in(fs::read_to_string(lab.path("v.pid")).ok()).is_some_and(|v| ppid(v) == Some(d.pid))
    });
    assert_eq!(proc_status(d.pid, "Umask:"), "0027", "{imp:?} -u 027");
    let vrrp = pid_in(fs::read_to_string(lab.path("v.pid")).ok()).expect("vrrp pid");
    for pid in [d.pid, vrrp] {
        let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
        let core = limits
            .lines()
            .find(|l| l.starts_with("Max core file size"))
            .unwrap_or_default()
            .to_string();
        assert!(
            core.split_whitespace()
                .filter(|w| *w == "unlimited")
                .count()
                == 2,
            "{imp:?} -m: {core}"
        );
    }
}

#[test]
fn umask_and_core_dump_options() {
    each(&BOTH, scenario_umask_core);
}

fn scenario_subsystems(imp: Impl) {
    let mut lab = Lab::new();
    // -C with no virtual server: the parent runs alone.
    let d = lab.start_plain(imp, &conf("", &[VIP]), &["-C"]);
    thread::sleep(SECS(2));
    assert!(!lab.exited(&d), "{imp:?} -C exited");
    assert!(
        !lab.path("v.pid").exists() && !lab.has_addr(VIP),
        "{imp:?}: -C ran VRRP"
    );
    d.signal(libc::SIGTERM);
    assert_eq!(lab.wait_exit(&d, SECS(10)), Some(0));
    // -P with a virtual server: VRRP only.
    let with_vs = format!(
        "{}virtual_server {VIP} 80 {{\n  protocol TCP\n  real_server 10.8.0.2 80 {{\n    TCP_CHECK {{\n      connect_timeout 1\n    }}\n  }}\n}}\n",
        conf("", &[VIP])
    );
    let d = lab.start_vrrp(imp, &with_vs, &[]);
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    thread::sleep(Duration::from_millis(500));
    assert!(
        !lab.path("c.pid").exists(),
        "{imp:?} -P started the checker child"
    );
}

#[test]
fn vrrp_only_and_check_only() {
    each(&BOTH, scenario_subsystems);
}

/// In the VM: `-C` with one live and one dead real server, SIGUSR1, and the checker dump of
/// each daemon. Returns the dump and the list of files the daemon wrote in /tmp.
fn checker_dump(program: &str) -> (String, Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("k.conf");
    fs::write(
        &conf,
        "virtual_server 127.0.0.1 8080 {\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  real_server 127.0.0.2 8081 {\n    weight 3\n    TCP_CHECK {\n      connect_timeout 1\n    }\n  }\n  real_server 127.0.0.3 8082 {\n    TCP_CHECK {\n      connect_timeout 1\n    }\n  }\n}\n",
    )
    .expect("conf");
    for f in fs::read_dir("/tmp").expect("tmp").flatten() {
        if f.file_name().to_string_lossy().starts_with("keepalived") {
            let _ = fs::remove_file(f.path());
        }
    }
    let pid = dir.path().join("k.pid");
    let mut child = Command::new(program)
        .args(["-n", "-l", "-C", "-f"])
        .arg(&conf)
        .arg("-p")
        .arg(&pid)
        .arg("-c")
        .arg(dir.path().join("c.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    // Both checkers have run (delay_loop 1 s, connect_timeout 1 s).
    thread::sleep(SECS(5));
    signal(i32::try_from(child.id()).expect("pid"), libc::SIGUSR1);
    thread::sleep(SECS(1));
    let data = fs::read_to_string("/tmp/keepalived_check.data").unwrap_or_default();
    let mut files: Vec<String> = fs::read_dir("/tmp")
        .expect("tmp")
        .flatten()
        .map(|f| f.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("keepalived"))
        .collect();
    files.sort();
    signal(i32::try_from(child.id()).expect("pid"), libc::SIGTERM);
    let _ = child.wait();
    (data, files)
}

/// The real server block of `rip` in a checker dump: its lines up to the next block.
fn real_server_block(dump: &str, rip: &str) -> String {
    let head = format!("RIP = {rip},");
    dump.lines()
        .skip_while(|l| !l.contains(&head))
        .take_while(|l| !l.contains("------<"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn checker_dump_vm() {
    let _live = std::net::TcpListener::bind("127.0.0.2:8081").expect("listen");
    let (ours, our_files) = checker_dump(RKEEPALIVED);
    let (theirs, their_files) = checker_dump("keepalived");
    for (who, dump) in [("rkeepalived", &ours), ("keepalived", &theirs)] {
        assert!(
            dump.contains("------< LVS Topology >------\n"),
            "{who}:\n{dump}"
        );
        assert!(
            dump.contains("------< Health checkers >------\n"),
            "{who}:\n{dump}"
        );
        assert!(
            dump.contains(" VS VIP = 127.0.0.1, VPORT = 8080\n"),
            "{who}:\n{dump}"
        );
        let up = real_server_block(dump, "127.0.0.2");
        let down = real_server_block(dump, "127.0.0.3");
        assert!(
            up.contains("alive = 1") && up.contains("RS set = 1"),
            "{who}: {up}"
        );
        assert!(
            down.contains("alive = 0") && down.contains("RS set = 0"),
            "{who}: {down}"
        );
        assert!(
            dump.contains(" [127.0.0.1]:tcp:8080 -> [127.0.0.2]:tcp:8081\n   "),
            "{who}"
        );
        assert!(
            dump.contains("   Up = yes\n") && dump.contains("   Up = no\n"),
            "{who}"
        );
    }
    // The sections keepalived writes, in its order, Global definitions first.
    let wanted: Vec<String> = sections(&theirs);
    let found: Vec<String> = sections(&ours)
        .into_iter()
        .filter(|s| wanted.contains(s))
        .collect();
    assert_eq!(found, wanted, "checker data file sections");
    // Same file names for the data dump; keepalived's checker writes no stats or JSON file.
    assert!(
        our_files.contains(&"keepalived_check.data".to_string()),
        "{our_files:?}"
    );
    assert!(
        their_files.contains(&"keepalived_check.data".to_string()),
        "{their_files:?}"
    );
    println!("CHECKER-DUMP-OK");
}

#[test]
fn checker_dump_in_vm() {
    common::vm::vm_test(
        "daemon_ns checker dump",
        "checker_dump_in_vm",
        &["--timeout", "300"],
        "CHECKER-DUMP-OK",
        checker_dump_vm,
    );
}

/// `--all` on a VRRP-only configuration: the checker child starts and stays up, idle, without
/// touching IPVS (which this namespace lacks); its data dump is the global definitions alone.
/// Then `-C` with a virtual server: IPVS is needed and missing, the daemon exits 1.
fn scenario_all_without_virtual_servers(imp: Impl) {
    let mut lab = Lab::new();
    let d = lab.start_plain(imp, &conf("", &[VIP]), &["--all"]);
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    wait(&d, SECS(10), "the checker pidfile", || {
        pid_in(fs::read_to_string(lab.path("c.pid")).ok()).is_some()
    });
    let checker = pid_in(fs::read_to_string(lab.path("c.pid")).ok()).expect("checker pid");
    thread::sleep(SECS(2));
    assert!(
        !lab.exited(&d),
        "{imp:?}: --all without virtual servers exited"
    );
    assert_eq!(
        ppid(checker),
        Some(d.pid),
        "{imp:?}: the checker child is gone\n{}",
        tail(&d.log_text(), 20)
    );
    signal(checker, libc::SIGUSR1);
    wait(&d, SECS(10), "the checker dump", || {
        d.file("/tmp/keepalived_check.data")
            .is_some_and(|t| t.ends_with('\n'))
    });
    thread::sleep(Duration::from_millis(300));
    let dump = d.file("/tmp/keepalived_check.data").unwrap_or_default();
    assert!(
        dump.starts_with("------< Global definitions >------\n"),
        "{imp:?}:\n{dump}"
    );
    assert_eq!(
        sections(&dump),
        vec!["------< Global definitions >------".to_string()],
        "{imp:?}: an idle checker dumps the global definitions only"
    );
    d.signal(libc::SIGTERM);
    assert_eq!(lab.wait_exit(&d, SECS(15)), Some(0), "{imp:?}");
    // A virtual server needs IPVS, absent here: a fatal error, exit 1.
    let with_vs = format!(
        "{}virtual_server {VIP} 80 {{\n  protocol TCP\n  real_server 10.8.0.2 80 {{\n    TCP_CHECK {{\n      connect_timeout 1\n    }}\n  }}\n}}\n",
        conf("", &[VIP])
    );
    let d = lab.start_plain(imp, &with_vs, &["-C"]);
    assert_eq!(
        lab.wait_exit(&d, SECS(15)),
        Some(1),
        "{imp:?}\n{}",
        tail(&d.log_text(), 20)
    );
}

#[test]
fn all_without_virtual_servers_keeps_the_checker_idle() {
    each(&BOTH, scenario_all_without_virtual_servers);
}

/// One task's scheduling attributes from `/proc/PID/task/TID/stat` and `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TaskAttrs {
    nice: i64,
    rt_priority: i64,
    policy: i64,
    cpus: String,
}

fn task_attrs(pid: i32, tid: &str) -> Option<TaskAttrs> {
    let stat = fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    // The fields after the command name, which may hold spaces: state is field 3.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<i64>().ok());
    let status = fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).ok()?;
    let cpus = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?
        .trim()
        .to_string();
    Some(TaskAttrs {
        nice: field(19)?,
        rt_priority: field(40)?,
        policy: field(41)?,
        cpus,
    })
}

/// Every task (thread) of `pid` with its attributes.
fn all_task_attrs(pid: i32) -> Vec<(String, TaskAttrs)> {
    let mut tids: Vec<String> = fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    tids.sort();
    tids.into_iter()
        .filter_map(|t| task_attrs(pid, &t).map(|a| (t, a)))
        .collect()
}

/// `RLIMIT_RTTIME` (soft, hard) of `pid` as `/proc/PID/limits` shows it.
fn rttime_limits(pid: i32) -> (String, String) {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    let line = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max realtime timeout"))
        .unwrap_or_default();
    let mut words = line.split_whitespace();
    (
        words.next().unwrap_or_default().to_string(),
        words.next().unwrap_or_default().to_string(),
    )
}

/// The process keywords of `global_defs` (issue 6 part 1): the VRRP child gets a nice value,
/// locked memory, its CPU and its name; the checker child (idle: `--all` without virtual
/// servers) SCHED_RR with its RLIMIT_RTTIME (soft = half the hard limit), its CPU and its
/// name, its nice keyword not applied since a real-time priority is set. Every thread of the
/// child carries the per-thread attributes. The parent gets none of them.
fn scenario_process_attributes(imp: Impl) {
    let two = rka_sys::sched::configured_cpus() >= 2;
    let (vrrp_cpu, checker_cpu) = if two { ("1", "0") } else { ("0", "0") };
    let global = format!(
        "  process_names\n  vrrp_priority -5\n  checker_priority 7\n  vrrp_no_swap\n  \
         vrrp_cpu_affinity {vrrp_cpu}\n  checker_cpu_affinity {checker_cpu}\n  \
         checker_rt_priority 10\n  checker_rlimit_rttime 50000\n"
    );
    let mut lab = Lab::new();
    let d = lab.start_plain(imp, &conf(&global, &[VIP]), &["--all"]);
    let child_pid = |name: &str| pid_in(fs::read_to_string(lab.path(name)).ok());
    wait(&d, SECS(15), "both children named", || {
        let named = |f: &str, want: &str| {
            child_pid(f).is_some_and(|p| {
                fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == want)
            })
        };
        named("v.pid", "keepalived_vrrp") && named("c.pid", "keepalived_lvs")
    });
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    let vrrp = child_pid("v.pid").expect("vrrp pid");
    let checker = child_pid("c.pid").expect("checker pid");
    let vrrp_tasks = all_task_attrs(vrrp);
    assert!(!vrrp_tasks.is_empty(), "{imp:?}: no task of {vrrp}");
    for (tid, a) in &vrrp_tasks {
        assert_eq!(
            a,
            &TaskAttrs {
                nice: -5,
                rt_priority: 0,
                policy: i64::from(libc::SCHED_OTHER),
                cpus: vrrp_cpu.to_string(),
            },
            "{imp:?}: VRRP child task {tid}"
        );
    }
    let locked: u64 = proc_status(vrrp, "VmLck:")
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(locked > 0, "{imp:?}: vrrp_no_swap left VmLck at 0");
    assert_eq!(
        rttime_limits(vrrp),
        ("unlimited".to_string(), "unlimited".to_string()),
        "{imp:?}: no real-time priority, no RLIMIT_RTTIME"
    );
    // The checker's nice keyword is not applied: it keeps the nice value it inherited.
    let own_nice = task_attrs(std::process::id() as i32, &std::process::id().to_string())
        .expect("own attributes")
        .nice;
    let checker_tasks = all_task_attrs(checker);
    assert!(!checker_tasks.is_empty(), "{imp:?}: no task of {checker}");
    for (tid, a) in checker_tasks {
        assert_eq!(
            a,
            TaskAttrs {
                nice: own_nice,
                rt_priority: 10,
                policy: i64::from(libc::SCHED_RR),
                cpus: checker_cpu.to_string(),
            },
            "{imp:?}: checker child task {tid}"
        );
    }
    assert_eq!(proc_status(checker, "VmLck:"), "0 kB", "{imp:?}");
    assert_eq!(
        rttime_limits(checker),
        ("25000".to_string(), "50000".to_string()),
        "{imp:?}"
    );
    // The parent keeps what it inherited from the test: nice value, policy, CPUs.
    let parent = task_attrs(d.pid, &d.pid.to_string()).expect("parent");
    let own = task_attrs(std::process::id() as i32, &std::process::id().to_string())
        .expect("own attributes");
    assert_eq!(
        (parent.nice, parent.policy, &parent.cpus),
        (own.nice, own.policy, &own.cpus),
        "{imp:?}"
    );
    assert_eq!(proc_status(d.pid, "VmLck:"), "0 kB", "{imp:?}");
    // ... but takes its name from process_names.
    assert_eq!(
        fs::read_to_string(format!("/proc/{}/comm", d.pid))
            .unwrap_or_default()
            .trim(),
        "keepalived",
        "{imp:?}: parent name"
    );
    d.signal(libc::SIGTERM);
    assert_eq!(lab.wait_exit(&d, SECS(15)), Some(0), "{imp:?}");
}

#[test]
fn process_keywords_set_the_children_attributes() {
    each(&BOTH, scenario_process_attributes);
}

/// The process keywords on reload (keepalived 2.2.7 applies them again): nice -5 -> -10 with
/// memory locked, a CPU, the VRRP child's name removed (back to the program's own) and the
/// parent renamed; then a real-time priority alone: SCHED_RR with its RLIMIT_RTTIME, the nice
/// value back to 0, memory unlocked, the CPU list left as it was; then a nice value instead of
/// the real-time priority: SCHED_OTHER again. Checked on every thread of the VRRP child.
fn scenario_process_attributes_on_reload(imp: Impl) {
    let cpu = if rka_sys::sched::configured_cpus() >= 2 {
        "1"
    } else {
        "0"
    };
    let own_name = match imp {
        Impl::Rust => "rkeepalived",
        Impl::Keepalived => "keepalived",
    };
    let mut lab = Lab::new();
    let d = lab.start_vrrp(
        imp,
        &conf("  vrrp_priority -5\n  vrrp_process_name abc\n", &[VIP]),
        &[],
    );
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    let vrrp = pid_in(fs::read_to_string(lab.path("v.pid")).ok()).expect("vrrp pid");
    let main = |pid: i32| task_attrs(pid, &pid.to_string());
    let comm = |pid: i32| {
        fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    assert_eq!(main(vrrp).map(|a| a.nice), Some(-5), "{imp:?}");
    assert_eq!(comm(vrrp), "abc", "{imp:?}");

    lab.write(
        "keepalived.conf",
        &conf(
            &format!(
                "  vrrp_priority -10\n  vrrp_no_swap\n  vrrp_cpu_affinity {cpu}\n  \
                 process_name pp2\n"
            ),
            &[VIP],
        ),
    );
    d.signal(libc::SIGHUP);
    wait(&d, SECS(10), "nice -10 after the reload", || {
        main(vrrp).is_some_and(|a| a.nice == -10)
    });
    thread::sleep(Duration::from_millis(300));
    let locked: u64 = proc_status(vrrp, "VmLck:")
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(locked > 0, "{imp:?}: vrrp_no_swap added by a reload");
    for (tid, a) in all_task_attrs(vrrp) {
        assert_eq!(a.cpus, cpu, "{imp:?}: task {tid}");
    }
    assert_eq!(comm(vrrp), own_name, "{imp:?}: the child's name back");
    assert_eq!(comm(d.pid), "pp2", "{imp:?}: the parent renamed");

    lab.write("keepalived.conf", &conf("  vrrp_rt_priority 30\n", &[VIP]));
    d.signal(libc::SIGHUP);
    wait(&d, SECS(10), "SCHED_RR after the reload", || {
        main(vrrp).is_some_and(|a| a.policy == i64::from(libc::SCHED_RR))
    });
    thread::sleep(Duration::from_millis(300));
    let a = main(vrrp).expect("main task");
    assert_eq!((a.rt_priority, a.nice), (30, 0), "{imp:?}");
    assert_eq!(proc_status(vrrp, "VmLck:"), "0 kB", "{imp:?}: unlocked");
    assert_eq!(
        rttime_limits(vrrp),
        ("5000".to_string(), "10000".to_string()),
        "{imp:?}"
    );
    for (tid, a) in all_task_attrs(vrrp) {
        assert_eq!(a.cpus, cpu, "{imp:?}: task {tid}: CPUs left as they were");
        // Every thread, not only the one that reloaded.
        assert_eq!(
            (a.policy, a.rt_priority, a.nice),
            (i64::from(libc::SCHED_RR), 30, 0),
            "{imp:?}: task {tid}"
        );
    }

    // The real-time priority removed, a nice value instead: back to SCHED_OTHER everywhere.
    lab.write("keepalived.conf", &conf("  vrrp_priority -3\n", &[VIP]));
    d.signal(libc::SIGHUP);
    wait(&d, SECS(10), "SCHED_OTHER after the reload", || {
        main(vrrp).is_some_and(|a| a.policy == i64::from(libc::SCHED_OTHER))
    });
    thread::sleep(Duration::from_millis(300));
    let tasks = all_task_attrs(vrrp);
    assert!(!tasks.is_empty(), "{imp:?}");
    for (tid, a) in tasks {
        assert_eq!(
            (a.policy, a.rt_priority, a.nice),
            (i64::from(libc::SCHED_OTHER), 0, -3),
            "{imp:?}: task {tid}"
        );
    }
    assert!(!lab.exited(&d), "{imp:?}");
}

#[test]
fn process_keywords_follow_a_reload() {
    each(&BOTH, scenario_process_attributes_on_reload);
}

/// Events inotify reports for `path` until it is deleted (or `limit`): (modified, deleted).
fn watch_file(path: &Path, limit: Duration) -> thread::JoinHandle<(bool, bool)> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let ino = Inotify::init(InitFlags::IN_NONBLOCK).expect("inotify");
    ino.add_watch(
        path,
        AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_DELETE_SELF,
    )
    .expect("watch");
    thread::spawn(move || {
        let (mut modified, mut deleted) = (false, false);
        let start = Instant::now();
        while !deleted && start.elapsed() < limit {
            match ino.read_events() {
                Ok(events) => {
                    for e in events {
                        modified |= e.mask.contains(AddWatchFlags::IN_MODIFY);
                        deleted |= e.mask.contains(AddWatchFlags::IN_DELETE_SELF);
                    }
                }
                Err(_) => thread::sleep(Duration::from_millis(2)),
            }
        }
        (modified, deleted)
    })
}

/// `reload_file PATH`: the file an update process touches before HUP is removed once the
/// configuration has been read (at start too). keepalived 2.2.7 only removes it (observed:
/// no truncation despite its man page); rkeepalived also truncates it when reading begins.
fn scenario_reload_file(imp: Impl) {
    let mut lab = Lab::new();
    let reload = lab.path("my.reload");
    fs::write(&reload, "before start\n").expect("write");
    let global = format!("  reload_file {}", reload.display());
    let d = lab.start_vrrp(imp, &conf(&global, &[VIP]), &[]);
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    wait(&d, SECS(5), "the reload file removed after start", || {
        !reload.exists()
    });
    fs::write(&reload, "update in progress\n").expect("write");
    let watcher = watch_file(&reload, SECS(10));
    lab.write("keepalived.conf", &conf(&global, &[VIP2]));
    d.signal(libc::SIGHUP);
    let (modified, deleted) = watcher.join().expect("watcher");
    assert!(deleted, "{imp:?}: the reload file was not removed");
    if imp == Impl::Rust {
        assert!(
            modified,
            "the reload file was not truncated when reading began"
        );
    }
    wait(&d, SECS(10), "the new VIP", || {
        lab.has_addr(VIP2) && !lab.has_addr(VIP)
    });
    assert!(!lab.exited(&d), "{imp:?}");
}

#[test]
fn reload_file_goes_when_the_configuration_is_read() {
    each(&BOTH, scenario_reload_file);
}

/// `reload_time_file`: a UTC time 3 s ahead schedules a reload then; the file is removed
/// when it happens (no `reload_repeat`).
fn scenario_reload_time_file(imp: Impl) {
    let mut lab = Lab::new();
    let at_file = lab.path("reload_at");
    let global = format!("  reload_time_file {}", at_file.display());
    let d = lab.start_vrrp(imp, &conf(&global, &[VIP]), &[]);
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    lab.write("keepalived.conf", &conf(&global, &[VIP2]));
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    let started = Instant::now();
    fs::write(&at_file, format!("{h:02}:{m:02}:{s:02}Z\n")).expect("write");
    wait(&d, SECS(5), "the reload scheduled", || {
        d.log_text().contains("Scheduling reload for")
    });
    thread::sleep(Duration::from_millis(1000));
    assert!(lab.has_addr(VIP), "{imp:?}: reloaded before the time");
    wait(&d, SECS(10), "the scheduled reload", || {
        lab.has_addr(VIP2) && !lab.has_addr(VIP)
    });
    let took = started.elapsed();
    assert!(took >= SECS(2), "{imp:?}: reloaded after {took:?}");
    assert!(!at_file.exists(), "{imp:?}: the time file was kept");
    assert!(!lab.exited(&d), "{imp:?}");
}

#[test]
fn reload_time_file_schedules_a_reload() {
    each(&BOTH, scenario_reload_time_file);
}

/// `data_use_instance` with `instance foo`: the .data files (only they) carry the name.
fn scenario_data_use_instance(imp: Impl) {
    let mut lab = Lab::new();
    let text = format!("instance foo\n{}", conf("  data_use_instance", &[VIP]));
    let d = lab.start_vrrp(imp, &text, &[]);
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    d.signal(libc::SIGUSR1);
    d.signal(libc::SIGUSR2);
    wait(&d, SECS(10), "the named dumps", || {
        [
            "/tmp/keepalived.foo.data",
            "/tmp/keepalived_parent.foo.data",
        ]
        .iter()
        .all(|f| d.file(f).is_some_and(|t| t.ends_with('\n')))
    });
    wait(&d, SECS(5), "the stats", || {
        d.file("/tmp/keepalived.stats").is_some()
    });
    for plain in ["/tmp/keepalived.data", "/tmp/keepalived_parent.data"] {
        assert!(d.file(plain).is_none(), "{imp:?}: {plain} written");
    }
}

#[test]
fn data_use_instance_names_the_data_files() {
    each(&BOTH, scenario_data_use_instance);
}

/// `child_wait_time SECS` (a top-level keyword in keepalived 2.2.7): TERM while the VRRP child
/// is stopped (SIGSTOP) keeps the parent SECS seconds, then it kills the child, logs
/// "vrrp process failed to die - forcing termination" and exits 0.
fn scenario_child_wait_time(imp: Impl) {
    let mut lab = Lab::new();
    let text = format!("child_wait_time 2\n{}", conf("", &[VIP]));
    let d = lab.start_vrrp(imp, &text, &[]);
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    let vrrp = pid_in(fs::read_to_string(lab.path("v.pid")).ok()).expect("vrrp pid");
    signal(vrrp, libc::SIGSTOP);
    let asked = Instant::now();
    d.signal(libc::SIGTERM);
    assert_eq!(lab.wait_exit(&d, SECS(10)), Some(0));
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_millis(3500),
        "{imp:?}: the parent stopped after {took:?}\n{}",
        tail(&d.log_text(), 20)
    );
    assert!(
        d.log_text()
            .contains("vrrp process failed to die - forcing termination"),
        "{imp:?}\n{}",
        tail(&d.log_text(), 20)
    );
    // SIGKILL reaches a stopped process asynchronously, and an orphan is reaped late here.
    wait(&d, SECS(3), "the stopped VRRP child killed", || {
        !Path::new(&format!("/proc/{vrrp}")).exists()
            || proc_status(vrrp, "State:").starts_with('Z')
    });
}

#[test]
fn child_wait_time_bounds_the_wait_for_a_stuck_child() {
    each(&BOTH, scenario_child_wait_time);
}

/// Configuration diagnostics are logged once each, by the process keepalived 2.2.7 logs them
/// from (observed): the parent an unknown keyword of global_defs, the VRRP child its
/// script's notes ("Script user 'keepalived_script' does not exist" when that user is
/// missing, the path search of a script named without a path, the SECURITY VIOLATION).
fn scenario_diagnostics_logged_once(imp: Impl) {
    let mut lab = Lab::new();
    let text = format!(
        "global_defs {{\n  router_id lab\n  bogus_global 1\n}}\n\
         vrrp_script chk {{\n  script \"true\"\n  interval 1\n}}\n\
         vrrp_instance VI_1 {{\n  interface eth0\n  state BACKUP\n  version 3\n  \
         virtual_router_id 51\n  priority 150\n  advert_int 0.1\n  \
         virtual_ipaddress {{\n    {VIP}/24\n  }}\n  track_script {{\n    chk\n  }}\n}}\n"
    );
    let d = lab.start_vrrp(imp, &text, &[]);
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    d.signal(libc::SIGTERM);
    assert_eq!(lab.wait_exit(&d, SECS(10)), Some(0));
    let log = d.log_text();
    let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    let user_missing = !std::process::Command::new("id")
        .arg("keepalived_script")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    for (needle, want) in [
        ("Unknown keyword 'bogus_global'", 1),
        ("SECURITY VIOLATION - scripts are being executed", 1),
        ("WARNING - script `true` resolved by path search to `", 1),
        (
            "Script user 'keepalived_script' does not exist",
            usize::from(user_missing),
        ),
    ] {
        assert_eq!(count(needle), want, "{imp:?}: {needle:?} in\n{log}");
    }
}

#[test]
fn diagnostics_are_logged_once_by_their_process() {
    each(&BOTH, scenario_diagnostics_logged_once);
}

/// The parent's lifecycle lines, which log watchers key on, in keepalived 2.2.7's order
/// (observed): start, kernel, command line, configuration file, child start, "Startup
/// complete"; a reload's "Reloading ...", configuration file, "Reload complete"; "Stopping"
/// and the last line, "Stopped" with the daemon's name and version.
fn scenario_lifecycle_log_lines(imp: Impl) {
    let mut lab = Lab::new();
    let d = lab.start_vrrp(imp, &conf("", &[VIP]), &[]);
    wait(&d, SECS(10), "the VIP", || lab.has_addr(VIP));
    d.signal(libc::SIGHUP);
    wait(&d, SECS(10), "the reload", || {
        d.log_text().contains("Reload complete")
    });
    d.signal(libc::SIGTERM);
    assert_eq!(lab.wait_exit(&d, SECS(10)), Some(0));
    let log = d.log_text();
    let messages: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(_, m)| m))
        .collect();
    let mut at = 0;
    for want in [
        "Starting ",
        "Running on Linux ",
        "Command line: '",
        "Configuration file ",
        "Starting VRRP child process, pid=",
        "Startup complete",
        "Reloading ...",
        "Configuration file ",
        "Reload complete",
        "Stopping",
        "Stopped ",
    ] {
        match messages[at..].iter().position(|m| m.starts_with(want)) {
            Some(i) => at += i + 1,
            None => panic!("{imp:?}: no {want:?} after line {at} of\n{log}"),
        }
    }
    assert!(
        messages.last().is_some_and(|m| m.starts_with("Stopped ")),
        "{imp:?}: the last line\n{log}"
    );
}

#[test]
fn lifecycle_log_lines() {
    each(&BOTH, scenario_lifecycle_log_lines);
}
