//! IP address, route and rule entries, as written in `static_ipaddress`, `virtual_ipaddress`,
//! `virtual_ipaddress_excluded`, `static_routes`, `virtual_routes`, `static_rules` and
//! `virtual_rules`.
//!
//! Each entry is one line of its list block, in the syntax of `ip address add`, `ip route add`
//! and `ip rule add` (full option names only), plus keepalived's own options (`no_track`,
//! `track_group`, `use_vmac`). An entry whose address cannot be read is dropped with a warning;
//! an unknown option is reported and skipped, the rest of the entry is kept.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use crate::tree::Node;

use super::values::parse_u64;
use super::Ctx;

/// An address with a prefix length (`10.0.0.1/24`, `fe80::1/64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    /// The address as written (host bits are kept).
    pub addr: IpAddr,
    /// The prefix length: 0..=32 for IPv4, 0..=128 for IPv6.
    pub len: u8,
}

impl IpPrefix {
    /// Parses `ADDR[/LEN]`; without a length the prefix is a host prefix (32 or 128).
    pub fn parse(s: &str) -> Option<IpPrefix> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr = IpAddr::from_str(a).ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            None => max,
            Some(l) => {
                let v = parse_u64(l)?;
                if v > u64::from(max) {
                    return None;
                }
                v as u8
            }
        };
        Some(IpPrefix { addr, len })
    }

    /// True for an IPv6 prefix.
    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }

    /// True when the length is the full host length.
    pub fn is_host(&self) -> bool {
        self.len == if self.addr.is_ipv4() { 32 } else { 128 }
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// An address scope (`scope` of `ip address` / `ip route`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `global` (0).
    Global,
    /// `site` (200).
    Site,
    /// `link` (253).
    Link,
    /// `host` (254).
    Host,
    /// `nowhere` (255).
    Nowhere,
    /// Any other numeric scope.
    Other(u8),
}

impl Scope {
    /// Parses a scope name or number.
    pub fn parse(s: &str) -> Option<Scope> {
        Some(match s {
            "global" | "universe" => Scope::Global,
            "site" => Scope::Site,
            "link" => Scope::Link,
            "host" => Scope::Host,
            "nowhere" => Scope::Nowhere,
            _ => Scope::from_number(u8::try_from(parse_u64(s)?).ok()?),
        })
    }

    /// The scope for a kernel scope number.
    pub fn from_number(n: u8) -> Scope {
        match n {
            0 => Scope::Global,
            200 => Scope::Site,
            253 => Scope::Link,
            254 => Scope::Host,
            255 => Scope::Nowhere,
            n => Scope::Other(n),
        }
    }

    /// The kernel's number for this scope.
    pub fn number(self) -> u8 {
        match self {
            Scope::Global => 0,
            Scope::Site => 200,
            Scope::Link => 253,
            Scope::Host => 254,
            Scope::Nowhere => 255,
            Scope::Other(n) => n,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Global => f.write_str("global"),
            Scope::Site => f.write_str("site"),
            Scope::Link => f.write_str("link"),
            Scope::Host => f.write_str("host"),
            Scope::Nowhere => f.write_str("nowhere"),
            Scope::Other(n) => write!(f, "{n}"),
        }
    }
}

/// The `brd` option of an IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broadcast {
    /// An explicit broadcast address.
    Addr(Ipv4Addr),
    /// `+`: the address with all host bits set.
    SetHostBits,
    /// `-`: the address with all host bits cleared.
    ClearHostBits,
}

impl fmt::Display for Broadcast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Broadcast::Addr(a) => write!(f, "{a}"),
            Broadcast::SetHostBits => f.write_str("+"),
            Broadcast::ClearHostBits => f.write_str("-"),
        }
    }
}

/// `preferred_lft` of an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// `forever`.
    Forever,
    /// A number of seconds (0 deprecates the address).
    Secs(u32),
}

impl fmt::Display for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lifetime::Forever => f.write_str("forever"),
            Lifetime::Secs(s) => write!(f, "{s}"),
        }
    }
}

/// One address entry (`ADDR[/LEN] [brd X] [dev IF] [scope S] [label L] ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpAddress {
    /// The address and its prefix (host prefix when none is written).
    pub prefix: IpPrefix,
    /// `brd`: IPv4 broadcast address.
    pub broadcast: Option<Broadcast>,
    /// `dev`: the interface; default the instance's interface (or `default_interface`).
    pub dev: Option<String>,
    /// `use_vmac`: put this address on a VMAC of `dev`, optionally named.
    pub use_vmac: Option<Option<String>>,
    /// `scope`.
    pub scope: Option<Scope>,
    /// `label`: the alias name (`eth0:1`).
    pub label: Option<String>,
    /// `peer`: the other end of a point-to-point address.
    pub peer: Option<IpPrefix>,
    /// `home` (IPv6 home address).
    pub home: bool,
    /// `-nodad`: skip duplicate address detection (IPv6).
    pub nodad: bool,
    /// `mngtmpaddr` (IPv6).
    pub mngtmpaddr: bool,
    /// `noprefixroute`: do not add the prefix route.
    pub noprefixroute: bool,
    /// `autojoin`: join the multicast group of a multicast address.
    pub autojoin: bool,
    /// `no_track`: deleting this address does not take the instance out of MASTER.
    pub no_track: bool,
    /// `track_group`: (static addresses) the static track group that tracks it.
    pub track_group: Option<String>,
    /// `preferred_lft`.
    pub preferred_lft: Option<Lifetime>,
}

