//! `bfd_instance NAME { ... }`: the BFD sessions that `track_bfd` (VRRP) and `BFD_CHECK`
//! (checkers) refer to.
//!
//! Ranges and messages follow what keepalived 2.2.7 `-t` reports: intervals are milliseconds
//! with microsecond resolution, a bad value keeps the default, an instance without a valid
//! neighbour (or with the neighbour of another instance) is dropped.

use std::net::IpAddr;
use std::time::Duration;

use crate::dump::Dumper;
use crate::tree::Node;

use super::values::{parse_i64, parse_timer};
use super::{required, Ctx};

/// One `bfd_instance`.
#[derive(Debug, Clone, PartialEq)]
pub struct BfdInstance {
    /// The instance name.
    pub name: String,
    /// Where the block starts.
    pub origin: crate::Origin,
    /// `neighbor_ip` / `neighbour_ip`: the peer.
    pub neighbor_ip: Option<IpAddr>,
    /// `source_ip`.
    pub source_ip: Option<IpAddr>,
    /// `min_rx`: required minimum receive interval (default 10 ms).
    pub min_rx: Duration,
    /// `min_tx`: desired minimum transmit interval (default 10 ms).
    pub min_tx: Duration,
    /// `idle_tx`: desired transmit interval while the session is down (default 1 s).
    pub idle_tx: Duration,
    /// `multiplier`: packets missed before the session is down (default 5).
    pub multiplier: u8,
    /// `passive`: wait for the peer to start.
    pub passive: bool,
    /// `ttl`: IPv4 TTL of sent packets (default 255).
    pub ttl: u8,
    /// `hoplimit`: IPv6 hop limit of sent packets (default 64).
    pub hoplimit: u8,
    /// `max_hops`: accepted TTL/hop-limit reduction (default 0; 255 turns the check off; -1
    /// as keepalived accepts it).
    pub max_hops: i16,
    /// `weight W [reverse]`: default tracking weight.
    pub weight: i32,
    /// `reverse` after the weight.
    pub weight_reverse: bool,
    /// `vrrp`: send events to the VRRP process only (with `checker`: both, the default).
    pub vrrp: bool,
    /// `checker`: send events to the checker process only.
    pub checker: bool,
}

/// Everything the BFD process runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BfdConfig {
    /// The `bfd_instance` blocks, in order, duplicates removed.
    pub instances: Vec<BfdInstance>,
}

const MAX_INTERVAL_MS: u64 = 4_294_967;

impl BfdInstance {
    fn new(name: String, origin: crate::Origin) -> Self {
        BfdInstance {
            name,
            origin,
            neighbor_ip: None,
            source_ip: None,
            min_rx: Duration::from_millis(10),
            min_tx: Duration::from_millis(10),
            idle_tx: Duration::from_millis(1000),
            multiplier: 5,
            passive: false,
            ttl: 255,
            hoplimit: 64,
            max_hops: 0,
            weight: 0,
            weight_reverse: false,
            vrrp: false,
            checker: false,
        }
    }
}

/// Claims `bfd_instance`. Returns false for any other top-level statement.
pub fn parse_top(ctx: &mut Ctx<'_>, node: &Node, cfg: &mut BfdConfig) -> bool {
    if node.keyword() != "bfd_instance" {
        return false;
    }
    let Some(name) = ctx.string(node) else {
        return true;
    };
    let mut b = BfdInstance::new(name, node.origin.clone());
    let mut usable = true;
    for c in node.children() {
        if ctx.missing_parameter(c, required::BFD_INSTANCE) {
            continue;
        }
        parse_child(ctx, c, &mut b, &mut usable);
    }
    if !usable {
        return true;
    }
    let Some(neighbor) = b.neighbor_ip else {
        ctx.warn(
            node,
            format!(
                "Configuration error: BFD instance {} has no neighbor address set, disabling instance",
                b.name
            ),
        );
        return true;
    };
    if let Some(src) = b.source_ip {
        if src.is_ipv6() != neighbor.is_ipv6() {
            ctx.warn(
                node,
                format!(
                    "Configuration error: BFD instance {} source address {src} and neighbor address {neighbor} are not of the same family, disabling instance",
                    b.name
                ),
            );
            return true;
        }
    }
    if cfg.instances.iter().any(|o| o.name == b.name) {
        ctx.warn(
            node,
            format!(
                "Configuration error: BFD instance {} already configured - ignoring",
                b.name
            ),
        );
        return true;
    }
    if cfg
        .instances
        .iter()
        .any(|o| o.neighbor_ip == Some(neighbor))
    {
        ctx.warn(
            node,
            format!(
                "Configuration error: BFD instance {} has duplicate neighbor address {neighbor}, ignoring instance",
                b.name
            ),
        );
        return true;
    }
    cfg.instances.push(b);
    true
}

