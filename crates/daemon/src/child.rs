//! A child process: the VRRP engine or the health checkers, started by the supervisor as
//! `rkeepalived <same arguments> --rka-child=vrrp|checker`.
//!
//! The child reads the configuration itself (as keepalived's children do), writes its pidfile,
//! turns signals into [`Control`] events for its runtime, serves its control socket
//! ([`crate::observe::server`]), and exits with [`EXIT_CONFIG`] when its configuration can
//! never run, so that the supervisor stops instead of respawning.

use std::process::ExitCode;

use rka_config::Config;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::cli::Cli;
use crate::logging::{self, Role};
use crate::observe::protocol::{socket_path, ChildKind};
use crate::observe::server::{record_reload, ControlSocket, SharedReloads};
use crate::pidfile::{self, PidFile};

/// Exit code of a child whose configuration cannot run (keepalived's permanent CONFIG error).
pub const EXIT_CONFIG: u8 = 4;

/// What the runtime of a child is asked to do.
#[derive(Debug)]
pub enum Control {
    /// A new configuration was read and validated (SIGHUP): apply the difference.
    Reload(Box<Config>),
    /// Stop cleanly (SIGTERM/SIGINT): release what we own and return.
    Stop,
    /// Write the data dump (SIGUSR1, `/tmp/keepalived.data`).
    DumpData,
    /// Write statistics (SIGUSR2 / SIGRTMAX-1 with clear, `/tmp/keepalived.stats`).
    DumpStats {
        /// Clear the counters afterwards.
        clear: bool,
    },
    /// Write the JSON dump (SIGRTMIN+2, `/tmp/keepalived.json`).
    DumpJson,
    /// A control-socket request, answered from the runtime's own state.
    Observe(crate::observe::Query, crate::observe::AnswerTx),
}

/// Everything a role's runtime gets.
#[derive(Debug)]
pub struct RoleContext {
    /// The command line.
    pub cli: Cli,
    /// The configuration at start.
    pub config: Config,
    /// Control events, until the channel closes.
    pub control: mpsc::Receiver<Control>,
}

/// Loads the configuration, logging every diagnostic. `None` when it cannot run.
pub fn load_config(cli: &Cli) -> Option<Config> {
    load_config_as(cli, Role::Parent)
}

/// [`load_config`] for `role`: the VRRP child leaves the virtual servers out (they are the
/// checker child's), as keepalived's VRRP process does, which spares it most of the parse of
/// a large LVS configuration on every reload.
///
/// Each diagnostic is logged by one process, as keepalived's processes split them: the
/// parent the problems of the text and of the global and VRRP sections, the checker child
/// those of the virtual servers, and each child the script-security results of the scripts
/// it runs ([`rka_config::Diagnostic::script`]), after `Script user 'keepalived_script' does
/// not exist` when its scripts need that user and it is missing.
fn load_config_as(cli: &Cli, role: Role) -> Option<Config> {
    let mut opts = crate::load_options(cli);
    // The parent leaves them out too: it only needs to know whether there are any (to start
    // the checker child), and keepalived's parent does not report their problems either.
    // A reload with `reload_check_config` reads everything (supervisor::reload_config).
    opts.skip_lvs = matches!(role, Role::Vrrp | Role::Parent);
    let loaded = rka_config::load(&cli.use_file, &opts);
    let logged = std::time::Instant::now();
    let user_line = (role != Role::Parent
        && !opts.skip_host_checks
        && needs_missing_script_user(&loaded.config, role))
    .then_some(MISSING_SCRIPT_USER);
    let lines = reported_by(role, loaded.diagnostics.items(), user_line);
    for d in &lines {
        match d {
            Reported::Diagnostic(d) => match d.severity {
                rka_config::Severity::Info => tracing::info!("{d}"),
                rka_config::Severity::Warning => tracing::warn!("{d}"),
                _ => tracing::error!("{d}"),
            },
            Reported::Line(l) => tracing::info!("{l}"),
        }
    }
    tracing::debug!(
        "configuration read in {}, {} diagnostic(s) logged in {} ms",
        loaded.timings,
        lines.len(),
        logged.elapsed().as_millis()
    );
    (!loaded.diagnostics.is_fatal()).then_some(loaded.config)
}

/// What a child logs when its scripts need the default script user and it does not exist.
const MISSING_SCRIPT_USER: &str = "Script user 'keepalived_script' does not exist";

/// True when `role`'s scripts would run as the default script user and it does not exist.
fn needs_missing_script_user(config: &Config, role: Role) -> bool {
    use rka_config::model::{lvs::security, vrrp::validate};
    let needed = match role {
        Role::Vrrp => validate::needs_default_script_user(&config.global, &config.vrrp),
        Role::Checker => security::needs_default_script_user(&config.lvs, &config.global),
        Role::Parent => false,
    };
    needed && rka_sys::host::user_by_name(security::DEFAULT_SCRIPT_USER).is_none()
}

