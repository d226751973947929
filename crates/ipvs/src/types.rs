//! Typed IPVS objects and their conversion to and from attribute nests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::DecodeError;

use crate::attr::{
    daemon_attr, dest_attr, get_addr16, get_str, get_u16, get_u16_be, get_u32, get_u32_be, get_u64,
    get_u8, split, svc_attr, Attr, Value,
};

/// `AF_INET`.
pub const AF_INET: u16 = 2;
/// `AF_INET6`.
pub const AF_INET6: u16 = 10;

/// Address family of a service or destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    Inet,
    /// IPv6.
    Inet6,
}

impl Family {
    /// The `AF_*` number.
    pub fn af(self) -> u16 {
        match self {
            Family::Inet => AF_INET,
            Family::Inet6 => AF_INET6,
        }
    }

    /// Maps an `AF_*` number.
    pub fn from_af(af: u16) -> Result<Self, DecodeError> {
        match af {
            AF_INET => Ok(Family::Inet),
            AF_INET6 => Ok(Family::Inet6),
            other => Err(DecodeError::from(format!("unknown address family {other}"))),
        }
    }

    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Self {
        if addr.is_ipv4() {
            Family::Inet
        } else {
            Family::Inet6
        }
    }
}

/// Transport protocol of a virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// SCTP (132).
    Sctp,
}

impl Protocol {
    /// The IP protocol number.
    pub fn number(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    /// Maps an IP protocol number.
    pub fn from_number(n: u16) -> Result<Self, DecodeError> {
        match n {
            6 => Ok(Protocol::Tcp),
            17 => Ok(Protocol::Udp),
            132 => Ok(Protocol::Sctp),
            other => Err(DecodeError::from(format!("unknown IPVS protocol {other}"))),
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        })
    }
}

/// What identifies a virtual service in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKey {
    /// Address, protocol and port.
    Addr {
        /// Virtual address.
        addr: IpAddr,
        /// Protocol.
        protocol: Protocol,
        /// Port (0 is allowed with persistence).
        port: u16,
    },
    /// Firewall mark.
    Fwmark {
        /// Address family of the packets carrying the mark.
        family: Family,
        /// The mark.
        mark: u32,
    },
}

impl ServiceKey {
    /// The family of the service.
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Addr { addr, .. } => Family::of(addr),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }

    /// The attributes that identify the service (what DEL and dest commands carry).
    pub fn attrs(&self) -> Vec<Attr> {
        match self {
            ServiceKey::Addr {
                addr,
                protocol,
                port,
            } => vec![
                Attr::new(svc_attr::AF, Value::U16(Family::of(addr).af())),
                Attr::new(svc_attr::PROTOCOL, Value::U16(protocol.number())),
                Attr::new(svc_attr::ADDR, Value::Bytes(addr16(addr).to_vec())),
                Attr::new(svc_attr::PORT, Value::U16Be(*port)),
            ],
            ServiceKey::Fwmark { family, mark } => vec![
                Attr::new(svc_attr::AF, Value::U16(family.af())),
                Attr::new(svc_attr::FWMARK, Value::U32(*mark)),
            ],
        }
    }
}

impl std::fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceKey::Addr {
                addr: IpAddr::V6(a),
                protocol,
                port,
            } => {
                write!(f, "{protocol} [{a}]:{port}")
            }
            ServiceKey::Addr {
                addr,
                protocol,
                port,
            } => write!(f, "{protocol} {addr}:{port}"),
            ServiceKey::Fwmark { family, mark } => write!(f, "fwmark {mark} ({family:?})"),
        }
    }
}

/// Encodes an address as the kernel's 16-byte `nf_inet_addr`.
pub fn addr16(addr: &IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(a) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&a.octets());
            b
        }
        IpAddr::V6(a) => a.octets(),
    }
}

fn addr_from16(family: Family, b: [u8; 16]) -> IpAddr {
    match family {
        Family::Inet => IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
        Family::Inet6 => IpAddr::V6(Ipv6Addr::from(b)),
    }
}

