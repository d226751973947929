//! `real_server IP [PORT] { ... }` and `sorry_server`.

use std::net::IpAddr;

use crate::diag::Origin;
use crate::dump::Dumper;
use crate::tree::Node;

use super::super::{required, Ctx};
use super::checker::{self, Checker, CHECKER_KEYWORDS};
use super::{dump_bool, parse_forwarding, parse_script, CheckTimers, ForwardingMethod, LvsScript};

/// A real server of a virtual server, with the values it inherits resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct RealServer {
    /// Where the block starts.
    pub origin: Origin,
    /// The server's address.
    pub addr: IpAddr,
    /// The server's port: as given, else the virtual server's (0 for fwmark and group
    /// services); DR/TUN servers always use the virtual server's.
    pub port: u16,
    /// Resolved `weight`: its own, else the virtual server's `weight` (default 1).
    pub weight: u32,
    /// Resolved forwarding method: `lvs_method`, else the virtual server's.
    pub forwarding: ForwardingMethod,
    /// Resolved `inhibit_on_failure`: set the weight to 0 instead of removing the server.
    pub inhibit_on_failure: bool,
    /// `notify_up`.
    pub notify_up: Option<LvsScript>,
    /// `notify_down`.
    pub notify_down: Option<LvsScript>,
    /// `uthreshold`: maximum connections (0: none).
    pub uthreshold: u32,
    /// `lthreshold`: connections below which the server is used again (0: none).
    pub lthreshold: u32,
    /// `smtp_alert` (`None`: the global setting).
    pub smtp_alert: Option<bool>,
    /// `virtualhost` as set here (checkers resolve it further).
    pub virtualhost: Option<String>,
    /// `snmp_name`.
    pub snmp_name: Option<String>,
    /// Resolved `alpha`.
    pub alpha: bool,
    /// The checker timing options set on this real server.
    pub set: CheckTimers,
    /// The health checkers; the server is up while all of them pass.
    pub checkers: Vec<Checker>,
    pub(crate) port_given: bool,
    pub(crate) weight_set: Option<u32>,
    pub(crate) forwarding_set: Option<ForwardingMethod>,
    pub(crate) inhibit_set: Option<bool>,
    pub(crate) alpha_set: Option<bool>,
}

/// Defaults a real server inherits from its virtual server.
#[derive(Debug, Clone)]
pub(crate) struct Inherited<'a> {
    pub port: u16,
    pub weight: u32,
    pub forwarding: ForwardingMethod,
    pub inhibit_on_failure: bool,
    pub alpha: bool,
    pub timers: CheckTimers,
    pub virtualhost: Option<&'a str>,
}

/// Reads `ADDR [PORT]` from the arguments of `node`.
pub(crate) fn parse_addr_port(ctx: &mut Ctx<'_>, node: &Node, what: &str) -> Option<(IpAddr, u16)> {
    let addr = ctx.ip(node, 0)?;
    let port = match node.arg(1) {
        None => 0,
        Some(p) => match super::super::values::parse_i64(p) {
            Some(v) if (0..=65535).contains(&v) => v as u16,
            _ => {
                ctx.warn(
                    node,
                    format!("Invalid {what} ip address/port {addr}/{p} - skipping"),
                );
                return None;
            }
        },
    };
    Some((addr, port))
}

