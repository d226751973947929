//! UDP_CHECK: send a datagram; down on an ICMP error (a connected UDP socket sees
//! ECONNREFUSED and friends) or, with `require_reply`, on a missing or non-matching reply.

use socket2::{Protocol, Type};
use tokio::net::UdpSocket;

use crate::error::ConfigError;
use crate::net::ConnectOpts;
use crate::outcome::{up, Failure, ProbeResult, Reason, UdpMismatch};

/// A hexadecimal byte string as keepalived writes it: whitespace separates groups, each group
/// is read two digits per byte from the left and a last lone digit is a byte of its own
/// (`Ab12f 3` is `AB 12 0F 03`). In a `require_reply` pattern, `X`/`x` is a nibble that
/// matches anything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HexPattern {
    /// The byte values (wildcard nibbles are 0).
    pub bytes: Vec<u8>,
    /// Bits that must match, per byte.
    pub mask: Vec<u8>,
}

impl HexPattern {
    /// Parse; `wildcards` allows `X`/`x`.
    pub fn parse(s: &str, wildcards: bool) -> Result<Self, ConfigError> {
        let mut p = HexPattern::default();
        let nibble = |c: char| -> Result<(u8, u8), ConfigError> {
            if wildcards && (c == 'x' || c == 'X') {
                return Ok((0, 0));
            }
            c.to_digit(16)
                .map(|d| (d as u8, 0xf))
                .ok_or_else(|| ConfigError::BadHex(s.to_string(), "not a hex digit"))
        };
        for group in s.split_whitespace() {
            let chars: Vec<char> = group.chars().collect();
            for pair in chars.chunks(2) {
                let (value, mask) = match pair {
                    [hi, lo] => {
                        let (h, hm) = nibble(*hi)?;
                        let (l, lm) = nibble(*lo)?;
                        ((h << 4) | l, (hm << 4) | lm)
                    }
                    [lo] => {
                        let (l, lm) = nibble(*lo)?;
                        (l, 0xf0 | lm)
                    }
                    _ => continue,
                };
                p.bytes.push(value);
                p.mask.push(mask);
            }
        }
        Ok(p)
    }

    /// Whether `data` matches over the shorter of the two lengths.
    pub fn matches(&self, data: &[u8]) -> bool {
        data.iter()
            .zip(self.bytes.iter().zip(&self.mask))
            .all(|(d, (b, m))| d & m == b & m)
    }
}

/// The UDP_CHECK parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpParams {
    /// Target and connection options.
    pub connect: ConnectOpts,
    /// `payload`; `None` sends random bytes.
    pub payload: Option<Vec<u8>>,
    /// `require_reply`: `None` = no reply needed; `Some` = a reply must come and match.
    pub require_reply: Option<HexPattern>,
    /// `min_reply_length` (default 0).
    pub min_reply_length: usize,
    /// `max_reply_length` (default 255).
    pub max_reply_length: usize,
}

impl UdpParams {
    /// Parameters with a random payload and no reply required.
    pub fn new(connect: ConnectOpts) -> Self {
        UdpParams {
            connect,
            payload: None,
            require_reply: None,
            min_reply_length: 0,
            max_reply_length: 255,
        }
    }
}

/// Send the datagram and wait for an error, a reply, or the timeout.
pub async fn probe(p: &UdpParams) -> ProbeResult {
    let target = p.connect.resolved_target()?;
    let sock = p.connect.socket(Type::DGRAM, Some(Protocol::UDP))?;
    let sock = UdpSocket::from_std(std::net::UdpSocket::from(sock))
        .map_err(|e| Failure::new(format!("cannot register UDP socket: {e}")))?;
    sock.connect(target)
        .await
        .map_err(|e| Failure::new(format!("cannot connect UDP socket to {target}: {e}")))?;
    let payload = match &p.payload {
        Some(b) => b.clone(),
        None => (0..16).map(|_| fastrand::u8(..)).collect(),
    };
    // An ICMP error for an earlier datagram may surface here as for the read below.
    sock.send(&payload)
        .await
        .map_err(|e| Failure::connect(target, &e))?;
    let timeout = p.connect.connect_timeout;
    let mut buf = vec![0u8; 65536];
    match tokio::time::timeout(timeout, sock.recv(&mut buf)).await {
        Err(_) => match &p.require_reply {
            None => up(),
            Some(_) => Err(Reason::NoReply { after: timeout }.into()),
        },
        // ICMP port unreachable and friends, read back on the connected socket.
        Ok(Err(e)) => Err(Failure::connect(target, &e)),
        Ok(Ok(n)) => match &p.require_reply {
            None => up(),
            Some(pattern) => judge(p, pattern, buf.get(..n).unwrap_or_default()),
        },
    }
}

