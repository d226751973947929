//! Socket set-up shared by the network checkers: source address and port, interface, fwmark,
//! connect timeout.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::outcome::{Failure, IoCause, Reason, SetUpStep};

/// Where and how a checker connects (`connect_ip`, `connect_port`, `bindto`, `bind_port`,
/// `bind_if`, `fwmark`, `connect_timeout`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnectOpts {
    /// The address probed (the real server's, or `connect_ip`/`connect_port`).
    pub target: SocketAddr,
    /// Source address (`bindto`).
    pub bindto: Option<IpAddr>,
    /// Source port (`bind_port`).
    pub bind_port: Option<u16>,
    /// Interface to bind to with SO_BINDTODEVICE (`bind_if`); also gives the scope of an IPv6
    /// link-local target.
    pub bind_if: Option<String>,
    /// SO_MARK on every packet (`fwmark`).
    pub fwmark: Option<u32>,
    /// `connect_timeout`; also bounds each read and write.
    pub connect_timeout: Duration,
}

impl ConnectOpts {
    /// Options for `target` with keepalived's 5 s `connect_timeout` and nothing else set.
    pub fn new(target: SocketAddr) -> Self {
        ConnectOpts {
            target,
            bindto: None,
            bind_port: None,
            bind_if: None,
            fwmark: None,
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// The target, with the scope of an IPv6 link-local address filled from `bind_if`.
    pub fn resolved_target(&self) -> Result<SocketAddr, Failure> {
        self.resolve(self.target)
    }

    /// `target` with the scope of an IPv6 link-local address filled from `bind_if`: these
    /// options applied to another target (options shared by several targets).
    pub fn resolve(&self, mut target: SocketAddr) -> Result<SocketAddr, Failure> {
        if let SocketAddr::V6(v6) = &mut target {
            let link_local = (v6.ip().segments()[0] & 0xffc0) == 0xfe80;
            if link_local && v6.scope_id() == 0 {
                if let Some(ifname) = &self.bind_if {
                    let index = nix::net::if_::if_nametoindex(ifname.as_str())
                        .map_err(|e| Failure::socket(format!("interface {ifname}: {e}")))?;
                    v6.set_scope_id(index);
                }
            }
        }
        Ok(target)
    }

    /// A non-blocking socket of the target's family, bound and marked as configured.
    pub fn socket(&self, ty: Type, protocol: Option<Protocol>) -> Result<Socket, Failure> {
        self.socket_to(self.target, ty, protocol)
    }

    /// A non-blocking socket for `target` (of its family), bound and marked as these options
    /// say: [`socket`](Self::socket) for options shared by several targets.
    pub fn socket_to(
        &self,
        target: SocketAddr,
        ty: Type,
        protocol: Option<Protocol>,
    ) -> Result<Socket, Failure> {
        let domain = if target.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        // Non-blocking and close-on-exec from the start (SOCK_NONBLOCK | SOCK_CLOEXEC): one
        // system call where setting the flags afterwards takes four more per probe.
        let sock = Socket::new(domain, ty.nonblocking(), protocol)
            .map_err(|e| Failure::socket(format!("cannot create socket: {e}")))?;
        let set_up = |step, e: std::io::Error| {
            Failure::from(Reason::SetUp {
                step,
                cause: IoCause::from(e),
            })
        };
        if let Some(mark) = self.fwmark {
            sock.set_mark(mark)
                .map_err(|e| set_up(SetUpStep::Fwmark(mark), e))?;
        }
        if let Some(ifname) = &self.bind_if {
            sock.bind_device(Some(ifname.as_bytes()))
                .map_err(|e| set_up(SetUpStep::Device(ifname.as_str().into()), e))?;
        }
        if self.bindto.is_some() || self.bind_port.is_some() {
            let ip = match (self.bindto, target) {
                (Some(ip), t) if ip.is_ipv4() != t.is_ipv4() => {
                    return Err(Failure::new(format!(
                        "bindto {ip} and target {t} are of different address families"
                    )))
                }
                (Some(ip), _) => ip,
                (None, SocketAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                (None, SocketAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            };
            let mut src = SocketAddr::new(ip, self.bind_port.unwrap_or(0));
            if let (SocketAddr::V6(s), Some(ifname)) = (&mut src, &self.bind_if) {
                if (s.ip().segments()[0] & 0xffc0) == 0xfe80 {
                    if let Ok(index) = nix::net::if_::if_nametoindex(ifname.as_str()) {
                        s.set_scope_id(index);
                    }
                }
            }
            if self.bind_port.is_some() {
                // A fixed source port is reused on every probe.
                let _ = sock.set_reuse_address(true);
            }
            sock.bind(&SockAddr::from(src))
                .map_err(|e| set_up(SetUpStep::Bind(src), e))?;
        }
        Ok(sock)
    }

    /// Open a TCP connection within `connect_timeout`.
    ///
    /// The verdict comes from the readiness flags: a connect that completes reports only
    /// "writable", one that fails also reports an error or a hang-up, and only then is
    /// `SO_ERROR` read, for the reason (tokio's `TcpSocket::connect` reads it every time: one
    /// system call more per probe).
    pub async fn tcp_connect(&self) -> Result<TcpStream, Failure> {
        let target = self.resolved_target()?;
        let sock = self.socket(Type::STREAM, Some(Protocol::TCP))?;
        let failed = |e: &std::io::Error| Failure::connect(target, e);
        match sock.connect(&SockAddr::from(target)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => {}
            Err(e) => return Err(failed(&e)),
        }
        let stream = TcpStream::from_std(std::net::TcpStream::from(sock))
            .map_err(|e| Failure::socket(format!("cannot watch the connection: {e}")))?;
        let ready = match tokio::time::timeout(
            self.connect_timeout,
            stream.ready(Interest::WRITABLE),
        )
        .await
        {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(failed(&e)),
            Err(_) => {
                return Err(Reason::ConnectTimeout {
                    target,
                    after: self.connect_timeout,
                }
                .into())
            }
        };
        if ready.is_error() || ready.is_write_closed() {
            return Err(match stream.take_error() {
                Ok(Some(e)) | Err(e) => failed(&e),
                Ok(None) => Reason::ConnectClosed { target }.into(),
            });
        }
        Ok(stream)
    }
}

/// A duration as keepalived-style seconds (`5s`, `1.5s`).
pub(crate) fn fmt_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connect_refused_and_accepted() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut opts = ConnectOpts::new(addr);
        opts.bindto = Some("127.0.0.1".parse().expect("ip"));
        opts.fwmark = Some(7);
        let s = opts.tcp_connect().await.expect("connect");
        assert_eq!(
            s.local_addr().expect("local").ip(),
            opts.bindto.expect("ip")
        );
        drop(listener);
        let err = opts.tcp_connect().await.expect_err("refused");
        assert!(err.reason.contains("refused"), "{}", err.reason);
    }

    #[tokio::test]
    async fn connect_failures_keep_their_reasons() {
        // Refused: the reason is the kernel's error, read only because the connect failed.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let err = ConnectOpts::new(addr)
            .tcp_connect()
            .await
            .expect_err("refused");
        assert_eq!(
            err.reason,
            Reason::ConnectFailed {
                target: addr,
                cause: crate::outcome::IoCause::Os(111)
            }
        );
        assert_eq!(
            err.to_string(),
            format!("connection to {addr} failed: Connection refused (os error 111)")
        );
        // No answer at all (a TEST-NET-1 address is never routed here, or unreachable).
        let mut opts = ConnectOpts::new("192.0.2.1:9".parse().expect("addr"));
        opts.connect_timeout = Duration::from_millis(200);
        let err = opts.tcp_connect().await.expect_err("no answer");
        let text = err.to_string();
        assert!(
            (matches!(err.reason, Reason::ConnectTimeout { .. })
                && text == "connection to 192.0.2.1:9 timed out after 0.2s")
                || (matches!(err.reason, Reason::ConnectFailed { .. })
                    && text.starts_with("connection to 192.0.2.1:9 failed: ")),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_connection_with_data_waiting_is_up() {
        use tokio::io::AsyncReadExt;
        // The server writes and closes before the prober looks: still a successful connect.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            use std::io::Write;
            let (mut s, _) = listener.accept().expect("accept");
            s.write_all(b"hi").expect("write");
        });
        let mut s = ConnectOpts::new(addr).tcp_connect().await.expect("connect");
        server.join().expect("server");
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.expect("read");
        assert_eq!(buf, b"hi");
    }

    #[tokio::test]
    async fn sockets_start_non_blocking_and_close_on_exec() {
        use std::os::fd::AsRawFd;
        let opts = ConnectOpts::new("127.0.0.1:1".parse().expect("addr"));
        let sock = opts.socket(Type::STREAM, None).expect("socket");
        let fd = sock.as_raw_fd();
        let fl = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL).expect("getfl");
        assert_ne!(fl & nix::libc::O_NONBLOCK, 0);
        let fdfl = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).expect("getfd");
        assert_ne!(fdfl & nix::libc::FD_CLOEXEC, 0);
    }

    #[tokio::test]
    async fn family_mismatch_is_reported() {
        let mut opts = ConnectOpts::new("127.0.0.1:1".parse().expect("addr"));
        opts.bindto = Some("::1".parse().expect("ip"));
        let err = opts.tcp_connect().await.expect_err("mismatch");
        assert!(err.reason.contains("different address families"));
    }

    #[tokio::test]
    async fn unknown_interface_is_reported() {
        let mut opts = ConnectOpts::new("127.0.0.1:1".parse().expect("addr"));
        opts.bind_if = Some("nosuchif0".into());
        let err = opts.tcp_connect().await.expect_err("no interface");
        assert!(err.reason.contains("nosuchif0"), "{}", err.reason);
    }
}
