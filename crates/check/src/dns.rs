//! DNS_CHECK: one query over UDP; up when a reply with the same id, QR set and RCODE 0 comes.

use std::str::FromStr;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use socket2::{Protocol, Type};
use tokio::net::UdpSocket;

use crate::error::ConfigError;
use crate::net::{fmt_duration, ConnectOpts};
use crate::outcome::{up, Failure, ProbeResult};

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
            let n = sock
                .recv(&mut buf)
                .await
                .map_err(|e| Failure::new(format!("DNS server {target}: {e}")))?;
            let Some(reply) = buf.get(..n) else {
                continue;
            };
            // A reply for another query is ignored; a reply too short to carry an id is garbage.
            if reply.len() < 12 {
                return Err(Failure::new(format!("DNS reply of {n} bytes is too short")));
            }
            if u16::from_be_bytes([reply[0], reply[1]]) != id {
                continue;
            }
            let m = Message::from_vec(reply)
                .map_err(|e| Failure::new(format!("malformed DNS reply: {e}")))?;
            if m.message_type() != MessageType::Response {
                return Err(Failure::new("DNS reply does not have QR set"));
            }
            if m.response_code() != ResponseCode::NoError {
                return Err(Failure::new(format!(
                    "DNS reply has RCODE {}",
                    m.response_code()
                )));
            }
            return up();
        }
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(r) => r,
        Err(_) => Err(Failure::new(format!(
            "no DNS reply from {target} within {}",
            fmt_duration(timeout)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A responder answering one query after `mangle` edits the reply.
    async fn responder(
        mangle: fn(&mut Message),
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
        let (addr, _h) = responder(|m| {
            m.set_response_code(ResponseCode::NXDomain);
        })
        .await;
        let e = probe(&params(addr)).await.expect_err("rcode");
        assert!(e.reason.contains("RCODE"), "{}", e.reason);
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
        assert!(e.reason.contains("no DNS reply"), "{}", e.reason);
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
