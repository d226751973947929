//! The IPVS generic netlink attributes of `linux/ip_vs.h`, as netlink-packet-core [`Nla`]s.
//!
//! Byte orders follow the kernel: ports, the tunnel port and the IPv4 netmask in network
//! order, everything else in host order; addresses are always 16 bytes (IPv4 in the first 4).

use netlink_packet_core::{DecodeError, Emitable, Nla};

/// Top-level attribute kinds (`IPVS_CMD_ATTR_*`).
pub mod cmd_attr {
    /// Nested service attributes.
    pub const SERVICE: u16 = 1;
    /// Nested destination attributes.
    pub const DEST: u16 = 2;
    /// Nested sync daemon attributes.
    pub const DAEMON: u16 = 3;
    /// TCP timeout (seconds).
    pub const TIMEOUT_TCP: u16 = 4;
    /// TCP FIN_WAIT timeout (seconds).
    pub const TIMEOUT_TCP_FIN: u16 = 5;
    /// UDP timeout (seconds).
    pub const TIMEOUT_UDP: u16 = 6;
}

/// Service attribute kinds (`IPVS_SVC_ATTR_*`).
pub mod svc_attr {
    /// Address family (u16).
    pub const AF: u16 = 1;
    /// IP protocol (u16).
    pub const PROTOCOL: u16 = 2;
    /// Virtual address (16 bytes).
    pub const ADDR: u16 = 3;
    /// Virtual port (u16, network order).
    pub const PORT: u16 = 4;
    /// Firewall mark (u32).
    pub const FWMARK: u16 = 5;
    /// Scheduler name (NUL-terminated string).
    pub const SCHED_NAME: u16 = 6;
    /// Flags and mask ({u32, u32}).
    pub const FLAGS: u16 = 7;
    /// Persistence timeout (u32 seconds).
    pub const TIMEOUT: u16 = 8;
    /// Persistence netmask (u32: IPv4 mask in network order, IPv6 prefix length).
    pub const NETMASK: u16 = 9;
    /// Nested 32-bit statistics.
    pub const STATS: u16 = 10;
    /// Persistence engine name (string).
    pub const PE_NAME: u16 = 11;
    /// Nested 64-bit statistics.
    pub const STATS64: u16 = 12;
}

/// Destination attribute kinds (`IPVS_DEST_ATTR_*`).
pub mod dest_attr {
    /// Real server address (16 bytes).
    pub const ADDR: u16 = 1;
    /// Real server port (u16, network order).
    pub const PORT: u16 = 2;
    /// Forwarding method (u32).
    pub const FWD_METHOD: u16 = 3;
    /// Weight (u32).
    pub const WEIGHT: u16 = 4;
    /// Upper connection threshold (u32).
    pub const U_THRESH: u16 = 5;
    /// Lower connection threshold (u32).
    pub const L_THRESH: u16 = 6;
    /// Active connections (u32, read-only).
    pub const ACTIVE_CONNS: u16 = 7;
    /// Inactive connections (u32, read-only).
    pub const INACT_CONNS: u16 = 8;
    /// Persistent connections (u32, read-only).
    pub const PERSIST_CONNS: u16 = 9;
    /// Nested 32-bit statistics.
    pub const STATS: u16 = 10;
    /// Address family of the real server (u16).
    pub const ADDR_FAMILY: u16 = 11;
    /// Nested 64-bit statistics.
    pub const STATS64: u16 = 12;
    /// Tunnel type (u8).
    pub const TUN_TYPE: u16 = 13;
    /// Tunnel port (u16, network order).
    pub const TUN_PORT: u16 = 14;
    /// Tunnel flags (u16).
    pub const TUN_FLAGS: u16 = 15;
}

/// Sync daemon attribute kinds (`IPVS_DAEMON_ATTR_*`).
pub mod daemon_attr {
    /// Master or backup (u32).
    pub const STATE: u16 = 1;
    /// Multicast interface name (string).
    pub const MCAST_IFN: u16 = 2;
    /// Sync id (u32).
    pub const SYNC_ID: u16 = 3;
    /// Maximum sync message length (u16).
    pub const SYNC_MAXLEN: u16 = 4;
    /// IPv4 multicast group (4 bytes, network order).
    pub const MCAST_GROUP: u16 = 5;
    /// IPv6 multicast group (16 bytes).
    pub const MCAST_GROUP6: u16 = 6;
    /// Multicast port (u16, host order).
    pub const MCAST_PORT: u16 = 7;
    /// Multicast TTL (u8).
    pub const MCAST_TTL: u16 = 8;
}

