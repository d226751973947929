//! The health-checker child's runtime: probes from `rka-check` as tokio tasks, the director's
//! verdicts, and the IPVS table kept in line through `rka-ipvs`.
//!
//! - [`mapping`]: keepalived.conf to a plan (kernel services, real servers, shared probes);
//! - [`table`]: the wanted IPVS table from the plan and the director;
//! - [`ipvs`]: the IPVS manager thread (minimal diffs, retries, release on stop);
//! - [`notify`]: LVS FIFO lines and scripts;
//! - [`runtime`]: the event loop;
//! - [`dump`]: data dump and statistics.

pub mod dump;
pub mod ipvs;
pub mod logline;
pub mod mapping;
pub mod notify;
pub mod runtime;

pub mod table;

#[cfg(test)]
mod tests;

use rka_config::model::global::LvsFlushOnStop;

use crate::child::{Control, RoleContext};
use crate::supervisor::EXIT_CHILD_FATAL;

/// Runs the checker child until it is told to stop. Returns the process exit code.
///
/// As keepalived's checker process, the child only opens IPVS when the configuration has
/// virtual servers: without any (`--all` on a VRRP-only configuration) it stays up, idle,
/// answering dumps and reloads. When IPVS is needed and cannot be opened it exits with
/// [`EXIT_CHILD_FATAL`], which the parent turns into its own exit 1, as keepalived does.
pub async fn run(mut ctx: RoleContext) -> u8 {
    let Some(mut rt) = start_runtime(&ctx.config) else {
        return EXIT_CHILD_FATAL;
    };
    let mut uses_ipvs = !ctx.config.lvs.virtual_servers.is_empty();
    let mut flush_on_stop = ctx.config.global.lvs_flush_on_stop;
    let mut syncd = sync_daemons_without_instance(&ctx.config, None);
    // The data dump starts with the global definitions, as keepalived's does: the text is
    // kept because the model is not.
    let mut global = crate::vrrp::dump::global_text(&ctx.config, false);
    // Everything needed is mapped: the model (the VRRP half included) is not kept for the
    // life of the child. A reload brings a fresh one.
    drop(std::mem::take(&mut ctx.config));
    // The plan's long-lived blocks out of the model's pages, which the runtime's next step
    // gives back to the system (it releases the allocator's free memory after an install).
    rt.plan.compact();
    // The loader's code pages too: the steady state runs little of the binary.
    rka_sys::resident::release_executable_pages();
    loop {
        match rt.step(&mut ctx.control).await {
            Control::Stop => break,
            Control::Reload(cfg) => {
                // keepalived's checker child's first line of a reload.
                tracing::info!("Reloading");
                flush_on_stop = cfg.global.lvs_flush_on_stop;
                global = crate::vrrp::dump::global_text(&cfg, false);
                syncd = reload_sync_daemons(&cfg, syncd).await;
                if !uses_ipvs && !cfg.lvs.virtual_servers.is_empty() {
                    // The first virtual servers: IPVS is opened now, as at a start with them.
                    rt.stop(ipvs::StopMode::Keep).await;
                    let Some(started) = start_runtime(&cfg) else {
                        rka_check::ping::restore_group_range();
                        if let Some(h) = syncd {
                            h.finish(true).await;
                        }
                        return EXIT_CHILD_FATAL;
                    };
                    rt = started;
                    uses_ipvs = true;
                } else {
                    if uses_ipvs {
                        tracing::info!("{}", IPVS_REINIT_LINE);
                    }
                    rt.reload(&cfg);
                }
                drop(cfg);
                rt.plan.compact();
                rka_sys::resident::release_executable_pages();
            }
            Control::DumpData => {
                // Let the IPVS thread catch up so the dump shows the table as applied.
                rt.ipvs.sync().await;
                dump::write_data(&global, &rt);
            }
            Control::DumpStats { clear } => dump::write_stats(&mut rt, clear),
            Control::DumpJson => {
                tracing::info!("JSON dump: only the VRRP child writes one");
            }
            Control::Observe(query, reply) => {
                crate::observe::checker::answer(&mut rt, query, reply)
            }
        }
    }
    rt.stop(stop_mode(ctx.cli.dont_release_ipvs, flush_on_stop))
        .await;
    // PING_CHECK widened net.ipv4.ping_group_range: put it back, as keepalived 2.2.7 does.
    rka_check::ping::restore_group_range();
    if let Some(h) = syncd {
        h.finish(true).await;
    }
    0
}

