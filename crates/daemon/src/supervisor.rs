//! The supervising parent, keepalived's process model: a parent that starts a VRRP child and a
//! health-checker child from the same binary, forwards signals to them, validates the
//! configuration before a reload, and respawns a child that dies (with back-off, unless `-R`).
//! It keeps `reload_file` (truncated when a reload begins, removed once the parent and every
//! child have read the files) and runs the reloads `reload_time_file` schedules.
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
use crate::lifecycle::{self, ParentScript};
use crate::logging::{self, Role};
use crate::pidfile::{self, PidFile};

/// Exit code of the daemon whose configuration file does not exist (keepalived 2.2.7: 6).
pub const EXIT_CONFIG_MISSING: u8 = 6;
/// Exit code of the daemon after a child's permanent configuration error (keepalived: 2).
pub const EXIT_CHILD_CONFIG: u8 = 2;
/// Exit status by which a child reports a permanent fatal error other than its configuration
/// (keepalived's checker without IPVS): not respawned, and the daemon exits 1 as keepalived's.
pub const EXIT_CHILD_FATAL: u8 = 3;

/// Longest pause between respawns of a child that keeps dying.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A child that ran this long is considered healthy again (back-off resets).
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// Which children a configuration needs, as keepalived decides it.
pub fn roles_for(cli: &Cli, config: &rka_config::Config) -> Vec<Role> {
    let mut roles = Vec::new();
    // A subsystem runs when the configuration has something for it (or `--all`); `-P`/`-C`
    // only rule the other one out, as keepalived does (`-C` without virtual servers leaves
    // the parent alone).
    // An instance refused for good (no VRID) still counts: keepalived starts its VRRP child,
    // which then exits with the permanent configuration error.
    let want_vrrp =
        cli.all || !config.vrrp.instances.is_empty() || !config.vrrp.permanent_errors.is_empty();
    let want_check =
        cli.all || !config.lvs.virtual_servers.is_empty() || config.lvs.skipped_virtual_servers > 0;
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
    /// The child's pid (tokio forgets it once the child is reaped).
    pid: u32,
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
    // The umask first, so that every file we create (log file, pidfiles' directory, dumps)
    // gets it; `-u` wins over the configuration's `umask`, applied once the config is read.
    let cli_umask = match cli.umask.as_deref().map(lifecycle::parse_cli_umask) {
        Some(Ok(m)) => Some(m),
        Some(Err(e)) => {
            eprintln!("{e}");
            None
        }
        None => None,
    };
    lifecycle::set_umask(lifecycle::effective_umask(cli_umask, None));
    if let Err(e) = logging::init(&cli, Role::Parent) {
        eprintln!("{e}");
    }
    tracing::info!("Starting {}", version_text());
    log_start_lines();
    if cli.core_dump || cli.core_dump_pattern.is_some() {
        if let Err(e) = lifecycle::enable_core_dumps() {
            tracing::error!("cannot lift the core file size limit: {e}");
        }
    }
    let _core_pattern = cli.core_dump_pattern.as_deref().and_then(|p| {
        lifecycle::CorePattern::set(std::path::Path::new(lifecycle::CORE_PATTERN_FILE), p)
            .map_err(|e| tracing::error!("cannot set the core pattern: {e}"))
            .ok()
    });
    if let Some(ns) = &cli.namespace {
        // Every thread and child started from here on lives in the namespace.
        if let Err(e) = lifecycle::enter_namespace(ns) {
            tracing::error!("Unable to set network namespace {ns} ({e}) - exiting");
            return ExitCode::from(1);
        }
    }
    if !cli.use_file.exists() {
        // keepalived 2.2.7's daemon exits 6 when its configuration file is missing.
        tracing::error!("Config file missing '{}'", cli.use_file.display());
        return ExitCode::from(EXIT_CONFIG_MISSING);
    }
    tracing::info!("Configuration file {}", cli.use_file.display());
    let Some(config) = load_config(&cli) else {
        // keepalived 2.2.7 starts its children, which stop with their configuration error;
        // the parent then terminates with 2 ("exited with permanent error CONFIG").
        tracing::error!("the configuration cannot be run - exiting");
        return ExitCode::from(EXIT_CHILD_CONFIG);
    };
    // `process_names` / `process_name`: the parent takes only its name (keepalived applies no
    // scheduling attributes to its parent).
    crate::procattr::apply(&config.global, Role::Parent);
    if let Some(notice) = crate::procattr::auto_priority_notice(&config.global) {
        tracing::info!("{notice}");
    }
    // `net_namespace NAME` in the configuration does what `-s NAME` does (which wins).
    let mut cli = cli;
    let mut child_args: Vec<String> = Vec::new();
    if cli.namespace.is_none() {
        if let Some(ns) = config.global.simple.net_namespace.clone() {
            if let Err(e) = lifecycle::enter_namespace(&ns) {
                tracing::error!("Unable to set network namespace {ns} ({e}) - exiting");
                return ExitCode::from(1);
            }
            tracing::info!(
                "Changing syslog ident to {}",
                Role::Parent.ident_in(Some(&ns))
            );
            logging::set_namespace(&ns);
            // The children learn it from their command line.
            child_args.extend(["-s".to_string(), ns.clone()]);
            cli.namespace = Some(ns);
        }
    }
    pidfile::set_namespace(cli.namespace.as_deref());
    crate::vrrp::dump::set_data_naming(&config.global);
    // `instance NAME` / `use_pid_dir` rename or move the default pidfiles: the children,
    // which create theirs before reading the configuration, are given their paths.
    let instance = config.global.simple.instance.clone();
    let pid_dir = config.global.simple.use_pid_dir;
    let default_pid = |role| {
        pidfile::default_path_for(role, cli.namespace.as_deref(), instance.as_deref(), pid_dir)
    };
    if instance.is_some() || pid_dir {
        for (role, flag) in [(Role::Vrrp, "-r"), (Role::Checker, "-c")] {
            let given = match role {
                Role::Vrrp => &mut cli.vrrp_pid,
                _ => &mut cli.checkers_pid,
            };
            if given.is_none() {
                let path = default_pid(role);
                child_args.extend([flag.to_string(), path.display().to_string()]);
                *given = Some(path);
            }
        }
    }
    let _ = CHILD_EXTRA_ARGS.set(child_args);
    if cli_umask.is_none() {
        if let Some(m) = config.global.umask {
            lifecycle::set_umask(lifecycle::effective_umask(None, Some(m)));
        }
    }
    let pid_path = cli.pid.clone().unwrap_or_else(|| default_pid(Role::Parent));
    // Like keepalived, a live process named in any of our pidfiles means "already running"
    // (a second daemon given another -p but the same -r would fight over the VIPs).
    for role in [Role::Vrrp, Role::Checker] {
        let path = child_pidfile(&cli, role);
        if let Some(pid) = pidfile::running_pid(&path) {
            tracing::info!(
                "daemon is already running (pid {pid}, pidfile {})",
                path.display()
            );
            return ExitCode::SUCCESS;
        }
    }
    let _pid = match PidFile::create(&pid_path) {
        Ok(p) => p,
        Err(e @ pidfile::PidFileError::AlreadyRunning { .. }) => {
            // keepalived says so and exits successfully: the daemon is running.
            tracing::info!("{e}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    };
    if cli.dump_conf {
        // `-d`: keepalived logs its data dump at start and runs as usual. We log the global
        // definitions in its layout, then the whole configuration as we resolved it.
        let text = crate::vrrp::dump::global_text(&config, true) + &config.dump();
        for line in text.lines() {
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

/// The daemon's name and version, as the first and last log lines give them.
fn version_text() -> String {
    format!(
        "rkeepalived v{} (keepalived 2.2.7 compatible)",
        env!("CARGO_PKG_VERSION")
    )
}

/// keepalived's start-up lines after the first: the kernel it runs on and its command line
/// (each argument quoted).
fn log_start_lines() {
    let read = |name: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{name}"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    tracing::info!("Running on Linux {} {}", read("osrelease"), read("version"));
    let args: Vec<String> = std::env::args()
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    tracing::info!("Command line: {}", args.join(" "));
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

/// Arguments the children get beyond the parent's own (`-s NAME` from `net_namespace`, the
/// pidfiles `instance` / `use_pid_dir` give them).
static CHILD_EXTRA_ARGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

fn spawn_child(role: Role) -> std::io::Result<Child> {
    let exe = std::env::current_exe()?;
    let name = match role {
        Role::Vrrp => "vrrp",
        Role::Checker => "checker",
        Role::Parent => "parent",
    };
    let mut cmd = Command::new(exe);
    cmd.args(std::env::args_os().skip(1))
        .args(CHILD_EXTRA_ARGS.get().into_iter().flatten())
        .arg(format!("--rka-child={name}"))
        .env("RKA_DETACHED", "1")
        .kill_on_drop(false);
    // The children's heap in small pages from their first allocation (the setting made at
    // the start of `main` comes after the allocator reserved its arena): 38.2 -> 35.8 MB
    // resident for the checker child at 36,800 real servers (bench/checker-memory). An
    // operator's own setting wins.
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        cmd.env("MIMALLOC_ALLOW_THP", "0");
    }
    cmd.spawn()
}

fn signal_child(c: &Child, signo: i32) {
    if let Some(pid) = c.id() {
        if let Err(e) = rka_sys::host::send_signal(pid, signo) {
            tracing::warn!("cannot signal child {pid}: {e}");
        }
    }
}

async fn supervise(cli: Cli, config: rka_config::Config) -> ExitCode {
    let mut http = crate::observe::http::start(&cli, &config, &roles_for(&cli, &config)).await;
    let mut running: HashMap<&'static str, (Role, Running)> = HashMap::new();
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
    // Drains belong to one run of the daemon: a killed predecessor's are not ours.
    forget_drains(&cli);
    // Signals are caught from here on: one arriving during the startup script waits for it.
    lifecycle::run_parent_script(ParentScript::Startup, &config).await;
    let read_reports = bind_read_reports();
    // A child's death is noticed through SIGCHLD (installed before any child starts), not by
    // polling: an idle parent sleeps until a signal, a restart that is due, or a reload-file
    // deadline.
    let mut sigchld = match signal(SignalKind::child()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("cannot catch SIGCHLD ({e}): children are polled every second");
            None
        }
    };
    // reload_time_file: a reload at the time the file names.
    let mut scheduled = lifecycle::ScheduledReload::start(&config.global);
    for role in roles_for(&cli, &config) {
        start(&mut running, role, Duration::from_secs(1));
    }
    // keepalived removes the reload file once the configuration is read at start (observed;
    // it does not create one then): here once the children have read it too.
    let mut reload_file =
        reload_file_path(&config.global, cli.namespace.as_deref()).map(|path| ReloadFileWait {
            path,
            waiting: running.values().map(|(_, r)| r.pid).collect(),
            since: Instant::now(),
        });
    // The children read the configuration themselves: keep only what the parent acts on.
    let mut config = parent_part(config);
    tracing::info!("Startup complete");
    crate::sdnotify::ready(&crate::sdnotify::running_status(running.keys().copied()));
    // Without SIGCHLD, a poll; with it, a rare safety check only.
    let check_every = if sigchld.is_some() {
        Duration::from_secs(30)
    } else {
        Duration::from_secs(1)
    };
    let mut safety = tokio::time::interval(check_every);
    // Children waiting to be restarted: (role, when, back-off to use after that start). Kept
    // here rather than slept on, so that signals (a TERM during a 30 s back-off) stay prompt.
    let mut pending: Vec<(Role, Instant, Duration)> = Vec::new();
    loop {
        if reload_file.as_mut().is_some_and(|w| w.done(&running)) {
            if let Some(w) = reload_file.take() {
                remove_reload_file(&w.path);
            }
        }
        tokio::select! {
            () = lifecycle::scheduled_reload_due(scheduled.as_mut()) => {
                // The same reload as SIGHUP's.
                let _ = sig_tx.send(SignalKind::hangup());
            }
            Some(pid) = next_read_report(read_reports.as_ref()) => {
                if let Some(w) = reload_file.as_mut() {
                    w.waiting.remove(&pid);
                }
            }
            Some(k) = sig_rx.recv() => {
                if k == SignalKind::terminate() || k == SignalKind::interrupt() {
                    tracing::info!("Stopping");
                    crate::sdnotify::stopping();
                    stop_all(&mut running, child_wait(&config)).await;
                    forget_drains(&cli);
                    lifecycle::run_parent_script(ParentScript::Shutdown, &config).await;
                    tracing::info!("Stopped {}", version_text());
                    return ExitCode::SUCCESS;
                }
                if k == SignalKind::hangup() {
                    tracing::info!("Reloading ...");
                    crate::sdnotify::reloading();
                    // reload_file: created or truncated before anyone reads the files, removed
                    // when all have (a previous wait is superseded).
                    reload_file = reload_file_path(&config.global, cli.namespace.as_deref()).map(|path| {
                        truncate_reload_file(&path);
                        ReloadFileWait { path, waiting: Default::default(), since: Instant::now() }
                    });
                    // Without reload_check_config the children need no verdict from the
                    // parent (each refuses a configuration that cannot run, with the same
                    // rules): tell them now, so their parse runs alongside the parent's
                    // instead of after it.
                    let early = config.global.reload_check_config.is_none();
                    if early {
                        for (_, (_, r)) in running.iter() {
                            signal_child(&r.child, libc::SIGHUP);
                            if let Some(w) = reload_file.as_mut() {
                                w.waiting.insert(r.pid);
                            }
                        }
                    }
                    tracing::info!("Configuration file {}", cli.use_file.display());
                    match reload_config(&cli, &config) {
                        None => {
                            tracing::error!("reload: the new configuration cannot be run - keeping the running one");
                            crate::sdnotify::ready("Reload refused: the new configuration cannot be run - keeping the running one");
                        }
                        Some(new) => {
                            let want = roles_for(&cli, &new);
                            // The parent's name follows process_name(s), as keepalived's.
                            crate::procattr::reapply(&new.global, Role::Parent);
                            crate::vrrp::dump::set_data_naming(&new.global);
                            // The reload time file is read again (and followed anew).
                            scheduled = lifecycle::ScheduledReload::start(&new.global);
                            http.set_roles(&cli, &want);
                            // The endpoint follows rkeepalived_http_listen of the new
                            // configuration (moved, opened or closed).
                            http.listen(new.global.rkeepalived_http_listen).await;
                            config = parent_part(new);
                            for (_, (role, r)) in running.iter() {
                                if !early && want.contains(role) {
                                    signal_child(&r.child, libc::SIGHUP);
                                    if let Some(w) = reload_file.as_mut() {
                                        w.waiting.insert(r.pid);
                                    }
                                }
                            }
                            let stale: Vec<&'static str> = running.iter().filter(|(_, (role, _))| !want.contains(role)).map(|(k, _)| *k).collect();
                            for k in stale {
                                if let Some((role, mut r)) = running.remove(k) {
                                    signal_child(&r.child, libc::SIGTERM);
                                    let deadline = tokio::time::Instant::now() + child_wait(&config);
                                    stop_child(role, &mut r.child, deadline).await;
                                }
                            }
                            if !want.contains(&Role::Checker) {
                                forget_drains(&cli);
                            }
                            pending.retain(|(role, _, _)| want.contains(role));
                            for role in want {
                                let waiting = pending.iter().any(|(r, _, _)| *r == role);
                                if !running.contains_key(role_key(role)) && !waiting {
                                    start(&mut running, role, Duration::from_secs(1));
                                    // A child the reload starts reads the files too.
                                    if let (Some(w), Some((_, r))) = (reload_file.as_mut(), running.get(role_key(role))) {
                                        w.waiting.insert(r.pid);
                                    }
                                }
                            }
                            tracing::info!("Reload complete");
                            crate::sdnotify::ready(&crate::sdnotify::running_status(running.keys().copied()));
                        }
                    }
                    continue;
                }
                if k == SignalKind::user_defined1() {
                    crate::vrrp::dump::write_parent_data(&config);
                }
                for (_, (_, r)) in running.iter() {
                    signal_child(&r.child, k.as_raw_value());
                }
            }
            () = wake_at(next_deadline(&pending, reload_file.as_ref())) => {
                // A restart is due or the reload-file wait ran out: handled below and at the
                // top of the loop.
                if let Err(code) = reap(&mut running, &mut pending, &cli, &config, &mut http).await {
                    return code;
                }
            }
            _ = safety.tick() => {
                if let Err(code) = reap(&mut running, &mut pending, &cli, &config, &mut http).await {
                    return code;
                }
            }
            Some(()) = async {
                match sigchld.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                if let Err(code) = reap(&mut running, &mut pending, &cli, &config, &mut http).await {
                    return code;
                }
            }
        }
    }
}

/// When the parent must wake without a signal: the earliest pending restart, or the end of
/// the wait for the children's "configuration read" reports.
fn next_deadline(
    pending: &[(Role, Instant, Duration)],
    reload_file: Option<&ReloadFileWait>,
) -> Option<Instant> {
    let restart = pending.iter().map(|(_, at, _)| *at).min();
    let read = reload_file.map(|w| w.since + READ_REPORT_LIMIT);
    restart.into_iter().chain(read).min()
}

/// Sleeps until `at`, or for ever.
async fn wake_at(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Notices dead children (restarting them after their back-off, or ending the daemon as
/// keepalived does for a permanent error) and starts the restarts that are due. `Err` carries
/// the daemon's exit code.
async fn reap(
    running: &mut HashMap<&'static str, (Role, Running)>,
    pending: &mut Vec<(Role, Instant, Duration)>,
    cli: &Cli,
    config: &rka_config::Config,
    http: &mut crate::observe::http::Endpoint,
) -> Result<(), ExitCode> {
    let mut dead = Vec::new();
    for (key, (role, r)) in running.iter_mut() {
        if let Ok(Some(status)) = r.child.try_wait() {
            dead.push((
                *key,
                *role,
                status.code(),
                r.started.elapsed(),
                r.backoff,
                r.pid,
            ));
            // A killed child leaves its pidfile: remove it if it still names it.
            pidfile::remove_if_owned_by(&child_pidfile(cli, *role), r.pid);
        }
    }
    for (key, role, code, lived, backoff, pid) in dead {
        running.remove(key);
        if code == Some(i32::from(EXIT_CHILD_FATAL)) {
            tracing::error!(
                "{} child exited with a permanent error. Terminating",
                role_key(role)
            );
            stop_all(running, child_wait(config)).await;
            forget_drains(cli);
            return Err(ExitCode::from(1));
        }
        if code == Some(i32::from(EXIT_CONFIG)) {
            // keepalived 2.2.7's wording.
            tracing::error!("pid {pid} exited with permanent error CONFIG. Terminating");
            stop_all(running, child_wait(config)).await;
            forget_drains(cli);
            return Err(ExitCode::from(EXIT_CHILD_CONFIG));
        }
        if cli.dont_respawn {
            // keepalived stops the other child and exits successfully.
            tracing::error!(
                "{} child exited ({code:?}) and -R is set: Exiting",
                role_key(role)
            );
            stop_all(running, child_wait(config)).await;
            forget_drains(cli);
            lifecycle::run_parent_script(ParentScript::Shutdown, config).await;
            return Err(ExitCode::SUCCESS);
        }
        let delay = if lived >= STABLE_AFTER {
            Duration::from_secs(1)
        } else {
            backoff
        };
        // keepalived's lines (its first restart is immediate; ours waits the back-off).
        tracing::info!("{} child process({pid}) died: Respawning", role_key(role));
        tracing::info!(
            "Restart of {} process delayed {} seconds to limit respawn rate",
            role_key(role),
            delay.as_secs()
        );
        tracing::debug!("{} child exited ({code:?})", role_key(role));
        crate::sdnotify::status(&format!(
            "{} child exited ({code:?}) - restarting in {delay:?}",
            role_key(role)
        ));
        pending.push((role, Instant::now() + delay, (delay * 2).min(MAX_BACKOFF)));
    }
    let now = Instant::now();
    let (due, later): (Vec<_>, Vec<_>) = pending.drain(..).partition(|(_, at, _)| *at <= now);
    *pending = later;
    for (role, _, next) in due {
        start(running, role, next);
        http.child_restarted(role);
        crate::sdnotify::status(&crate::sdnotify::running_status(running.keys().copied()));
    }
    Ok(())
}

/// Forgets the operator drains the checker child kept for its successor (see
/// [`crate::observe::checker`]): at start (a previous daemon that was killed), when the daemon
/// stops, and when it no longer runs a checker child.
fn forget_drains(cli: &Cli) {
    use crate::observe::protocol::{drains_path, socket_path, ChildKind};
    let socket = socket_path(
        ChildKind::Checker,
        cli.namespace.as_deref(),
        cli.config_id.as_deref(),
    );
    let path = drains_path(&socket);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!("cannot remove {}: {e}", path.display());
        }
        _ => {}
    }
}

/// The pidfile a child of `role` writes (`-r`/`-c` or the default).
fn child_pidfile(cli: &Cli, role: Role) -> std::path::PathBuf {
    match role {
        Role::Vrrp => cli.vrrp_pid.clone(),
        Role::Checker => cli.checkers_pid.clone(),
        Role::Parent => cli.pid.clone(),
    }
    .unwrap_or_else(|| pidfile::default_path(role))
}

/// The part of a configuration the parent keeps once it knows which children to run: the
/// global definitions (scripts, `reload_check_config`, its data dump). The VRRP and LVS
/// halves (26 MB at 1,000 instances, measured: bench/vrrp-scale) are the children's; their
/// memory goes back to the system.
fn parent_part(config: rka_config::Config) -> rka_config::Config {
    let rka_config::Config {
        global,
        vrrp,
        lvs,
        bfd,
    } = config;
    drop((vrrp, lvs, bfd));
    rka_sys::alloc::release_free_memory();
    rka_config::Config {
        global,
        ..rka_config::Config::default()
    }
}

/// Reads the configuration for a reload (SIGHUP). With `reload_check_config [FILE]` in the
/// running configuration, any diagnostic refuses the reload, as keepalived's check does: the
/// diagnostics go to FILE (truncated first) and the log says where. Without it, only a
/// configuration that cannot run at all is refused. `None` keeps the running configuration.
fn reload_config(cli: &Cli, running: &rka_config::Config) -> Option<rka_config::Config> {
    let Some(check_file) = &running.global.reload_check_config else {
        return load_config(cli);
    };
    let loaded = rka_config::load(&cli.use_file, &crate::load_options(cli));
    if loaded.diagnostics.exit_code() == 0 && !loaded.diagnostics.is_fatal() {
        return Some(loaded.config);
    }
    let text: String = loaded
        .diagnostics
        .items()
        .iter()
        .map(|d| format!("{d}\n"))
        .collect();
    let file = check_file.as_deref().unwrap_or("/dev/null");
    if check_file.is_some() {
        if let Err(e) = std::fs::write(file, text) {
            tracing::error!("cannot write the config check log {file}: {e}");
        }
    }
    tracing::error!("New config failed validation, see {file} for details");
    None
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
                        pid: child.id().unwrap_or(0),
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

/// `child_wait_time SECS` (top level; 5 s by default): how long the parent gives its children
/// to exit once told to stop.
fn child_wait(config: &rka_config::Config) -> Duration {
    Duration::from_secs(u64::from(config.global.simple.child_wait_time))
}

/// keepalived's name of a child process in its "failed to die" message.
fn process_name(role: Role) -> &'static str {
    match role {
        Role::Vrrp => "vrrp",
        Role::Checker => "checker",
        Role::Parent => "parent",
    }
}

/// Tells every child to stop (SIGTERM) and waits for them, all under one deadline `wait` from
/// now; a child still there then is killed (SIGKILL). As keepalived 2.2.7 (observed: a VRRP child
/// stopped by SIGSTOP keeps the parent `child_wait_time` seconds, default 5, 0 kills at once,
/// then "vrrp process failed to die - forcing termination").
async fn stop_all(running: &mut HashMap<&'static str, (Role, Running)>, wait: Duration) {
    for (_, (_, r)) in running.iter() {
        signal_child(&r.child, libc::SIGTERM);
    }
    let deadline = tokio::time::Instant::now() + wait;
    for (_, (role, mut r)) in running.drain() {
        stop_child(role, &mut r.child, deadline).await;
    }
}

/// Waits until `deadline` for a child already told to stop, then kills it.
async fn stop_child(role: Role, child: &mut Child, deadline: tokio::time::Instant) {
    if tokio::time::timeout_at(deadline, child.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "{} process failed to die - forcing termination",
            process_name(role)
        );
        let _ = child.kill().await;
    }
}

/// `reload_file [PATH]`: the file through which an update process learns that the
/// configuration files are being read (man 5 keepalived.conf). `PATH` or, without one, the
/// default parent pidfile with `.reload` for `.pid`, as keepalived 2.2.7 (observed):
/// `/run/keepalived.reload`, `/run/keepalived/keepalived.reload` with `use_pid_dir`,
/// `/run/keepalived/keepalived_foo.reload` with `instance foo`.
pub fn reload_file_path(
    global: &rka_config::model::global::GlobalDefs,
    namespace: Option<&str>,
) -> Option<std::path::PathBuf> {
    match global.reload_file.as_ref()? {
        Some(path) => Some(std::path::PathBuf::from(path)),
        None => {
            let pid = pidfile::default_path_for(
                Role::Parent,
                namespace,
                global.simple.instance.as_deref(),
                global.simple.use_pid_dir,
            );
            Some(pid.with_extension("reload"))
        }
    }
}

/// Creates or truncates the reload file before the configuration is read (a reload), so an
/// update process that wrote something there sees reading begin. A failure is logged.
fn truncate_reload_file(path: &std::path::Path) {
    if let Err(e) = std::fs::File::create(path) {
        tracing::warn!("cannot create reload file {}: {e}", path.display());
    }
}

/// Removes the reload file once reading is done. A failure other than "absent" is logged.
fn remove_reload_file(path: &std::path::Path) {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!("cannot remove reload file {}: {e}", path.display());
        }
        _ => tracing::debug!("configuration read: {} removed", path.display()),
    }
}

/// The longest the reload file waits for a child's "configuration read" report.
const READ_REPORT_LIMIT: Duration = Duration::from_secs(60);

/// The reload file, waiting for everyone who reads the configuration files: the parent and,
/// since rkeepalived's children read the files themselves (keepalived's read a copy the
/// parent made), each child that was started or signalled. Removed when all have reported
/// (or died, or after [`READ_REPORT_LIMIT`]).
#[derive(Debug)]
struct ReloadFileWait {
    path: std::path::PathBuf,
    /// Children (pids) still reading.
    waiting: std::collections::HashSet<u32>,
    since: Instant,
}

impl ReloadFileWait {
    /// True once no live child is left reading (or the wait is too long).
    fn done(&mut self, running: &HashMap<&'static str, (Role, Running)>) -> bool {
        self.waiting
            .retain(|pid| running.values().any(|(_, r)| r.pid == *pid));
        self.waiting.is_empty() || self.since.elapsed() >= READ_REPORT_LIMIT
    }
}

/// The abstract socket name on which the parent `parent` hears its children's "configuration
/// read" reports (abstract names live in the network namespace, which parent and children
/// share).
fn read_report_name(parent: u32) -> String {
    format!("rkeepalived-read-{parent}")
}

/// The parent's end of the "configuration read" reports; `None` (logged) when it cannot be
/// bound: the reload file then goes as soon as the parent has read.
fn bind_read_reports() -> Option<tokio::net::UnixDatagram> {
    use std::os::linux::net::SocketAddrExt;
    let name = read_report_name(std::process::id());
    let bound = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
        .and_then(|a| std::os::unix::net::UnixDatagram::bind_addr(&a))
        .and_then(|s| {
            s.set_nonblocking(true)?;
            tokio::net::UnixDatagram::from_std(s)
        });
    match bound {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("cannot open the configuration read reports socket: {e}");
            None
        }
    }
}

/// The next child that reports having read the configuration (its pid); never returns
/// without a socket.
async fn next_read_report(sock: Option<&tokio::net::UnixDatagram>) -> Option<u32> {
    let Some(sock) = sock else {
        return std::future::pending().await;
    };
    let mut buf = [0u8; 32];
    match sock.recv(&mut buf).await {
        Ok(n) => std::str::from_utf8(&buf[..n]).ok()?.trim().parse().ok(),
        Err(e) => {
            tracing::debug!("configuration read report: {e}");
            // Do not spin on a persistent error.
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}

/// Called by a child once it has read the configuration files (at start and on each
/// reload, whether or not they could run): tells the parent, which removes the reload file
/// when every reader is done. Best effort: nothing listens under keepalived's own parent.
pub fn report_config_read() {
    use std::os::linux::net::SocketAddrExt;
    let parent = nix::unistd::getppid().as_raw();
    let Ok(parent) = u32::try_from(parent) else {
        return;
    };
    let sent =
        std::os::unix::net::SocketAddr::from_abstract_name(read_report_name(parent).as_bytes())
            .and_then(|addr| {
                let s = std::os::unix::net::UnixDatagram::unbound()?;
                s.send_to_addr(std::process::id().to_string().as_bytes(), &addr)
            });
    if let Err(e) = sent {
        tracing::debug!("cannot report the configuration read to the parent: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    use crate::testutil::config;

    fn roles(args: &[&str], text: &str) -> Vec<Role> {
        let mut argv = vec!["rkeepalived"];
        argv.extend_from_slice(args);
        roles_for(&Cli::try_parse_from(argv).expect("cli"), &config(text))
    }

    const VRRP: &str = "vrrp_instance V {\n interface lo\n virtual_router_id 1\n priority 100\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n";
    const LVS: &str =
        "virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n }\n}\n";

    #[test]
    fn the_parent_keeps_only_the_global_definitions() {
        let full = config(&format!(
            "global_defs {{\n router_id lb1\n reload_check_config\n}}\n{VRRP}{LVS}"
        ));
        assert_eq!(full.vrrp.instances.len(), 1);
        let kept = parent_part(full.clone());
        assert_eq!(kept.global, full.global);
        assert!(kept.vrrp.instances.is_empty());
        assert!(kept.lvs.virtual_servers.is_empty());
    }

    #[test]
    fn the_parent_starts_the_checker_for_virtual_servers_it_did_not_model() {
        // The parent reads with skip_lvs (child::load_config_as): the count decides.
        let opts = rka_config::LoadOptions {
            skip_lvs: true,
            skip_host_checks: true,
            ..Default::default()
        };
        let cli = Cli::try_parse_from(["rkeepalived"]).expect("cli");
        let skipped = rka_config::load_str("t.conf", &format!("{VRRP}{LVS}"), &opts).config;
        assert!(skipped.lvs.virtual_servers.is_empty());
        assert_eq!(roles_for(&cli, &skipped), vec![Role::Vrrp, Role::Checker]);
        let vrrp_only = rka_config::load_str("t.conf", VRRP, &opts).config;
        assert_eq!(roles_for(&cli, &vrrp_only), vec![Role::Vrrp]);
    }

    #[test]
    fn subsystems_follow_the_configuration_and_p_c_all() {
        let both = format!("{VRRP}{LVS}");
        assert_eq!(roles(&[], &both), vec![Role::Vrrp, Role::Checker]);
        assert_eq!(roles(&["-P"], &both), vec![Role::Vrrp]);
        assert_eq!(roles(&["-C"], &both), vec![Role::Checker]);
        assert_eq!(roles(&["-P", "-C"], &both), vec![Role::Vrrp, Role::Checker]);
        // Nothing configured for a subsystem: its child is not started, even when asked for.
        assert_eq!(roles(&["-C"], VRRP), Vec::<Role>::new());
        assert_eq!(roles(&[], VRRP), vec![Role::Vrrp]);
        assert_eq!(roles(&["--all"], VRRP), vec![Role::Vrrp, Role::Checker]);
        assert_eq!(roles(&["--all", "-P"], LVS), vec![Role::Vrrp]);
        // An instance refused for its VRID: the VRRP child starts and reports it.
        let no_vrid = "vrrp_instance V {\n interface lo\n priority 100\n}\n";
        assert_eq!(roles(&[], no_vrid), vec![Role::Vrrp]);
    }

    #[test]
    fn reload_file_defaults_beside_the_parent_pidfile() {
        let path = |text: &str, ns| {
            reload_file_path(&config(text).global, ns).map(|p| p.display().to_string())
        };
        assert_eq!(path("global_defs {\n}\n", None), None);
        assert_eq!(
            path("global_defs {\n reload_file /var/run/x.rl\n}\n", None).as_deref(),
            Some("/var/run/x.rl")
        );
        let g = "global_defs {\n reload_file\n}\n";
        assert_eq!(path(g, None).as_deref(), Some("/run/keepalived.reload"));
        assert_eq!(
            path(&format!("use_pid_dir\n{g}"), None).as_deref(),
            Some("/run/keepalived/keepalived.reload")
        );
        assert_eq!(
            path(&format!("instance foo\n{g}"), None).as_deref(),
            Some("/run/keepalived/keepalived_foo.reload")
        );
        assert_eq!(
            path(g, Some("ns1")).as_deref(),
            Some("/run/keepalived/ns1/keepalived.reload")
        );
    }
}
