//! The typed configuration model and its parsers.
//!
//! [`Config`] is split by the daemon process that uses each part, as keepalived is:
//! [`global::GlobalDefs`] (everyone), [`vrrp::VrrpConfig`] (the VRRP engine: instances,
//! sync groups, trackers, static addresses) and [`lvs::LvsConfig`] (the checkers and IPVS:
//! virtual servers, real servers, checkers, SSL). Each part has a `parse_top` that claims the
//! top-level keywords it owns, a `validate` run once everything is read (cross references,
//! host checks) and a `dump` writing canonical text.

pub mod addr;
pub mod bfd;
pub mod global;
pub mod lvs;
pub mod required;
pub mod script;
pub mod values;
pub mod vrrp;

use crate::diag::Diagnostics;
use crate::dump::Dumper;
use crate::tree::Node;
use crate::LoadOptions;
pub use values::Ctx;

/// A whole keepalived configuration, defaults applied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// `global_defs` and the global top-level keywords (`net_namespace`, `instance`, ...).
    pub global: global::GlobalDefs,
    /// Everything the VRRP engine runs.
    pub vrrp: vrrp::VrrpConfig,
    /// Everything the checkers and the IPVS layer run.
    pub lvs: lvs::LvsConfig,
    /// The `bfd_instance` sessions (the BFD process).
    pub bfd: bfd::BfdConfig,
}

impl Config {
    /// Builds the model from the statement tree, reporting every problem to `diags`.
    pub fn from_nodes(nodes: &[Node], opts: &LoadOptions, diags: &mut Diagnostics) -> Config {
        let mut cfg = Config::default();
        let mut ctx = Ctx::new(diags, opts);
        for node in nodes {
            if ctx.missing_parameter(node, required::TOP) {
                continue;
            }
            if global::parse_top(&mut ctx, node, &mut cfg.global)
                || vrrp::parse_top(&mut ctx, node, &mut cfg.vrrp)
                || lvs::parse_top(&mut ctx, node, &mut cfg.lvs)
                || bfd::parse_top(&mut ctx, node, &mut cfg.bfd)
            {
                continue;
            }
            ctx.unknown(node);
        }
        global::validate(&mut ctx, &mut cfg);
        vrrp::validate(&mut ctx, &mut cfg);
        lvs::validate(&mut ctx, &mut cfg);
        cfg
    }

    /// The canonical text of this configuration (`rkeepalived -d`).
    pub fn dump(&self) -> String {
        let mut d = Dumper::new();
        self.global.dump(&mut d);
        self.vrrp.dump(&mut d);
        self.lvs.dump(&mut d);
        self.bfd.dump(&mut d);
        d.finish()
    }
}
