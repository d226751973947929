//! PING_CHECK: one ICMP or ICMPv6 echo over a ping socket (`SOCK_DGRAM` + `IPPROTO_ICMP`),
//! which needs no raw-socket privilege but our group in `net.ipv4.ping_group_range`.
//!
//! As keepalived 2.2.7 (observed: the kernel's default `1 0` becomes `0 0` while it runs as
//! root with PING_CHECKs, and `1 0` again once it stopped), the first probe widens the range
//! to take our group in when it does not, and [`restore_group_range`] puts the old range back
//! when the checkers stop.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;

use socket2::{Protocol, SockAddr, Type};
use tokio::net::UdpSocket;

use crate::net::{fmt_duration, ConnectOpts};
use crate::outcome::{up, Failure, ProbeResult};

const ECHO_V4: u8 = 8;
const REPLY_V4: u8 = 0;
const ECHO_V6: u8 = 128;
const REPLY_V6: u8 = 129;

fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        let w = match c {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The sysctl naming the groups that may open ping sockets (one range for IPv4 and IPv6).
const GROUP_RANGE: &str = "/proc/sys/net/ipv4/ping_group_range";

/// The ping group range as PING_CHECK found and changed it.
#[derive(Debug)]
struct GroupRange {
    /// `None` before the first probe; then the text found (to restore) when it had to be
    /// widened, or no text when it already held our group.
    change: Mutex<Option<Option<String>>>,
}

impl GroupRange {
    const fn new() -> Self {
        GroupRange {
            change: Mutex::new(None),
        }
    }

    /// Widens the range in `file` for `gid`, the first time only.
    fn widen(&self, file: &Path, gid: u32) {
        let Ok(mut change) = self.change.lock() else {
            return;
        };
        if change.is_some() {
            return;
        }
        let old = std::fs::read_to_string(file).unwrap_or_default();
        let Some(new) = widened_range(&old, gid) else {
            *change = Some(None);
            return;
        };
        match std::fs::write(file, format!("{new}\n")) {
            Ok(()) => {
                tracing::info!(
                    "ping_group_range set to {new} (was {}) for PING_CHECK",
                    old.split_whitespace().collect::<Vec<_>>().join(" ")
                );
                *change = Some(Some(old));
            }
            Err(e) => {
                // Not fatal: the probe reports the socket error, naming the sysctl.
                tracing::warn!("cannot widen {} for PING_CHECK: {e}", file.display());
                *change = Some(None);
            }
        }
    }

    /// Puts the range found back into `file` if it was widened; the next probe looks again.
    fn restore(&self, file: &Path) {
        let Ok(mut change) = self.change.lock() else {
            return;
        };
        if let Some(Some(old)) = change.take() {
            if let Err(e) = std::fs::write(file, old.as_bytes()) {
                tracing::warn!("cannot restore {}: {e}", file.display());
            }
        }
    }
}

/// This process's change to [`GROUP_RANGE`].
static PROCESS_GROUP_RANGE: GroupRange = GroupRange::new();

/// The range `text` ("MIN MAX") widened to take in `gid`; `None` when it already does, or when
/// `text` is not a range.
pub fn widened_range(text: &str, gid: u32) -> Option<String> {
    let mut parts = text.split_whitespace().map(str::parse::<u32>);
    let (Some(Ok(min)), Some(Ok(max)), None) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    if min <= gid && gid <= max {
        return None;
    }
    if min > max {
        // An empty range (the kernel's default, `1 0`): our group alone.
        return Some(format!("{gid} {gid}"));
    }
    Some(format!("{} {}", min.min(gid), max.max(gid)))
}

/// Puts back the ping group range found before the first PING_CHECK probe widened it (call
/// when the checkers stop). Does nothing when it was not changed.
pub fn restore_group_range() {
    PROCESS_GROUP_RANGE.restore(Path::new(GROUP_RANGE));
}

/// Send one echo request to `opts.target` (port ignored) and wait for its reply.
pub async fn probe(opts: &ConnectOpts) -> ProbeResult {
    PROCESS_GROUP_RANGE.widen(Path::new(GROUP_RANGE), nix::unistd::getegid().as_raw());
    let mut target = opts.resolved_target()?;
    target.set_port(0);
    let v4 = target.is_ipv4();
    let proto = if v4 {
        Protocol::ICMPV4
    } else {
        Protocol::ICMPV6
    };
    let sock = opts.socket(Type::DGRAM, Some(proto)).map_err(|f| {
        Failure::new(format!(
            "{} (ping sockets need the group in net.ipv4.ping_group_range)",
            f.reason
        ))
    })?;
    sock.connect(&SockAddr::from(target))
        .map_err(|e| Failure::new(format!("cannot connect ping socket to {target}: {e}")))?;
    // A ping socket is a datagram socket: tokio's UDP socket type drives it as well.
    let sock = UdpSocket::from_std(std::net::UdpSocket::from(sock))
        .map_err(|e| Failure::new(format!("cannot register ping socket: {e}")))?;
    let seq = fastrand::u16(..);
    let mut payload = [0u8; 16];
    fastrand::fill(&mut payload);
    let mut pkt = vec![if v4 { ECHO_V4 } else { ECHO_V6 }, 0, 0, 0, 0, 0];
    pkt.extend_from_slice(&seq.to_be_bytes());
    pkt.extend_from_slice(&payload);
    if v4 {
        // The kernel fills ICMPv6 checksums; for ICMPv4 we provide it.
        let c = checksum(&pkt);
        pkt[2..4].copy_from_slice(&c.to_be_bytes());
    }
    let timeout = opts.connect_timeout;
    let exchange = async {
        sock.send(&pkt)
            .await
            .map_err(|e| Failure::new(format!("echo request to {target} failed: {e}")))?;
        let mut buf = [0u8; 1500];
        loop {
            let n = sock
                .recv(&mut buf)
                .await
                .map_err(|e| Failure::new(format!("ping {target}: {e}")))?;
            let reply = &buf[..n];
            let want = if v4 { REPLY_V4 } else { REPLY_V6 };
            if reply.len() >= 8 + payload.len()
                && reply[0] == want
                && reply[6..8] == seq.to_be_bytes()
                && reply[8..8 + payload.len()] == payload
            {
                return up();
            }
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r,
        Err(_) => Err(Failure::new(format!(
            "no echo reply from {} within {}",
            display_ip(target),
            fmt_duration(timeout)
        ))),
    }
}

fn display_ip(a: SocketAddr) -> String {
    a.ip().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn group_range_widened_only_when_needed() {
        assert_eq!(widened_range("1\t0\n", 0), Some("0 0".to_string()));
        assert_eq!(widened_range("1 0", 1000), Some("1000 1000".to_string()));
        assert_eq!(widened_range("0 2147483647", 0), None);
        assert_eq!(widened_range("100 200", 150), None);
        assert_eq!(widened_range("100 200", 0), Some("0 200".to_string()));
        assert_eq!(widened_range("100 200", 300), Some("100 300".to_string()));
        assert_eq!(widened_range("garbage", 0), None);
        assert_eq!(widened_range("1 2 3", 0), None);
    }

    #[test]
    fn group_range_widened_once_and_restored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("ping_group_range");
        std::fs::write(&file, "1\t0\n").expect("write");
        let range = GroupRange::new();
        range.widen(&file, 0);
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "0 0\n");
        // Someone else changes it: a later probe leaves it alone.
        std::fs::write(&file, "5 5\n").expect("write");
        range.widen(&file, 0);
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "5 5\n");
        range.restore(&file);
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "1\t0\n");
        // Restoring twice does nothing more.
        std::fs::write(&file, "7 7\n").expect("write");
        range.restore(&file);
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "7 7\n");
    }

    #[test]
    fn checksum_of_known_packet() {
        // Echo request id 0 seq 1, no data: 0x0800 + 0x0001 -> !0x0801.
        assert_eq!(checksum(&[8, 0, 0, 0, 0, 0, 0, 1]), !0x0801);
    }

    fn opts(ip: &str) -> ConnectOpts {
        let mut o = ConnectOpts::new(SocketAddr::new(ip.parse().expect("ip"), 0));
        o.connect_timeout = Duration::from_secs(2);
        o
    }

    #[tokio::test]
    async fn ping_loopback_v4_and_v6() {
        assert_eq!(probe(&opts("127.0.0.1")).await, up());
        assert_eq!(probe(&opts("::1")).await, up());
    }

    #[tokio::test]
    async fn ping_from_a_foreign_source_fails() {
        let mut o = opts("127.0.0.1");
        o.bindto = Some("::1".parse().expect("ip"));
        let e = probe(&o).await.expect_err("family");
        assert!(
            e.reason.contains("different address families"),
            "{}",
            e.reason
        );
    }
}