fn parse_child(ctx: &mut Ctx<'_>, c: &Node, b: &mut BfdInstance, usable: &mut bool) {
    let name = b.name.clone();
    let bad = |ctx: &mut Ctx<'_>, what: &str, v: &str, range: &str| {
        ctx.warn(
            c,
            format!(
                "Configuration error: BFD instance {name} {what} value {v} not valid (must be in range [{range}]), ignoring"
            ),
        );
    };
    let value = c.arg(0).unwrap_or("");
    match c.keyword() {
        "neighbor_ip" | "neighbour_ip" => match value.parse::<IpAddr>() {
            Ok(a) => b.neighbor_ip = Some(a),
            Err(_) => {
                ctx.warn(
                    c,
                    format!(
                        "Configuration error: BFD instance {name} has malformed neighbor address {value}, ignoring instance"
                    ),
                );
                *usable = false;
            }
        },
        "source_ip" => match value.parse::<IpAddr>() {
            Ok(a) => b.source_ip = Some(a),
            Err(_) => {
                ctx.warn(
                    c,
                    format!(
                        "Configuration error: BFD instance {name} has malformed source address {value}, ignoring"
                    ),
                );
            }
        },
        kw @ ("min_rx" | "min_tx" | "idle_tx") => {
            let min_ms = if kw == "idle_tx" { 1000 } else { 1 };
            // Milliseconds with a fraction: read as a timer, then scaled down by 1000.
            match parse_timer(value).map(|d| d / 1000) {
                Some(d)
                    if d >= Duration::from_millis(min_ms)
                        && d <= Duration::from_millis(MAX_INTERVAL_MS) =>
                {
                    match kw {
                        "min_rx" => b.min_rx = d,
                        "min_tx" => b.min_tx = d,
                        _ => b.idle_tx = d,
                    }
                }
                _ => ctx.warn(
                    c,
                    format!(
                        "Configuration error: BFD instance {name} {kw} value {value} is not valid (must be in range [{min_ms}-{MAX_INTERVAL_MS}]), ignoring"
                    ),
                ),
            }
        }
        "multiplier" => match parse_i64(value).and_then(|v| u8::try_from(v).ok()) {
            Some(v) if v >= 1 => b.multiplier = v,
            _ => bad(ctx, "multiplier", value, "1-255"),
        },
        kw @ ("ttl" | "hoplimit") => match parse_i64(value).and_then(|v| u8::try_from(v).ok()) {
            Some(v) if v >= 1 => {
                if kw == "ttl" {
                    b.ttl = v
                } else {
                    b.hoplimit = v
                }
            }
            _ => bad(ctx, "ttl/hoplimit", value, "1-255"),
        },
        "max_hops" => match parse_i64(value) {
            Some(v) if (-1..=255).contains(&v) => b.max_hops = v as i16,
            _ => bad(ctx, "max_hops", value, "-1-255"),
        },
        "weight" => match parse_i64(value) {
            Some(v) if (-253..=253).contains(&v) => {
                b.weight = v as i32;
                b.weight_reverse = c.arg(1) == Some("reverse");
            }
            _ => bad(ctx, "weight", value, "-253-253"),
        },
        "passive" => b.passive = true,
        "vrrp" => b.vrrp = true,
        "checker" => b.checker = true,
        _ => ctx.unknown(c),
    }
}

/// Milliseconds with up to three decimals (microsecond resolution), as written in the file.
fn millis(d: Duration) -> String {
    let us = d.as_micros();
    let (ms, frac) = (us / 1000, us % 1000);
    if frac == 0 {
        ms.to_string()
    } else {
        format!("{ms}.{frac:03}").trim_end_matches('0').to_string()
    }
}

impl BfdConfig {
    /// The names of the configured instances.
    pub fn names(&self) -> Vec<&str> {
        self.instances.iter().map(|b| b.name.as_str()).collect()
    }

