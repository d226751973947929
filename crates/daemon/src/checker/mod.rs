//! The health-checker child's runtime.
//!
//! Not built yet: the probes exist in `rka-check` and the IPVS layer in `rka-ipvs`; the runtime
//! that maps the configuration onto them and drives the reconciler comes with the checkers
//! issue. Until then the child says so loudly and waits to be stopped, so that the supervisor
//! does not respawn it in a loop.

use crate::child::{Control, RoleContext};

/// Runs the checker child until it is told to stop. Returns the process exit code.
pub async fn run(mut ctx: RoleContext) -> u8 {
    tracing::error!(
        "health checking is not implemented yet: {} virtual server(s) configured but not checked",
        ctx.config.lvs.virtual_servers.len()
    );
    while let Some(ev) = ctx.control.recv().await {
        if matches!(ev, Control::Stop) {
            break;
        }
    }
    0
}
