//! Routes and policy rules (`virtual_routes`, `virtual_rules`, `static_routes`, `static_rules`).

use std::net::IpAddr;

use rtnetlink::packet_route::route::{RouteMessage, RouteProtocol, RouteScope, RouteType};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::RouteMessageBuilder;

use crate::{Error, Netif, Scope};

/// The type of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RouteKind {
    /// A normal route (the default).
    #[default]
    Unicast,
    /// `blackhole`: silently drop.
    Blackhole,
    /// `unreachable`: drop with ICMP unreachable.
    Unreachable,
    /// `prohibit`: drop with ICMP prohibited.
    Prohibit,
    /// `throw`: continue the rule lookup.
    Throw,
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Destination prefix.
    pub dst: IpAddr,
    /// Destination prefix length.
    pub dst_len: u8,
    /// `via`/`gw`: next hop.
    pub gateway: Option<IpAddr>,
    /// `dev`: output interface.
    pub ifindex: Option<u32>,
    /// `src`: preferred source address.
    pub src: Option<IpAddr>,
    /// `table` (default main, 254).
    pub table: Option<u32>,
    /// `metric`/`preference`.
    pub metric: Option<u32>,
    /// `scope`; the kernel default when unset.
    pub scope: Option<Scope>,
    /// The route type.
    pub kind: RouteKind,
    /// `protocol` number (keepalived marks its routes with `proto keepalived`, 18, when told).
    pub protocol: Option<u8>,
}

fn inval(e: impl std::fmt::Display) -> Error {
    Error::Protocol(e.to_string())
}

impl RouteSpec {
    /// A unicast route to `dst/len` with every option unset.
    pub fn new(dst: IpAddr, dst_len: u8) -> Self {
        RouteSpec {
            dst,
            dst_len,
            gateway: None,
            ifindex: None,
            src: None,
            table: None,
            metric: None,
            scope: None,
            kind: RouteKind::Unicast,
            protocol: None,
        }
    }

    fn to_message(&self) -> Result<RouteMessage, Error> {
        let mut b = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(self.dst, self.dst_len)
            .map_err(inval)?;
        if let Some(g) = self.gateway {
            b = b.gateway(g).map_err(inval)?;
        }
        if let Some(s) = self.src {
            b = b.pref_source(s).map_err(inval)?;
        }
        if let Some(i) = self.ifindex {
            b = b.output_interface(i);
        }
        if let Some(t) = self.table {
            b = b.table_id(t);
        }
        if let Some(m) = self.metric {
            b = b.priority(m);
        }
        if let Some(s) = self.scope {
            b = b.scope(match s {
                Scope::Global => RouteScope::Universe,
                Scope::Site => RouteScope::Site,
                Scope::Link => RouteScope::Link,
                Scope::Host => RouteScope::Host,
                Scope::Nowhere => RouteScope::NoWhere,
                Scope::Other(n) => RouteScope::Other(n),
            });
        }
        if let Some(p) = self.protocol {
            b = b.protocol(RouteProtocol::from(p));
        }
        b = b.kind(match self.kind {
            RouteKind::Unicast => RouteType::Unicast,
            RouteKind::Blackhole => RouteType::BlackHole,
            RouteKind::Unreachable => RouteType::Unreachable,
            RouteKind::Prohibit => RouteType::Prohibit,
            RouteKind::Throw => RouteType::Throw,
        });
        Ok(b.build())
    }
}

/// One policy-routing rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    /// True for an IPv6 rule.
    pub ipv6: bool,
    /// `from PREFIX`.
    pub from: Option<(IpAddr, u8)>,
    /// `to PREFIX`.
    pub to: Option<(IpAddr, u8)>,
    /// `table N` (lookup).
    pub table: Option<u32>,
    /// `priority`/`preference`.
    pub priority: Option<u32>,
    /// `fwmark MARK[/MASK]`.
    pub fwmark: Option<(u32, Option<u32>)>,
    /// `iif NAME`.
    pub iif: Option<String>,
    /// `oif NAME`.
    pub oif: Option<String>,
    /// The action; `ToTable` when a table is given.
    pub action: RuleActionKind,
}

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuleActionKind {
    /// Look up a table.
    #[default]
    Lookup,
    /// `blackhole`.
    Blackhole,
    /// `unreachable`.
    Unreachable,
    /// `prohibit`.
    Prohibit,
    /// `nop`.
    Nop,
}

impl RuleSpec {
    fn to_message(&self) -> RuleMessage {
        let mut m = RuleMessage::default();
        m.header.family = if self.ipv6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        m.header.action = match self.action {
            RuleActionKind::Lookup => RuleAction::ToTable,
            RuleActionKind::Blackhole => RuleAction::Blackhole,
            RuleActionKind::Unreachable => RuleAction::Unreachable,
            RuleActionKind::Prohibit => RuleAction::Prohibit,
            RuleActionKind::Nop => RuleAction::Nop,
        };
        if let Some((a, l)) = self.from {
            m.header.src_len = l;
            m.attributes.push(RuleAttribute::Source(a));
        }
        if let Some((a, l)) = self.to {
            m.header.dst_len = l;
            m.attributes.push(RuleAttribute::Destination(a));
        }
        if let Some(t) = self.table {
            m.header.table = u8::try_from(t).unwrap_or(252); // RT_TABLE_COMPAT: the real id is in the attribute
            m.attributes.push(RuleAttribute::Table(t));
        }
        if let Some(p) = self.priority {
            m.attributes.push(RuleAttribute::Priority(p));
        }
        if let Some((mark, mask)) = self.fwmark {
            m.attributes.push(RuleAttribute::FwMark(mark));
            if let Some(mask) = mask {
                m.attributes.push(RuleAttribute::FwMask(mask));
            }
        }
        if let Some(i) = &self.iif {
            m.attributes.push(RuleAttribute::Iifname(i.clone()));
        }
        if let Some(o) = &self.oif {
            m.attributes.push(RuleAttribute::Oifname(o.clone()));
        }
        m
    }
}

impl Netif {
    /// Adds a route. `Error::Exists` when an identical route is there.
    pub async fn add_route(&self, r: &RouteSpec) -> Result<(), Error> {
        self.handle
            .route()
            .add(r.to_message()?)
            .execute()
            .await
            .map_err(Error::from_rtnl)
    }

    /// Removes a route. `Error::NotFound` when it is not there.
    pub async fn del_route(&self, r: &RouteSpec) -> Result<(), Error> {
        self.handle
            .route()
            .del(r.to_message()?)
            .execute()
            .await
            .map_err(Error::from_rtnl)
    }

    /// Adds a rule.
    pub async fn add_rule(&self, r: &RuleSpec) -> Result<(), Error> {
        let mut req = self.handle.rule().add();
        *req.message_mut() = r.to_message();
        req.execute().await.map_err(Error::from_rtnl)
    }

    /// Removes a rule.
    pub async fn del_rule(&self, r: &RuleSpec) -> Result<(), Error> {
        self.handle
            .rule()
            .del(r.to_message())
            .execute()
            .await
            .map_err(Error::from_rtnl)
    }
}