/// One line a process logs about its configuration.
#[derive(Debug, PartialEq)]
enum Reported<'a> {
    /// A diagnostic of the configuration, logged at its severity's level.
    Diagnostic(&'a rka_config::Diagnostic),
    /// A line of the process's own, logged at info.
    Line(&'static str),
}

/// The diagnostics of `items` that `role` logs, in order: the parent those of the text and
/// of the global and VRRP sections, the VRRP child the script-security results of its
/// scripts, the checker child those of the virtual servers (their script-security results
/// included); a child's script-security results come after `user_line`.
fn reported_by<'a>(
    role: Role,
    items: &'a [rka_config::Diagnostic],
    mut user_line: Option<&'static str>,
) -> Vec<Reported<'a>> {
    let mut out = Vec::new();
    for d in items {
        let keep = match role {
            Role::Parent => !d.script && !d.lvs,
            Role::Vrrp => d.script && !d.lvs,
            Role::Checker => d.lvs,
        };
        if !keep {
            continue;
        }
        if d.script {
            if let Some(l) = user_line.take() {
                out.push(Reported::Line(l));
            }
        }
        out.push(Reported::Diagnostic(d));
    }
    if let Some(l) = user_line {
        out.push(Reported::Line(l));
    }
    out
}

/// Entry point of a child process.
pub fn main(cli: Cli, role: Role) -> ExitCode {
    if let Err(e) = logging::init(&cli, role) {
        eprintln!("{e}");
    }
    let pid_path = match role {
        Role::Vrrp => cli.vrrp_pid.clone(),
        Role::Checker => cli.checkers_pid.clone(),
        Role::Parent => None,
    }
    .unwrap_or_else(|| pidfile::default_path(role));
    let _pid = match PidFile::create(&pid_path) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let config = load_config_as(&cli, role);
    // The parent removes the reload_file once every reader is done.
    crate::supervisor::report_config_read();
    let Some(config) = config else {
        return ExitCode::from(EXIT_CONFIG);
    };
    crate::procattr::apply(&config.global, role);
    crate::vrrp::dump::set_data_naming(&config.global);
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
    rt.block_on(async move {
        let (tx, rx) = mpsc::channel(16);
        let reloads = SharedReloads::default();
        let _socket = control_socket(&cli, role, tx.clone(), reloads.clone());
        let signals = tokio::spawn(forward_signals(cli.clone(), role, tx, reloads));
        let ctx = RoleContext {
            cli,
            config,
            control: rx,
        };
        let code = match role {
            Role::Vrrp => crate::vrrp::run(ctx).await,
            Role::Checker => crate::checker::run(ctx).await,
            Role::Parent => 1,
        };
        signals.abort();
        ExitCode::from(code)
    })
}

/// Opens the child's control socket; a failure is logged and the child runs without one.
fn control_socket(
    cli: &Cli,
    role: Role,
    tx: mpsc::Sender<Control>,
    reloads: SharedReloads,
) -> Option<ControlSocket> {
    let kind = match role {
        Role::Vrrp => ChildKind::Vrrp,
        Role::Checker => ChildKind::Checker,
        Role::Parent => return None,
    };
    let path = socket_path(kind, cli.namespace.as_deref(), cli.config_id.as_deref());
    if kind == ChildKind::Checker {
        // Operator drains outlive a restart of this child (the parent removes the file).
        crate::observe::checker::set_drain_file(crate::observe::protocol::drains_path(&path));
    }
    match crate::observe::server::spawn(path.clone(), kind, tx, reloads) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!("control socket {}: {e}", path.display());
            None
        }
    }
}