/// Service flag bits (`IP_VS_SVC_F_*`).
pub mod svc_flags {
    /// Persistent service.
    pub const PERSISTENT: u32 = 0x0001;
    /// Hashed entry (set by the kernel).
    pub const HASHED: u32 = 0x0002;
    /// One-packet scheduling.
    pub const ONEPACKET: u32 = 0x0004;
    /// Scheduler flag 1 (sh: fallback).
    pub const SCHED1: u32 = 0x0008;
    /// Scheduler flag 2 (sh: port).
    pub const SCHED2: u32 = 0x0010;
    /// Scheduler flag 3.
    pub const SCHED3: u32 = 0x0020;
}

/// Traffic counters of a service or destination (from STATS64, else STATS).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Incoming packets.
    pub inpkts: u64,
    /// Outgoing packets.
    pub outpkts: u64,
    /// Incoming bytes.
    pub inbytes: u64,
    /// Outgoing bytes.
    pub outbytes: u64,
    /// Connections per second.
    pub cps: u64,
    /// Incoming packets per second.
    pub inpps: u64,
    /// Outgoing packets per second.
    pub outpps: u64,
    /// Incoming bytes per second.
    pub inbps: u64,
    /// Outgoing bytes per second.
    pub outbps: u64,
}

impl Stats {
    /// Parses a STATS (`wide == false`: u32 counters but u64 byte counts) or STATS64 nest.
    pub fn parse(buf: &[u8], wide: bool) -> Result<Self, DecodeError> {
        let mut s = Stats::default();
        for (kind, v) in split(buf)? {
            let n = |v: &[u8], is64: bool| -> Result<u64, DecodeError> {
                if is64 {
                    get_u64("stats", v)
                } else {
                    get_u32("stats", v).map(u64::from)
                }
            };
            match kind {
                1 => s.conns = n(v, wide)?,
                2 => s.inpkts = n(v, wide)?,
                3 => s.outpkts = n(v, wide)?,
                4 => s.inbytes = n(v, true)?,
                5 => s.outbytes = n(v, true)?,
                6 => s.cps = n(v, wide)?,
                7 => s.inpps = n(v, wide)?,
                8 => s.outpps = n(v, wide)?,
                9 => s.inbps = n(v, wide)?,
                10 => s.outbps = n(v, wide)?,
                _ => {} // IPVS_STATS_ATTR_PAD and anything newer.
            }
        }
        Ok(s)
    }

    /// Encodes the counters as a nest (`wide` selects the STATS64 layout).
    pub fn attrs(&self, wide: bool) -> Vec<Attr> {
        let v = |x: u64, is64: bool| {
            if is64 {
                Value::U64(x)
            } else {
                Value::U32(u32::try_from(x).unwrap_or(u32::MAX))
            }
        };
        vec![
            Attr::new(1, v(self.conns, wide)),
            Attr::new(2, v(self.inpkts, wide)),
            Attr::new(3, v(self.outpkts, wide)),
            Attr::new(4, v(self.inbytes, true)),
            Attr::new(5, v(self.outbytes, true)),
            Attr::new(6, v(self.cps, wide)),
            Attr::new(7, v(self.inpps, wide)),
            Attr::new(8, v(self.outpps, wide)),
            Attr::new(9, v(self.inbps, wide)),
            Attr::new(10, v(self.outbps, wide)),
        ]
    }
}

/// A virtual service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// What identifies it.
    pub key: ServiceKey,
    /// Scheduler name (`rr`, `wrr`, `sh`, ...).
    pub scheduler: String,
    /// `svc_flags` bits (the kernel's HASHED bit is dropped when parsing).
    pub flags: u32,
    /// Persistence timeout in seconds.
    pub timeout: u32,
    /// Persistence netmask as a prefix length (32 / 128 = one client address).
    pub prefix_len: u8,
    /// Persistence engine (`sip`), if any.
    pub pe_name: Option<String>,
    /// Counters (dumps only; ignored when sending). Boxed: a table of configuration keeps
    /// one service per virtual server and none of them has counters (8 bytes, not 88).
    pub stats: Option<Box<Stats>>,
}

impl Service {
    /// A service with the given key and scheduler, no persistence.
    pub fn new(key: ServiceKey, scheduler: &str) -> Self {
        let prefix_len = match key.family() {
            Family::Inet => 32,
            Family::Inet6 => 128,
        };
        Self {
            key,
            scheduler: scheduler.to_string(),
            flags: 0,
            timeout: 0,
            prefix_len,
            pe_name: None,
            stats: None,
        }
    }

