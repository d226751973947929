//! The VRRP side: instances, sync groups, trackers, static addresses/routes/rules.

use std::time::Duration;

use crate::dump::Dumper;
use crate::tree::Node;

use super::script::{command, dump_command, Command};
use super::{Config, Ctx};

/// Every block the VRRP engine runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VrrpConfig {
    /// `vrrp_script NAME { ... }` blocks, in file order.
    pub scripts: Vec<VrrpScript>,
}

/// `vrrp_script NAME { ... }`: a script run periodically whose result tracks instances.
#[derive(Debug, Clone, PartialEq)]
pub struct VrrpScript {
    /// The block's name, referenced by `track_script`.
    pub name: String,
    /// `script`: the command to run.
    pub script: Option<Command>,
    /// `interval`: seconds between runs (default 1).
    pub interval: Duration,
    /// `timeout`: seconds before a run counts as failed (default: the interval).
    pub timeout: Option<Duration>,
    /// `weight`: priority change while the script succeeds (positive) or fails (negative).
    pub weight: i32,
    /// `weight ... reverse`.
    pub weight_reverse: bool,
    /// `rise`: successes needed to go OK (default 1).
    pub rise: u32,
    /// `fall`: failures needed to go KO (default 1).
    pub fall: u32,
    /// `init_fail`: start in the failed state.
    pub init_fail: bool,
}

impl VrrpScript {
    fn new(name: String) -> Self {
        VrrpScript {
            name,
            script: None,
            interval: Duration::from_secs(1),
            timeout: None,
            weight: 0,
            weight_reverse: false,
            rise: 1,
            fall: 1,
            init_fail: false,
        }
    }
}

/// Claims the top-level statements this module owns. Returns false for anything else.
pub fn parse_top(ctx: &mut Ctx<'_>, node: &Node, v: &mut VrrpConfig) -> bool {
    match node.keyword() {
        "vrrp_script" => {
            if let Some(s) = parse_script(ctx, node) {
                v.scripts.push(s);
            }
            true
        }
        _ => false,
    }
}

fn parse_script(ctx: &mut Ctx<'_>, node: &Node) -> Option<VrrpScript> {
    let name = ctx.string(node)?;
    let mut s = VrrpScript::new(name);
    for c in node.children() {
        match c.keyword() {
            "script" => s.script = command(ctx, c),
            "interval" => {
                if let Some(v) = ctx.timer_in(
                    c,
                    0,
                    Duration::from_micros(1),
                    Duration::from_secs(u32::MAX as u64),
                ) {
                    s.interval = v;
                }
            }
            "timeout" => {
                s.timeout = ctx.timer_in(
                    c,
                    0,
                    Duration::from_micros(1),
                    Duration::from_secs(u32::MAX as u64),
                )
            }
            "weight" => {
                if let Some(w) = ctx.int_in(c, 0, -253i32, 253) {
                    s.weight = w;
                }
                s.weight_reverse = c.arg(1) == Some("reverse");
            }
            "rise" => s.rise = ctx.int_in(c, 0, 1u32, u32::MAX).unwrap_or(s.rise),
            "fall" => s.fall = ctx.int_in(c, 0, 1u32, u32::MAX).unwrap_or(s.fall),
            "init_fail" => s.init_fail = true,
            _ => ctx.unknown(c),
        }
    }
    if s.script.is_none() {
        ctx.warn(
            node,
            format!("No script set for vrrp_script {} - removing", s.name),
        );
        return None;
    }
    Some(s)
}

/// Checks made once the whole configuration is read.
pub fn validate(_ctx: &mut Ctx<'_>, _cfg: &mut Config) {}

impl VrrpConfig {
    /// Writes the canonical VRRP blocks.
    pub fn dump(&self, d: &mut Dumper) {
        for s in &self.scripts {
            d.block(&["vrrp_script", s.name.as_str()], |d| {
                dump_command(d, "script", &s.script);
                d.timer("interval", s.interval);
                if let Some(t) = s.timeout {
                    d.timer("timeout", t);
                }
                if s.weight_reverse {
                    d.words(&[
                        "weight".to_string(),
                        s.weight.to_string(),
                        "reverse".to_string(),
                    ]);
                } else {
                    d.kv("weight", s.weight);
                }
                d.kv("rise", s.rise);
                d.kv("fall", s.fall);
                d.flag("init_fail", s.init_fail);
            });
        }
    }
}