impl IpAddress {
    /// An address entry with no options.
    pub fn new(prefix: IpPrefix) -> Self {
        IpAddress {
            prefix,
            broadcast: None,
            dev: None,
            use_vmac: None,
            scope: None,
            label: None,
            peer: None,
            home: false,
            nodad: false,
            mngtmpaddr: false,
            noprefixroute: false,
            autojoin: false,
            no_track: false,
            track_group: None,
            preferred_lft: None,
        }
    }

    /// The canonical words of this entry.
    pub fn to_words(&self) -> Vec<String> {
        let mut w = vec![self.prefix.to_string()];
        let mut kv = |k: &str, v: String| {
            w.push(k.to_string());
            w.push(v);
        };
        if let Some(b) = &self.broadcast {
            kv("brd", b.to_string());
        }
        if let Some(d) = &self.dev {
            kv("dev", d.clone());
        }
        if let Some(s) = self.scope {
            kv("scope", s.to_string());
        }
        if let Some(l) = &self.label {
            kv("label", l.clone());
        }
        if let Some(p) = &self.peer {
            kv("peer", p.to_string());
        }
        if let Some(t) = &self.track_group {
            kv("track_group", t.clone());
        }
        if let Some(l) = self.preferred_lft {
            kv("preferred_lft", l.to_string());
        }
        if let Some(v) = &self.use_vmac {
            w.push("use_vmac".to_string());
            if let Some(n) = v {
                w.push(n.clone());
            }
        }
        for (on, name) in [
            (self.home, "home"),
            (self.nodad, "-nodad"),
            (self.mngtmpaddr, "mngtmpaddr"),
            (self.noprefixroute, "noprefixroute"),
            (self.autojoin, "autojoin"),
            (self.no_track, "no_track"),
        ] {
            if on {
                w.push(name.to_string());
            }
        }
        w
    }
}

/// The words of a list item (the item is the keyword of its node).
fn item_words(node: &Node) -> Vec<&str> {
    node.words.iter().map(|w| w.text.as_str()).collect()
}

/// Reads one address entry. `allow_track_group` is true for static addresses.
pub fn parse_ip_address(
    ctx: &mut Ctx<'_>,
    node: &Node,
    allow_track_group: bool,
) -> Option<IpAddress> {
    let w = item_words(node);
    let first = *w.first()?;
    let Some(prefix) = IpPrefix::parse(first) else {
        ctx.warn(node, format!("Invalid ip address '{first}' - ignoring"));
        return None;
    };
    let mut a = IpAddress::new(prefix);
    let mut i = 1;
    while i < w.len() {
        let opt = w[i];
        let val = w.get(i + 1).copied();
        let mut takes = true;
        match opt {
            "brd" | "broadcast" => match val {
                Some("+") => a.broadcast = Some(Broadcast::SetHostBits),
                Some("-") => a.broadcast = Some(Broadcast::ClearHostBits),
                Some(v) => match Ipv4Addr::from_str(v) {
                    Ok(b) if prefix.addr.is_ipv4() => a.broadcast = Some(Broadcast::Addr(b)),
                    _ => ctx.warn(node, format!("Invalid broadcast address '{v}' - ignoring")),
                },
                None => missing(ctx, node, opt),
            },
            "dev" => match val {
                Some(v) => a.dev = Some(v.to_string()),
                None => missing(ctx, node, opt),
            },
            "scope" => match val.map(|v| (v, Scope::parse(v))) {
                Some((_, Some(s))) => a.scope = Some(s),
                Some((v, None)) => ctx.warn(node, format!("Invalid scope '{v}' - ignoring")),
                None => missing(ctx, node, opt),
            },
            "label" => match val {
                Some(v) if v.len() < 16 => a.label = Some(v.to_string()),
                Some(v) => ctx.warn(node, format!("label '{v}' is too long - ignoring")),
                None => missing(ctx, node, opt),
            },
            "peer" => match val.map(|v| (v, IpPrefix::parse(v))) {
                Some((_, Some(p))) if p.addr.is_ipv4() == prefix.addr.is_ipv4() => a.peer = Some(p),
                Some((v, _)) => ctx.warn(node, format!("Invalid peer address '{v}' - ignoring")),
                None => missing(ctx, node, opt),
            },
            "preferred_lft" => match val {
                Some("forever") => a.preferred_lft = Some(Lifetime::Forever),
                Some(v) => match parse_u64(v).and_then(|n| u32::try_from(n).ok()) {
                    Some(n) => a.preferred_lft = Some(Lifetime::Secs(n)),
                    None => ctx.warn(node, format!("Invalid preferred_lft '{v}' - ignoring")),
                },
                None => missing(ctx, node, opt),
            },
            "track_group" if allow_track_group => match val {
                Some(v) => a.track_group = Some(v.to_string()),
                None => missing(ctx, node, opt),
            },
            "use_vmac" if !allow_track_group => {
                // An optional name follows unless the next word is another option.
                match val {
                    Some(v) if !is_addr_option(v) => a.use_vmac = Some(Some(v.to_string())),
                    _ => {
                        a.use_vmac = Some(None);
                        takes = false;
                    }
                }
            }
            _ => {
                takes = false;
                match opt {
                    "home" => a.home = true,
                    "-nodad" | "nodad" => a.nodad = true,
                    "mngtmpaddr" => a.mngtmpaddr = true,
                    "noprefixroute" => a.noprefixroute = true,
                    "autojoin" => a.autojoin = true,
                    "no_track" => a.no_track = true,
                    _ => ctx.warn(
                        node,
                        format!("Unknown configuration entry '{opt}' for ip address - ignoring"),
                    ),
                }
            }
        }
        i += if takes { 2 } else { 1 };
    }
    Some(a)
}

