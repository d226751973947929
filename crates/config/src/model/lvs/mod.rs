//! The LVS side: `SSL`, `virtual_server_group`, `virtual_server`, `real_server`, checkers.
//!
//! One file per block family: [`ssl`], [`vs_group`], [`virtual_server`], [`real_server`],
//! [`checker`] (the common checker options and the simple checkers) and [`http`] (`HTTP_GET`
//! and `SSL_GET`). Values that keepalived inherits (virtual server -> real server -> checker)
//! are resolved once the whole `virtual_server` block is read, so consumers read the resolved
//! fields of [`checker::Checker`] directly.

pub mod checker;
pub mod http;
pub mod real_server;
pub mod security;
pub mod ssl;
pub mod virtual_server;
pub mod vs_group;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::dump::Dumper;
use crate::lexer::quote;
use crate::tree::Node;

use super::script::Command;
use super::values::parse_u64;
use super::{Config, Ctx};

pub use checker::{Checker, CheckerKind};
pub use real_server::RealServer;
pub use ssl::SslConfig;
pub use virtual_server::{VirtualServer, VsAddress};
pub use vs_group::VsGroup;

/// Everything the checkers and the IPVS layer run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LvsConfig {
    /// The `SSL` block used by `SSL_GET` checkers, if one was given.
    pub ssl: Option<SslConfig>,
    /// `virtual_server_group NAME { ... }` blocks, in file order.
    pub groups: Vec<VsGroup>,
    /// `virtual_server ... { ... }` blocks, in file order.
    pub virtual_servers: Vec<VirtualServer>,
    /// `virtual_server` blocks read but not modelled ([`crate::LoadOptions::skip_lvs`]): a
    /// process that leaves them to the checker still knows there are some.
    pub skipped_virtual_servers: usize,
    /// Whether scripts that name no user were configured, before the script checks dropped
    /// those that cannot run ([`security::needs_default_script_user`] still says it, as
    /// keepalived's "Script user ... does not exist" comes first).
    pub had_userless_scripts: bool,
}

impl LvsConfig {
    /// The group named `name`, if it is defined.
    pub fn group(&self, name: &str) -> Option<&VsGroup> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Writes the canonical LVS blocks.
    pub fn dump(&self, d: &mut Dumper) {
        if let Some(s) = &self.ssl {
            s.dump(d);
        }
        for g in &self.groups {
            g.dump(d);
        }
        for vs in &self.virtual_servers {
            vs.dump(d);
        }
    }
}

/// The top-level keywords [`parse_top`] reads.
pub const TOP_KEYWORDS: &[&str] = &["SSL", "virtual_server_group", "virtual_server"];

/// Claims the top-level statements this module owns. Returns false for anything else.
pub fn parse_top(ctx: &mut Ctx<'_>, node: &Node, l: &mut LvsConfig) -> bool {
    match node.keyword() {
        "SSL" => {
            let s = ssl::parse(ctx, node);
            if l.ssl.is_some() {
                ctx.warn(
                    node,
                    "SSL block given more than once - the last one is used",
                );
            }
            l.ssl = Some(s);
            true
        }
        "virtual_server_group" => {
            if let Some(g) = vs_group::parse(ctx, node) {
                if l.groups.iter().any(|o| o.name == g.name) {
                    // keepalived says nothing and uses the first one.
                    ctx.diags.info(
                        Some(&node.origin),
                        format!("virtual_server_group {} defined twice - ignoring", g.name),
                    );
                } else {
                    l.groups.push(g);
                }
            }
            true
        }
        "virtual_server" => {
            if let Some(vs) = virtual_server::parse(ctx, node) {
                l.virtual_servers.push(vs);
            }
            true
        }
        _ => false,
    }
}

/// Checks made once the whole configuration is read: group references, address families,
/// duplicate real servers, host interfaces and script security.
pub fn validate(ctx: &mut Ctx<'_>, cfg: &mut Config) {
    let lvs = &mut cfg.lvs;
    vs_group::validate(ctx, &mut lvs.groups);
    let groups = std::mem::take(&mut lvs.groups);
    lvs.virtual_servers
        .retain_mut(|vs| virtual_server::validate(ctx, vs, &groups));
    lvs.groups = groups;
    let track_files: Vec<&str> = cfg
        .vrrp
        .track_files
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    let bfd_instances = cfg.bfd.names();
    checker::check_references(ctx, &mut cfg.lvs, &track_files, &bfd_instances);
    security::check_scripts(ctx, &mut cfg.lvs, &cfg.global);
}