/// Info attribute kinds (`IPVS_INFO_ATTR_*`, top level of GET_INFO replies).
pub mod info_attr {
    /// IPVS version (u32, major << 16 | minor << 8 | patch).
    pub const VERSION: u16 = 1;
    /// Connection hash table size (u32).
    pub const CONN_TAB_SIZE: u16 = 2;
}

/// A raw attribute value with one of the encodings IPVS uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// u8 in host order.
    U8(u8),
    /// u16 in host order.
    U16(u16),
    /// u16 in network order (ports).
    U16Be(u16),
    /// u32 in host order.
    U32(u32),
    /// u32 in network order (IPv4 netmask).
    U32Be(u32),
    /// u64 in host order.
    U64(u64),
    /// Raw bytes (addresses, the flags struct).
    Bytes(Vec<u8>),
    /// A string sent with its NUL terminator.
    Str(String),
    /// Nested attributes.
    Nested(Vec<Attr>),
}

/// One attribute: a kind and a value. All IPVS nests share this representation; the
/// meaning of `kind` depends on the nest it sits in (see the `*_attr` modules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    /// The attribute type number.
    pub kind: u16,
    /// Its value.
    pub value: Value,
}

impl Attr {
    /// Builds an attribute.
    pub fn new(kind: u16, value: Value) -> Self {
        Self { kind, value }
    }
}

impl Nla for Attr {
    fn value_len(&self) -> usize {
        match &self.value {
            Value::U8(_) => 1,
            Value::U16(_) | Value::U16Be(_) => 2,
            Value::U32(_) | Value::U32Be(_) => 4,
            Value::U64(_) => 8,
            Value::Bytes(b) => b.len(),
            Value::Str(s) => s.len() + 1,
            Value::Nested(attrs) => attrs.iter().map(Emitable::buffer_len).sum(),
        }
    }

    fn kind(&self) -> u16 {
        self.kind
    }

    // Nests carry NLA_F_NESTED, as ipvsadm (libnl) sends them.
    fn is_nested(&self) -> bool {
        matches!(self.value, Value::Nested(_))
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match &self.value {
            Value::U8(v) => buffer[0] = *v,
            Value::U16(v) => buffer[..2].copy_from_slice(&v.to_ne_bytes()),
            Value::U16Be(v) => buffer[..2].copy_from_slice(&v.to_be_bytes()),
            Value::U32(v) => buffer[..4].copy_from_slice(&v.to_ne_bytes()),
            Value::U32Be(v) => buffer[..4].copy_from_slice(&v.to_be_bytes()),
            Value::U64(v) => buffer[..8].copy_from_slice(&v.to_ne_bytes()),
            Value::Bytes(b) => buffer[..b.len()].copy_from_slice(b),
            Value::Str(s) => {
                buffer[..s.len()].copy_from_slice(s.as_bytes());
                buffer[s.len()] = 0;
            }
            Value::Nested(attrs) => {
                let mut off = 0;
                for a in attrs {
                    let len = a.buffer_len();
                    a.emit(&mut buffer[off..off + len]);
                    off += len;
                }
            }
        }
    }
}

/// Splits a buffer into (kind, value) pairs, checking every length. The kind has the
/// NESTED and NET_BYTEORDER flag bits removed.
pub fn split(buf: &[u8]) -> Result<Vec<(u16, &[u8])>, DecodeError> {
    let mut out = Vec::new();
    let mut off = 0;
    while off < buf.len() {
        let rest = &buf[off..];
        if rest.len() < 4 {
            return Err(DecodeError::from(format!(
                "{} stray bytes after attributes",
                rest.len()
            )));
        }
        let len = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            return Err(DecodeError::from(format!(
                "attribute {kind} claims {len} bytes, {} left",
                rest.len()
            )));
        }
        out.push((kind, &rest[4..len]));
        off += (len + 3) & !3;
    }
    Ok(out)
}

fn fixed<const N: usize>(what: &str, v: &[u8]) -> Result<[u8; N], DecodeError> {
    v.get(..N)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or_else(|| DecodeError::from(format!("{what}: expected {N} bytes, got {}", v.len())))
}

