//! The supervising parent, keepalived's process model: a parent that starts a VRRP child and a
//! health-checker child from the same binary, forwards signals to them, validates the
//! configuration before a reload, and respawns a child that dies (with back-off, unless `-R`).
//!
//! Why processes rather than threads: a checker storm, a runaway script or a crash on the
//! checker side cannot delay or kill VRRP, and operators keep keepalived's three pidfiles.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::child::{load_config, EXIT_CONFIG};
use crate::cli::Cli;
use crate::logging::{self, Role};
use crate::pidfile::{self, PidFile};

/// Longest pause between respawns of a child that keeps dying.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A child that ran this long is considered healthy again (back-off resets).
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// Which children a configuration needs, as keepalived decides it.
pub fn roles_for(cli: &Cli, config: &rka_config::Config) -> Vec<Role> {
    let mut roles = Vec::new();
    let want_vrrp = cli.vrrp || cli.all || !config.vrrp.instances.is_empty();
    let want_check = cli.check || cli.all || !config.lvs.virtual_servers.is_empty();
    // -P alone means VRRP only, -C alone checkers only; both or neither means "as needed".
    let only_vrrp = cli.vrrp && !cli.check;
    let only_check = cli.check && !cli.vrrp;
    if want_vrrp && !only_check {
        roles.push(Role::Vrrp);
    }
    if want_check && !only_vrrp {
        roles.push(Role::Checker);
    }
    roles
}

struct Running {
    child: Child,
    started: Instant,
    backoff: Duration,
}

/// Entry point of the parent process.
pub fn main(cli: Cli) -> ExitCode {
    if !cli.dont_fork && std::env::var_os("RKA_DETACHED").is_none() {
        return detach();
    }
    if std::env::var_os("RKA_DETACHED").is_some() {
        // The detached copy leads its own session, away from the starting terminal.
        let _ = nix::unistd::setsid();
    }
    if let Err(e) = logging::init(&cli, Role::Parent) {
        eprintln!("{e}");
    }
    tracing::info!(
        "Starting rkeepalived v{} (keepalived 2.2.7 compatible)",
        env!("CARGO_PKG_VERSION")
    );
    let pid_path = cli
        .pid
        .clone()
        .unwrap_or_else(|| pidfile::default_path(Role::Parent));
    let _pid = match PidFile::create(&pid_path) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    };
    let Some(config) = load_config(&cli) else {
        tracing::error!("the configuration cannot be run - exiting");
        return ExitCode::from(1);
    };
    if cli.dump_conf {
        // `-d`: keepalived logs its configuration data at start and runs as usual.
        for line in config.dump().lines() {
            tracing::info!("{line}");
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(supervise(cli, config))
}

/// Starts a copy of ourselves in the background with the same arguments, and returns.
fn detach() -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot find our own executable: {e}");
            return ExitCode::from(1);
        }
    };
    let spawned = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("RKA_DETACHED", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot start the daemon: {e}");
            ExitCode::from(1)
        }
    }
}

fn spawn_child(role: Role) -> std::io::Result<Child> {
    let exe = std::env::current_exe()?;
    let name = match role {
        Role::Vrrp => "vrrp",
        Role::Checker => "checker",
        Role::Parent => "parent",
    };
    Command::new(exe)
        .args(std::env::args_os().skip(1))
        .arg(format!("--rka-child={name}"))
        .env("RKA_DETACHED", "1")
        .kill_on_drop(false)
        .spawn()
}

fn signal_child(c: &Child, signo: i32) {
    if let Some(pid) = c.id() {
        if let Err(e) = rka_sys::host::send_signal(pid, signo) {
            tracing::warn!("cannot signal child {pid}: {e}");
        }
    }
}

