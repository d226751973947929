//! PING_CHECK: one ICMP or ICMPv6 echo over a ping socket (`SOCK_DGRAM` + `IPPROTO_ICMP`),
//! which needs no raw-socket privilege (the group must be in `net.ipv4.ping_group_range`).

use std::net::SocketAddr;

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

/// Send one echo request to `opts.target` (port ignored) and wait for its reply.
pub async fn probe(opts: &ConnectOpts) -> ProbeResult {
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
