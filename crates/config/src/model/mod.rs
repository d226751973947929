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
        let mut builder = ModelBuilder::new(opts);
        for node in nodes {
            builder.add(node);
        }
        builder.finish(diags)
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

/// Builds the model one top-level statement at a time, as the tree builder completes them
/// ([`crate::tree::TreeBuilder::on_statement`]), so that the tree of a large configuration is
/// never held whole: each statement is modelled, then freed.
#[derive(Debug)]
pub struct ModelBuilder<'o> {
    cfg: Config,
    opts: &'o LoadOptions,
    /// The problems found while modelling; [`ModelBuilder::finish`] puts them after those
    /// already reported (the preprocessor's and the tree's), as a staged load orders them.
    diags: Diagnostics,
}

impl<'o> ModelBuilder<'o> {
    /// An empty model for a load with `opts`.
    pub fn new(opts: &'o LoadOptions) -> Self {
        ModelBuilder {
            cfg: Config::default(),
            opts,
            diags: Diagnostics::default(),
        }
    }

    /// Models one top-level statement. The problems of a virtual-server statement are marked
    /// as the checker child's ([`crate::Diagnostic::lvs`]).
    pub fn add(&mut self, node: &Node) {
        let start = self.diags.len();
        self.model_statement(node);
        if lvs::TOP_KEYWORDS.contains(&node.keyword()) {
            self.diags.mark_lvs_since(start);
        }
    }

    fn model_statement(&mut self, node: &Node) {
        let mut ctx = Ctx::new(&mut self.diags, self.opts);
        if ctx.missing_parameter(node, required::TOP) {
            return;
        }
        let cfg = &mut self.cfg;
        if global::parse_top(&mut ctx, node, &mut cfg.global)
            || vrrp::parse_top(&mut ctx, node, &mut cfg.vrrp)
            || lvs::parse_top(&mut ctx, node, &mut cfg.lvs)
            || bfd::parse_top(&mut ctx, node, &mut cfg.bfd)
        {
            return;
        }
        ctx.unknown(node);
    }

    /// Appends the modelling problems to `diags`, then checks the whole model (cross
    /// references, host checks), reporting to `diags`.
    pub fn finish(self, diags: &mut Diagnostics) -> Config {
        let ModelBuilder {
            mut cfg,
            opts,
            diags: mine,
        } = self;
        diags.append(mine);
        let mut ctx = Ctx::new(diags, opts);
        global::validate(&mut ctx, &mut cfg);
        vrrp::validate(&mut ctx, &mut cfg);
        let start = ctx.diags.len();
        lvs::validate(&mut ctx, &mut cfg);
        ctx.diags.mark_lvs_since(start);
        cfg
    }
}
