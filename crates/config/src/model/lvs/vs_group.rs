//! `virtual_server_group NAME { IP [PORT]; IP-RANGE [PORT]; fwmark N [inet|inet6] }`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::dump::Dumper;
use crate::tree::Node;

use super::super::values::parse_u64;
use super::super::{required, Ctx};
use super::{parse_family, parse_port, Family};
use crate::diag::Origin;

/// A `virtual_server_group` block.
#[derive(Debug, Clone, PartialEq)]
pub struct VsGroup {
    /// The group's name, referenced by `virtual_server group NAME`.
    pub name: String,
    /// Where the block starts.
    pub origin: Origin,
    /// The entries, in file order.
    pub entries: Vec<GroupEntry>,
}

/// One member of a virtual server group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupEntry {
    /// A range of consecutive addresses (one address when `first == last`) with a port (0 when
    /// none was given).
    Range {
        /// The first address.
        first: IpAddr,
        /// The last address (included); same family as `first`, never below it.
        last: IpAddr,
        /// The service port.
        port: u16,
    },
    /// A firewall mark, with the family to use when the group mixes families.
    Fwmark {
        /// The mark.
        mark: u32,
        /// `inet` / `inet6` when given.
        family: Option<Family>,
    },
}

impl VsGroup {
    /// The address families of the address entries (IPv4, IPv6).
    pub fn address_families(&self) -> (bool, bool) {
        let mut v4 = false;
        let mut v6 = false;
        for e in &self.entries {
            if let GroupEntry::Range { first, .. } = e {
                match first {
                    IpAddr::V4(_) => v4 = true,
                    IpAddr::V6(_) => v6 = true,
                }
            }
        }
        (v4, v6)
    }

    /// Writes the canonical block.
    pub fn dump(&self, d: &mut Dumper) {
        d.block(&["virtual_server_group", self.name.as_str()], |d| {
            for e in &self.entries {
                match *e {
                    GroupEntry::Range { first, last, port } => {
                        d.words(&[fmt_range(first, last), port.to_string()]);
                    }
                    GroupEntry::Fwmark { mark, family } => {
                        let mut w = vec!["fwmark".to_string(), mark.to_string()];
                        if let Some(f) = family {
                            w.push(f.name().to_string());
                        }
                        d.words(&w);
                    }
                }
            }
        });
    }
}

/// The canonical text of an address range: `A`, `A-LASTPART` or `A-B`.
pub fn fmt_range(first: IpAddr, last: IpAddr) -> String {
    if first == last {
        return first.to_string();
    }
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) if a.octets()[..3] == b.octets()[..3] => {
            format!("{a}-{}", b.octets()[3])
        }
        (IpAddr::V6(a), IpAddr::V6(b)) if a.segments()[..7] == b.segments()[..7] => {
            format!("{a}-{:x}", b.segments()[7])
        }
        _ => format!("{first}-{last}"),
    }
}

/// Parses `A`, `A-N` (last octet / hextet), `A-B` or `A/LEN` into the first and last address.
pub fn parse_range(s: &str) -> Option<(IpAddr, IpAddr)> {
    if let Some((a, len)) = s.split_once('/') {
        let addr: IpAddr = a.parse().ok()?;
        let len = parse_u64(len)?;
        return match addr {
            IpAddr::V4(v4) if len <= 32 => {
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                let n = u32::from(v4) & mask;
                Some((
                    IpAddr::V4(Ipv4Addr::from(n)),
                    IpAddr::V4(Ipv4Addr::from(n | !mask)),
                ))
            }
            IpAddr::V6(v6) if len <= 128 => {
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                let n = u128::from(v6) & mask;
                Some((
                    IpAddr::V6(Ipv6Addr::from(n)),
                    IpAddr::V6(Ipv6Addr::from(n | !mask)),
                ))
            }
            _ => None,
        };
    }
    let Some((a, b)) = s.split_once('-') else {
        let addr: IpAddr = s.parse().ok()?;
        return Some((addr, addr));
    };
    let first: IpAddr = a.parse().ok()?;
    let last = match b.parse::<IpAddr>() {
        Ok(l) => l,
        Err(_) => match first {
            IpAddr::V4(v4) => {
                let n = parse_u64(b).filter(|&n| n <= 255)?;
                let mut o = v4.octets();
                o[3] = n as u8;
                IpAddr::V4(Ipv4Addr::from(o))
            }
            IpAddr::V6(v6) => {
                if b.is_empty() || b.len() > 4 {
                    return None;
                }
                let n = u16::from_str_radix(b, 16).ok()?;
                let mut seg = v6.segments();
                seg[7] = n;
                IpAddr::V6(Ipv6Addr::from(seg))
            }
        },
    };
    let ordered = match (first, last) {
        (IpAddr::V4(x), IpAddr::V4(y)) => u32::from(x) <= u32::from(y),
        (IpAddr::V6(x), IpAddr::V6(y)) => u128::from(x) <= u128::from(y),
        _ => false,
    };
    ordered.then_some((first, last))
}

/// Reads a `virtual_server_group` block.
pub fn parse(ctx: &mut Ctx<'_>, node: &Node) -> Option<VsGroup> {
    let name = ctx.string(node)?;
    let mut g = VsGroup {
        name,
        origin: node.origin.clone(),
        entries: Vec::with_capacity(node.children().len()),
    };
    for c in node.children() {
        if ctx.missing_parameter(c, required::VIRTUAL_SERVER_GROUP) {
            continue;
        }
        if c.keyword() == "fwmark" {
            let Some(mark) = ctx.int_in(c, 0, 1u32, u32::MAX) else {
                continue;
            };
            let family = match c.arg(1) {
                Some(_) => parse_family(ctx, c, 1),
                None => None,
            };
            g.entries.push(GroupEntry::Fwmark { mark, family });
            continue;
        }
        if c.has_block() {
            ctx.unknown(c);
            continue;
        }
        let Some((first, last)) = parse_range(c.keyword()) else {
            ctx.warn(
                c,
                format!(
                    "invalid virtual server group address '{}' - skipping",
                    c.keyword()
                ),
            );
            continue;
        };
        // The word after the address is the port, which is optional.
        let port = match c.words.get(1) {
            Some(_) => match port_after_keyword(ctx, c) {
                Some(p) => p,
                None => continue,
            },
            None => 0,
        };
        g.entries.push(GroupEntry::Range { first, last, port });
    }
    Some(g)
}

/// The port given right after an address keyword (`10.0.0.1 80`).
fn port_after_keyword(ctx: &mut Ctx<'_>, c: &Node) -> Option<u16> {
    parse_port(ctx, c, 0)
}

/// Drops the groups keepalived refuses: IPv4 and IPv6 addresses together with a fwmark that
/// has no family.
pub fn validate(ctx: &mut Ctx<'_>, groups: &mut Vec<VsGroup>) {
    groups.retain(|g| {
        if g.entries.is_empty() {
            ctx.diags.warn(
                &g.origin,
                format!("virtual server group {} has no entries - removing", g.name),
            );
            return false;
        }
        let (v4, v6) = g.address_families();
        let bare_mark = g
            .entries
            .iter()
            .any(|e| matches!(e, GroupEntry::Fwmark { family: None, .. }));
        if v4 && v6 && bare_mark {
            ctx.diags.warn(
                &g.origin,
                format!(
                    "virtual server group {} mixes IPv4, IPv6 and a fwmark without family - removing",
                    g.name
                ),
            );
            return false;
        }
        true
    });
}