fn is_addr_option(s: &str) -> bool {
    matches!(
        s,
        "brd"
            | "broadcast"
            | "dev"
            | "scope"
            | "label"
            | "peer"
            | "preferred_lft"
            | "track_group"
            | "use_vmac"
            | "home"
            | "-nodad"
            | "nodad"
            | "mngtmpaddr"
            | "noprefixroute"
            | "autojoin"
            | "no_track"
    )
}

fn missing(ctx: &mut Ctx<'_>, node: &Node, opt: &str) {
    ctx.warn(node, format!("'{opt}' requires a value - ignoring"));
}

/// A routing table: a number or a name from `/etc/iproute2/rt_tables`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTable {
    /// A numeric table id (`main` is 254, `local` 255, `default` 253).
    Id(u32),
    /// A table name to look up on the host.
    Name(String),
}

impl RouteTable {
    /// Parses a table id or name.
    pub fn parse(s: &str) -> Option<RouteTable> {
        Some(match s {
            "main" => RouteTable::Id(254),
            "local" => RouteTable::Id(255),
            "default" => RouteTable::Id(253),
            _ => match parse_u64(s) {
                Some(n) => RouteTable::Id(u32::try_from(n).ok()?),
                None if !s.is_empty() && !s.starts_with('-') => RouteTable::Name(s.to_string()),
                None => return None,
            },
        })
    }
}

impl fmt::Display for RouteTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteTable::Id(n) => write!(f, "{n}"),
            RouteTable::Name(s) => f.write_str(s),
        }
    }
}

/// The type of a route (`ip route add TYPE PREFIX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteType {
    /// An ordinary route (the default).
    Unicast,
    /// `blackhole`.
    Blackhole,
    /// `unreachable`.
    Unreachable,
    /// `prohibit`.
    Prohibit,
    /// `throw`.
    Throw,
    /// `local`.
    Local,
    /// `broadcast`.
    Broadcast,
    /// `multicast`.
    Multicast,
    /// `anycast`.
    Anycast,
    /// `nat`.
    Nat,
}

const ROUTE_TYPES: &[(&str, RouteType)] = &[
    ("unicast", RouteType::Unicast),
    ("blackhole", RouteType::Blackhole),
    ("unreachable", RouteType::Unreachable),
    ("prohibit", RouteType::Prohibit),
    ("throw", RouteType::Throw),
    ("local", RouteType::Local),
    ("broadcast", RouteType::Broadcast),
    ("multicast", RouteType::Multicast),
    ("anycast", RouteType::Anycast),
    ("nat", RouteType::Nat),
];

impl RouteType {
    fn name(self) -> &'static str {
        ROUTE_TYPES
            .iter()
            .find(|(_, t)| *t == self)
            .map(|(n, _)| *n)
            .unwrap_or("unicast")
    }
}

/// A route metric that takes a number (`mtu 1400`, `ssthresh lock 107`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteMetric {
    /// The metric.
    pub kind: MetricKind,
    /// Its value.
    pub value: u32,
    /// `lock`: the kernel may not change it.
    pub lock: bool,
}

/// The numeric route metrics keepalived accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// `mtu`.
    Mtu,
    /// `hoplimit`.
    Hoplimit,
    /// `advmss`.
    Advmss,
    /// `rtt` (ms).
    Rtt,
    /// `rttvar` (ms).
    Rttvar,
    /// `reordering`.
    Reordering,
    /// `window`.
    Window,
    /// `cwnd`.
    Cwnd,
    /// `ssthresh`.
    Ssthresh,
    /// `rto_min` (ms).
    RtoMin,
    /// `initcwnd`.
    Initcwnd,
    /// `initrwnd`.
    Initrwnd,
    /// `quickack`.
    Quickack,
    /// `fastopen_no_cookie`.
    FastopenNoCookie,
}

const METRICS: &[(&str, MetricKind)] = &[
    ("mtu", MetricKind::Mtu),
    ("hoplimit", MetricKind::Hoplimit),
    ("advmss", MetricKind::Advmss),
    ("rtt", MetricKind::Rtt),
    ("rttvar", MetricKind::Rttvar),
    ("reordering", MetricKind::Reordering),
    ("window", MetricKind::Window),
    ("cwnd", MetricKind::Cwnd),
    ("ssthresh", MetricKind::Ssthresh),
    ("rto_min", MetricKind::RtoMin),
    ("initcwnd", MetricKind::Initcwnd),
    ("initrwnd", MetricKind::Initrwnd),
    ("quickack", MetricKind::Quickack),
    ("fastopen_no_cookie", MetricKind::FastopenNoCookie),
];

/// One `nexthop` of a multipath route.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Nexthop {
    /// `via`.
    pub via: Option<IpAddr>,
    /// `dev`.
    pub dev: Option<String>,
    /// `weight` (1..=256).
    pub weight: Option<u16>,
    /// `onlink`.
    pub onlink: bool,
    /// `realms`.
    pub realms: Option<String>,
}