/// Parses a host-order u8.
pub fn get_u8(what: &str, v: &[u8]) -> Result<u8, DecodeError> {
    Ok(fixed::<1>(what, v)?[0])
}
/// Parses a host-order u16.
pub fn get_u16(what: &str, v: &[u8]) -> Result<u16, DecodeError> {
    Ok(u16::from_ne_bytes(fixed(what, v)?))
}
/// Parses a network-order u16.
pub fn get_u16_be(what: &str, v: &[u8]) -> Result<u16, DecodeError> {
    Ok(u16::from_be_bytes(fixed(what, v)?))
}
/// Parses a host-order u32.
pub fn get_u32(what: &str, v: &[u8]) -> Result<u32, DecodeError> {
    Ok(u32::from_ne_bytes(fixed(what, v)?))
}
/// Parses a network-order u32.
pub fn get_u32_be(what: &str, v: &[u8]) -> Result<u32, DecodeError> {
    Ok(u32::from_be_bytes(fixed(what, v)?))
}
/// Parses a host-order u64.
pub fn get_u64(what: &str, v: &[u8]) -> Result<u64, DecodeError> {
    Ok(u64::from_ne_bytes(fixed(what, v)?))
}
/// Parses a string, stopping at the first NUL.
pub fn get_str(what: &str, v: &[u8]) -> Result<String, DecodeError> {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8(v[..end].to_vec())
        .map_err(|_| DecodeError::from(format!("{what}: not UTF-8")))
}
/// Parses a 16-byte `nf_inet_addr` (or a bare 4-byte IPv4 address).
pub fn get_addr16(what: &str, v: &[u8]) -> Result<[u8; 16], DecodeError> {
    if v.len() >= 16 {
        return fixed::<16>(what, v);
    }
    let v4 = fixed::<4>(what, v)?;
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&v4);
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emit(a: &Attr) -> Vec<u8> {
        let mut buf = vec![0xaa; a.buffer_len()];
        a.emit(&mut buf);
        buf
    }

    #[test]
    fn scalars_and_padding() {
        // u16 port in network order: len 6, padded to 8.
        assert_eq!(
            emit(&Attr::new(4, Value::U16Be(80))),
            [6, 0, 4, 0, 0, 80, 0, 0]
        );
        assert_eq!(emit(&Attr::new(1, Value::U16(2))), [6, 0, 1, 0, 2, 0, 0, 0]);
        assert_eq!(
            emit(&Attr::new(8, Value::U32(300))),
            [8, 0, 8, 0, 0x2c, 1, 0, 0]
        );
        assert_eq!(
            emit(&Attr::new(9, Value::U32Be(0xffff_ff00))),
            [8, 0, 9, 0, 255, 255, 255, 0]
        );
        assert_eq!(
            emit(&Attr::new(13, Value::U8(2))),
            [5, 0, 13, 0, 2, 0, 0, 0]
        );
        assert_eq!(
            emit(&Attr::new(4, Value::U64(1))),
            [12, 0, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0]
        );
        // "rr\0" = 3 bytes: len 7, padded to 8.
        assert_eq!(
            emit(&Attr::new(6, Value::Str("rr".into()))),
            [7, 0, 6, 0, b'r', b'r', 0, 0]
        );
    }

    #[test]
    fn nested_lengths() {
        let n = Attr::new(
            1,
            Value::Nested(vec![
                Attr::new(1, Value::U16(2)),
                Attr::new(5, Value::U32(7)),
            ]),
        );
        assert_eq!(
            emit(&n),
            [20, 0, 1, 0x80, 6, 0, 1, 0, 2, 0, 0, 0, 8, 0, 5, 0, 7, 0, 0, 0]
        );
        let bytes = emit(&n);
        let parts = split(&bytes).expect("split");
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].0, 1);
        let inner = split(parts[0].1).expect("inner");
        assert_eq!(inner, vec![(1, &[2u8, 0][..]), (5, &[7u8, 0, 0, 0][..])]);
    }

    #[test]
    fn truncated_values_are_errors() {
        assert!(get_u32("x", &[1, 2]).is_err());
        assert!(get_u16_be("x", &[]).is_err());
        assert!(get_addr16("x", &[1, 2, 3]).is_err());
        assert_eq!(
            get_addr16("x", &[10, 0, 0, 1]).expect("v4")[..4],
            [10, 0, 0, 1]
        );
        // Declared length 8, only 5 bytes present.
        assert!(split(&[8, 0, 1, 0, 0]).is_err());
        assert_eq!(get_str("x", b"wrr\0\0").expect("str"), "wrr");
    }
}