/// Reads a `real_server` block (its inherited values are resolved by [`RealServer::resolve`]).
pub fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<RealServer> {
    let (addr, port) = parse_addr_port(ctx, node, "real server")?;
    let mut rs = RealServer {
        origin: node.origin.clone(),
        addr,
        port,
        weight: 1,
        forwarding: ForwardingMethod::Nat,
        inhibit_on_failure: false,
        notify_up: None,
        notify_down: None,
        uthreshold: 0,
        lthreshold: 0,
        smtp_alert: None,
        virtualhost: None,
        snmp_name: None,
        alpha: false,
        set: CheckTimers::default(),
        checkers: Vec::new(),
        port_given: node.arg(1).is_some(),
        weight_set: None,
        forwarding_set: None,
        inhibit_set: None,
        alpha_set: None,
    };
    for c in node.children() {
        if ctx.missing_parameter(c, required::REAL_SERVER) || rs.set.parse_kw(ctx, c, 1) {
            continue;
        }
        let kw = c.keyword();
        if CHECKER_KEYWORDS.contains(&kw) {
            if let Some(mut ch) = checker::parse(ctx, c) {
                // keepalived 2.2.7 (observed): each `host` block of an SMTP_CHECK is a checker
                // of its own, beside the SMTP_CHECK itself, with the block's connection
                // settings and the SMTP_CHECK's other settings.
                let hosts = match &mut ch.kind {
                    checker::CheckerKind::Smtp(s) => std::mem::take(&mut s.hosts),
                    _ => Vec::new(),
                };
                // Most real servers have one checker: reserve exactly, not the 4 slots a
                // growing Vec starts with (36,800 real servers x 3 unused checkers is ~40 MB).
                rs.checkers.reserve_exact(1 + hosts.len());
                let extra: Vec<_> = hosts
                    .into_iter()
                    .map(|connect| checker::Checker {
                        connect,
                        ..ch.clone()
                    })
                    .collect();
                rs.checkers.push(ch);
                rs.checkers.extend(extra);
            }
            continue;
        }
        match kw {
            "weight" => {
                if let Some(w) = ctx.u64_in(c, 0, 0, i32::MAX as u64) {
                    rs.weight_set = Some(w as u32);
                }
            }
            "lvs_method" => {
                if let Some(m) = parse_forwarding(ctx, c) {
                    rs.forwarding_set = Some(m);
                }
            }
            "inhibit_on_failure" => rs.inhibit_set = ctx.flag(c).or(rs.inhibit_set),
            "notify_up" => rs.notify_up = parse_script(ctx, c).or(rs.notify_up.take()),
            "notify_down" => rs.notify_down = parse_script(ctx, c).or(rs.notify_down.take()),
            "uthreshold" => {
                if let Some(v) = ctx.u64_in(c, 0, 0, u32::MAX as u64) {
                    rs.uthreshold = v as u32;
                }
            }
            "lthreshold" => {
                if let Some(v) = ctx.u64_in(c, 0, 0, u32::MAX as u64) {
                    rs.lthreshold = v as u32;
                }
            }
            "smtp_alert" => rs.smtp_alert = ctx.flag(c).or(rs.smtp_alert),
            "virtualhost" => rs.virtualhost = ctx.string(c).or(rs.virtualhost.take()),
            "snmp_name" => rs.snmp_name = ctx.string(c).or(rs.snmp_name.take()),
            "alpha" => rs.alpha_set = ctx.flag(c).or(rs.alpha_set),
            _ => ctx.unknown(c),
        }
    }
    Some(rs)
}

impl RealServer {
    /// Applies the virtual server's defaults, then resolves every checker.
    pub(crate) fn resolve(&mut self, vs: &Inherited<'_>) {
        if !self.port_given {
            self.port = vs.port;
        }
        self.weight = self.weight_set.unwrap_or(vs.weight);
        self.forwarding = self.forwarding_set.unwrap_or(vs.forwarding);
        self.inhibit_on_failure = self.inhibit_set.unwrap_or(vs.inhibit_on_failure);
        self.alpha = self.alpha_set.unwrap_or(vs.alpha);
        let timers = self.set.or(vs.timers);
        let vhost = self.virtualhost.as_deref().or(vs.virtualhost);
        for c in &mut self.checkers {
            c.resolve(timers, self.alpha, vhost);
        }
    }

    /// Writes the canonical block; values equal to what the virtual server passes down are
    /// left out so that they stay inherited.
    pub(crate) fn dump(&self, d: &mut Dumper, vs: &Inherited<'_>) {
        let head = [
            "real_server".to_string(),
            self.addr.to_string(),
            self.port.to_string(),
        ];
        d.block(&head, |d| {
            d.kv("weight", self.weight);
            if self.forwarding != vs.forwarding {
                self.forwarding.dump(d, "lvs_method");
            }
            if self.inhibit_on_failure != vs.inhibit_on_failure {
                dump_bool(d, "inhibit_on_failure", Some(self.inhibit_on_failure));
            }
            if let Some(s) = &self.notify_up {
                s.dump(d, "notify_up");
            }
            if let Some(s) = &self.notify_down {
                s.dump(d, "notify_down");
            }
            if self.uthreshold != 0 {
                d.kv("uthreshold", self.uthreshold);
            }
            if self.lthreshold != 0 {
                d.kv("lthreshold", self.lthreshold);
            }
            dump_bool(d, "smtp_alert", self.smtp_alert);
            d.opt("virtualhost", &self.virtualhost);
            d.opt("snmp_name", &self.snmp_name);
            if self.alpha != vs.alpha {
                dump_bool(d, "alpha", Some(self.alpha));
            }
            self.set.dump(d);
            for c in &self.checkers {
                c.dump(d, self.alpha);
            }
        });
    }
}

/// `sorry_server IP [PORT]` with `sorry_server_inhibit` and `sorry_server_lvs_method`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SorryServer {
    /// The server's address.
    pub addr: IpAddr,
    /// The server's port: as given, else the virtual server's (0 for fwmark and groups).
    pub port: u16,
    /// Resolved forwarding method: `sorry_server_lvs_method`, else the virtual server's.
    pub forwarding: ForwardingMethod,
    /// `sorry_server_inhibit`.
    pub inhibit: bool,
    pub(crate) forwarding_set: Option<ForwardingMethod>,
}
