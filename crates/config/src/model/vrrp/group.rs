//! `vrrp_sync_group`, `garp_group` and the static track groups (`track_group`).

use std::time::Duration;

use crate::diag::Origin;
use crate::dump::Dumper;
use crate::tree::Node;

use super::super::{required, Ctx};
use super::track::{dump_track_list, parse_track_list, Notifies, TrackRef};

/// `vrrp_sync_group NAME { ... }`: instances that change state together.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncGroup {
    /// The group name.
    pub name: String,
    /// Where the block starts.
    pub origin: Origin,
    /// `group { INSTANCE... }`, with the line of each member.
    pub members: Vec<(String, Origin)>,
    /// `track_interface`.
    pub track_interface: Vec<TrackRef>,
    /// `track_script`.
    pub track_script: Vec<TrackRef>,
    /// `track_file`.
    pub track_file: Vec<TrackRef>,
    /// `track_process`.
    pub track_process: Vec<TrackRef>,
    /// `track_bfd`.
    pub track_bfd: Vec<TrackRef>,
    /// Notify scripts and `notify_priority_changes`.
    pub notifies: Notifies,
    /// `smtp_alert <BOOL>`.
    pub smtp_alert: Option<bool>,
    /// `global_tracking` (deprecated).
    pub global_tracking: bool,
    /// `sync_group_tracking_weight`: members may keep their tracking weights.
    pub sync_group_tracking_weight: bool,
}

/// Parses `vrrp_sync_group NAME { ... }`.
pub fn parse_sync_group(ctx: &mut Ctx<'_>, node: &Node) -> Option<SyncGroup> {
    let name = ctx.string(node)?;
    let mut g = SyncGroup {
        name,
        origin: node.origin.clone(),
        members: Vec::new(),
        track_interface: Vec::new(),
        track_script: Vec::new(),
        track_file: Vec::new(),
        track_process: Vec::new(),
        track_bfd: Vec::new(),
        notifies: Notifies::default(),
        smtp_alert: None,
        global_tracking: false,
        sync_group_tracking_weight: false,
    };
    for c in node.children() {
        if ctx.missing_parameter(c, required::VRRP_SYNC_GROUP) {
            continue;
        }
        // keepalived 2.2.7 does not know notify_deleted in sync groups, only in instances.
        if c.keyword() == "notify_deleted" {
            ctx.unknown(c);
            continue;
        }
        if g.notifies.parse(ctx, c) {
            continue;
        }
        match c.keyword() {
            "group" => {
                if c.children().is_empty() {
                    ctx.warn(
                        c,
                        format!("Warning - sync group {} has empty group block", g.name),
                    );
                }
                for m in c.children() {
                    for w in &m.words {
                        g.members.push((w.text.clone(), m.origin.clone()));
                    }
                }
            }
            "track_interface" => g.track_interface.extend(parse_track_list(ctx, c, 253)),
            "track_script" => g.track_script.extend(parse_track_list(ctx, c, 253)),
            "track_file" => g.track_file.extend(parse_track_list(ctx, c, 254)),
            "track_process" => g.track_process.extend(parse_track_list(ctx, c, 254)),
            "track_bfd" => g.track_bfd.extend(parse_track_list(ctx, c, 253)),
            "smtp_alert" => g.smtp_alert = ctx.flag(c).or(g.smtp_alert),
            "global_tracking" => {
                ctx.diags.info(
                    Some(&c.origin),
                    format!(
                        "({}) global_tracking is deprecated. Use track_interface/script/file on the sync group",
                        g.name
                    ),
                );
                g.global_tracking = true;
            }
            "sync_group_tracking_weight" => g.sync_group_tracking_weight = true,
            _ => ctx.unknown(c),
        }
    }
    Some(g)
}

impl SyncGroup {
    /// Writes the canonical block.
    pub fn dump(&self, d: &mut Dumper) {
        d.block(&["vrrp_sync_group", self.name.as_str()], |d| {
            d.block(&["group"], |d| {
                for (m, _) in &self.members {
                    d.words(&[m]);
                }
            });
            dump_track_list(d, "track_interface", &self.track_interface);
            dump_track_list(d, "track_script", &self.track_script);
            dump_track_list(d, "track_file", &self.track_file);
            dump_track_list(d, "track_process", &self.track_process);
            dump_track_list(d, "track_bfd", &self.track_bfd);
            self.notifies.dump(d);
            if let Some(b) = self.smtp_alert {
                d.kv("smtp_alert", b);
            }
            d.flag("global_tracking", self.global_tracking);
            d.flag(
                "sync_group_tracking_weight",
                self.sync_group_tracking_weight,
            );
        });
    }
}