async fn supervise(cli: Cli, config: rka_config::Config) -> ExitCode {
    let _http = crate::observe::http::spawn(&cli, &config);
    let mut running: HashMap<&'static str, (Role, Running)> = HashMap::new();
    for role in roles_for(&cli, &config) {
        start(&mut running, role, Duration::from_secs(1));
    }
    let (sig_tx, mut sig_rx) = mpsc::unbounded_channel::<SignalKind>();
    for k in [
        SignalKind::hangup(),
        SignalKind::terminate(),
        SignalKind::interrupt(),
        SignalKind::user_defined1(),
        SignalKind::user_defined2(),
        SignalKind::from_raw(crate::cli::SIGRTMIN + 2),
        SignalKind::from_raw(crate::cli::SIGRTMAX - 1),
    ] {
        match signal(k) {
            Ok(mut s) => {
                let tx = sig_tx.clone();
                tokio::spawn(async move {
                    while s.recv().await.is_some() {
                        if tx.send(k).is_err() {
                            break;
                        }
                    }
                });
            }
            Err(e) => tracing::error!("cannot handle signal {}: {e}", k.as_raw_value()),
        }
    }
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    // Children waiting to be restarted: (role, when, back-off to use after that start). Kept
    // here rather than slept on, so that signals (a TERM during a 30 s back-off) stay prompt.
    let mut pending: Vec<(Role, Instant, Duration)> = Vec::new();
    loop {
        tokio::select! {
            Some(k) = sig_rx.recv() => {
                if k == SignalKind::terminate() || k == SignalKind::interrupt() {
                    tracing::info!("Stopping");
                    stop_all(&mut running).await;
                    return ExitCode::SUCCESS;
                }
                if k == SignalKind::hangup() {
                    tracing::info!("Reloading");
                    match load_config(&cli) {
                        None => tracing::error!("reload: the new configuration cannot be run - keeping the running one"),
                        Some(new) => {
                            let want = roles_for(&cli, &new);
                            for (_, (role, r)) in running.iter() {
                                if want.contains(role) {
                                    signal_child(&r.child, libc::SIGHUP);
                                }
                            }
                            let stale: Vec<&'static str> = running.iter().filter(|(_, (role, _))| !want.contains(role)).map(|(k, _)| *k).collect();
                            for k in stale {
                                if let Some((_, mut r)) = running.remove(k) {
                                    signal_child(&r.child, libc::SIGTERM);
                                    let _ = tokio::time::timeout(Duration::from_secs(5), r.child.wait()).await;
                                }
                            }
                            pending.retain(|(role, _, _)| want.contains(role));
                            for role in want {
                                let waiting = pending.iter().any(|(r, _, _)| *r == role);
                                if !running.contains_key(role_key(role)) && !waiting {
                                    start(&mut running, role, Duration::from_secs(1));
                                }
                            }
                        }
                    }
                    continue;
                }
                for (_, (_, r)) in running.iter() {
                    signal_child(&r.child, k.as_raw_value());
                }
            }
            _ = tick.tick() => {
                let mut dead = Vec::new();
                for (key, (role, r)) in running.iter_mut() {
                    if let Ok(Some(status)) = r.child.try_wait() {
                        dead.push((*key, *role, status.code(), r.started.elapsed(), r.backoff));
                    }
                }
                for (key, role, code, lived, backoff) in dead {
                    running.remove(key);
                    if code == Some(i32::from(EXIT_CONFIG)) {
                        tracing::error!("{} child exited with a permanent configuration error. Terminating", role_key(role));
                        stop_all(&mut running).await;
                        return ExitCode::from(1);
                    }
                    if cli.dont_respawn {
                        tracing::error!("{} child exited ({code:?}) and -R is set. Terminating", role_key(role));
                        stop_all(&mut running).await;
                        return ExitCode::from(1);
                    }
                    let delay = if lived >= STABLE_AFTER { Duration::from_secs(1) } else { backoff };
                    tracing::warn!("{} child exited ({code:?}) - restarting in {delay:?}", role_key(role));
                    pending.push((role, Instant::now() + delay, (delay * 2).min(MAX_BACKOFF)));
                }
                let now = Instant::now();
                let (due, later): (Vec<_>, Vec<_>) = pending.drain(..).partition(|(_, at, _)| *at <= now);
                pending = later;
                for (role, _, next) in due {
                    start(&mut running, role, next);
                }
            }
        }
    }
}

fn role_key(role: Role) -> &'static str {
    match role {
        Role::Vrrp => "VRRP",
        Role::Checker => "Healthcheck",
        Role::Parent => "Parent",
    }
}

fn start(running: &mut HashMap<&'static str, (Role, Running)>, role: Role, backoff: Duration) {
    match spawn_child(role) {
        Ok(child) => {
            tracing::info!(
                "Starting {} child process, pid={}",
                role_key(role),
                child.id().unwrap_or(0)
            );
            running.insert(
                role_key(role),
                (
                    role,
                    Running {
                        child,
                        started: Instant::now(),
                        backoff,
                    },
                ),
            );
        }
        Err(e) => tracing::error!("cannot start the {} child: {e}", role_key(role)),
    }
}

async fn stop_all(running: &mut HashMap<&'static str, (Role, Running)>) {
    for (_, (_, r)) in running.iter() {
        signal_child(&r.child, libc::SIGTERM);
    }
    for (_, (role, mut r)) in running.drain() {
        if tokio::time::timeout(Duration::from_secs(5), r.child.wait())
            .await
            .is_err()
        {
            tracing::warn!("{} child did not stop in time - killing it", role_key(role));
            let _ = r.child.kill().await;
        }
    }
}