/// The L4 protocol of a virtual service (`protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `TCP`.
    Tcp,
    /// `UDP`.
    Udp,
    /// `SCTP`.
    Sctp,
}

impl Protocol {
    /// The keyword as written in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    /// The IP protocol number IPVS uses.
    pub fn ip_proto(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }
}

/// An address family (`ip_family inet|inet6`, `fwmark N inet6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4.
    Inet,
    /// IPv6.
    Inet6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Inet,
            IpAddr::V6(_) => Family::Inet6,
        }
    }

    /// The keyword as written in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Family::Inet => "inet",
            Family::Inet6 => "inet6",
        }
    }
}

/// Reads `inet` / `inet6`.
pub(crate) fn parse_family(ctx: &mut Ctx<'_>, node: &Node, idx: usize) -> Option<Family> {
    ctx.choice(
        node,
        idx,
        &[("inet", Family::Inet), ("inet6", Family::Inet6)],
    )
}

/// An IPVS scheduler (`lvs_sched` / `lb_algo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheduler {
    /// Round robin.
    Rr,
    /// Weighted round robin.
    Wrr,
    /// Least connection.
    Lc,
    /// Weighted least connection (keepalived's default).
    Wlc,
    /// Locality-based least connection.
    Lblc,
    /// Locality-based least connection with replication.
    Lblcr,
    /// Destination hashing.
    Dh,
    /// Source hashing.
    Sh,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Weighted failover.
    Fo,
    /// Weighted overflow.
    Ovf,
    /// Maglev hashing.
    Mh,
    /// Weighted random twos choice.
    Twos,
}

impl Scheduler {
    /// Every scheduler with its IPVS name.
    pub const ALL: [(&'static str, Scheduler); 14] = [
        ("rr", Scheduler::Rr),
        ("wrr", Scheduler::Wrr),
        ("lc", Scheduler::Lc),
        ("wlc", Scheduler::Wlc),
        ("lblc", Scheduler::Lblc),
        ("lblcr", Scheduler::Lblcr),
        ("dh", Scheduler::Dh),
        ("sh", Scheduler::Sh),
        ("sed", Scheduler::Sed),
        ("nq", Scheduler::Nq),
        ("fo", Scheduler::Fo),
        ("ovf", Scheduler::Ovf),
        ("mh", Scheduler::Mh),
        ("twos", Scheduler::Twos),
    ];

    /// The IPVS scheduler name (`SCHED_NAME`).
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map(|(n, _)| *n)
            .unwrap_or("wlc")
    }
}

/// The IPVS tunnel encapsulation of `lvs_method TUN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelType {
    /// IP-in-IP (the default).
    Ipip,
    /// Generic UDP encapsulation to `port`.
    Gue {
        /// The destination UDP port of the encapsulation.
        port: u16,
    },
    /// GRE.
    Gre,
}

/// The checksum option of a GUE or GRE tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TunnelChecksum {
    /// `nocsum` (the default).
    #[default]
    NoCsum,
    /// `csum`.
    Csum,
    /// `remcsum` (GUE only).
    RemCsum,
}

impl TunnelChecksum {
    fn name(self) -> &'static str {
        match self {
            TunnelChecksum::NoCsum => "nocsum",
            TunnelChecksum::Csum => "csum",
            TunnelChecksum::RemCsum => "remcsum",
        }
    }
}

/// An IPVS forwarding method (`lvs_method` / `lb_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForwardingMethod {
    /// Masquerading (`NAT`), keepalived's default.
    Nat,
    /// Direct routing (`DR`).
    Dr,
    /// Tunnelling (`TUN`).
    Tun {
        /// The encapsulation.
        tunnel: TunnelType,
        /// The checksum option (GUE and GRE only).
        checksum: TunnelChecksum,
    },
}

impl ForwardingMethod {
    /// True for DR and TUN, where the real server port must be the virtual server's.
    pub fn keeps_port(self) -> bool {
        !matches!(self, ForwardingMethod::Nat)
    }

    /// The words after the keyword, canonical.
    pub fn words(self) -> Vec<String> {
        match self {
            ForwardingMethod::Nat => vec!["NAT".into()],
            ForwardingMethod::Dr => vec!["DR".into()],
            ForwardingMethod::Tun { tunnel, checksum } => {
                let mut w = vec!["TUN".to_string(), "type".to_string()];
                match tunnel {
                    TunnelType::Ipip => w.push("ipip".into()),
                    TunnelType::Gue { port } => {
                        w.extend(["gue".to_string(), "port".to_string(), port.to_string()])
                    }
                    TunnelType::Gre => w.push("gre".into()),
                }
                if tunnel != TunnelType::Ipip {
                    w.push(checksum.name().into());
                }
                w
            }
        }
    }

