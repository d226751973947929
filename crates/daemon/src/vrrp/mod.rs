//! The VRRP child's runtime: drives `rka-vrrp` instances with real sockets (`rka-sys`) and the
//! kernel's addresses (`rka-netif`).
//!
//! - [`mapping`]: keepalived.conf to instance plans (core configuration + host details).
//! - [`socket`]: one raw socket per (interface, family, protocol), demultiplexed by VRID.
//! - [`netops`]: addresses, routes, rules, VMACs, gratuitous ARP / NA.
//! - [`track`]: script, file and interface trackers as tasks.
//! - [`notify`]: notify scripts and FIFO lines.
//! - [`syncd`]: `lvs_sync_daemon`, the IPVS sync daemons following an instance.
//! - [`engine`]: the event loop tying them together (timers, packets, trackers, control).

pub mod dump;
pub mod engine;
pub mod firewall;
pub mod mapping;
pub mod netops;
pub mod notify;
pub mod socket;
pub mod syncd;
pub mod timer;
pub mod track;
pub mod unit;

use crate::child::{Control, RoleContext};

/// Runs the VRRP child until it is told to stop. Returns the process exit code.
pub async fn run(mut ctx: RoleContext) -> u8 {
    if refuses_to_run(&ctx.config.vrrp.permanent_errors) {
        return crate::child::EXIT_CONFIG;
    }
    let netif = match rka_netif::Netif::connect() {
        Ok(n) => n,
        Err(e) => {
            tracing::error!("cannot open rtnetlink: {e}");
            return 1;
        }
    };
    let config = vrrp_part(std::mem::take(&mut ctx.config));
    let mut engine = engine::Engine::start(config, netif).await;
    // The loader's code pages leave the resident set (rka_sys::resident).
    rka_sys::resident::release_executable_pages();
    loop {
        match engine.step(&mut ctx.control).await {
            Control::Stop => break,
            Control::Reload(cfg) => {
                engine.reload(vrrp_part(*cfg)).await;
                rka_sys::resident::release_executable_pages();
            }
            Control::DumpData => dump::write_data(&engine),
            Control::DumpStats { clear } => dump::write_stats(&mut engine, clear),
            Control::DumpJson => dump::write_json(&engine),
            Control::Observe(query, reply) => crate::observe::vrrp::answer(&engine, query, reply),
        }
    }
    engine.stop(!ctx.cli.dont_release_vrrp).await;
    // keepalived's VRRP child's last line.
    tracing::info!("Stopped");
    0
}

/// The part of a configuration the VRRP child runs: everything but the virtual servers
/// (the checker child's), whose memory goes back to the system.
fn vrrp_part(mut config: rka_config::Config) -> rka_config::Config {
    let lvs = std::mem::take(&mut config.lvs);
    let bfd = std::mem::take(&mut config.bfd);
    let had_lvs = !lvs.virtual_servers.is_empty();
    drop((lvs, bfd));
    if had_lvs {
        rka_sys::alloc::release_free_memory();
    }
    config
}

/// Whether the configuration has an error keepalived 2.2.7's VRRP child treats as permanent
/// (observed: an instance without a valid VRID, a missing interface without
/// `dynamic_interfaces`): it logs why and stops, and the daemon exits with status 2. The
/// missing interface was already reported while loading.
fn refuses_to_run(errors: &[rka_config::model::vrrp::PermanentError]) -> bool {
    use rka_config::model::vrrp::PermanentError;
    for e in errors {
        if matches!(e, PermanentError::NoVrid(_)) {
            tracing::error!("{e}");
        }
    }
    if errors.is_empty() {
        return false;
    }
    tracing::info!("Stopped");
    true
}

#[cfg(test)]
mod tests {
    use rka_config::model::vrrp::PermanentError;

    #[test]
    fn the_vrrp_child_drops_the_virtual_servers() {
        let text = "global_defs {\n router_id lb1\n}\n\
                    vrrp_instance V {\n interface lo\n virtual_router_id 1\n}\n\
                    virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n }\n}\n";
        let full = crate::testutil::config(text);
        assert_eq!(full.lvs.virtual_servers.len(), 1);
        let kept = super::vrrp_part(full.clone());
        assert!(kept.lvs.virtual_servers.is_empty());
        assert_eq!(kept.vrrp, full.vrrp);
        assert_eq!(kept.global, full.global);
    }

    #[test]
    fn permanent_errors_stop_the_child() {
        assert!(!super::refuses_to_run(&[]));
        assert!(super::refuses_to_run(&[PermanentError::NoVrid(
            "VI_1".into()
        )]));
        assert!(super::refuses_to_run(&[PermanentError::MissingInterface]));
        assert_eq!(
            PermanentError::NoVrid("VI_1".into()).to_string(),
            "(VI_1) the virtual router id must be set"
        );
    }
}
