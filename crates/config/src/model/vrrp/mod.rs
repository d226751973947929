//! The VRRP side: instances, sync groups, trackers, GARP groups, static addresses, routes,
//! rules and their track groups.
//!
//! One file per block family: [`track`] (vrrp_script, track_file, vrrp_track_process and the
//! `track_*` lists), [`instance`] (vrrp_instance), [`group`] (vrrp_sync_group, garp_group,
//! track_group) and [`validate`](mod@validate) (cross-block and host checks).

pub mod group;
pub mod instance;
pub mod track;
pub mod validate;

use crate::diag::Origin;
use crate::dump::Dumper;
use crate::tree::Node;

use super::addr::{parse_ip_address, parse_route, parse_rule, IpAddress, Route, Rule};
use super::{Config, Ctx};

pub use group::{GarpGroup, StaticTrackGroup, SyncGroup};
pub use instance::{AuthType, Authentication, InitialState, UnicastPeer, VrrpInstance};
pub use track::{Notifies, TrackFile, TrackProcess, TrackRef, VrrpScript};

/// Every block the VRRP engine runs.
#[derive(Debug, Clone, PartialEq)]
pub struct VrrpConfig {
    /// `vrrp_script NAME { ... }` blocks, in file order.
    pub scripts: Vec<VrrpScript>,
    /// `track_file NAME { ... }` / `vrrp_track_file`.
    pub track_files: Vec<TrackFile>,
    /// `vrrp_track_process NAME { ... }`.
    pub track_processes: Vec<TrackProcess>,
    /// `vrrp_sync_group NAME { ... }`.
    pub sync_groups: Vec<SyncGroup>,
    /// `garp_group { ... }`.
    pub garp_groups: Vec<GarpGroup>,
    /// `vrrp_instance NAME { ... }`.
    pub instances: Vec<VrrpInstance>,
    /// `track_group NAME { ... }` (static track groups).
    pub static_track_groups: Vec<StaticTrackGroup>,
    /// `static_ipaddress { ... }`.
    pub static_ipaddress: Vec<IpAddress>,
    /// `static_routes { ... }`.
    pub static_routes: Vec<Route>,
    /// `static_rules { ... }`.
    pub static_rules: Vec<Rule>,
    /// The preference keepalived gives the next rule written without one (16384, counting
    /// down), kept while parsing.
    pub next_rule_preference: u32,
    /// What keepalived 2.2.7's VRRP child treats as a permanent configuration error (it exits
    /// and the daemon with it, status 2), while `-t` only warns.
    pub permanent_errors: Vec<PermanentError>,
    /// `static_ipaddress` entries written without `dev` (index, line): validation gives them
    /// `default_interface` (eth0 unless set), which must exist.
    pub static_without_dev: Vec<(usize, Origin)>,
}

/// A configuration keepalived's VRRP child refuses to run at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermanentError {
    /// `vrrp_instance NAME` without a valid `virtual_router_id` (the instance is left out of
    /// [`VrrpConfig::instances`]).
    NoVrid(String),
    /// An instance, tracked interface, address or route names an interface the host does not
    /// have, without `dynamic_interfaces`.
    MissingInterface,
}

impl std::fmt::Display for PermanentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PermanentError::NoVrid(name) => write!(f, "({name}) the virtual router id must be set"),
            PermanentError::MissingInterface => {
                f.write_str("Non-existent interface specified in configuration")
            }
        }
    }
}

impl Default for VrrpConfig {
    fn default() -> Self {
        VrrpConfig {
            scripts: Vec::new(),
            track_files: Vec::new(),
            track_processes: Vec::new(),
            sync_groups: Vec::new(),
            garp_groups: Vec::new(),
            instances: Vec::new(),
            static_track_groups: Vec::new(),
            static_ipaddress: Vec::new(),
            static_routes: Vec::new(),
            static_rules: Vec::new(),
            next_rule_preference: 16384,
            permanent_errors: Vec::new(),
            static_without_dev: Vec::new(),
        }
    }
}

impl VrrpConfig {
    /// The instance called `name`.
    pub fn instance(&self, name: &str) -> Option<&VrrpInstance> {
        self.instances.iter().find(|i| i.name == name)
    }
}

/// Claims the top-level statements this module owns. Returns false for anything else.
pub fn parse_top(ctx: &mut Ctx<'_>, node: &Node, v: &mut VrrpConfig) -> bool {
    match node.keyword() {
        "vrrp_script" => v.scripts.extend(track::parse_script(ctx, node)),
        "track_file" | "vrrp_track_file" => {
            v.track_files.extend(track::parse_track_file(ctx, node))
        }
        "vrrp_track_process" => v
            .track_processes
            .extend(track::parse_track_process(ctx, node)),
        "vrrp_sync_group" => v.sync_groups.extend(group::parse_sync_group(ctx, node)),
        "garp_group" => v.garp_groups.extend(group::parse_garp_group(ctx, node)),
        "vrrp_instance" => v.instances.extend(instance::parse_instance(
            ctx,
            node,
            &mut v.next_rule_preference,
            &mut v.permanent_errors,
        )),
        "track_group" => v
            .static_track_groups
            .extend(group::parse_static_track_group(ctx, node)),
        "static_ipaddress" => {
            ctx.block_args(node);
            for c in node.children() {
                if let Some(a) = parse_ip_address(ctx, c, true) {
                    validate::check_addr_dev(ctx, c, &a);
                    if a.dev.is_none() {
                        v.static_without_dev
                            .push((v.static_ipaddress.len(), c.origin.clone()));
                    }
                    v.static_ipaddress.push(a);
                }
            }
        }
        "static_routes" => {
            ctx.block_args(node);
            for c in node.children() {
                if let Some(mut r) = parse_route(ctx, c, true) {
                    validate::route_checks(ctx, c, &mut r);
                    v.static_routes.push(r);
                }
            }
        }
        "static_rules" => {
            ctx.block_args(node);
            for c in node.children() {
                if let Some(mut r) = parse_rule(ctx, c, true) {
                    validate::rule_checks(ctx, c, &mut r, &mut v.next_rule_preference);
                    v.static_rules.push(r);
                }
            }
        }
        _ => return false,
    }
    true
}

/// Checks made once the whole configuration is read: global defaults applied to instances,
/// cross references, host checks and script security.
pub fn validate(ctx: &mut Ctx<'_>, cfg: &mut Config) {
    validate::run(ctx, cfg);
}

impl VrrpConfig {
    /// Writes the canonical VRRP blocks.
    pub fn dump(&self, d: &mut Dumper) {
        for g in &self.static_track_groups {
            g.dump(d);
        }
        for (k, list) in [("static_ipaddress", &self.static_ipaddress)] {
            if !list.is_empty() {
                d.block(&[k], |d| {
                    for a in list {
                        d.words(&a.to_words());
                    }
                });
            }
        }
        if !self.static_routes.is_empty() {
            d.block(&["static_routes"], |d| {
                for r in &self.static_routes {
                    d.words(&r.to_words());
                }
            });
        }
        if !self.static_rules.is_empty() {
            d.block(&["static_rules"], |d| {
                for r in &self.static_rules {
                    d.words(&r.to_words());
                }
            });
        }
        for s in &self.scripts {
            s.dump(d);
        }
        for t in &self.track_files {
            t.dump(d);
        }
        for p in &self.track_processes {
            p.dump(d);
        }
        for g in &self.garp_groups {
            g.dump(d);
        }
        for g in &self.sync_groups {
            g.dump(d);
        }
        for i in &self.instances {
            i.dump(d);
        }
    }
}