    /// Writes `key METHOD...`.
    pub fn dump(self, d: &mut Dumper, key: &str) {
        let mut w = vec![key.to_string()];
        w.extend(self.words());
        d.words(&w);
    }
}

/// Reads `NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]` from the arguments of
/// `node`. A bad method is reported and gives `None`.
pub(crate) fn parse_forwarding(ctx: &mut Ctx<'_>, node: &Node) -> Option<ForwardingMethod> {
    let m = ctx.arg(node, 0)?;
    match m {
        "NAT" => return Some(ForwardingMethod::Nat),
        "DR" => return Some(ForwardingMethod::Dr),
        "TUN" => {}
        _ => {
            ctx.warn(node, format!("unknown routing method '{m}'"));
            return None;
        }
    }
    let mut tunnel = TunnelType::Ipip;
    let mut checksum = TunnelChecksum::NoCsum;
    let args = node.args();
    let mut i = 1;
    while i < args.len() {
        match args[i].text.as_str() {
            "type" => {
                let Some(t) = node.arg(i + 1) else {
                    ctx.warn(node, "tunnel type missing after 'type'");
                    return None;
                };
                i += 2;
                tunnel = match t {
                    "ipip" => TunnelType::Ipip,
                    "gre" => TunnelType::Gre,
                    "gue" => {
                        if node.arg(i) != Some("port") {
                            ctx.warn(node, "gue tunnel requires a port");
                            return None;
                        }
                        let p = node.arg(i + 1).and_then(parse_u64);
                        i += 2;
                        match p {
                            Some(p @ 1..=65535) => TunnelType::Gue { port: p as u16 },
                            _ => {
                                ctx.warn(node, "invalid gue tunnel port");
                                return None;
                            }
                        }
                    }
                    other => {
                        ctx.warn(node, format!("unknown tunnel type '{other}'"));
                        return None;
                    }
                };
            }
            "nocsum" => {
                checksum = TunnelChecksum::NoCsum;
                i += 1;
            }
            "csum" => {
                checksum = TunnelChecksum::Csum;
                i += 1;
            }
            "remcsum" => {
                checksum = TunnelChecksum::RemCsum;
                i += 1;
            }
            other => {
                ctx.warn(node, format!("unknown tunnel option '{other}'"));
                i += 1;
            }
        }
    }
    match (tunnel, checksum) {
        (TunnelType::Ipip, c) if c != TunnelChecksum::NoCsum => {
            ctx.warn(
                node,
                "ipip tunnels do not support checksum options - ignoring",
            );
            checksum = TunnelChecksum::NoCsum;
        }
        (TunnelType::Gre, TunnelChecksum::RemCsum) => {
            ctx.warn(
                node,
                "gre tunnels do not support the remote checksum option",
            );
            checksum = TunnelChecksum::NoCsum;
        }
        _ => {}
    }
    Some(ForwardingMethod::Tun { tunnel, checksum })
}

/// A TCP/UDP port argument (`0..=65535`).
pub(crate) fn parse_port(ctx: &mut Ctx<'_>, node: &Node, idx: usize) -> Option<u16> {
    ctx.int_in(node, idx, 0u16, u16::MAX)
}

/// A script keepalived runs for the LVS side, with the user it runs as
/// (`notify_up CMD [USER [GROUP]]`, `misc_path` + `user`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LvsScript {
    /// The command.
    pub command: Command,
    /// The user to run as; `None` means keepalived's default script user.
    pub user: Option<String>,
    /// The group to run as; `None` means the user's primary group.
    pub group: Option<String>,
}

impl LvsScript {
    /// Writes `key "command" [user [group]]`.
    pub fn dump(&self, d: &mut Dumper, key: &str) {
        let mut line = format!("{key} {}", quote(&self.command.to_conf()));
        if let Some(u) = &self.user {
            line.push(' ');
            line.push_str(&quote(u));
            if let Some(g) = &self.group {
                line.push(' ');
                line.push_str(&quote(g));
            }
        }
        d.raw_line(&line);
    }
}

