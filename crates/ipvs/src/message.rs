//! IPVS generic netlink messages: a command and its top-level attributes.

use netlink_packet_core::{DecodeError, Emitable, ParseableParametrized};
use netlink_packet_generic::{GenlFamily, GenlHeader};

use crate::attr::{cmd_attr, get_u32, info_attr, split, Attr, Value};
use crate::types::{
    DaemonState, DestKey, Destination, Info, Service, ServiceKey, SyncDaemon, Timeouts,
};

/// The generic netlink family name.
pub const FAMILY_NAME: &str = "IPVS";
/// The family version the kernel and ipvsadm use.
pub const FAMILY_VERSION: u8 = 1;

/// IPVS commands (`IPVS_CMD_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Command {
    /// Add a virtual service.
    NewService = 1,
    /// Edit a virtual service.
    SetService = 2,
    /// Delete a virtual service.
    DelService = 3,
    /// Get one service, or dump them all.
    GetService = 4,
    /// Add a real server.
    NewDest = 5,
    /// Edit a real server.
    SetDest = 6,
    /// Delete a real server.
    DelDest = 7,
    /// Dump the real servers of a service.
    GetDest = 8,
    /// Start a sync daemon.
    NewDaemon = 9,
    /// Stop a sync daemon.
    DelDaemon = 10,
    /// Dump the sync daemons.
    GetDaemon = 11,
    /// Set the timeouts.
    SetConfig = 12,
    /// Get the timeouts.
    GetConfig = 13,
    /// Reply to GET_INFO.
    SetInfo = 14,
    /// Get version and table size.
    GetInfo = 15,
    /// Zero counters (one service, or all).
    Zero = 16,
    /// Remove every service.
    Flush = 17,
}

impl Command {
    /// Maps a command number.
    pub fn from_u8(n: u8) -> Result<Self, DecodeError> {
        use Command::*;
        Ok(match n {
            1 => NewService,
            2 => SetService,
            3 => DelService,
            4 => GetService,
            5 => NewDest,
            6 => SetDest,
            7 => DelDest,
            8 => GetDest,
            9 => NewDaemon,
            10 => DelDaemon,
            11 => GetDaemon,
            12 => SetConfig,
            13 => GetConfig,
            14 => SetInfo,
            15 => GetInfo,
            16 => Zero,
            17 => Flush,
            other => return Err(DecodeError::from(format!("unknown IPVS command {other}"))),
        })
    }
}

/// A top-level attribute with its raw nested contents kept for typed parsing later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsMessage {
    /// The command.
    pub cmd: Command,
    /// Top-level attributes (in a SET_INFO reply, kinds are `info_attr`).
    pub attrs: Vec<Attr>,
    /// Raw (kind, value) pairs as received, for typed parsing of replies.
    pub raw: Vec<(u16, Vec<u8>)>,
}

impl IpvsMessage {
    /// A request with the given attributes.
    pub fn new(cmd: Command, attrs: Vec<Attr>) -> Self {
        Self {
            cmd,
            attrs,
            raw: Vec::new(),
        }
    }