/// One route entry (`[TYPE] [src X] [from P] [to] PREFIX [via|gw GW] [or GW2] [dev IF] ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The route type (`blackhole`, ...), default unicast.
    pub kind: RouteType,
    /// The destination.
    pub dst: IpPrefix,
    /// `src`: the preferred source address.
    pub src: Option<IpAddr>,
    /// `from`: the source prefix (IPv6 source routing).
    pub from: Option<IpPrefix>,
    /// `via` / `gw`: the gateway.
    pub via: Option<IpAddr>,
    /// `or`: an alternative gateway (IPv4).
    pub or: Option<IpAddr>,
    /// `dev`.
    pub dev: Option<String>,
    /// `table`.
    pub table: Option<RouteTable>,
    /// `metric` / `priority` / `preference`.
    pub metric: Option<u32>,
    /// `tos` / `dsfield`.
    pub tos: Option<u8>,
    /// `protocol`: a number or an rt_protos name.
    pub protocol: Option<String>,
    /// `scope`.
    pub scope: Option<Scope>,
    /// `realms`.
    pub realms: Option<String>,
    /// `vrf`.
    pub vrf: Option<String>,
    /// `pref` (IPv6 router preference: low, medium, high).
    pub pref: Option<String>,
    /// `expires` (seconds, IPv6).
    pub expires: Option<u32>,
    /// Numeric metrics (`mtu`, `advmss`, ...), in the order written.
    pub metrics: Vec<RouteMetric>,
    /// `features ecn`.
    pub features_ecn: bool,
    /// `congctl [lock] NAME`.
    pub congctl: Option<(bool, String)>,
    /// `nexthop ...` groups of a multipath route.
    pub nexthops: Vec<Nexthop>,
    /// `onlink`.
    pub onlink: bool,
    /// `append`: add after matching routes instead of before.
    pub append: bool,
    /// `inet6`: force IPv6 when the family is ambiguous.
    pub inet6: bool,
    /// `no_track`.
    pub no_track: bool,
    /// `track_group` (static routes).
    pub track_group: Option<String>,
}

impl Route {
    fn new(dst: IpPrefix) -> Self {
        Route {
            kind: RouteType::Unicast,
            dst,
            src: None,
            from: None,
            via: None,
            or: None,
            dev: None,
            table: None,
            metric: None,
            tos: None,
            protocol: None,
            scope: None,
            realms: None,
            vrf: None,
            pref: None,
            expires: None,
            metrics: Vec::new(),
            features_ecn: false,
            congctl: None,
            nexthops: Vec::new(),
            onlink: false,
            append: false,
            inet6: false,
            no_track: false,
            track_group: None,
        }
    }