/// Reads `KEY CMD [USER [GROUP]]`: the first word (quoted when it holds spaces) is the command.
pub(crate) fn parse_script(ctx: &mut Ctx<'_>, node: &Node) -> Option<LvsScript> {
    let Some(text) = node.arg(0) else {
        ctx.warn(node, format!("{} requires a script", node.keyword()));
        return None;
    };
    let Some(command) = Command::parse(text) else {
        ctx.warn(node, format!("{} requires a script", node.keyword()));
        return None;
    };
    // keepalived ignores anything after the group.
    Some(LvsScript {
        command,
        user: node.arg(1).map(str::to_string),
        group: node.arg(2).map(str::to_string),
    })
}

/// The checker timing options that can be set on a virtual server, a real server or a
/// checker; `None` where that level did not set it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckTimers {
    /// `delay_loop`: time between checks.
    pub delay_loop: Option<Duration>,
    /// `connect_timeout`.
    pub connect_timeout: Option<Duration>,
    /// `retry`: failures tolerated before the real server is declared down.
    pub retry: Option<u32>,
    /// `delay_before_retry`.
    pub delay_before_retry: Option<Duration>,
    /// `warmup`: the random delay before the first check is at most this (0 disables it).
    pub warmup: Option<Duration>,
}

/// The largest `<TIMER>` accepted for `delay_loop` and friends.
const MAX_TIMER: Duration = Duration::from_secs(u32::MAX as u64);
/// The largest `connect_timeout`: 4294.967295 s.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_micros(u32::MAX as u64);

impl CheckTimers {
    /// Handles one of the five timing keywords; false when `node` is something else.
    /// `min_retry` is 0 in a checker block and 1 elsewhere, as in keepalived.
    pub(crate) fn parse_kw(&mut self, ctx: &mut Ctx<'_>, node: &Node, min_retry: u32) -> bool {
        let tiny = Duration::from_micros(1);
        match node.keyword() {
            "delay_loop" => {
                if let Some(v) = ctx.timer_in(node, 0, tiny, MAX_TIMER) {
                    self.delay_loop = Some(v);
                }
            }
            "connect_timeout" => {
                if let Some(v) = ctx.timer_in(node, 0, tiny, MAX_CONNECT_TIMEOUT) {
                    self.connect_timeout = Some(v);
                }
            }
            "retry" => {
                if let Some(v) = ctx.int_in(node, 0, min_retry, u32::MAX) {
                    self.retry = Some(v);
                }
            }
            "delay_before_retry" => {
                if let Some(v) = ctx.timer_in(node, 0, Duration::ZERO, MAX_TIMER) {
                    self.delay_before_retry = Some(v);
                }
            }
            "warmup" => {
                if let Some(v) = ctx.timer_in(node, 0, Duration::ZERO, MAX_TIMER) {
                    self.warmup = Some(v);
                }
            }
            _ => return false,
        }
        true
    }

    /// `self` where set, else `outer`.
    pub fn or(self, outer: CheckTimers) -> CheckTimers {
        CheckTimers {
            delay_loop: self.delay_loop.or(outer.delay_loop),
            connect_timeout: self.connect_timeout.or(outer.connect_timeout),
            retry: self.retry.or(outer.retry),
            delay_before_retry: self.delay_before_retry.or(outer.delay_before_retry),
            warmup: self.warmup.or(outer.warmup),
        }
    }

    /// Writes the values that are set.
    pub fn dump(&self, d: &mut Dumper) {
        if let Some(v) = self.delay_loop {
            d.timer("delay_loop", v);
        }
        if let Some(v) = self.connect_timeout {
            d.timer("connect_timeout", v);
        }
        d.opt("retry", &self.retry);
        if let Some(v) = self.delay_before_retry {
            d.timer("delay_before_retry", v);
        }
        if let Some(v) = self.warmup {
            d.timer("warmup", v);
        }
    }
}

/// Writes a `<BOOL>` option as `key on|off`.
pub(crate) fn dump_bool(d: &mut Dumper, key: &str, v: Option<bool>) {
    if let Some(b) = v {
        d.kv(key, if b { "on" } else { "off" });
    }
}

/// Formats `[addr]:port`-style labels used in messages (`[10.0.0.1]:tcp:80`).
pub(crate) struct SvcLabel<'a>(pub &'a IpAddr, pub Option<Protocol>, pub u16);

impl fmt::Display for SvcLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.1.map(|p| p.name().to_ascii_lowercase());
        write!(
            f,
            "[{}]:{}:{}",
            self.0,
            p.as_deref().unwrap_or("none"),
            self.2
        )
    }
}
