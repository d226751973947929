//! DNS_CHECK: one query over UDP; up when a reply with the same id, QR set and RCODE 0 comes.

use std::str::FromStr;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use socket2::{Protocol, Type};
use tokio::net::UdpSocket;

use crate::error::ConfigError;
use crate::net::ConnectOpts;
use crate::outcome::{up, Failure, ProbeResult, Reason};

/// The DNS_CHECK parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsParams {
    /// Target (port 53 usually) and connection options.
    pub connect: ConnectOpts,
    /// `type` (default SOA).
    pub query_type: RecordType,
    /// `name` (default the root, `.`).
    pub name: Name,
}

impl DnsParams {
    /// A query for the SOA of the root.
    pub fn new(connect: ConnectOpts) -> Self {
        DnsParams {
            connect,
            query_type: RecordType::SOA,
            name: Name::root(),
        }
    }

    /// Set `type` from its keepalived spelling (A, NS, CNAME, SOA, MX, TXT, AAAA).
    pub fn set_type(&mut self, t: &str) -> Result<(), ConfigError> {
        self.query_type = match t.to_ascii_uppercase().as_str() {
            "A" => RecordType::A,
            "NS" => RecordType::NS,
            "CNAME" => RecordType::CNAME,
            "SOA" => RecordType::SOA,
            "MX" => RecordType::MX,
            "TXT" => RecordType::TXT,
            "AAAA" => RecordType::AAAA,
            _ => return Err(ConfigError::BadDnsType(t.to_string())),
        };
        Ok(())
    }

    /// Set `name`; a name without a final dot is taken as fully qualified.
    pub fn set_name(&mut self, n: &str) -> Result<(), ConfigError> {
        let mut name =
            Name::from_str(n).map_err(|e| ConfigError::BadDnsName(n.to_string(), e.to_string()))?;
        name.set_fqdn(true);
        self.name = name;
        Ok(())
    }
}

/// Send the query and wait for the matching reply.
pub async fn probe(p: &DnsParams) -> ProbeResult {
    let target = p.connect.resolved_target()?;
    let sock = p.connect.socket(Type::DGRAM, Some(Protocol::UDP))?;
    let sock = UdpSocket::from_std(std::net::UdpSocket::from(sock))
        .map_err(|e| Failure::new(format!("cannot register UDP socket: {e}")))?;
    sock.connect(target)
        .await
        .map_err(|e| Failure::new(format!("cannot connect UDP socket to {target}: {e}")))?;
    let id = fastrand::u16(..);
    let mut msg = Message::new();
    msg.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(p.name.clone(), p.query_type));
    let bytes = msg
        .to_vec()
        .map_err(|e| Failure::new(format!("cannot encode DNS query: {e}")))?;
    sock.send(&bytes)
        .await
        .map_err(|e| Failure::new(format!("DNS query to {target} failed: {e}")))?;
    let timeout = p.connect.connect_timeout;
    let wait = async {
        let mut buf = vec![0u8; 4096];
        loop {
            // An ICMP error (port unreachable...) comes back as the read's error: keepalived
            // words it as a failed read with the errno.
            let n = sock
                .recv(&mut buf)
                .await
                .map_err(|e| Failure::connect(target, &e))?;
            let Some(reply) = buf.get(..n) else {
                continue;
            };
            match judge(reply, id) {
                Verdict::Foreign => continue,
                Verdict::Done(r) => return r,
            }
        }
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(r) => r,
        Err(_) => Err(Reason::NoReply { after: timeout }.into()),
    }
}

/// What one datagram read back says.
enum Verdict {
    /// A reply to another query (another id): ignored, as keepalived does (`dns-wrong-id.log`).
    Foreign,
    /// The probe's result.
    Done(ProbeResult),
}

