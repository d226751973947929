//! Trackers: `vrrp_script`, `track_file` (`vrrp_track_file`), `vrrp_track_process`, and the
//! `track_*` lists of instances and sync groups that reference them with optional weights.

use std::time::Duration;

use crate::diag::Origin;
use crate::dump::Dumper;
use crate::tree::Node;

use super::super::global::{dump_user_script, UserScript};
use super::super::script::{command, dump_command, Command};
use super::super::{required, Ctx};

/// `vrrp_script NAME { ... }`: a script run periodically whose result tracks instances.
#[derive(Debug, Clone, PartialEq)]
pub struct VrrpScript {
    /// The block's name, referenced by `track_script`.
    pub name: String,
    /// Where the block starts.
    pub origin: Origin,
    /// `script`: the command to run.
    pub script: Command,
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
    /// `user USER [GROUP]`: who runs it (default the global `script_user`).
    pub user: Option<(String, Option<String>)>,
    /// `init_fail`: start in the failed state.
    pub init_fail: bool,
}

fn timer_1us(ctx: &mut Ctx<'_>, c: &Node) -> Option<Duration> {
    ctx.timer_in(
        c,
        0,
        Duration::from_micros(1),
        Duration::from_secs(u64::from(u32::MAX)),
    )
}

/// Parses `vrrp_script NAME { ... }`; `None` when it has no script (keepalived drops it).
pub fn parse_script(ctx: &mut Ctx<'_>, node: &Node) -> Option<VrrpScript> {
    let name = ctx.string(node)?;
    let mut script = None;
    let mut s = VrrpScript {
        name,
        origin: node.origin.clone(),
        script: Command { argv: Vec::new() },
        interval: Duration::from_secs(1),
        timeout: None,
        weight: 0,
        weight_reverse: false,
        rise: 1,
        fall: 1,
        user: None,
        init_fail: false,
    };
    for c in node.children() {
        if ctx.missing_parameter(c, required::VRRP_SCRIPT) {
            continue;
        }
        match c.keyword() {
            // keepalived 2.2.7 says nothing about `script` alone (the script then has none).
            "script" if c.args().is_empty() => {}
            "script" => script = command(ctx, c),
            "interval" => s.interval = timer_1us(ctx, c).unwrap_or(s.interval),
            "timeout" => s.timeout = timer_1us(ctx, c).or(s.timeout),
            "weight" => {
                if let Some(w) = ctx.int_in(c, 0, -253i32, 253) {
                    s.weight = w;
                }
                s.weight_reverse = reverse_word(ctx, c, 1).unwrap_or(false);
            }
            "rise" => s.rise = ctx.int_in(c, 0, 1u32, u32::MAX).unwrap_or(s.rise),
            "fall" => s.fall = ctx.int_in(c, 0, 1u32, u32::MAX).unwrap_or(s.fall),
            "user" => {
                if let Some(u) = ctx.string(c) {
                    s.user = Some((u, c.arg(1).map(str::to_string)));
                }
            }
            "init_fail" => s.init_fail = true,
            _ => ctx.unknown(c),
        }
    }
    let Some(script) = script else {
        ctx.warn(
            node,
            format!("No script set for vrrp_script {} - removing", s.name),
        );
        return None;
    };
    s.script = script;
    Some(s)
}

/// Reads an optional `reverse` / `noreverse` word at `idx`.
fn reverse_word(ctx: &mut Ctx<'_>, c: &Node, idx: usize) -> Option<bool> {
    match c.arg(idx) {
        None => None,
        Some("reverse") => Some(true),
        Some("noreverse" | "no_reverse") => Some(false),
        Some(w) => {
            ctx.warn(c, format!("Unknown weight option '{w}' - ignoring"));
            None
        }
    }
}

impl VrrpScript {
    /// Writes the canonical block.
    pub fn dump(&self, d: &mut Dumper) {
        d.block(&["vrrp_script", self.name.as_str()], |d| {
            dump_command(d, "script", &Some(self.script.clone()));
            d.timer("interval", self.interval);
            if let Some(t) = self.timeout {
                d.timer("timeout", t);
            }
            dump_weight(d, "weight", self.weight, self.weight_reverse);
            d.kv("rise", self.rise);
            d.kv("fall", self.fall);
            if let Some((u, g)) = &self.user {
                let mut w = vec!["user".to_string(), u.clone()];
                w.extend(g.iter().cloned());
                d.words(&w);
            }
            d.flag("init_fail", self.init_fail);
        });
    }
}