/// Turns signals into control events until the runtime stops listening.
async fn forward_signals(cli: Cli, role: Role, tx: mpsc::Sender<Control>, reloads: SharedReloads) {
    let kinds = [
        SignalKind::hangup(),
        SignalKind::terminate(),
        SignalKind::interrupt(),
        SignalKind::user_defined1(),
        SignalKind::user_defined2(),
        SignalKind::from_raw(crate::cli::SIGRTMIN + 2),
        SignalKind::from_raw(crate::cli::SIGRTMAX - 1),
    ];
    let mut streams = Vec::new();
    for k in kinds {
        match signal(k) {
            Ok(s) => streams.push((k, s)),
            Err(e) => tracing::error!("cannot handle signal {}: {e}", k.as_raw_value()),
        }
    }
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<SignalKind>();
    for (k, mut s) in streams {
        let ev_tx = ev_tx.clone();
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                if ev_tx.send(k).is_err() {
                    break;
                }
            }
        });
    }
    while let Some(k) = ev_rx.recv().await {
        let ev = if k == SignalKind::hangup() {
            // Parsing a large configuration takes a while: do it off the runtime that drives
            // the VRRP timers, so a reload delays no advert.
            let reload_cli = cli.clone();
            let loaded = match tokio::task::spawn_blocking(move || {
                let loaded = load_config_as(&reload_cli, role);
                crate::supervisor::report_config_read();
                loaded
            })
            .await
            {
                Ok(loaded) => loaded,
                Err(e) => {
                    tracing::error!("reload: reading the configuration failed: {e}");
                    None
                }
            };
            match loaded {
                Some(c) => {
                    record_reload(&reloads, true);
                    // On the runtime's thread, as keepalived's reload does (procattr docs).
                    crate::procattr::reapply(&c.global, role);
                    crate::vrrp::dump::set_data_naming(&c.global);
                    Control::Reload(Box::new(c))
                }
                None => {
                    record_reload(&reloads, false);
                    tracing::error!(
                        "reload: the new configuration cannot be run - keeping the running one"
                    );
                    continue;
                }
            }
        } else if k == SignalKind::terminate() || k == SignalKind::interrupt() {
            Control::Stop
        } else if k == SignalKind::user_defined1() {
            Control::DumpData
        } else if k == SignalKind::user_defined2() {
            Control::DumpStats { clear: false }
        } else if k.as_raw_value() == crate::cli::SIGRTMAX - 1 {
            Control::DumpStats { clear: true }
        } else {
            Control::DumpJson
        };
        if tx.send(ev).await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rka_config::{Diagnostics, Origin};

    fn lines(r: &[Reported<'_>]) -> Vec<String> {
        r.iter()
            .map(|r| match r {
                Reported::Diagnostic(d) => d.to_string(),
                Reported::Line(l) => l.to_string(),
            })
            .collect()
    }

    /// keepalived's split, observed (a vrrp_script and a MISC_CHECK without user, an
    /// unknown keyword in global_defs and one in a virtual server): the parent logs the global
    /// one, the VRRP child the missing script user and its scripts' security line, the checker
    /// child the virtual server's keyword, the missing script user and the check scripts'
    /// security line (not the VRRP one, which its full load also finds).
    #[test]
    fn each_diagnostic_is_logged_by_one_process() {
        let o = |l| Origin::new("k.conf", l);
        let mut full = Diagnostics::default();
        full.warn(&o(3), "Unknown keyword 'bogus_global'");
        let lvs = full.len();
        full.warn(&o(7), "Unknown keyword 'bogus_vs'");
        full.mark_lvs_since(lvs);
        full.security(None, "SECURITY VIOLATION - scripts ...");
        let lvs = full.len();
        full.security(None, "SECURITY VIOLATION - check scripts ...");
        full.mark_lvs_since(lvs);

        let p = reported_by(Role::Parent, full.items(), None);
        assert_eq!(
            lines(&p),
            ["(k.conf: Line 3) Unknown keyword 'bogus_global'"]
        );
        let v = reported_by(Role::Vrrp, full.items(), Some(MISSING_SCRIPT_USER));
        assert_eq!(
            lines(&v),
            [MISSING_SCRIPT_USER, "SECURITY VIOLATION - scripts ..."]
        );
        let c = reported_by(Role::Checker, full.items(), Some(MISSING_SCRIPT_USER));
        assert_eq!(
            lines(&c),
            [
                "(k.conf: Line 7) Unknown keyword 'bogus_vs'",
                MISSING_SCRIPT_USER,
                "SECURITY VIOLATION - check scripts ..."
            ]
        );
    }

    /// The missing-user line still comes when no script-security diagnostic follows it.
    #[test]
    fn the_user_line_is_not_lost() {
        let mut full = Diagnostics::default();
        full.warn(&Origin::new("k.conf", 9), "same");
        full.mark_lvs_since(0);
        let c = reported_by(Role::Checker, full.items(), Some(MISSING_SCRIPT_USER));
        assert_eq!(lines(&c), ["(k.conf: Line 9) same", MISSING_SCRIPT_USER]);
        assert!(reported_by(Role::Vrrp, full.items(), None).is_empty());
        assert!(reported_by(Role::Parent, full.items(), None).is_empty());
    }

    /// The loader marks what the virtual servers' part finds, so that the checker child logs
    /// it and the parent does not.
    #[test]
    fn the_loader_marks_the_virtual_servers_part() {
        let text = "global_defs {\n bogus_global 1\n}\nvirtual_server 10.0.0.1 80 {\n \
                    bogus_vs 1\n real_server 10.0.0.2 80 {\n }\n}\n";
        let opts = rka_config::LoadOptions {
            skip_host_checks: true,
            ..Default::default()
        };
        let loaded = rka_config::load_str("k.conf", text, &opts);
        let items = loaded.diagnostics.items();
        let said = |role| lines(&reported_by(role, items, None));
        assert_eq!(
            said(Role::Parent),
            ["(k.conf: Line 2) Unknown keyword 'bogus_global'"]
        );
        let checker = said(Role::Checker);
        assert_eq!(
            checker.first().map(String::as_str),
            Some("(k.conf: Line 5) Unknown keyword 'bogus_vs'")
        );
        assert!(
            checker
                .iter()
                .any(|l| l.contains("no forwarding method set")),
            "{checker:?}"
        );
        assert!(!checker.iter().any(|l| l.contains("bogus_global")));
    }
}