/// Judges `reply` to query `id`: up when QR is set and the RCODE is 0. The RCODE is the
/// header's 4 bits, as keepalived reads it (`(rcode = 2)` in `dns-failures.log`).
fn judge(reply: &[u8], id: u16) -> Verdict {
    // A reply too short for a header is garbage.
    let (true, &[id_hi, id_lo, _, flags, ..]) = (reply.len() >= 12, reply) else {
        return Verdict::Done(Err(Failure::new(format!(
            "DNS reply of {} bytes is too short",
            reply.len()
        ))));
    };
    if u16::from_be_bytes([id_hi, id_lo]) != id {
        return Verdict::Foreign;
    }
    let m = match Message::from_vec(reply) {
        Ok(m) => m,
        Err(e) => return Verdict::Done(Err(Failure::new(format!("malformed DNS reply: {e}")))),
    };
    if m.message_type() != MessageType::Response {
        return Verdict::Done(Err(Failure::new("DNS reply does not have QR set")));
    }
    let rcode = flags & 0x0f;
    if rcode != 0 {
        return Verdict::Done(Err(Reason::DnsRcode { rcode }.into()));
    }
    Verdict::Done(up())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::ResponseCode;
    use std::time::Duration;

    /// A responder answering one query after `mangle` edits the reply.
    async fn responder(
        mangle: impl FnOnce(&mut Message) + Send + 'static,
    ) -> (std::net::SocketAddr, tokio::task::JoinHandle<Message>) {
        let s = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = s.local_addr().expect("addr");
        let h = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            let (n, peer) = s.recv_from(&mut buf).await.expect("recv");
            let q = Message::from_vec(&buf[..n]).expect("query");
            let mut r = Message::new();
            r.set_id(q.id()).set_message_type(MessageType::Response);
            r.add_queries(q.queries().to_vec());
            mangle(&mut r);
            s.send_to(&r.to_vec().expect("encode"), peer)
                .await
                .expect("send");
            q
        });
        (addr, h)
    }

    fn params(addr: std::net::SocketAddr) -> DnsParams {
        let mut c = ConnectOpts::new(addr);
        c.connect_timeout = Duration::from_millis(500);
        DnsParams::new(c)
    }

    #[tokio::test]
    async fn dns_ok_and_query_shape() {
        let (addr, h) = responder(|_| {}).await;
        let mut p = params(addr);
        p.set_type("a").expect("type");
        p.set_name("example.org").expect("name");
        assert_eq!(probe(&p).await, up());
        let q = h.await.expect("responder");
        let query = q.query().expect("question");
        assert_eq!(query.query_type(), RecordType::A);
        assert_eq!(query.name().to_ascii(), "example.org.");
    }

    #[tokio::test]
    async fn dns_default_is_root_soa() {
        let (addr, h) = responder(|_| {}).await;
        assert_eq!(probe(&params(addr)).await, up());
        let q = h.await.expect("responder");
        let query = q.query().expect("question");
        assert_eq!(query.query_type(), RecordType::SOA);
        assert!(query.name().is_root());
    }

    #[tokio::test]
    async fn dns_failures() {
        // The error RCODEs keepalived reports by number ("(rcode = 2)", dns-failures.log).
        for (code, rcode) in [
            (ResponseCode::ServFail, 2),
            (ResponseCode::NXDomain, 3),
            (ResponseCode::Refused, 5),
        ] {
            let (addr, _h) = responder(move |m| {
                m.set_response_code(code);
            })
            .await;
            let e = probe(&params(addr)).await.expect_err("rcode");
            assert_eq!(e.reason, Reason::DnsRcode { rcode });
        }
        let (addr, _h) = responder(|m| {
            m.set_message_type(MessageType::Query);
        })
        .await;
        let e = probe(&params(addr)).await.expect_err("qr");
        assert!(e.reason.contains("QR"), "{}", e.reason);
        let (addr, _h) = responder(|m| {
            let id = m.id();
            m.set_id(id.wrapping_add(1));
        })
        .await;
        let e = probe(&params(addr)).await.expect_err("id");
        assert_eq!(
            e.reason,
            Reason::NoReply {
                after: Duration::from_millis(500)
            }
        );
        // Nothing listening: the ICMP error read back, with its errno.
        let gone = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = gone.local_addr().expect("addr");
        drop(gone);
        let e = probe(&params(addr)).await.expect_err("refused");
        assert_eq!(
            e.reason,
            Reason::ConnectFailed {
                target: addr,
                cause: crate::outcome::IoCause::Os(111)
            }
        );
    }

    #[test]
    fn short_and_foreign_replies() {
        assert!(matches!(judge(&[0; 11], 0), Verdict::Done(Err(_))));
        let mut header = [0u8; 12];
        header[0] = 0x12;
        header[1] = 0x34;
        header[2] = 0x81;
        header[3] = 0x85;
        assert!(matches!(judge(&header, 0x1235), Verdict::Foreign));
        match judge(&header, 0x1234) {
            Verdict::Done(Err(f)) => assert_eq!(f.reason, Reason::DnsRcode { rcode: 5 }),
            _ => panic!("an RCODE failure"),
        }
    }

    /// keepalived 2.2.7 takes a reply whose question names another type (observed in the VM,
    /// tests/data/keepalived-checker-logs/dns-wrong-qtype.log: the service stays up); so do we.
    #[tokio::test]
    async fn dns_reply_with_another_question_type_is_accepted() {
        let (addr, h) = responder(|m| {
            let mut q = m.queries().to_vec();
            for q in &mut q {
                q.set_query_type(RecordType::A);
            }
            *m.queries_mut() = q;
        })
        .await;
        assert_eq!(probe(&params(addr)).await, up());
        let q = h.await.expect("responder");
        assert_eq!(q.query().map(Query::query_type), Some(RecordType::SOA));
    }

    #[test]
    fn bad_type_and_name() {
        let mut p = params("127.0.0.1:53".parse().expect("addr"));
        assert!(p.set_type("PTRX").is_err());
        assert!(p.set_name("a..b").is_err());
    }
}
