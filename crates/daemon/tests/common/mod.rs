//! Helpers shared by the daemon's integration suites: the daemon under test, the probe that
//! decides whether a privileged suite can run, starting and stopping a daemon with its own
//! pidfiles and log, and the private `/tmp` a daemon may be given.
#![allow(dead_code)]

pub mod vm;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// The rkeepalived binary built for these tests.
pub const RKEEPALIVED: &str = env!("CARGO_BIN_EXE_rkeepalived");

/// The daemon under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    /// rkeepalived, this workspace's binary.
    Rust,
    /// Debian's keepalived 2.2.7, the reference.
    Keepalived,
}

impl Impl {
    /// The program to run.
    pub fn program(self) -> &'static str {
        match self {
            Impl::Rust => RKEEPALIVED,
            Impl::Keepalived => "keepalived",
        }
    }
}

/// A suite that cannot run says why and passes, except under `CI=true`, where it fails.
pub fn skip(suite: &str, reason: &str) {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(!ci, "{suite} cannot run with CI=true: {reason}");
    eprintln!("{suite}: SKIPPED: {reason}");
}

/// Whether keepalived 2.2.7 (the reference) is installed; skips the suite otherwise.
pub fn keepalived_installed(suite: &str) -> bool {
    let ok = Command::new("keepalived")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        skip(suite, "keepalived 2.2.7, the reference, is not installed");
    }
    ok
}

/// Whether a suite comparing with keepalived in namespaces can run (root, namespaces and
/// keepalived); probed once per test binary (the probe namespace's name is per process, so
/// concurrent probes would trip over each other).
pub fn privileged(suite: &str) -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        rka_sys::netns::privileged_tests_available(suite) && keepalived_installed(suite)
    })
}

/// Runs `cmd args...`, requires success and returns its standard output.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Spawns `cmd` with no input and both outputs into a fresh file `log`.
pub fn spawn_logged(cmd: &mut Command, log: &Path) -> Child {
    let out = std::fs::File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"))
}

/// The files of one daemon started by [`start_daemon`]: `<prefix>.pid`, `<prefix>-v.pid`,
/// `<prefix>-c.pid` and `<prefix>.log`.
pub fn daemon_file(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Starts `program` (through `ip netns exec NS` when `ns` is given) with `args`, then
/// `-f conf` and private pidfiles; both outputs go to the log. See [`daemon_file`].
pub fn start_daemon(
    ns: Option<&str>,
    program: &str,
    args: &[&str],
    conf: &Path,
    prefix: &Path,
) -> Child {
    let mut cmd = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, program]);
            c
        }
        None => Command::new(program),
    };
    cmd.args(args)
        .arg("-f")
        .arg(conf)
        .arg("-p")
        .arg(daemon_file(prefix, ".pid"))
        .arg("-r")
        .arg(daemon_file(prefix, "-v.pid"))
        .arg("-c")
        .arg(daemon_file(prefix, "-c.pid"));
    spawn_logged(&mut cmd, &daemon_file(prefix, ".log"))
}

/// SIGTERM to `child`, then waits up to `limit` for it to exit; kills it after that. True when
/// it exited on SIGTERM.
pub fn terminate(child: &mut Child, limit: Duration) -> bool {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

/// Shell commands, run in a private mount namespace before the daemon, that give it a private
/// `/tmp`: a fresh tmpfs, or the directory `over` bound on it. A checkout under `/tmp` (as CI
/// may use) would then hide the binary or the lab: the top directories under `/tmp` of every
/// path in `keep` are bound back into the new `/tmp` through `/mnt`.
pub fn private_tmp(over: Option<&Path>, keep: &[&Path]) -> String {
    let mut roots: Vec<String> = keep
        .iter()
        .filter_map(|p| p.strip_prefix("/tmp").ok())
        .filter_map(|rest| rest.components().next())
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    roots.sort();
    roots.dedup();
    let mut setup = String::new();
    if !roots.is_empty() {
        setup.push_str("mount --bind /tmp /mnt && ");
    }
    match over {
        Some(dir) => setup.push_str(&format!("mount --bind '{}' /tmp", dir.display())),
        None => setup.push_str("mount -t tmpfs tmpfs /tmp"),
    }
    for k in &roots {
        setup.push_str(&format!(
            " && mkdir -p '/tmp/{k}' && mount --bind '/mnt/{k}' '/tmp/{k}'"
        ));
    }
    setup
}
