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
pub mod mapping;
pub mod notify;
pub mod runtime;

pub mod table;

#[cfg(test)]
mod tests;

use rka_config::model::global::LvsFlushOnStop;

use crate::child::{Control, RoleContext};

/// Runs the checker child until it is told to stop. Returns the process exit code.
pub async fn run(mut ctx: RoleContext) -> u8 {
    let backend = match ipvs::Kernel::connect() {
        Ok(k) => k,
        Err(e) => {
            tracing::error!("IPVS: {e} - the checker child cannot run");
            return crate::child::EXIT_CONFIG;
        }
    };
    let mut rt = match runtime::Runtime::start(&ctx.config, backend) {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the IPVS thread: {e}");
            return 1;
        }
    };
    let mut flush_on_stop = ctx.config.global.lvs_flush_on_stop;
    let mut syncd = sync_daemons_without_instance(&ctx.config, None);
    // Everything needed is mapped: the model (the VRRP half included) is not kept for the
    // life of the child. A reload brings a fresh one.
    drop(std::mem::take(&mut ctx.config));
    loop {
        match rt.step(&mut ctx.control).await {
            Control::Stop => break,
            Control::Reload(cfg) => {
                flush_on_stop = cfg.global.lvs_flush_on_stop;
                syncd = reload_sync_daemons(&cfg, syncd).await;
                rt.reload(&cfg);
            }
            Control::DumpData => {
                // Let the IPVS thread catch up so the dump shows the table as applied.
                rt.ipvs.sync().await;
                dump::write_data(&rt);
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
    if let Some(h) = syncd {
        h.finish(true).await;
    }
    0
}

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
mod syncd_tests {
    use super::sync_daemons_without_instance;

    fn load(text: &str) -> rka_config::Config {
        let opts = rka_config::LoadOptions {
            skip_host_checks: true,
            ..Default::default()
        };
        rka_config::load_str("t.conf", text, &opts).config
    }

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