fn dump_weight(d: &mut Dumper, key: &str, weight: i32, reverse: bool) {
    if reverse {
        d.words(&[key.to_string(), weight.to_string(), "reverse".to_string()]);
    } else {
        d.kv(key, weight);
    }
}

/// `track_file NAME { ... }` (`vrrp_track_file` is the old name): a file holding a number.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackFile {
    /// The block's name.
    pub name: String,
    /// Where the block starts.
    pub origin: Origin,
    /// `file`: the path watched.
    pub file: String,
    /// `weight` (default 1): the value read is multiplied by it.
    pub weight: i32,
    /// `weight ... reverse`.
    pub weight_reverse: bool,
    /// `init_file [VALUE] [overwrite]`: create the file with VALUE (default 0).
    pub init_file: Option<(i64, bool)>,
}

/// Parses `track_file NAME { ... }`; `None` when no file is given.
pub fn parse_track_file(ctx: &mut Ctx<'_>, node: &Node) -> Option<TrackFile> {
    let name = ctx.string(node)?;
    let mut file = None;
    let mut t = TrackFile {
        name,
        origin: node.origin.clone(),
        file: String::new(),
        weight: 1,
        weight_reverse: false,
        init_file: None,
    };
    for c in node.children() {
        match c.keyword() {
            "file" => match (&file, ctx.string(c)) {
                (Some(_), Some(f)) => ctx.warn(
                    c,
                    format!("File already set for track file {} - ignoring {f}", t.name),
                ),
                (None, f) => file = f,
                (Some(_), None) => {}
            },
            "weight" => {
                if let Some(w) = ctx.int_in(c, 0, -2_147_483_647i32, 2_147_483_647) {
                    t.weight = w;
                }
                t.weight_reverse = reverse_word(ctx, c, 1).unwrap_or(false);
            }
            "init_file" => {
                let mut value = 0;
                let mut overwrite = false;
                for w in c.args() {
                    if w.text == "overwrite" {
                        overwrite = true;
                    } else {
                        match super::super::values::parse_i64(&w.text) {
                            Some(v) => value = v,
                            None => ctx.warn(c, format!("invalid init_file value '{}'", w.text)),
                        }
                    }
                }
                t.init_file = Some((value, overwrite));
            }
            _ => ctx.unknown(c),
        }
    }
    let Some(file) = file else {
        ctx.warn(
            node,
            format!("No file set for track_file {} - removing", t.name),
        );
        return None;
    };
    t.file = file;
    Some(t)
}

impl TrackFile {
    /// Writes the canonical block.
    pub fn dump(&self, d: &mut Dumper) {
        d.block(&["track_file", self.name.as_str()], |d| {
            d.words(&["file", self.file.as_str()]);
            dump_weight(d, "weight", self.weight, self.weight_reverse);
            if let Some((v, o)) = self.init_file {
                let mut w = vec!["init_file".to_string(), v.to_string()];
                if o {
                    w.push("overwrite".into());
                }
                d.words(&w);
            }
        });
    }
}

/// `param_match` of a tracked process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamMatch {
    /// All parameters must match exactly (the default when parameters are given).
    Exact,
    /// The first N configured parameters match; more may follow.
    Partial,
    /// Like partial, and the last configured parameter may be a prefix.
    Initial,
}

/// `vrrp_track_process NAME { ... }`: counts running processes.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackProcess {
    /// The block's name.
    pub name: String,
    /// Where the block starts.
    pub origin: Origin,
    /// `process NAME [PARAM...]`: the process name and its parameters.
    pub process: Vec<String>,
    /// `param_match`: set when written (bare: exact, no parameters allowed).
    pub param_match: Option<ParamMatch>,
    /// `weight` (default 1; 0 means FAULT while the quorum is not met).
    pub weight: i32,
    /// `weight ... reverse`.
    pub weight_reverse: bool,
    /// `quorum` (default 1).
    pub quorum: u32,
    /// `quorum_max` (default unlimited).
    pub quorum_max: Option<u32>,
    /// `fork_delay`.
    pub fork_delay: Option<Duration>,
    /// `terminate_delay`.
    pub terminate_delay: Option<Duration>,
    /// `full_command`: match /proc/PID/cmdline.
    pub full_command: bool,
}