    /// The full attribute set NEW/SET_SERVICE need.
    pub fn attrs(&self) -> Vec<Attr> {
        let mut v = self.key.attrs();
        v.push(Attr::new(
            svc_attr::SCHED_NAME,
            Value::Str(self.scheduler.clone()),
        ));
        if let Some(pe) = &self.pe_name {
            v.push(Attr::new(svc_attr::PE_NAME, Value::Str(pe.clone())));
        }
        let mut flags = Vec::with_capacity(8);
        flags.extend_from_slice(&self.flags.to_ne_bytes());
        flags.extend_from_slice(&u32::MAX.to_ne_bytes());
        v.push(Attr::new(svc_attr::FLAGS, Value::Bytes(flags)));
        v.push(Attr::new(svc_attr::TIMEOUT, Value::U32(self.timeout)));
        v.push(Attr::new(
            svc_attr::NETMASK,
            netmask_value(self.key.family(), self.prefix_len),
        ));
        v
    }

    /// Parses a SERVICE nest from a dump.
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut af = None;
        let (mut protocol, mut addr, mut port, mut fwmark) = (None, None, None, None);
        let (mut sched, mut flags, mut timeout, mut netmask) = (String::new(), 0, 0, None);
        let (mut pe_name, mut stats, mut stats64) = (None, None, None);
        for (kind, v) in split(buf)? {
            match kind {
                svc_attr::AF => af = Some(Family::from_af(get_u16("service af", v)?)?),
                svc_attr::PROTOCOL => protocol = Some(get_u16("service protocol", v)?),
                svc_attr::ADDR => addr = Some(get_addr16("service address", v)?),
                svc_attr::PORT => port = Some(get_u16_be("service port", v)?),
                svc_attr::FWMARK => fwmark = Some(get_u32("service fwmark", v)?),
                svc_attr::SCHED_NAME => sched = get_str("scheduler", v)?,
                svc_attr::FLAGS => flags = get_u32("service flags", v)?,
                svc_attr::TIMEOUT => timeout = get_u32("service timeout", v)?,
                svc_attr::NETMASK => netmask = Some(v),
                svc_attr::PE_NAME => pe_name = Some(get_str("pe name", v)?),
                svc_attr::STATS => stats = Some(Stats::parse(v, false)?),
                svc_attr::STATS64 => stats64 = Some(Stats::parse(v, true)?),
                _ => {}
            }
        }
        let family = af.ok_or_else(|| DecodeError::from("service without address family"))?;
        let key = match (fwmark, protocol, addr, port) {
            (Some(mark), _, _, _) if mark != 0 => ServiceKey::Fwmark { family, mark },
            (_, Some(p), Some(a), Some(port)) => ServiceKey::Addr {
                addr: addr_from16(family, a),
                protocol: Protocol::from_number(p)?,
                port,
            },
            _ => return Err(DecodeError::from("service without address or fwmark")),
        };
        let prefix_len = match netmask {
            Some(v) => prefix_from_netmask(family, v)?,
            None if family == Family::Inet => 32,
            None => 128,
        };
        Ok(Service {
            key,
            scheduler: sched,
            flags: flags & !svc_flags::HASHED,
            timeout,
            prefix_len,
            pe_name: pe_name.filter(|s| !s.is_empty()),
            stats: stats64.or(stats).map(Box::new),
        })
    }
}

fn netmask_value(family: Family, prefix_len: u8) -> Value {
    match family {
        Family::Inet => {
            let p = u32::from(prefix_len.min(32));
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            Value::U32Be(mask)
        }
        Family::Inet6 => Value::U32(u32::from(prefix_len.min(128))),
    }
}

fn prefix_from_netmask(family: Family, v: &[u8]) -> Result<u8, DecodeError> {
    Ok(match family {
        // leading_ones() of a u32 is at most 32.
        Family::Inet => get_u32_be("netmask", v)?.leading_ones() as u8,
        Family::Inet6 => u8::try_from(get_u32("netmask", v)?.min(128)).unwrap_or(128),
    })
}