/// `garp_group { ... }`: GARP / NA pacing shared by interfaces.
#[derive(Debug, Clone, PartialEq)]
pub struct GarpGroup {
    /// Where the block starts.
    pub origin: Origin,
    /// `garp_interval`: delay between gratuitous ARPs.
    pub garp_interval: Option<Duration>,
    /// `gna_interval`: delay between unsolicited NAs.
    pub gna_interval: Option<Duration>,
    /// `interface` or `interfaces { ... }`: the interfaces sharing the limits.
    pub interfaces: Vec<String>,
}

/// Parses `garp_group { ... }`.
pub fn parse_garp_group(ctx: &mut Ctx<'_>, node: &Node) -> Option<GarpGroup> {
    let mut g = GarpGroup {
        origin: node.origin.clone(),
        garp_interval: None,
        gna_interval: None,
        interfaces: Vec::new(),
    };
    let mut single = false;
    let mut multi = false;
    for c in node.children() {
        if ctx.missing_parameter(c, required::GARP_GROUP) {
            continue;
        }
        match c.keyword() {
            "garp_interval" => {
                g.garp_interval = ctx
                    .timer_in(c, 0, Duration::ZERO, Duration::from_secs(1))
                    .or(g.garp_interval)
            }
            "gna_interval" => {
                g.gna_interval = ctx
                    .timer_in(c, 0, Duration::ZERO, Duration::from_secs(1))
                    .or(g.gna_interval)
            }
            "interface" => {
                if let Some(i) = ctx.string(c) {
                    g.interfaces.push(i);
                    single = true;
                }
            }
            "interfaces" => {
                if c.children().is_empty() {
                    ctx.warn(c, "Warning - empty garp_group interfaces block");
                }
                for i in c.children() {
                    g.interfaces.push(i.keyword().to_string());
                }
                multi = true;
            }
            _ => ctx.unknown(c),
        }
    }
    if single && multi {
        ctx.warn(node, "garp_group: use only one of interface and interfaces");
    }
    if g.interfaces.is_empty() {
        ctx.warn(node, "garp_group has no interfaces - ignoring");
        return None;
    }
    if g.garp_interval.is_none() && g.gna_interval.is_none() {
        ctx.warn(node, "garp group does not have any delay set - removing");
        return None;
    }
    Some(g)
}

impl GarpGroup {
    /// Writes the canonical block.
    pub fn dump(&self, d: &mut Dumper) {
        d.block(&["garp_group"], |d| {
            if let Some(t) = self.garp_interval {
                d.timer("garp_interval", t);
            }
            if let Some(t) = self.gna_interval {
                d.timer("gna_interval", t);
            }
            d.block(&["interfaces"], |d| {
                for i in &self.interfaces {
                    d.words(&[i]);
                }
            });
        });
    }
}

/// `track_group NAME { group { INSTANCE... } }`: instances that track static addresses,
/// routes and rules naming this group.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticTrackGroup {
    /// The group name.
    pub name: String,
    /// Where the block starts.
    pub origin: Origin,
    /// The instances, with the line of each.
    pub members: Vec<(String, Origin)>,
}

/// Parses `track_group NAME { group { ... } }`.
pub fn parse_static_track_group(ctx: &mut Ctx<'_>, node: &Node) -> Option<StaticTrackGroup> {
    let name = ctx.string(node)?;
    let mut g = StaticTrackGroup {
        name,
        origin: node.origin.clone(),
        members: Vec::new(),
    };
    for c in node.children() {
        match c.keyword() {
            "group" => {
                for m in c.children() {
                    for w in &m.words {
                        g.members.push((w.text.clone(), m.origin.clone()));
                    }
                }
            }
            _ => ctx.unknown(c),
        }
    }
    Some(g)
}

impl StaticTrackGroup {
    /// Writes the canonical block.
    pub fn dump(&self, d: &mut Dumper) {
        d.block(&["track_group", self.name.as_str()], |d| {
            d.block(&["group"], |d| {
                for (m, _) in &self.members {
                    d.words(&[m]);
                }
            });
        });
    }
}
