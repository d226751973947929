//! The LVS side: `SSL`, `virtual_server_group`, `virtual_server`, `real_server`, checkers.

use crate::dump::Dumper;
use crate::tree::Node;

use super::{Config, Ctx};

/// Everything the checkers and the IPVS layer run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LvsConfig {}

/// Claims the top-level statements this module owns. Returns false for anything else.
pub fn parse_top(_ctx: &mut Ctx<'_>, _node: &Node, _l: &mut LvsConfig) -> bool {
    false
}

/// Checks made once the whole configuration is read.
pub fn validate(_ctx: &mut Ctx<'_>, _cfg: &mut Config) {}

impl LvsConfig {
    /// Writes the canonical LVS blocks.
    pub fn dump(&self, _d: &mut Dumper) {}
}