/// The runtime for `config`: on the kernel's IPVS when there are virtual servers, else on
/// [`NoIpvs::UNUSED`]. `None` (logged) when IPVS is needed but cannot be opened, or the IPVS thread
/// cannot start.
/// keepalived 2.2.7's checker child logs this as it opens IPVS at start, and
/// [`IPVS_REINIT_LINE`] at each reload (at debug priority; here at info, so that it shows
/// without `-D` as keepalived's does on its console).
const IPVS_INIT_LINE: &str = "Initializing ipvs";
/// See [`IPVS_INIT_LINE`].
const IPVS_REINIT_LINE: &str = "Reinitializing ipvs";

fn start_runtime(config: &rka_config::Config) -> Option<runtime::Runtime> {
    let started = if config.lvs.virtual_servers.is_empty() {
        tracing::debug!("no virtual server: the checker child runs idle, without IPVS");
        runtime::Runtime::start(config, NoIpvs::UNUSED)
    } else if std::env::var_os(DRY_RUN_ENV).is_some() {
        tracing::info!("{}", IPVS_INIT_LINE);
        tracing::warn!("IPVS dry run ({DRY_RUN_ENV} is set): nothing is sent to the kernel");
        runtime::Runtime::start(config, NoIpvs::DRY_RUN)
    } else {
        tracing::info!("{}", IPVS_INIT_LINE);
        match ipvs::Kernel::connect() {
            Ok(k) => runtime::Runtime::start(config, k),
            Err(e) => {
                tracing::error!("IPVS: Can't initialize ipvs: {e}");
                return None;
            }
        }
    };
    match started {
        Ok(rt) => Some(rt),
        Err(e) => {
            tracing::error!("cannot start the IPVS thread: {e}");
            None
        }
    }
}

/// An IPVS backend that sends nothing and accepts every request: the table starts empty.
/// - [`NoIpvs::UNUSED`]: a checker child without virtual servers. keepalived does not open
///   IPVS then, and neither do we (with no virtual server the runtime only has start-up options,
///   such as `lvs_flush`, to apply, and keepalived leaves those alone too).
/// - [`NoIpvs::DRY_RUN`]: a benchmark on a host without IPVS (`RKA_BENCH_IPVS_DRY_RUN` set, see
///   bench/reload/host): the manager compares and computes every request as with the kernel.
///   Never selected otherwise.
#[derive(Debug, Clone, Copy)]
pub struct NoIpvs {
    /// Why nothing is sent, for the debug log.
    why: &'static str,
}

impl NoIpvs {
    /// No virtual server: IPVS is not used.
    pub const UNUSED: NoIpvs = NoIpvs {
        why: "IPVS not in use (no virtual server)",
    };
    /// A benchmark's dry run ([`DRY_RUN_ENV`]).
    pub const DRY_RUN: NoIpvs = NoIpvs {
        why: "IPVS dry run",
    };
}

impl ipvs::Backend for NoIpvs {
    fn dump(&mut self) -> Result<rka_ipvs::Table, rka_ipvs::IpvsError> {
        Ok(rka_ipvs::Table::new())
    }

    fn execute(
        &mut self,
        requests: &[rka_ipvs::Request],
    ) -> Result<Vec<Result<(), rka_ipvs::IpvsError>>, rka_ipvs::IpvsError> {
        tracing::debug!("{}: {} request(s) not sent", self.why, requests.len());
        Ok(requests.iter().map(|_| Ok(())).collect())
    }
}

