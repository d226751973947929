//! The VRRP child's runtime: drives `rka-vrrp` instances with real sockets (`rka-sys`) and the
//! kernel's addresses (`rka-netif`).

use crate::child::{Control, RoleContext};

/// Runs the VRRP child until it is told to stop. Returns the process exit code.
pub async fn run(mut ctx: RoleContext) -> u8 {
    tracing::error!(
        "the VRRP runtime is not wired yet: {} instance(s) configured but not run",
        ctx.config.vrrp.instances.len()
    );
    while let Some(ev) = ctx.control.recv().await {
        match ev {
            Control::Stop => break,
            Control::Reload(cfg) => tracing::info!(
                "reload: {} instance(s) now configured",
                cfg.vrrp.instances.len()
            ),
            Control::DumpStats { clear } => {
                tracing::info!("stats requested (clear: {clear}); no instance runs yet")
            }
            Control::DumpData | Control::DumpJson => tracing::info!(
                "dump requested; no instance runs yet (-n: {})",
                ctx.cli.dont_fork
            ),
        }
    }
    0
}