    /// NEW_SERVICE.
    pub fn new_service(s: &Service) -> Self {
        Self::new(
            Command::NewService,
            vec![nest(cmd_attr::SERVICE, s.attrs())],
        )
    }
    /// SET_SERVICE.
    pub fn set_service(s: &Service) -> Self {
        Self::new(
            Command::SetService,
            vec![nest(cmd_attr::SERVICE, s.attrs())],
        )
    }
    /// DEL_SERVICE.
    pub fn del_service(k: &ServiceKey) -> Self {
        Self::new(
            Command::DelService,
            vec![nest(cmd_attr::SERVICE, k.attrs())],
        )
    }
    /// GET_SERVICE for one service (without a key: a dump request).
    pub fn get_service(k: Option<&ServiceKey>) -> Self {
        let attrs = k
            .map(|k| vec![nest(cmd_attr::SERVICE, k.attrs())])
            .unwrap_or_default();
        Self::new(Command::GetService, attrs)
    }
    /// NEW_DEST.
    pub fn new_dest(k: &ServiceKey, d: &Destination) -> Self {
        Self::new(
            Command::NewDest,
            vec![
                nest(cmd_attr::SERVICE, k.attrs()),
                nest(cmd_attr::DEST, d.attrs()),
            ],
        )
    }
    /// SET_DEST.
    pub fn set_dest(k: &ServiceKey, d: &Destination) -> Self {
        Self::new(
            Command::SetDest,
            vec![
                nest(cmd_attr::SERVICE, k.attrs()),
                nest(cmd_attr::DEST, d.attrs()),
            ],
        )
    }
    /// DEL_DEST.
    pub fn del_dest(k: &ServiceKey, d: &DestKey) -> Self {
        Self::new(
            Command::DelDest,
            vec![
                nest(cmd_attr::SERVICE, k.attrs()),
                nest(cmd_attr::DEST, Destination::key_attrs(d)),
            ],
        )
    }
    /// GET_DEST (a dump of one service's destinations).
    pub fn get_dest(k: &ServiceKey) -> Self {
        Self::new(Command::GetDest, vec![nest(cmd_attr::SERVICE, k.attrs())])
    }
    /// NEW_DAEMON.
    pub fn new_daemon(d: &SyncDaemon) -> Self {
        Self::new(Command::NewDaemon, vec![nest(cmd_attr::DAEMON, d.attrs())])
    }
    /// DEL_DAEMON.
    pub fn del_daemon(state: DaemonState) -> Self {
        Self::new(
            Command::DelDaemon,
            vec![nest(
                cmd_attr::DAEMON,
                vec![Attr::new(1, Value::U32(state.number()))],
            )],
        )
    }
    /// GET_DAEMON (dump).
    pub fn get_daemon() -> Self {
        Self::new(Command::GetDaemon, Vec::new())
    }
    /// SET_CONFIG.
    pub fn set_config(t: &Timeouts) -> Self {
        Self::new(
            Command::SetConfig,
            vec![
                Attr::new(cmd_attr::TIMEOUT_TCP, Value::U32(t.tcp)),
                Attr::new(cmd_attr::TIMEOUT_TCP_FIN, Value::U32(t.tcp_fin)),
                Attr::new(cmd_attr::TIMEOUT_UDP, Value::U32(t.udp)),
            ],
        )
    }
    /// GET_CONFIG.
    pub fn get_config() -> Self {
        Self::new(Command::GetConfig, Vec::new())
    }
    /// GET_INFO.
    pub fn get_info() -> Self {
        Self::new(Command::GetInfo, Vec::new())
    }
    /// ZERO (one service, or all with `None`).
    pub fn zero(k: Option<&ServiceKey>) -> Self {
        let attrs = k
            .map(|k| vec![nest(cmd_attr::SERVICE, k.attrs())])
            .unwrap_or_default();
        Self::new(Command::Zero, attrs)
    }
    /// FLUSH.
    pub fn flush() -> Self {
        Self::new(Command::Flush, Vec::new())
    }

    /// The raw value of the first top-level attribute of `kind` in a reply.
    pub fn raw_attr(&self, kind: u16) -> Option<&[u8]> {
        self.raw
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| v.as_slice())
    }

    /// Parses the timeouts of a GET_CONFIG reply.
    pub fn timeouts(&self) -> Result<Timeouts, DecodeError> {
        let get = |k| self.raw_attr(k).map(|v| get_u32("timeout", v)).transpose();
        Ok(Timeouts {
            tcp: get(cmd_attr::TIMEOUT_TCP)?.unwrap_or(0),
            tcp_fin: get(cmd_attr::TIMEOUT_TCP_FIN)?.unwrap_or(0),
            udp: get(cmd_attr::TIMEOUT_UDP)?.unwrap_or(0),
        })
    }

    /// Parses a GET_INFO reply.
    pub fn info(&self) -> Result<Info, DecodeError> {
        let get = |k| self.raw_attr(k).map(|v| get_u32("info", v)).transpose();
        Ok(Info {
            version: get(info_attr::VERSION)?
                .ok_or_else(|| DecodeError::from("info without version"))?,
            conn_tab_size: get(info_attr::CONN_TAB_SIZE)?.unwrap_or(0),
        })
    }
}

fn nest(kind: u16, attrs: Vec<Attr>) -> Attr {
    Attr::new(kind, Value::Nested(attrs))
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        FAMILY_NAME
    }

    fn command(&self) -> u8 {
        self.cmd as u8
    }

    fn version(&self) -> u8 {
        FAMILY_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        self.attrs.iter().map(Emitable::buffer_len).sum()
    }

    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        let cmd = Command::from_u8(header.cmd)?;
        let raw = split(buf)?
            .into_iter()
            .map(|(k, v)| (k, v.to_vec()))
            .collect();
        Ok(Self {
            cmd,
            attrs: Vec::new(),
            raw,
        })
    }
}