/// How a real server receives its packets (`IP_VS_CONN_F_*` forwarding methods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForwardMethod {
    /// NAT (0).
    Masq,
    /// Local node (1).
    Local,
    /// IP-in-IP or GUE/GRE tunnel (2).
    Tunnel,
    /// Direct routing (3).
    DirectRoute,
    /// Bypass (4).
    Bypass,
}

impl ForwardMethod {
    /// The kernel number.
    pub fn number(self) -> u32 {
        match self {
            ForwardMethod::Masq => 0,
            ForwardMethod::Local => 1,
            ForwardMethod::Tunnel => 2,
            ForwardMethod::DirectRoute => 3,
            ForwardMethod::Bypass => 4,
        }
    }

    /// Maps the kernel number (only the low 3 bits name the method).
    pub fn from_number(n: u32) -> Result<Self, DecodeError> {
        match n & 0x7 {
            0 => Ok(ForwardMethod::Masq),
            1 => Ok(ForwardMethod::Local),
            2 => Ok(ForwardMethod::Tunnel),
            3 => Ok(ForwardMethod::DirectRoute),
            4 => Ok(ForwardMethod::Bypass),
            other => Err(DecodeError::from(format!(
                "unknown forwarding method {other}"
            ))),
        }
    }
}

/// Tunnel encapsulation of a tunnelled real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunnelType {
    /// IP in IP (0).
    IpIp,
    /// Generic UDP encapsulation (1).
    Gue,
    /// GRE (2).
    Gre,
}

/// Tunnel settings (kernel 5.2+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tunnel {
    /// Encapsulation.
    pub kind: TunnelType,
    /// Destination UDP port for GUE.
    pub port: u16,
    /// `IP_VS_TUNNEL_ENCAP_FLAG_*` bits.
    pub flags: u16,
}

/// What identifies a real server within its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestKey {
    /// Real server address.
    pub addr: IpAddr,
    /// Real server port.
    pub port: u16,
}

impl std::fmt::Display for DestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.addr {
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
        }
    }
}

/// A real server (destination) of a virtual service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Address and port.
    pub key: DestKey,
    /// Forwarding method.
    pub method: ForwardMethod,
    /// Weight (0 = quiesced).
    pub weight: u32,
    /// Upper connection threshold (0 = none).
    pub upper_threshold: u32,
    /// Lower connection threshold.
    pub lower_threshold: u32,
    /// Tunnel settings for `Tunnel` (None means plain IP-in-IP, the kernel default).
    pub tunnel: Option<Tunnel>,
    /// Active connections (dumps only).
    pub active_conns: u32,
    /// Inactive connections (dumps only).
    pub inactive_conns: u32,
    /// Persistent connections (dumps only).
    pub persist_conns: u32,
    /// Counters (dumps only).
    pub stats: Option<Stats>,
}

impl Destination {
    /// A destination with the given address, port, method and weight.
    pub fn new(addr: IpAddr, port: u16, method: ForwardMethod, weight: u32) -> Self {
        Self {
            key: DestKey { addr, port },
            method,
            weight,
            upper_threshold: 0,
            lower_threshold: 0,
            tunnel: None,
            active_conns: 0,
            inactive_conns: 0,
            persist_conns: 0,
            stats: None,
        }
    }

    /// The configuration part (what NEW/SET_DEST send), for comparisons.
    pub fn config_eq(&self, other: &Destination) -> bool {
        self.key == other.key
            && self.method == other.method
            && self.weight == other.weight
            && self.upper_threshold == other.upper_threshold
            && self.lower_threshold == other.lower_threshold
            && self.tunnel == other.tunnel
    }

    /// The attributes identifying the destination (DEL_DEST).
    pub fn key_attrs(key: &DestKey) -> Vec<Attr> {
        vec![
            Attr::new(
                dest_attr::ADDR_FAMILY,
                Value::U16(Family::of(&key.addr).af()),
            ),
            Attr::new(dest_attr::ADDR, Value::Bytes(addr16(&key.addr).to_vec())),
            Attr::new(dest_attr::PORT, Value::U16Be(key.port)),
        ]
    }