/// Parses `vrrp_track_process NAME { ... }`; `None` when no process is given.
pub fn parse_track_process(ctx: &mut Ctx<'_>, node: &Node) -> Option<TrackProcess> {
    let name = ctx.string(node)?;
    let mut p = TrackProcess {
        name,
        origin: node.origin.clone(),
        process: Vec::new(),
        param_match: None,
        weight: 1,
        weight_reverse: false,
        quorum: 1,
        quorum_max: None,
        fork_delay: None,
        terminate_delay: None,
        full_command: false,
    };
    let delay = |ctx: &mut Ctx<'_>, c: &Node| {
        ctx.timer_in(
            c,
            0,
            Duration::ZERO,
            Duration::from_secs(u64::from(u32::MAX)),
        )
    };
    for c in node.children() {
        if ctx.missing_parameter(c, required::VRRP_TRACK_PROCESS) {
            continue;
        }
        match c.keyword() {
            "process" if !p.process.is_empty() => ctx.warn(
                c,
                format!(
                    "Process already set for track process {} - ignoring {}",
                    p.name,
                    c.arg(0).unwrap_or("")
                ),
            ),
            "process" => {
                p.process = c.args().iter().map(|w| w.text.clone()).collect();
                if p.process.is_empty() {
                    ctx.warn(c, "process requires a value");
                }
            }
            "param_match" => {
                p.param_match = match c.arg(0) {
                    None => Some(ParamMatch::Exact),
                    Some("partial") => Some(ParamMatch::Partial),
                    Some("initial") => Some(ParamMatch::Initial),
                    Some(v) => {
                        ctx.warn(c, format!("Unknown param_match '{v}'"));
                        p.param_match
                    }
                }
            }
            "weight" => {
                if let Some(w) = ctx.int_in(c, 0, -254i32, 254) {
                    p.weight = w;
                }
                p.weight_reverse = reverse_word(ctx, c, 1).unwrap_or(false);
            }
            "quorum" => p.quorum = ctx.int_in(c, 0, 1u32, 65535).unwrap_or(p.quorum),
            "quorum_max" => p.quorum_max = ctx.int_in(c, 0, 0u32, 65535).or(p.quorum_max),
            "fork_delay" => p.fork_delay = delay(ctx, c).or(p.fork_delay),
            "terminate_delay" => p.terminate_delay = delay(ctx, c).or(p.terminate_delay),
            "delay" => {
                if let Some(d) = delay(ctx, c) {
                    p.fork_delay = Some(d);
                    p.terminate_delay = Some(d);
                }
            }
            "full_command" => p.full_command = true,
            _ => ctx.unknown(c),
        }
    }
    if p.process.is_empty() {
        ctx.warn(
            node,
            format!(
                "No process specified for track_process {} - removing",
                p.name
            ),
        );
        return None;
    }
    if let Some(max) = p.quorum_max {
        if max < p.quorum {
            ctx.warn(
                node,
                format!(
                    "track_process {}: quorum_max < quorum - ignoring quorum_max",
                    p.name
                ),
            );
            p.quorum_max = None;
        }
    }
    Some(p)
}

impl TrackProcess {
    /// Writes the canonical block.
    pub fn dump(&self, d: &mut Dumper) {
        d.block(&["vrrp_track_process", self.name.as_str()], |d| {
            let mut w = vec!["process".to_string()];
            w.extend(self.process.iter().cloned());
            d.words(&w);
            match self.param_match {
                Some(ParamMatch::Exact) => d.words(&["param_match"]),
                Some(ParamMatch::Partial) => d.words(&["param_match", "partial"]),
                Some(ParamMatch::Initial) => d.words(&["param_match", "initial"]),
                None => {}
            }
            dump_weight(d, "weight", self.weight, self.weight_reverse);
            d.kv("quorum", self.quorum);
            d.opt("quorum_max", &self.quorum_max);
            if let Some(t) = self.fork_delay {
                d.timer("fork_delay", t);
            }
            if let Some(t) = self.terminate_delay {
                d.timer("terminate_delay", t);
            }
            d.flag("full_command", self.full_command);
        });
    }
}

/// One entry of a `track_interface`, `track_script`, `track_file`, `track_process` or
/// `track_bfd` list: a name and an optional weight overriding the tracker's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackRef {
    /// The interface, script, file, process or BFD instance name.
    pub name: String,
    /// `weight W` (None: the tracker's default; for interfaces 0).
    pub weight: Option<i32>,
    /// `reverse` (Some(true)) / `noreverse` (Some(false)).
    pub reverse: Option<bool>,
    /// Where the entry is, for cross-reference diagnostics.
    pub origin: Origin,
}

