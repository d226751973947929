//! All checker kinds behind one type.

use std::time::Duration;

use crate::dns::DnsParams;
use crate::file::FileParams;
use crate::http::HttpParams;
use crate::misc::MiscParams;
use crate::net::ConnectOpts;
use crate::outcome::{Failure, ProbeResult, Reason};
use crate::smtp::SmtpParams;
use crate::udp::UdpParams;

/// The kind of a checker, as named in keepalived.conf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckKind {
    /// `TCP_CHECK`.
    Tcp,
    /// `HTTP_GET`.
    Http,
    /// `SSL_GET`.
    Ssl,
    /// `SMTP_CHECK`.
    Smtp,
    /// `DNS_CHECK`.
    Dns,
    /// `MISC_CHECK`.
    Misc,
    /// `UDP_CHECK`.
    Udp,
    /// `PING_CHECK`.
    Ping,
    /// `FILE_CHECK`.
    File,
    /// `BFD_CHECK`.
    Bfd,
}

impl CheckKind {
    /// The keyword in keepalived.conf.
    pub fn keyword(self) -> &'static str {
        match self {
            CheckKind::Tcp => "TCP_CHECK",
            CheckKind::Http => "HTTP_GET",
            CheckKind::Ssl => "SSL_GET",
            CheckKind::Smtp => "SMTP_CHECK",
            CheckKind::Dns => "DNS_CHECK",
            CheckKind::Misc => "MISC_CHECK",
            CheckKind::Udp => "UDP_CHECK",
            CheckKind::Ping => "PING_CHECK",
            CheckKind::File => "FILE_CHECK",
            CheckKind::Bfd => "BFD_CHECK",
        }
    }
}

/// One configured checker's probe.
#[derive(Debug, Clone)]
pub enum Probe {
    /// `TCP_CHECK`.
    Tcp(ConnectOpts),
    /// `HTTP_GET`, or `SSL_GET` when [`HttpParams::tls`] is set.
    Http(HttpParams),
    /// `SMTP_CHECK`.
    Smtp(SmtpParams),
    /// `DNS_CHECK`.
    Dns(DnsParams),
    /// `MISC_CHECK`.
    Misc(MiscParams),
    /// `UDP_CHECK`.
    Udp(UdpParams),
    /// `PING_CHECK`.
    Ping(ConnectOpts),
    /// `FILE_CHECK`.
    File(FileParams),
    /// `BFD_CHECK`: not supported; every probe fails saying so.
    Bfd {
        /// The BFD instance named.
        name: String,
    },
}

impl Probe {
    /// The checker kind.
    pub fn kind(&self) -> CheckKind {
        match self {
            Probe::Tcp(_) => CheckKind::Tcp,
            Probe::Http(p) if p.tls.is_some() => CheckKind::Ssl,
            Probe::Http(_) => CheckKind::Http,
            Probe::Smtp(_) => CheckKind::Smtp,
            Probe::Dns(_) => CheckKind::Dns,
            Probe::Misc(_) => CheckKind::Misc,
            Probe::Udp(_) => CheckKind::Udp,
            Probe::Ping(_) => CheckKind::Ping,
            Probe::File(_) => CheckKind::File,
            Probe::Bfd { .. } => CheckKind::Bfd,
        }
    }

    /// Whether rkeepalived can run this checker.
    pub fn is_supported(&self) -> bool {
        !matches!(self, Probe::Bfd { .. })
    }

    /// An upper bound on one probe's duration (one url of HTTP_GET / SSL_GET), enforced by
    /// [`Probe::probe`] (TCP_CHECK, HTTP_GET and SSL_GET stop within it by their own
    /// timeouts).
    pub fn hard_timeout(&self) -> Duration {
        let slack = Duration::from_secs(1);
        match self {
            Probe::Tcp(c) | Probe::Ping(c) => c.connect_timeout + slack,
            Probe::Http(p) => p.limits.total_timeout + slack,
            Probe::Smtp(p) => p.connect.connect_timeout.saturating_mul(5) + slack,
            Probe::Dns(p) => p.connect.connect_timeout + slack,
            Probe::Udp(p) => p.connect.connect_timeout + slack,
            Probe::Misc(p) => p.timeout + slack,
            Probe::File(_) | Probe::Bfd { .. } => Duration::from_secs(5),
        }
    }

    /// Run one probe, never longer than [`Probe::hard_timeout`]. HTTP_GET / SSL_GET check one
    /// url per probe: `url` is its index, as [`CheckerState::url`](crate::CheckerState::url)
    /// gives it; the other kinds ignore it.
    pub async fn probe(&self, url: usize) -> ProbeResult {
        let work = async {
            match self {
                // TCP_CHECK and HTTP_GET / SSL_GET bound themselves within the hard timeout
                // (connect timeout; whole-exchange timeout): they skip the second timer below.
                Probe::Tcp(c) => crate::tcp::probe(c).await,
                Probe::Http(p) => crate::http::probe_url(p, url).await,
                Probe::Smtp(p) => crate::smtp::probe(p).await,
                Probe::Dns(p) => crate::dns::probe(p).await,
                Probe::Misc(p) => crate::misc::probe(p).await,
                Probe::Udp(p) => crate::udp::probe(p).await,
                Probe::Ping(c) => crate::ping::probe(c).await,
                Probe::File(p) => crate::file::probe(p).await,
                Probe::Bfd { name } => Err(Failure::new(format!(
                    "BFD_CHECK {name}: BFD is not supported by rkeepalived"
                ))),
            }
        };
        if matches!(self, Probe::Tcp(_) | Probe::Http(_)) {
            return work.await;
        }
        let limit = self.hard_timeout();
        match tokio::time::timeout(limit, work).await {
            Ok(r) => r,
            Err(_) => Err(Reason::TimedOut {
                kind: self.kind(),
                after: limit,
            }
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bfd_is_reported_unsupported() {
        let p = Probe::Bfd { name: "b1".into() };
        assert!(!p.is_supported());
        assert_eq!(p.kind().keyword(), "BFD_CHECK");
        let e = p.probe(0).await.expect_err("unsupported");
        assert!(e.reason.contains("not supported"));
    }

    #[tokio::test]
    async fn tcp_through_the_enum() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let p = Probe::Tcp(ConnectOpts::new(l.local_addr().expect("addr")));
        assert_eq!(p.kind(), CheckKind::Tcp);
        assert!(p.probe(0).await.is_ok());
    }
}