    /// The canonical words of this entry.
    pub fn to_words(&self) -> Vec<String> {
        let mut w: Vec<String> = Vec::new();
        if self.kind != RouteType::Unicast {
            w.push(self.kind.name().to_string());
        }
        let kv = |w: &mut Vec<String>, k: &str, v: String| {
            w.push(k.to_string());
            w.push(v);
        };
        if let Some(s) = self.src {
            kv(&mut w, "src", s.to_string());
        }
        if let Some(f) = self.from {
            kv(&mut w, "from", f.to_string());
        }
        w.push(self.dst.to_string());
        if let Some(v) = self.via {
            kv(&mut w, "via", v.to_string());
        }
        if let Some(v) = self.or {
            kv(&mut w, "or", v.to_string());
        }
        if let Some(v) = &self.dev {
            kv(&mut w, "dev", v.clone());
        }
        if let Some(v) = &self.table {
            kv(&mut w, "table", v.to_string());
        }
        if let Some(v) = self.metric {
            kv(&mut w, "metric", v.to_string());
        }
        if let Some(v) = self.tos {
            kv(&mut w, "tos", v.to_string());
        }
        if let Some(v) = &self.protocol {
            kv(&mut w, "protocol", v.clone());
        }
        if let Some(v) = self.scope {
            kv(&mut w, "scope", v.to_string());
        }
        if let Some(v) = &self.realms {
            kv(&mut w, "realms", v.clone());
        }
        if let Some(v) = &self.vrf {
            kv(&mut w, "vrf", v.clone());
        }
        if let Some(v) = &self.pref {
            kv(&mut w, "pref", v.clone());
        }
        if let Some(v) = self.expires {
            kv(&mut w, "expires", v.to_string());
        }
        for m in &self.metrics {
            let name = METRICS
                .iter()
                .find(|(_, k)| *k == m.kind)
                .map(|(n, _)| *n)
                .unwrap_or("mtu");
            w.push(name.to_string());
            if m.lock {
                w.push("lock".to_string());
            }
            w.push(m.value.to_string());
        }
        if self.features_ecn {
            kv(&mut w, "features", "ecn".to_string());
        }
        if let Some((lock, name)) = &self.congctl {
            w.push("congctl".to_string());
            if *lock {
                w.push("lock".to_string());
            }
            w.push(name.clone());
        }
        if let Some(t) = &self.track_group {
            kv(&mut w, "track_group", t.clone());
        }
        for (on, name) in [
            (self.onlink, "onlink"),
            (self.append, "append"),
            (self.inet6, "inet6"),
            (self.no_track, "no_track"),
        ] {
            if on {
                w.push(name.to_string());
            }
        }
        for nh in &self.nexthops {
            w.push("nexthop".to_string());
            if let Some(v) = nh.via {
                kv(&mut w, "via", v.to_string());
            }
            if let Some(v) = &nh.dev {
                kv(&mut w, "dev", v.clone());
            }
            if let Some(v) = nh.weight {
                kv(&mut w, "weight", v.to_string());
            }
            if let Some(v) = &nh.realms {
                kv(&mut w, "realms", v.clone());
            }
            if nh.onlink {
                w.push("onlink".to_string());
            }
        }
        w
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// Reads one route entry. `allow_track_group` is true for static routes.
pub fn parse_route(ctx: &mut Ctx<'_>, node: &Node, allow_track_group: bool) -> Option<Route> {
    let w = item_words(node);
    let mut i = 0;
    let mut kind = RouteType::Unicast;
    if let Some((_, t)) = w
        .first()
        .and_then(|f| ROUTE_TYPES.iter().find(|(n, _)| n == f))
    {
        kind = *t;
        i = 1;
    }
    // The destination is the first word that is not an option; `src`/`from` may precede it.
    let mut r: Option<Route> = None;
    let mut pre_src: Option<IpAddr> = None;
    let mut pre_from: Option<IpPrefix> = None;
    let mut in_nexthop = false;
    while i < w.len() {
        let opt = w[i];
        let val = w.get(i + 1).copied();
        let Some(route) = r.as_mut() else {
            match opt {
                "src" | "from" => {
                    let Some(v) = val else {
                        missing(ctx, node, opt);
                        return None;
                    };
                    if opt == "src" {
                        match IpAddr::from_str(v) {
                            Ok(a) => pre_src = Some(a),
                            Err(_) => {
                                ctx.warn(node, format!("Invalid route source address '{v}'"));
                                return None;
                            }
                        }
                    } else {
                        match IpPrefix::parse(v) {
                            Some(p) => pre_from = Some(p),
                            None => {
                                ctx.warn(node, format!("Invalid route from address '{v}'"));
                                return None;
                            }
                        }
                    }
                    i += 2;
                }
                "to" => i += 1,
                "default" => {
                    let v6 = w.contains(&"inet6");
                    let addr = if v6 {
                        IpAddr::from_str("::").ok()?
                    } else {
                        IpAddr::from(Ipv4Addr::UNSPECIFIED)
                    };
                    r = Some(Route::new(IpPrefix { addr, len: 0 }));
                    i += 1;
                }
                _ => match IpPrefix::parse(opt) {
                    Some(p) => {
                        r = Some(Route::new(p));
                        i += 1;
                    }
                    None => {
                        ctx.warn(
                            node,
                            format!("Invalid route destination '{opt}' - ignoring"),
                        );
                        return None;
                    }
                },
            }
            continue;
        };
        let fam = route.dst.addr;
        let mut takes = true;
        if in_nexthop {
            let nh = route.nexthops.last_mut();
            match (opt, nh) {
                ("via" | "gw", Some(nh)) => match val.map(IpAddr::from_str) {
                    Some(Ok(a)) => nh.via = Some(a),
                    _ => ctx.warn(node, "Invalid nexthop gateway in route"),
                },
                ("dev", Some(nh)) => nh.dev = val.map(str::to_string),
                ("weight", Some(nh)) => match val.and_then(parse_u64) {
                    Some(n @ 1..=256) => nh.weight = Some(n as u16),
                    _ => ctx.warn(node, "Invalid nexthop weight in route"),
                },
                ("realms", Some(nh)) => nh.realms = val.map(str::to_string),
                ("onlink", Some(nh)) => {
                    nh.onlink = true;
                    takes = false;
                }
                ("nexthop", _) => {
                    route.nexthops.push(Nexthop::default());
                    takes = false;
                }
                _ => {
                    ctx.warn(node, format!("Unknown nexthop option '{opt}' - ignoring"));
                    takes = false;
                }
            }
            i += if takes && val.is_some() { 2 } else { 1 };
            continue;
        }
        if opt == "gw" {
            ctx.warn(node, "\"gw\" for routes is deprecated. Please use \"via\"");
        }
        match opt {
            "via" | "gw" | "or" => match val.map(IpAddr::from_str) {
                Some(Ok(a)) if same_family(a, fam) || opt != "or" => {
                    if opt == "or" {
                        route.or = Some(a)
                    } else {
                        route.via = Some(a)
                    }
                }
                Some(_) => ctx.warn(node, format!("Invalid {opt} address in route")),
                None => missing(ctx, node, opt),
            },
            "src" => match val.map(IpAddr::from_str) {
                Some(Ok(a)) => route.src = Some(a),
                Some(_) => ctx.warn(node, "Invalid route source address"),
                None => missing(ctx, node, opt),
            },
            "from" => match val.and_then(IpPrefix::parse) {
                Some(p) => route.from = Some(p),
                None => ctx.warn(node, "Invalid route from address"),
            },
            "dev" | "oif" => match val {
                Some(v) => route.dev = Some(v.to_string()),
                None => missing(ctx, node, opt),
            },
            "table" => match val.and_then(RouteTable::parse) {
                Some(t) => route.table = Some(t),
                None => ctx.warn(node, "Invalid route table"),
            },
            "metric" | "priority" | "preference" => {
                match val.and_then(parse_u64).and_then(|n| u32::try_from(n).ok()) {
                    Some(n) => route.metric = Some(n),
                    None => ctx.warn(node, format!("Invalid {opt} in route")),
                }
            }
            "tos" | "dsfield" => match val.and_then(parse_u8_any) {
                Some(n) => route.tos = Some(n),
                None => ctx.warn(node, "Invalid tos in route"),
            },
            "protocol" | "proto" => match val {
                Some(v) => route.protocol = Some(v.to_string()),
                None => missing(ctx, node, opt),
            },
            "scope" => match val.and_then(Scope::parse) {
                Some(s) => route.scope = Some(s),
                None => ctx.warn(node, "Invalid scope in route"),
            },
            "realms" | "realm" => match val {
                Some(v) => route.realms = Some(v.to_string()),
                None => missing(ctx, node, opt),
            },
            "vrf" => match val {
                Some(v) => route.vrf = Some(v.to_string()),
                None => missing(ctx, node, opt),
            },
            "pref" => match val {
                Some(v @ ("low" | "medium" | "high")) => route.pref = Some(v.to_string()),
                _ => ctx.warn(node, "Invalid pref in route"),
            },
            "expires" => match val.and_then(parse_u64).and_then(|n| u32::try_from(n).ok()) {
                Some(n) => route.expires = Some(n),
                None => ctx.warn(node, "Invalid expires in route"),
            },
            "features" => match val {
                Some("ecn") => route.features_ecn = true,
                _ => ctx.warn(node, "Invalid features in route"),
            },
            "congctl" => {
                let lock = val == Some("lock");
                let name = if lock { w.get(i + 2).copied() } else { val };
                match name {
                    Some(n) => route.congctl = Some((lock, n.to_string())),
                    None => missing(ctx, node, opt),
                }
                if lock {
                    i += 1;
                }
            }
            "track_group" if allow_track_group => match val {
                Some(v) => route.track_group = Some(v.to_string()),
                None => missing(ctx, node, opt),
            },
            "nexthop" => {
                in_nexthop = true;
                route.nexthops.push(Nexthop::default());
                takes = false;
            }
            _ => {
                if let Some((_, kind)) = METRICS.iter().find(|(n, _)| *n == opt) {
                    let lock = val == Some("lock");
                    let v = if lock { w.get(i + 2).copied() } else { val };
                    match v.and_then(parse_u64).and_then(|n| u32::try_from(n).ok()) {
                        Some(value) => route.metrics.push(RouteMetric {
                            kind: *kind,
                            value,
                            lock,
                        }),
                        None => ctx.warn(node, format!("Invalid {opt} in route")),
                    }
                    if lock {
                        i += 1;
                    }
                } else {
                    takes = false;
                    match opt {
                        "onlink" => route.onlink = true,
                        "append" => route.append = true,
                        "inet6" => route.inet6 = true,
                        "inet" => {}
                        "no_track" => route.no_track = true,
                        _ => ctx.warn(node, format!("Unknown route option '{opt}' - ignoring")),
                    }
                }
            }
        }
        i += if takes { 2 } else { 1 };
    }
    let Some(mut route) = r else {
        ctx.warn(node, "Route has no destination - ignoring");
        return None;
    };
    route.kind = kind;
    if route.src.is_none() {
        route.src = pre_src;
    }
    if route.from.is_none() {
        route.from = pre_from;
    }
    if let Some(v) = route.via {
        if !same_family(v, route.dst.addr) {
            ctx.warn(
                node,
                "Route gateway and destination address families differ - ignoring",
            );
            return None;
        }
    }
    Some(route)
}

fn parse_u8_any(s: &str) -> Option<u8> {
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None => parse_u64(s)?,
    };
    u8::try_from(v).ok()
}

fn parse_u32_any(s: &str) -> Option<u32> {
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None => parse_u64(s)?,
    };
    u32::try_from(v).ok()
}