    /// Writes the canonical `bfd_instance` blocks.
    pub fn dump(&self, d: &mut Dumper) {
        for b in &self.instances {
            d.block(&["bfd_instance", b.name.as_str()], |d| {
                d.opt("neighbor_ip", &b.neighbor_ip);
                d.opt("source_ip", &b.source_ip);
                d.kv("min_rx", millis(b.min_rx));
                d.kv("min_tx", millis(b.min_tx));
                d.kv("idle_tx", millis(b.idle_tx));
                d.kv("multiplier", b.multiplier);
                d.flag("passive", b.passive);
                d.kv("ttl", b.ttl);
                d.kv("hoplimit", b.hoplimit);
                d.kv("max_hops", b.max_hops);
                if b.weight_reverse {
                    d.words(&["weight".to_string(), b.weight.to_string(), "reverse".into()]);
                } else {
                    d.kv("weight", b.weight);
                }
                d.flag("vrrp", b.vrrp);
                d.flag("checker", b.checker);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{load_str, LoadOptions, Loaded};
    use std::time::Duration;

    fn load(text: &str) -> Loaded {
        let opts = LoadOptions {
            skip_host_checks: true,
            ..Default::default()
        };
        load_str("t.conf", text, &opts)
    }

    #[test]
    fn a_bfd_instance_is_read_with_its_defaults() {
        // keepalived 2.2.7 -t: 0.
        let l = load("bfd_instance b1 {\n neighbor_ip 192.0.2.2\n source_ip 192.0.2.1\n min_rx 1.5\n multiplier 3\n weight -20 reverse\n passive\n}\n");
        assert_eq!(l.diagnostics.exit_code(), 0, "{:?}", l.diagnostics.items());
        let b = &l.config.bfd.instances[0];
        assert_eq!(b.min_rx, Duration::from_micros(1500));
        assert_eq!(b.min_tx, Duration::from_millis(10));
        assert_eq!(b.idle_tx, Duration::from_secs(1));
        assert_eq!((b.multiplier, b.ttl, b.hoplimit), (3, 255, 64));
        assert_eq!((b.weight, b.weight_reverse, b.passive), (-20, true, true));
    }

    #[test]
    fn bad_values_and_instances_are_reported() {
        // Each is exit 5 on keepalived 2.2.7 -t.
        for body in [
            " neighbor_ip 192.0.2.2\n min_rx 0",
            " neighbor_ip 192.0.2.2\n idle_tx 999",
            " neighbor_ip 192.0.2.2\n multiplier 256",
            " neighbor_ip 192.0.2.2\n ttl 0",
            " neighbor_ip 192.0.2.2\n max_hops 256",
            " neighbor_ip 192.0.2.2\n weight 254",
            " neighbor_ip abc",
            " neighbor_ip 192.0.2.2\n source_ip 2001:db8::1",
            "",
        ] {
            let l = load(&format!("bfd_instance b1 {{\n{body}\n}}\n"));
            assert_eq!(l.diagnostics.exit_code(), 5, "{body}");
        }
        let l = load("bfd_instance b1 {\n neighbor_ip 192.0.2.2\n}\nbfd_instance b2 {\n neighbor_ip 192.0.2.2\n}\n");
        assert_eq!(l.diagnostics.exit_code(), 5);
        assert_eq!(l.config.bfd.instances.len(), 1);
        // keepalived: 2 for a value-less interval.
        let l = load("bfd_instance b1 {\n neighbor_ip 192.0.2.2\n min_tx\n}\n");
        assert_eq!(l.diagnostics.exit_code(), 2);
    }

    #[test]
    fn bfd_check_finds_a_configured_instance() {
        let vs = "virtual_server 192.0.2.100 80 {\n lb_algo rr\n lb_kind NAT\n protocol TCP\n real_server 192.0.2.11 80 {\n  BFD_CHECK {\n   name b1\n  }\n }\n}\n";
        // keepalived: 5 "BFD b1 not configured" without the instance, 0 with it.
        assert_eq!(load(vs).diagnostics.exit_code(), 5);
        let l = load(&format!(
            "bfd_instance b1 {{\n neighbor_ip 192.0.2.2\n}}\n{vs}"
        ));
        assert_eq!(l.diagnostics.exit_code(), 0, "{:?}", l.diagnostics.items());
    }

    #[test]
    fn dump_is_a_fixed_point() {
        let l = load(
            "bfd_instance b1 {\n neighbour_ip 2001:db8::2\n min_tx 2.25\n weight 7\n vrrp\n}\n",
        );
        let text = l.config.dump();
        assert!(text.contains("min_tx 2.25"), "{text}");
        let again = load(&text);
        assert_eq!(again.config.dump(), text);
    }
}