/// Parses a track list whose weights lie in `-limit..=limit`.
pub fn parse_track_list(ctx: &mut Ctx<'_>, node: &Node, limit: i32) -> Vec<TrackRef> {
    ctx.block_args(node);
    let mut v = Vec::new();
    for c in node.children() {
        let mut r = TrackRef {
            name: c.keyword().to_string(),
            weight: None,
            reverse: None,
            origin: c.origin.clone(),
        };
        let mut i = 0;
        while let Some(w) = c.arg(i) {
            match w {
                "weight" => {
                    r.weight = ctx.int_in(c, i + 1, -limit, limit);
                    if r.weight.is_none() {
                        // keepalived ignores the entry when its weight is invalid.
                        r.name.clear();
                    }
                    i += 2;
                }
                "reverse" => {
                    r.reverse = Some(true);
                    i += 1;
                }
                "noreverse" | "no_reverse" => {
                    r.reverse = Some(false);
                    i += 1;
                }
                _ => {
                    ctx.warn(c, format!("Unknown track option '{w}' - ignoring"));
                    i += 1;
                }
            }
        }
        if !r.name.is_empty() {
            v.push(r);
        }
    }
    v
}

/// Writes a track list block when it is not empty.
pub fn dump_track_list(d: &mut Dumper, key: &str, list: &[TrackRef]) {
    if list.is_empty() {
        return;
    }
    d.block(&[key], |d| {
        for r in list {
            let mut w = vec![r.name.clone()];
            if let Some(wt) = r.weight {
                w.push("weight".into());
                w.push(wt.to_string());
            }
            match r.reverse {
                Some(true) => w.push("reverse".into()),
                Some(false) => w.push("noreverse".into()),
                None => {}
            }
            d.words(&w);
        }
    });
}

/// The notify scripts shared by instances and sync groups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notifies {
    /// `notify_master`.
    pub master: Option<UserScript>,
    /// `notify_backup`.
    pub backup: Option<UserScript>,
    /// `notify_fault`.
    pub fault: Option<UserScript>,
    /// `notify_stop`.
    pub stop: Option<UserScript>,
    /// `notify_deleted [SCRIPT]`: report DELETED instead of FAULT on removal.
    pub deleted: Option<Option<UserScript>>,
    /// `notify`: called on every transition with 4 more arguments.
    pub notify: Option<UserScript>,
    /// `notify_master_rx_lower_pri` (instances).
    pub master_rx_lower_pri: Option<UserScript>,
    /// `notify_priority_changes <BOOL>`.
    pub priority_changes: Option<bool>,
}

impl Notifies {
    /// Parses a notify keyword; false when `node` is not one.
    pub fn parse(&mut self, ctx: &mut Ctx<'_>, node: &Node) -> bool {
        let slot = match node.keyword() {
            "notify_master" => &mut self.master,
            "notify_backup" => &mut self.backup,
            "notify_fault" => &mut self.fault,
            "notify_stop" => &mut self.stop,
            "notify" => &mut self.notify,
            "notify_master_rx_lower_pri" => &mut self.master_rx_lower_pri,
            "notify_deleted" => {
                self.deleted = Some(if node.arg(0).is_some() {
                    UserScript::parse(ctx, node)
                } else {
                    None
                });
                return true;
            }
            "notify_priority_changes" => {
                self.priority_changes = ctx.flag(node).or(self.priority_changes);
                return true;
            }
            _ => return false,
        };
        if let Some(s) = UserScript::parse(ctx, node) {
            *slot = Some(s);
        }
        true
    }

    /// Every script configured, with its keyword.
    pub fn scripts(&self) -> Vec<(&'static str, &UserScript)> {
        let mut v = Vec::new();
        for (k, s) in [
            ("notify_master", &self.master),
            ("notify_backup", &self.backup),
            ("notify_fault", &self.fault),
            ("notify_stop", &self.stop),
            ("notify", &self.notify),
            ("notify_master_rx_lower_pri", &self.master_rx_lower_pri),
        ] {
            if let Some(s) = s {
                v.push((k, s));
            }
        }
        if let Some(Some(s)) = &self.deleted {
            v.push(("notify_deleted", s));
        }
        v
    }

    /// Writes the canonical notify keywords.
    pub fn dump(&self, d: &mut Dumper) {
        dump_user_script(d, "notify_master", &self.master);
        dump_user_script(d, "notify_backup", &self.backup);
        dump_user_script(d, "notify_fault", &self.fault);
        dump_user_script(d, "notify_stop", &self.stop);
        match &self.deleted {
            Some(None) => d.words(&["notify_deleted"]),
            Some(s) => dump_user_script(d, "notify_deleted", s),
            None => {}
        }
        dump_user_script(d, "notify", &self.notify);
        dump_user_script(d, "notify_master_rx_lower_pri", &self.master_rx_lower_pri);
        if let Some(b) = self.priority_changes {
            d.kv("notify_priority_changes", if b { "true" } else { "false" });
        }
    }
}