/// The action of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleAction {
    /// `table N` / `lookup N`.
    Table(RouteTable),
    /// `goto PREF`.
    Goto(u32),
    /// `nop`.
    Nop,
    /// `blackhole`.
    Blackhole,
    /// `unreachable`.
    Unreachable,
    /// `prohibit`.
    Prohibit,
}

/// An inclusive range (`uidrange 1000-1999`, `sport 10-20`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First value.
    pub start: u32,
    /// Last value.
    pub end: u32,
}

impl Range {
    fn parse(s: &str, max: u32) -> Option<Range> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let start = u32::try_from(parse_u64(a)?).ok()?;
        let end = u32::try_from(parse_u64(b)?).ok()?;
        (start <= end && end <= max).then_some(Range { start, end })
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// One rule entry (`[from P] [to P] [iif IF] ... table N|goto N|...`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rule {
    /// `not`: invert the match.
    pub invert: bool,
    /// `from`.
    pub from: Option<IpPrefix>,
    /// `to`.
    pub to: Option<IpPrefix>,
    /// `iif`.
    pub iif: Option<String>,
    /// `oif`.
    pub oif: Option<String>,
    /// `tos` / `dsfield`.
    pub tos: Option<u8>,
    /// `fwmark VALUE[/MASK]`.
    pub fwmark: Option<(u32, Option<u32>)>,
    /// `preference` / `priority` / `order`.
    pub preference: Option<u32>,
    /// `realms`.
    pub realms: Option<String>,
    /// `suppress_prefixlength`.
    pub suppress_prefixlength: Option<u32>,
    /// `suppress_ifgroup`.
    pub suppress_ifgroup: Option<u32>,
    /// `uidrange`.
    pub uidrange: Option<Range>,
    /// `l3mdev`.
    pub l3mdev: bool,
    /// `protocol`.
    pub protocol: Option<u8>,
    /// `ip_proto` (a number or tcp, udp, sctp, icmp, ...).
    pub ip_proto: Option<String>,
    /// `sport`.
    pub sport: Option<Range>,
    /// `dport`.
    pub dport: Option<Range>,
    /// `tun_id`.
    pub tun_id: Option<u64>,
    /// What the rule does.
    pub action: Option<RuleAction>,
    /// `inet6`.
    pub inet6: bool,
    /// `no_track`.
    pub no_track: bool,
    /// `track_group` (static rules).
    pub track_group: Option<String>,
}

impl Rule {
    /// True when this rule is for IPv6.
    pub fn is_ipv6(&self) -> bool {
        self.inet6 || self.from.is_some_and(|p| p.is_ipv6()) || self.to.is_some_and(|p| p.is_ipv6())
    }