/// The environment variable that makes the checker child run on [`NoIpvs::DRY_RUN`].
pub const DRY_RUN_ENV: &str = "RKA_BENCH_IPVS_DRY_RUN";

/// `lvs_sync_daemon` naming no VRRP instance: keepalived's checker process runs both the master
/// and the backup sync daemon for as long as it runs, and removes them on stop (the VRRP child
/// handles the case where an instance drives them). `running` is the thread already started,
/// reused with the new options; `None` is returned (and nothing started) when the
/// configuration asks for no such daemons.
fn sync_daemons_without_instance(
    config: &rka_config::Config,
    running: Option<crate::vrrp::syncd::SyncdHandle>,
) -> Option<crate::vrrp::syncd::SyncdHandle> {
    use crate::vrrp::syncd::{wanted_for, IpvsSink, SyncdHandle};
    let cfg = config
        .global
        .lvs_sync_daemon
        .as_ref()
        .filter(|c| c.instance.is_none())?;
    let handle = match running {
        Some(h) => h,
        None => match SyncdHandle::spawn(Box::new(IpvsSink::default())) {
            Ok(h) => h,
            Err(e) => {
                tracing::error!("lvs_sync_daemon: cannot start its thread: {e}");
                return None;
            }
        },
    };
    handle.want(wanted_for(cfg, None, None));
    Some(handle)
}

/// After a reload: the same daemons with the new options, or none (removed) when the new
/// configuration no longer asks for instance-less sync daemons.
async fn reload_sync_daemons(
    config: &rka_config::Config,
    running: Option<crate::vrrp::syncd::SyncdHandle>,
) -> Option<crate::vrrp::syncd::SyncdHandle> {
    let wanted = config
        .global
        .lvs_sync_daemon
        .as_ref()
        .is_some_and(|c| c.instance.is_none());
    if wanted {
        return sync_daemons_without_instance(config, running);
    }
    if let Some(h) = running {
        h.finish(true).await;
    }
    None
}

/// What to release on stop: nothing with `-I`, everything with `lvs_flush_on_stop`, else our
/// virtual servers.
pub fn stop_mode(dont_release: bool, flush: Option<LvsFlushOnStop>) -> ipvs::StopMode {
    match (dont_release, flush) {
        (true, _) => ipvs::StopMode::Keep,
        (false, Some(LvsFlushOnStop::All)) => ipvs::StopMode::Flush,
        (false, _) => ipvs::StopMode::RemoveOwned,
    }
}

#[cfg(test)]
mod start_tests {
    use super::start_runtime;

    use crate::testutil::config as load;

    #[tokio::test]
    async fn no_virtual_server_runs_idle_without_ipvs() {
        let rt = start_runtime(&load("global_defs {\n router_id a\n}\n")).expect("idle runtime");
        assert!(rt.plan().services.is_empty());
        rt.stop(super::ipvs::StopMode::RemoveOwned).await;
    }

    #[tokio::test]
    async fn virtual_servers_need_ipvs() {
        let cfg = load(
            "virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n  \
             TCP_CHECK {\n  }\n }\n}\n",
        );
        match super::ipvs::Kernel::connect() {
            // This kernel has no IPVS: the child must give up (EXIT_CHILD_FATAL in `run`).
            Err(_) => assert!(start_runtime(&cfg).is_none()),
            Ok(_) => {
                let rt = start_runtime(&cfg).expect("runtime on the kernel");
                assert_eq!(rt.plan().services.len(), 1);
                rt.stop(super::ipvs::StopMode::Keep).await;
            }
        }
    }
}

#[cfg(test)]
mod syncd_tests {
    use super::sync_daemons_without_instance;

    use crate::testutil::config as load;