    /// The full attribute set NEW/SET_DEST need, in ipvsadm's order. The tunnel attributes
    /// are always sent (zero = ipip) as ipvsadm does; kernels before 5.2 ignore them.
    pub fn attrs(&self) -> Vec<Attr> {
        let mut v = Self::key_attrs(&self.key);
        v.push(Attr::new(
            dest_attr::FWD_METHOD,
            Value::U32(self.method.number()),
        ));
        v.push(Attr::new(dest_attr::WEIGHT, Value::U32(self.weight)));
        let t = self.tunnel.unwrap_or(Tunnel {
            kind: TunnelType::IpIp,
            port: 0,
            flags: 0,
        });
        let kind = match t.kind {
            TunnelType::IpIp => 0,
            TunnelType::Gue => 1,
            TunnelType::Gre => 2,
        };
        v.push(Attr::new(dest_attr::TUN_TYPE, Value::U8(kind)));
        v.push(Attr::new(dest_attr::TUN_PORT, Value::U16Be(t.port)));
        v.push(Attr::new(dest_attr::TUN_FLAGS, Value::U16(t.flags)));
        v.push(Attr::new(
            dest_attr::U_THRESH,
            Value::U32(self.upper_threshold),
        ));
        v.push(Attr::new(
            dest_attr::L_THRESH,
            Value::U32(self.lower_threshold),
        ));
        v
    }

    /// Parses a DEST nest; `service_family` is used when ADDR_FAMILY is absent.
    pub fn parse(buf: &[u8], service_family: Family) -> Result<Self, DecodeError> {
        let (mut addr, mut port, mut af) = (None, None, None);
        let mut d = Destination::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0, ForwardMethod::Masq, 0);
        let (mut tun_type, mut tun_port, mut tun_flags) = (None, 0, 0);
        let (mut stats, mut stats64) = (None, None);
        for (kind, v) in split(buf)? {
            match kind {
                dest_attr::ADDR => addr = Some(get_addr16("dest address", v)?),
                dest_attr::PORT => port = Some(get_u16_be("dest port", v)?),
                dest_attr::FWD_METHOD => {
                    d.method = ForwardMethod::from_number(get_u32("forwarding method", v)?)?
                }
                dest_attr::WEIGHT => d.weight = get_u32("weight", v)?,
                dest_attr::U_THRESH => d.upper_threshold = get_u32("upper threshold", v)?,
                dest_attr::L_THRESH => d.lower_threshold = get_u32("lower threshold", v)?,
                dest_attr::ACTIVE_CONNS => d.active_conns = get_u32("active conns", v)?,
                dest_attr::INACT_CONNS => d.inactive_conns = get_u32("inactive conns", v)?,
                dest_attr::PERSIST_CONNS => d.persist_conns = get_u32("persist conns", v)?,
                dest_attr::STATS => stats = Some(Stats::parse(v, false)?),
                dest_attr::STATS64 => stats64 = Some(Stats::parse(v, true)?),
                dest_attr::ADDR_FAMILY => af = Some(Family::from_af(get_u16("dest af", v)?)?),
                dest_attr::TUN_TYPE => tun_type = Some(get_u8("tunnel type", v)?),
                dest_attr::TUN_PORT => tun_port = get_u16_be("tunnel port", v)?,
                dest_attr::TUN_FLAGS => tun_flags = get_u16("tunnel flags", v)?,
                _ => {}
            }
        }
        let addr = addr.ok_or_else(|| DecodeError::from("destination without address"))?;
        let port = port.ok_or_else(|| DecodeError::from("destination without port"))?;
        d.key = DestKey {
            addr: addr_from16(af.unwrap_or(service_family), addr),
            port,
        };
        if d.method == ForwardMethod::Tunnel {
            d.tunnel = match tun_type {
                Some(1) => Some(Tunnel {
                    kind: TunnelType::Gue,
                    port: tun_port,
                    flags: tun_flags,
                }),
                Some(2) => Some(Tunnel {
                    kind: TunnelType::Gre,
                    port: tun_port,
                    flags: tun_flags,
                }),
                // ipip is the kernel's default and what older kernels imply.
                _ => None,
            };
        }
        d.stats = stats64.or(stats);
        Ok(d)
    }
}