    /// The canonical words of this entry.
    pub fn to_words(&self) -> Vec<String> {
        let mut w: Vec<String> = Vec::new();
        let kv = |w: &mut Vec<String>, k: &str, v: String| {
            w.push(k.to_string());
            w.push(v);
        };
        if self.invert {
            w.push("not".to_string());
        }
        if let Some(v) = self.from {
            kv(&mut w, "from", v.to_string());
        }
        if let Some(v) = self.to {
            kv(&mut w, "to", v.to_string());
        }
        if let Some(v) = &self.iif {
            kv(&mut w, "iif", v.clone());
        }
        if let Some(v) = &self.oif {
            kv(&mut w, "oif", v.clone());
        }
        if let Some(v) = self.tos {
            kv(&mut w, "tos", v.to_string());
        }
        if let Some((v, m)) = self.fwmark {
            let s = match m {
                Some(m) => format!("{v:#x}/{m:#x}"),
                None => format!("{v:#x}"),
            };
            kv(&mut w, "fwmark", s);
        }
        if let Some(v) = self.preference {
            kv(&mut w, "preference", v.to_string());
        }
        if let Some(v) = &self.realms {
            kv(&mut w, "realms", v.clone());
        }
        if let Some(v) = self.suppress_prefixlength {
            kv(&mut w, "suppress_prefixlength", v.to_string());
        }
        if let Some(v) = self.suppress_ifgroup {
            kv(&mut w, "suppress_ifgroup", v.to_string());
        }
        if let Some(v) = self.uidrange {
            kv(&mut w, "uidrange", format!("{}-{}", v.start, v.end));
        }
        if let Some(v) = self.protocol {
            kv(&mut w, "protocol", v.to_string());
        }
        if let Some(v) = &self.ip_proto {
            kv(&mut w, "ip_proto", v.clone());
        }
        if let Some(v) = self.sport {
            kv(&mut w, "sport", v.to_string());
        }
        if let Some(v) = self.dport {
            kv(&mut w, "dport", v.to_string());
        }
        if let Some(v) = self.tun_id {
            kv(&mut w, "tun_id", v.to_string());
        }
        match &self.action {
            Some(RuleAction::Table(t)) => kv(&mut w, "table", t.to_string()),
            Some(RuleAction::Goto(g)) => kv(&mut w, "goto", g.to_string()),
            Some(RuleAction::Nop) => w.push("nop".to_string()),
            Some(RuleAction::Blackhole) => w.push("blackhole".to_string()),
            Some(RuleAction::Unreachable) => w.push("unreachable".to_string()),
            Some(RuleAction::Prohibit) => w.push("prohibit".to_string()),
            None => {}
        }
        if let Some(v) = &self.track_group {
            kv(&mut w, "track_group", v.clone());
        }
        for (on, name) in [
            (self.l3mdev, "l3mdev"),
            (self.inet6, "inet6"),
            (self.no_track, "no_track"),
        ] {
            if on {
                w.push(name.to_string());
            }
        }
        w
    }
}

