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
    let netif = match rka_netif::Netif::connect() {
        Ok(n) => n,
        Err(e) => {
            tracing::error!("cannot open rtnetlink: {e}");
            return 1;
        }
    };
    let mut engine = engine::Engine::start(ctx.config.clone(), netif).await;
    loop {
        match engine.step(&mut ctx.control).await {
            Control::Stop => break,
            Control::Reload(cfg) => engine.reload(*cfg).await,
            Control::DumpData => dump::write_data(&engine),
            Control::DumpStats { clear } => dump::write_stats(&mut engine, clear),
            Control::DumpJson => dump::write_json(&engine),
            Control::Observe(query, reply) => crate::observe::vrrp::answer(&engine, query, reply),
        }
    }
    engine.stop(!ctx.cli.dont_release_vrrp).await;
    0
}