/// Role of a connection-sync daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonState {
    /// Sends sync messages (`IP_VS_STATE_MASTER` = 1).
    Master,
    /// Receives them (`IP_VS_STATE_BACKUP` = 2).
    Backup,
}

impl DaemonState {
    /// The kernel number.
    pub fn number(self) -> u32 {
        match self {
            DaemonState::Master => 1,
            DaemonState::Backup => 2,
        }
    }
}

/// A connection-synchronisation daemon (`lvs_sync_daemon`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDaemon {
    /// Master or backup.
    pub state: DaemonState,
    /// Interface the sync traffic uses.
    pub interface: String,
    /// Sync id shared by the peers.
    pub sync_id: u32,
    /// Maximum message length.
    pub max_len: Option<u16>,
    /// Multicast group (IPv4 or IPv6).
    pub group: Option<IpAddr>,
    /// UDP port.
    pub port: Option<u16>,
    /// Multicast TTL.
    pub ttl: Option<u8>,
}

impl SyncDaemon {
    /// The attributes NEW_DAEMON sends.
    pub fn attrs(&self) -> Vec<Attr> {
        let mut v = vec![
            Attr::new(daemon_attr::STATE, Value::U32(self.state.number())),
            Attr::new(daemon_attr::MCAST_IFN, Value::Str(self.interface.clone())),
            Attr::new(daemon_attr::SYNC_ID, Value::U32(self.sync_id)),
        ];
        if let Some(l) = self.max_len {
            v.push(Attr::new(daemon_attr::SYNC_MAXLEN, Value::U16(l)));
        }
        match self.group {
            Some(IpAddr::V4(g)) => v.push(Attr::new(
                daemon_attr::MCAST_GROUP,
                Value::Bytes(g.octets().to_vec()),
            )),
            Some(IpAddr::V6(g)) => v.push(Attr::new(
                daemon_attr::MCAST_GROUP6,
                Value::Bytes(g.octets().to_vec()),
            )),
            None => {}
        }
        if let Some(p) = self.port {
            v.push(Attr::new(daemon_attr::MCAST_PORT, Value::U16(p)));
        }
        if let Some(t) = self.ttl {
            v.push(Attr::new(daemon_attr::MCAST_TTL, Value::U8(t)));
        }
        v
    }

    /// Parses a DAEMON nest.
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut d = SyncDaemon {
            state: DaemonState::Master,
            interface: String::new(),
            sync_id: 0,
            max_len: None,
            group: None,
            port: None,
            ttl: None,
        };
        for (kind, v) in split(buf)? {
            match kind {
                daemon_attr::STATE => {
                    d.state = match get_u32("daemon state", v)? {
                        1 => DaemonState::Master,
                        2 => DaemonState::Backup,
                        other => {
                            return Err(DecodeError::from(format!("unknown daemon state {other}")))
                        }
                    }
                }
                daemon_attr::MCAST_IFN => d.interface = get_str("daemon interface", v)?,
                daemon_attr::SYNC_ID => d.sync_id = get_u32("sync id", v)?,
                daemon_attr::SYNC_MAXLEN => d.max_len = Some(get_u16("sync maxlen", v)?),
                daemon_attr::MCAST_GROUP => {
                    let b = get_u32_be("mcast group", v)?;
                    d.group = Some(IpAddr::V4(Ipv4Addr::from(b)));
                }
                daemon_attr::MCAST_GROUP6 => {
                    d.group = Some(IpAddr::V6(Ipv6Addr::from(get_addr16("mcast group6", v)?)))
                }
                daemon_attr::MCAST_PORT => d.port = Some(get_u16("mcast port", v)?),
                daemon_attr::MCAST_TTL => d.ttl = Some(get_u8("mcast ttl", v)?),
                _ => {}
            }
        }
        Ok(d)
    }
}

/// Connection timeouts (`ipvsadm --set`); 0 leaves a value unchanged when setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP established timeout, seconds.
    pub tcp: u32,
    /// TCP FIN_WAIT timeout, seconds.
    pub tcp_fin: u32,
    /// UDP timeout, seconds.
    pub udp: u32,
}

/// What GET_INFO reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Info {
    /// Version, `major << 16 | minor << 8 | patch`.
    pub version: u32,
    /// Size of the connection hash table.
    pub conn_tab_size: u32,
}