/// Reads one rule entry. `allow_track_group` is true for static rules.
pub fn parse_rule(ctx: &mut Ctx<'_>, node: &Node, allow_track_group: bool) -> Option<Rule> {
    let w = item_words(node);
    let mut r = Rule::default();
    let mut i = 0;
    while i < w.len() {
        let opt = w[i];
        let val = w.get(i + 1).copied();
        let mut takes = true;
        let mut bad = false;
        match opt {
            "from" | "to" => {
                match val.and_then(|v| if v == "all" { None } else { IpPrefix::parse(v) }) {
                    Some(p) => {
                        if opt == "from" {
                            r.from = Some(p)
                        } else {
                            r.to = Some(p)
                        }
                    }
                    None if val == Some("all") => {}
                    None => {
                        let v = val.unwrap_or("");
                        ctx.warn(node, format!("Invalid rule {opt} address {v}"));
                        ctx.warn(node, format!("VRRP parsed invalid IP {v}. skipping IP..."));
                        return None;
                    }
                }
            }
            "iif" | "dev" => r.iif = val.map(str::to_string),
            "oif" => r.oif = val.map(str::to_string),
            "tos" | "dsfield" => match val.and_then(parse_u8_any) {
                Some(v) => r.tos = Some(v),
                None => bad = true,
            },
            "fwmark" => {
                let parsed = val.and_then(|v| match v.split_once('/') {
                    Some((a, m)) => Some((parse_u32_any(a)?, Some(parse_u32_any(m)?))),
                    None => Some((parse_u32_any(v)?, None)),
                });
                match parsed {
                    Some(f) => r.fwmark = Some(f),
                    None => bad = true,
                }
            }
            "preference" | "priority" | "order" | "pref" => {
                match val.and_then(parse_u64).and_then(|n| u32::try_from(n).ok()) {
                    Some(v) => r.preference = Some(v),
                    None => bad = true,
                }
            }
            "realms" | "realm" => r.realms = val.map(str::to_string),
            "suppress_prefixlength" | "sup_pl" => {
                match val.and_then(parse_u64).and_then(|n| u32::try_from(n).ok()) {
                    Some(v) => r.suppress_prefixlength = Some(v),
                    None => bad = true,
                }
            }
            "suppress_ifgroup" | "sup_group" => {
                match val.and_then(parse_u64).and_then(|n| u32::try_from(n).ok()) {
                    Some(v) => r.suppress_ifgroup = Some(v),
                    None => bad = true,
                }
            }
            "uidrange" => match val.and_then(|v| Range::parse(v, u32::MAX)) {
                Some(v) => r.uidrange = Some(v),
                None => bad = true,
            },
            "protocol" => match val.and_then(parse_u8_any) {
                Some(v) => r.protocol = Some(v),
                None => bad = true,
            },
            "ip_proto" | "ipproto" => match val {
                Some(v) => r.ip_proto = Some(v.to_ascii_lowercase()),
                None => bad = true,
            },
            "sport" | "dport" => match val.and_then(|v| Range::parse(v, 65535)) {
                Some(v) => {
                    if opt == "sport" {
                        r.sport = Some(v)
                    } else {
                        r.dport = Some(v)
                    }
                }
                None => bad = true,
            },
            "tun_id" => match val.and_then(parse_u64) {
                Some(v) => r.tun_id = Some(v),
                None => bad = true,
            },
            "table" | "lookup" => match val.and_then(RouteTable::parse) {
                Some(t) => r.action = Some(RuleAction::Table(t)),
                None => bad = true,
            },
            "goto" => match val.and_then(parse_u64).and_then(|n| u32::try_from(n).ok()) {
                Some(g) => r.action = Some(RuleAction::Goto(g)),
                None => bad = true,
            },
            "track_group" if allow_track_group => r.track_group = val.map(str::to_string),
            _ => {
                takes = false;
                match opt {
                    "not" => r.invert = true,
                    "l3mdev" => r.l3mdev = true,
                    "inet6" => r.inet6 = true,
                    "inet" => {}
                    "no_track" => r.no_track = true,
                    "nop" => r.action = Some(RuleAction::Nop),
                    "blackhole" => r.action = Some(RuleAction::Blackhole),
                    "unreachable" => r.action = Some(RuleAction::Unreachable),
                    "prohibit" => r.action = Some(RuleAction::Prohibit),
                    _ => ctx.warn(node, format!("Unknown rule option '{opt}' - ignoring")),
                }
            }
        }
        if takes && val.is_none() {
            missing(ctx, node, opt);
        } else if bad {
            ctx.warn(
                node,
                format!("Invalid rule {opt} '{}' - ignoring", val.unwrap_or("")),
            );
        }
        i += if takes { 2 } else { 1 };
    }
    if let (Some(f), Some(t)) = (r.from, r.to) {
        if f.is_ipv6() != t.is_ipv6() {
            ctx.warn(node, "Rule from and to address families differ - ignoring");
            return None;
        }
    }
    if r.action.is_none() && !r.l3mdev {
        ctx.warn(node, "Rule has no action (table, goto, ...) - ignoring");
        return None;
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Diagnostics;
    use crate::tree::build;
    use crate::{preprocess::Line, LoadOptions, Origin};

    fn node(text: &str) -> Node {
        let mut d = Diagnostics::default();
        let lines = vec![Line {
            origin: Origin::new("t", 1),
            text: text.to_string(),
        }];
        build(&lines, &mut d).remove(0)
    }

    fn with_ctx<T>(f: impl FnOnce(&mut Ctx<'_>) -> T) -> (T, Diagnostics) {
        let mut d = Diagnostics::default();
        let o = LoadOptions::default();
        let mut ctx = Ctx::new(&mut d, &o);
        let r = f(&mut ctx);
        (r, d)
    }

    #[test]
    fn addresses_with_options() {
        let n = node("192.168.200.18/24 dev eth2 label eth2:1 brd + scope link no_track -nodad");
        let (a, d) = with_ctx(|c| parse_ip_address(c, &n, false));
        assert!(d.is_clean(), "{d:?}");
        let a = a.expect("address");
        assert_eq!(a.prefix.len, 24);
        assert_eq!(a.dev.as_deref(), Some("eth2"));
        assert_eq!(a.broadcast, Some(Broadcast::SetHostBits));
        assert_eq!(a.scope, Some(Scope::Link));
        assert!(a.no_track && a.nodad);
        let again = node(&a.to_words().join(" "));
        let (b, _) = with_ctx(|c| parse_ip_address(c, &again, false));
        assert_eq!(b, Some(a));
    }

    #[test]
    fn address_errors() {
        let (a, d) = with_ctx(|c| parse_ip_address(c, &node("10.0.0.300"), false));
        assert!(a.is_none());
        assert_eq!(d.exit_code(), 5);
        let (a, d) = with_ctx(|c| parse_ip_address(c, &node("10.0.0.2 foo"), false));
        assert_eq!(a.map(|a| a.prefix.len), Some(32));
        assert!(d.items()[0].message.contains("'foo'"));
    }

    #[test]
    fn routes() {
        let n = node(
            "src 192.168.100.1 to 192.168.109.0/24 via 192.168.200.254 or 192.168.100.254 dev eth1 \
             table 100 mtu 1000 ssthresh lock 107 features ecn nexthop via 10.0.0.1 weight 2 onlink",
        );
        let (r, d) = with_ctx(|c| parse_route(c, &n, false));
        assert!(d.is_clean(), "{d:?}");
        let r = r.expect("route");
        assert_eq!(r.dst.len, 24);
        assert_eq!(r.table, Some(RouteTable::Id(100)));
        assert_eq!(r.metrics.len(), 2);
        assert!(r.metrics[1].lock);
        assert_eq!(r.nexthops.len(), 1);
        assert!(r.nexthops[0].onlink);
        let again = node(&r.to_words().join(" "));
        let (b, _) = with_ctx(|c| parse_route(c, &again, false));
        assert_eq!(b, Some(r));
        let (r, _) = with_ctx(|c| parse_route(c, &node("blackhole 192.168.114.0/24"), false));
        assert_eq!(r.map(|r| r.kind), Some(RouteType::Blackhole));
    }

    #[test]
    fn rules() {
        let n = node(
            "from 192.168.28.0/24 to 192.168.29.0/26 table small iif p33p1 oif wlan0 tos 22 \
             fwmark 24/12 preference 39 realms 30/20",
        );
        let (r, d) = with_ctx(|c| parse_rule(c, &n, false));
        assert!(d.is_clean(), "{d:?}");
        let r = r.expect("rule");
        assert_eq!(r.fwmark, Some((24, Some(12))));
        assert_eq!(
            r.action,
            Some(RuleAction::Table(RouteTable::Name("small".into())))
        );
        let again = node(&r.to_words().join(" "));
        let (b, _) = with_ctx(|c| parse_rule(c, &again, false));
        assert_eq!(b, Some(r));
        let (r, d) =
            with_ctx(|c| parse_rule(c, &node("from 10.0.0.0/8 to ::1/128 table 1"), false));
        assert!(r.is_none());
        assert_eq!(d.exit_code(), 5);
    }
}