    #[test]
    fn the_checker_child_leaves_instance_driven_sync_daemons_to_vrrp() {
        assert!(
            sync_daemons_without_instance(&load("global_defs {\n router_id a\n}\n"), None)
                .is_none()
        );
        let cfg = load("global_defs {\n lvs_sync_daemon eth0 VI_1\n}\n");
        assert_eq!(
            cfg.global
                .lvs_sync_daemon
                .as_ref()
                .and_then(|c| c.instance.as_deref()),
            Some("VI_1")
        );
        assert!(sync_daemons_without_instance(&cfg, None).is_none());
    }
}

#[cfg(test)]
mod log_all_failures_tests {
    use std::time::Duration;

    use rka_check::driver::CheckerPool;
    use rka_check::CheckerEvent;

    use super::mapping::Plan;
    use crate::testutil::config as load;

    /// A closed port: bound, then released.
    fn closed_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port")
    }

    /// One TCP_CHECK (with `own` in its block) under `global`: the schedule's flag.
    fn flag(global: &str, own: &str) -> bool {
        let plan = Plan::from_config(&load(&format!(
            "global_defs {{\n {global}\n}}\nvirtual_server 10.0.0.1 80 {{\n protocol TCP\n \
             real_server 127.0.0.1 {} {{\n  TCP_CHECK {{\n   {own}\n  }}\n }}\n}}\n",
            closed_port()
        )));
        plan.probes[0].schedule.log_all_failures
    }

    #[test]
    fn the_global_default_and_its_override() {
        // keepalived 2.2.7 (observed): the global setting logs the failures of every checker,
        // even one that says `log_all_failures off`.
        assert!(!flag("", ""));
        assert!(flag("", "log_all_failures"));
        assert!(!flag("", "log_all_failures off"));
        assert!(flag("checker_log_all_failures", ""));
        assert!(flag("checker_log_all_failures", "log_all_failures off"));
        assert!(!flag("checker_log_all_failures off", ""));
    }

    /// A failing SMTP_CHECK with `retry 2` (a kind that retries its first probe), driven until
    /// it is down: its events.
    async fn failing_check(global: &str) -> Vec<CheckerEvent> {
        let mut plan = Plan::from_config(&load(&format!(
            "global_defs {{\n {global}\n}}\nvirtual_server 10.0.0.1 80 {{\n protocol TCP\n \
             delay_loop 1\n real_server 127.0.0.1 {} {{\n  SMTP_CHECK {{\n   retry 2\n   \
             delay_before_retry 0.05\n   connect_timeout 1\n  }}\n }}\n}}\n",
            closed_port()
        )));
        let p = plan.probes.remove(0);
        let mut schedule = p.schedule;
        schedule.warmup = Duration::ZERO;
        let mut pool = CheckerPool::new();
        pool.insert(0, p.probe.expect("a runnable probe"), schedule);
        let mut events = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let (_, e) = pool.next_event().await;
                let down = matches!(e, CheckerEvent::Down { .. });
                events.push(e);
                if down {
                    break;
                }
            }
        })
        .await
        .expect("the check goes down");
        events
    }

    #[tokio::test]
    async fn a_failing_check_reports_every_failure_under_the_global() {
        let retries = |ev: &[CheckerEvent]| {
            ev.iter()
                .filter(|e| matches!(e, CheckerEvent::Retrying { .. }))
                .count()
        };
        // Each failed attempt before the verdict is reported (and logged by the runtime as
        // "failed: REASON (retry N/2)"), then the verdict.
        let ev = failing_check("checker_log_all_failures").await;
        assert_eq!(retries(&ev), 2, "{ev:?}");
        assert!(matches!(ev.last(), Some(CheckerEvent::Down { .. })));
        // Without it the retries are silent.
        let ev = failing_check("").await;
        assert_eq!(retries(&ev), 0, "{ev:?}");
        assert!(matches!(ev.last(), Some(CheckerEvent::Down { .. })));
    }
}
