//! `global_defs` and the global top-level keywords.

use crate::dump::Dumper;
use crate::tree::Node;

use super::{Config, Ctx};

/// `global_defs` with keepalived's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GlobalDefs {
    /// `router_id`: identifies this node in alerts; default the host name.
    pub router_id: Option<String>,
}

/// Claims the top-level statements this module owns. Returns false for anything else.
pub fn parse_top(ctx: &mut Ctx<'_>, node: &Node, g: &mut GlobalDefs) -> bool {
    match node.keyword() {
        "global_defs" => {
            for c in node.children() {
                match c.keyword() {
                    "router_id" => g.router_id = ctx.string(c),
                    _ => ctx.unknown(c),
                }
            }
            true
        }
        _ => false,
    }
}

/// Checks made once the whole configuration is read.
pub fn validate(_ctx: &mut Ctx<'_>, _cfg: &mut Config) {}

impl GlobalDefs {
    /// Writes the canonical `global_defs` block.
    pub fn dump(&self, d: &mut Dumper) {
        d.block(&["global_defs"], |d| {
            d.opt("router_id", &self.router_id);
        });
    }
}