/// Judges a reply against `require_reply` and the allowed lengths. keepalived 2.2.7 compares
/// over the shorter of reply and pattern: a 1-byte reply `42` passes `require_reply 4243`,
/// `4258` passes `42`, an empty reply passes (`reply-errors.log`, 9105 to 9107).
fn judge(p: &UdpParams, pattern: &HexPattern, reply: &[u8]) -> ProbeResult {
    let n = reply.len();
    if n < p.min_reply_length || n > p.max_reply_length {
        return Err(Reason::UdpReply(UdpMismatch::Length {
            received: n,
            min: p.min_reply_length,
            max: p.max_reply_length,
        })
        .into());
    }
    if !pattern.matches(reply) {
        return Err(Reason::UdpReply(UdpMismatch::Data).into());
    }
    up()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn hex_parsing_follows_the_man_page_example() {
        let p = HexPattern::parse("Ab12f 3 456 546443123", false).expect("hex");
        assert_eq!(
            p.bytes,
            vec![0xab, 0x12, 0x0f, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03]
        );
        assert!(HexPattern::parse("zz", false).is_err());
        assert!(HexPattern::parse("xx", false).is_err());
        let w = HexPattern::parse("aXx1", true).expect("wildcards");
        assert!(w.matches(&[0xa7, 0x51]));
        assert!(!w.matches(&[0xb7, 0x51]));
        assert!(w.matches(&[0xa0]));
    }

    async fn echo(reply: &'static [u8]) -> std::net::SocketAddr {
        let s = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = s.local_addr().expect("addr");
        tokio::spawn(async move {
            let mut b = [0u8; 100];
            if let Ok((_, peer)) = s.recv_from(&mut b).await {
                let _ = s.send_to(reply, peer).await;
            }
        });
        addr
    }

    fn params(addr: std::net::SocketAddr) -> UdpParams {
        let mut c = ConnectOpts::new(addr);
        c.connect_timeout = Duration::from_millis(400);
        UdpParams::new(c)
    }

    #[tokio::test]
    async fn reply_matching() {
        let mut p = params(echo(b"\x01\x02\x03").await);
        p.require_reply = Some(HexPattern::parse("0102", true).expect("hex"));
        assert_eq!(probe(&p).await, up());
        let mut p = params(echo(b"\x01\x09").await);
        p.require_reply = Some(HexPattern::parse("0102", true).expect("hex"));
        let e = probe(&p).await.expect_err("data");
        assert_eq!(e.reason, Reason::UdpReply(UdpMismatch::Data));
        let mut p = params(echo(b"\x01\x09").await);
        p.require_reply = Some(HexPattern::default());
        p.min_reply_length = 3;
        let e = probe(&p).await.expect_err("short");
        let length =
            |received, min, max| Reason::UdpReply(UdpMismatch::Length { received, min, max });
        assert_eq!(e.reason, length(2, 3, 255));
        let mut p = params(echo(b"BBBBB").await);
        p.require_reply = Some(HexPattern::parse("42", true).expect("hex"));
        p.max_reply_length = 3;
        let e = probe(&p).await.expect_err("long");
        assert_eq!(e.reason, length(5, 0, 3));
    }

    /// What keepalived 2.2.7 passes (reply-errors.log, 9105 to 9107): the shorter of reply
    /// and pattern is compared.
    #[test]
    fn replies_keepalived_passes() {
        let mut p = params("127.0.0.1:9".parse().expect("addr"));
        p.require_reply = Some(HexPattern::parse("4243", true).expect("hex"));
        assert_eq!(
            judge(&p, &HexPattern::parse("4243", true).expect("hex"), b"B"),
            up()
        );
        let pat = HexPattern::parse("42", true).expect("hex");
        assert_eq!(judge(&p, &pat, b"BXYZ"), up());
        assert_eq!(judge(&p, &pat, b""), up());
        assert!(judge(&p, &pat, b"WRONG").is_err());
    }

    #[tokio::test]
    async fn port_unreachable_fails_and_silence_passes() {
        let s = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = s.local_addr().expect("addr");
        drop(s);
        let e = probe(&params(addr)).await.expect_err("refused");
        assert_eq!(
            e.reason,
            Reason::ConnectFailed {
                target: addr,
                cause: crate::outcome::IoCause::Os(111)
            }
        );
        // A silent listener: fine without require_reply, a failure with it.
        let quiet = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let mut p = params(quiet.local_addr().expect("addr"));
        p.payload = Some(vec![1, 2, 3]);
        assert_eq!(probe(&p).await, up());
        p.require_reply = Some(HexPattern::default());
        let e = probe(&p).await.expect_err("silent");
        assert_eq!(
            e.reason,
            Reason::NoReply {
                after: Duration::from_millis(400)
            }
        );
    }
}
