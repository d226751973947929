//! Raw sockets for VRRP (IP protocols 112 and 51) and AF_PACKET sockets for gratuitous ARP and
//! unsolicited neighbour advertisements.
//!
//! VRRP over IPv4 is sent with `IP_HDRINCL` (the engine builds the IP header itself, as AH needs
//! the exact header it authenticates) and received with the IP header included, so the TTL is
//! read from the header. VRRP over IPv6 lets the kernel build the header and compute the
//! checksum (`IPV6_CHECKSUM` at offset 6); the hop limit and destination come from control
//! messages.

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, SystemTime};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};

/// IP protocol number of VRRP (RFC 5798 §5.1.1.4).
pub const IPPROTO_VRRP: i32 = 112;
/// IP protocol number of the Authentication Header (RFC 4302), used by VRRPv2 `auth_type AH`.
pub const IPPROTO_AH: i32 = 51;
/// Offset of the checksum in the VRRP header, for `IPV6_CHECKSUM`.
const VRRP_CHECKSUM_OFFSET: libc::c_int = 6;

/// What arrived with a received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Bytes written into the buffer. For IPv4 this includes the IP header.
    pub len: usize,
    /// Source address of the packet.
    pub src: IpAddr,
    /// Destination address (multicast group or our unicast address), when known.
    pub dst: Option<IpAddr>,
    /// TTL (IPv4) or hop limit (IPv6), when known.
    pub ttl: Option<u8>,
    /// Index of the interface the packet arrived on, when known.
    pub ifindex: Option<u32>,
    /// When the kernel received the packet (`SO_TIMESTAMPNS`, CLOCK_REALTIME), when known:
    /// RFC 5798 restarts the master-down timer at reception, not when the daemon gets round to
    /// reading the packet.
    pub rx_time: Option<SystemTime>,
}

/// A raw IP socket carrying VRRP (or AH) on one interface.
#[derive(Debug)]
pub struct VrrpSocket {
    sock: Socket,
    v6: bool,
}

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `fd` is an open socket owned by the caller; the option value points to a live
    // c_int whose size is passed alongside it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl VrrpSocket {
    /// Opens a raw IPv4 socket for `protocol` (112 or 51) bound to interface `ifname`, with
    /// `IP_HDRINCL`, multicast TTL 255, multicast loop off and the interface as the multicast
    /// output interface. Non-blocking.
    pub fn ipv4(ifname: &str, ifindex: u32, protocol: i32) -> io::Result<Self> {
        let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(protocol)))?;
        sock.set_nonblocking(true)?;
        sock.set_cloexec(true)?;
        sock.bind_device(Some(ifname.as_bytes()))?;
        sock.set_header_included_v4(true)?;
        sock.set_multicast_ttl_v4(255)?;
        sock.set_multicast_loop_v4(false)?;
        let mreqn = libc::ip_mreqn {
            imr_multiaddr: libc::in_addr { s_addr: 0 },
            imr_address: libc::in_addr { s_addr: 0 },
            imr_ifindex: ifindex as libc::c_int,
        };
        // SAFETY: IP_MULTICAST_IF accepts an ip_mreqn; the struct is live and its size passed.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_MULTICAST_IF,
                (&mreqn as *const libc::ip_mreqn).cast(),
                size_of::<libc::ip_mreqn>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        setsockopt_int(sock.as_raw_fd(), libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
        enable_rx_timestamps(sock.as_raw_fd());
        enlarge_receive_buffer(sock.as_raw_fd());
        Ok(VrrpSocket { sock, v6: false })
    }

    /// Opens a raw IPv6 socket for VRRP bound to interface `ifname`: the kernel computes the
    /// checksum at offset 6, hop limits are 255, and hop limit and destination are reported
    /// with each packet. Non-blocking.
    pub fn ipv6(ifname: &str, ifindex: u32) -> io::Result<Self> {
        let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(IPPROTO_VRRP)))?;
        sock.set_nonblocking(true)?;
        sock.set_cloexec(true)?;
        sock.bind_device(Some(ifname.as_bytes()))?;
        sock.set_multicast_hops_v6(255)?;
        sock.set_unicast_hops_v6(255)?;
        sock.set_multicast_loop_v6(false)?;
        sock.set_multicast_if_v6(ifindex)?;
        let fd = sock.as_raw_fd();
        setsockopt_int(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_CHECKSUM,
            VRRP_CHECKSUM_OFFSET,
        )?;
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
        enable_rx_timestamps(fd);
        enlarge_receive_buffer(fd);
        Ok(VrrpSocket { sock, v6: true })
    }

    /// Joins multicast `group` on the interface with index `ifindex`.
    pub fn join_multicast(&self, group: IpAddr, ifindex: u32) -> io::Result<()> {
        match group {
            IpAddr::V4(g) => self
                .sock
                .join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(ifindex)),
            IpAddr::V6(g) => self.sock.join_multicast_v6(&g, ifindex),
        }
    }

    /// Leaves multicast `group` on the interface with index `ifindex`.
    pub fn leave_multicast(&self, group: IpAddr, ifindex: u32) -> io::Result<()> {
        match group {
            IpAddr::V4(g) => self
                .sock
                .leave_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(ifindex)),
            IpAddr::V6(g) => self.sock.leave_multicast_v6(&g, ifindex),
        }
    }

    /// Sets the unicast TTL / hop limit (`unicast_ttl`).
    pub fn set_unicast_ttl(&self, ttl: u32) -> io::Result<()> {
        if self.v6 {
            self.sock.set_unicast_hops_v6(ttl)
        } else {
            self.sock.set_ttl(ttl)
        }
    }

    /// Sends a complete IPv4 packet (header included) to `dst`.
    pub fn send_ipv4(&self, packet: &[u8], dst: Ipv4Addr) -> io::Result<usize> {
        self.sock
            .send_to(packet, &SockAddr::from(SocketAddrV4::new(dst, 0)))
    }

    /// Sends a VRRP message over IPv6 to `dst` from source `src` (when given) out of the
    /// interface `ifindex`. The kernel builds the IPv6 header and the checksum.
    pub fn send_ipv6(
        &self,
        msg: &[u8],
        src: Option<Ipv6Addr>,
        dst: Ipv6Addr,
        ifindex: u32,
    ) -> io::Result<usize> {
        let dst_sa = SockAddr::from(SocketAddrV6::new(dst, 0, 0, ifindex));
        let Some(src) = src else {
            return self.sock.send_to(msg, &dst_sa);
        };
        let info = libc::in6_pktinfo {
            ipi6_addr: libc::in6_addr {
                s6_addr: src.octets(),
            },
            ipi6_ifindex: ifindex,
        };
        // SAFETY: CMSG_SPACE is a pure computation on a size.
        let space = unsafe { libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as u32) } as usize;
        let mut cbuf = vec![0u8; space];
        let mut iov = libc::iovec {
            iov_base: msg.as_ptr() as *mut libc::c_void,
            iov_len: msg.len(),
        };
        // SAFETY: msghdr is plain old data; zero is a valid initial value for every field.
        let mut mh: libc::msghdr = unsafe { std::mem::zeroed() };
        mh.msg_name = dst_sa.as_ptr() as *mut libc::c_void;
        mh.msg_namelen = dst_sa.len();
        mh.msg_iov = &mut iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf.as_mut_ptr().cast();
        mh.msg_controllen = space as _;
        // SAFETY: the control buffer is CMSG_SPACE(in6_pktinfo) bytes, so CMSG_FIRSTHDR returns a
        // header inside it with room for the pktinfo payload written through CMSG_DATA.
        unsafe {
            let cm = libc::CMSG_FIRSTHDR(&mh);
            if cm.is_null() {
                return Err(io::Error::other("no room for IPV6_PKTINFO"));
            }
            (*cm).cmsg_level = libc::IPPROTO_IPV6;
            (*cm).cmsg_type = libc::IPV6_PKTINFO;
            (*cm).cmsg_len = libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cm).cast::<libc::in6_pktinfo>(), info);
        }
        // SAFETY: every pointer in `mh` refers to a buffer that outlives the call.
        let n = unsafe { libc::sendmsg(self.sock.as_raw_fd(), &mh, 0) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Receives one packet. For IPv4 the buffer starts with the IP header and the TTL is read
    /// from it; for IPv6 the buffer holds the VRRP message and hop limit and destination come
    /// from control messages. Returns `WouldBlock` when nothing is queued.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        // SAFETY: zeroed sockaddr_storage/msghdr are valid initial values.
        let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut cbuf = [0u8; 256];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: as above.
        let mut mh: libc::msghdr = unsafe { std::mem::zeroed() };
        mh.msg_name = (&mut from as *mut libc::sockaddr_storage).cast();
        mh.msg_namelen = size_of::<libc::sockaddr_storage>() as u32;
        mh.msg_iov = &mut iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf.as_mut_ptr().cast();
        mh.msg_controllen = cbuf.len() as _;
        // SAFETY: all buffers referenced by `mh` are live and sized as declared.
        let n = unsafe { libc::recvmsg(self.sock.as_raw_fd(), &mut mh, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let len = n as usize;
        let mut r = Received {
            len,
            src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst: None,
            ttl: None,
            ifindex: None,
            rx_time: None,
        };
        r.src = sockaddr_ip(&from);
        // SAFETY: iterating control messages the kernel wrote into `cbuf`, bounded by
        // msg_controllen; each data read is unaligned and of the size the type implies.
        unsafe {
            let mut cm = libc::CMSG_FIRSTHDR(&mh);
            while !cm.is_null() {
                let data = libc::CMSG_DATA(cm);
                match ((*cm).cmsg_level, (*cm).cmsg_type) {
                    (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                        let v = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                        r.ttl = u8::try_from(v).ok();
                    }
                    (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                        let p = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                        r.dst = Some(IpAddr::V6(Ipv6Addr::from(p.ipi6_addr.s6_addr)));
                        r.ifindex = Some(p.ipi6_ifindex);
                    }
                    (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                        let ts = std::ptr::read_unaligned(data.cast::<libc::timespec>());
                        r.rx_time = timespec_to_system(ts.tv_sec, ts.tv_nsec);
                    }
                    (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                        let p = std::ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                        r.dst = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(p.ipi_addr.s_addr))));
                        r.ifindex = u32::try_from(p.ipi_ifindex).ok();
                    }
                    _ => {}
                }
                cm = libc::CMSG_NXTHDR(&mh, cm);
            }
        }
        if !self.v6 && len >= 20 {
            r.ttl = Some(buf[8]);
        }
        Ok(r)
    }
}

impl AsFd for VrrpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsRawFd for VrrpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

/// An AF_PACKET socket that sends complete Ethernet frames out of one interface (gratuitous
/// ARP, unsolicited neighbour advertisements from a VMAC).
#[derive(Debug)]
pub struct FrameSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl FrameSocket {
    /// Opens a send-only packet socket on the interface with index `ifindex`.
    pub fn new(ifindex: u32) -> io::Result<Self> {
        // SAFETY: plain socket(2) call; the returned fd is checked and owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(FrameSocket { fd, ifindex })
    }

    /// Sends one Ethernet frame (destination MAC, source MAC, ethertype, payload).
    pub fn send_frame(&self, frame: &[u8]) -> io::Result<usize> {
        if frame.len() < 14 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame shorter than an Ethernet header",
            ));
        }
        // SAFETY: sockaddr_ll is plain old data; zero is a valid initial value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = u16::from_be_bytes([frame[12], frame[13]]).to_be();
        sll.sll_ifindex = self.ifindex as i32;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: the frame buffer and the sockaddr_ll live across the call, sizes are exact.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl AsFd for FrameSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Dissolves the association of a connection-oriented socket: `connect()` to an `AF_UNSPEC`
/// address. On a TCP socket the kernel aborts whatever connection it holds (an established
/// one is reset, one still connecting is dropped), releases its ephemeral port unless the
/// port was bound explicitly, and leaves the socket unconnected: the same descriptor, with
/// its options and its epoll registrations, can `connect()` again, to any address.
pub fn disconnect(sock: BorrowedFd<'_>) -> io::Result<()> {
    let unspec = libc::sockaddr {
        sa_family: libc::AF_UNSPEC as libc::sa_family_t,
        sa_data: [0; 14],
    };
    // SAFETY: `sock` is an open descriptor for the duration of the borrow; the address points
    // to a live sockaddr whose size is passed alongside it, and the kernel only reads it.
    let rc = unsafe {
        libc::connect(
            sock.as_raw_fd(),
            &unspec,
            size_of::<libc::sockaddr>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads the hardware (MAC) address of an interface, via `SIOCGIFHWADDR`.
pub fn interface_mac(ifname: &str) -> io::Result<[u8; 6]> {
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
    // SAFETY: ifreq is plain old data; zero is valid.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    let name = ifname.as_bytes();
    if name.is_empty() || name.len() >= ifr.ifr_name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "invalid interface name",
        ));
    }
    for (d, s) in ifr.ifr_name.iter_mut().zip(name) {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR reads ifr_name and writes ifr_hwaddr inside the live ifreq.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut ifr) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after a successful SIOCGIFHWADDR the union holds ifru_hwaddr.
    let data = unsafe { ifr.ifr_ifru.ifru_hwaddr.sa_data };
    let mut mac = [0u8; 6];
    for (m, d) in mac.iter_mut().zip(data.iter()) {
        *m = *d as u8;
    }
    Ok(mac)
}

/// Asks the kernel to report each packet's reception time. Best effort: without it the engine
/// falls back to the time it reads the packet.
fn enable_rx_timestamps(fd: RawFd) {
    let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1);
}

/// Receive buffer of a VRRP socket: one socket carries every instance on its interface
/// (250 instances at 100 ms are 2,500 adverts a second), and the default (about 270 small
/// packets) overflows if the process is not scheduled for 100 ms; lost adverts then look like
/// a dead master.
const VRRP_RCVBUF: libc::c_int = 4 << 20;

/// Best effort: `SO_RCVBUFFORCE` (root may exceed `net.core.rmem_max`), else `SO_RCVBUF`.
fn enlarge_receive_buffer(fd: RawFd) {
    if setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, VRRP_RCVBUF).is_err() {
        let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, VRRP_RCVBUF);
    }
}

/// A CLOCK_REALTIME timespec as a `SystemTime` (`None` before the epoch or out of range).
fn timespec_to_system(sec: libc::time_t, nsec: libc::c_long) -> Option<SystemTime> {
    let sec = u64::try_from(sec).ok()?;
    let nsec = u32::try_from(nsec).ok().filter(|n| *n < 1_000_000_000)?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(sec, nsec))
}

/// The IP address in a socket address the kernel filled in (unspecified for other families).
fn sockaddr_ip(ss: &libc::sockaddr_storage) -> IpAddr {
    match i32::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large enough for.
            let sin =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
        }
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespecs_convert_and_bad_ones_are_refused() {
        let t = timespec_to_system(1_700_000_000, 250_000_000).expect("valid time");
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH)
                .expect("after epoch"),
            Duration::new(1_700_000_000, 250_000_000)
        );
        assert_eq!(timespec_to_system(-1, 0), None);
        assert_eq!(timespec_to_system(1, 1_000_000_000), None);
        assert_eq!(timespec_to_system(1, -1), None);
    }

    #[test]
    fn a_disconnected_tcp_socket_connects_again() {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let open = listener.local_addr().expect("addr");
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr")
        };
        let sock = Socket::new(Domain::IPV4, Type::STREAM.nonblocking(), None).expect("socket");
        let fd = sock.as_raw_fd();
        // Refused, its error left pending (not read): disconnected, the socket connects again
        // and the old error is gone.
        match sock.connect(&closed.into()) {
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            other => panic!("loopback connect: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(50));
        disconnect(sock.as_fd()).expect("disconnect after a refused connect");
        sock.set_nonblocking(false).expect("blocking");
        sock.connect(&open.into())
            .expect("connect after disconnect");
        assert!(sock.take_error().expect("SO_ERROR").is_none());
        let (mut server, _) = listener.accept().expect("accept");
        assert_eq!(
            sock.peer_addr().expect("peer").as_socket(),
            Some(open),
            "connected to the listener"
        );
        // Established: disconnecting resets the connection, and the same descriptor connects
        // once more.
        disconnect(sock.as_fd()).expect("disconnect an established connection");
        server
            .set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        let e = server.read(&mut [0u8; 4]).expect_err("reset");
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
        assert!(sock.peer_addr().is_err(), "not connected any more");
        sock.connect(&open.into()).expect("connect again");
        assert!(sock.take_error().expect("SO_ERROR").is_none());
        assert_eq!(sock.as_raw_fd(), fd);
        drop(listener.accept().expect("accept"));
    }

    #[test]
    fn a_socket_still_connecting_is_dropped_by_disconnect() {
        // A listener whose accept queue is full drops further SYNs: the connect hangs.
        let full = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        full.bind(&std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .expect("bind");
        full.listen(0).expect("listen");
        let full_addr = full.local_addr().expect("addr");
        let mut fill = Vec::new();
        for _ in 0..4 {
            let s = Socket::new(Domain::IPV4, Type::STREAM.nonblocking(), None).expect("socket");
            let _ = s.connect(&full_addr);
            fill.push(s);
        }
        std::thread::sleep(Duration::from_millis(100));
        let sock = Socket::new(Domain::IPV4, Type::STREAM.nonblocking(), None).expect("socket");
        match sock.connect(&full_addr) {
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            other => panic!("the connect should hang: {other:?}"),
        }
        disconnect(sock.as_fd()).expect("disconnect while connecting");
        // The abort of that connect leaves no error behind for the next one.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        sock.set_nonblocking(false).expect("blocking");
        sock.connect(&listener.local_addr().expect("addr").into())
            .expect("connect after disconnect");
        assert!(sock.take_error().expect("SO_ERROR").is_none());
        // Not a socket: the error is the kernel's.
        let file = std::fs::File::open("/dev/null").expect("open");
        let e = disconnect(file.as_fd()).expect_err("not a socket");
        assert_eq!(e.raw_os_error(), Some(libc::ENOTSOCK));
    }

    #[test]
    fn vrrp_sockets_get_a_large_receive_buffer() {
        if !crate::netns::privileged_tests_available("rka-sys receive buffer") {
            return;
        }
        let sock = VrrpSocket::ipv4("lo", 1, IPPROTO_VRRP).expect("raw socket on lo");
        let size = sock.sock.recv_buffer_size().expect("SO_RCVBUF");
        // The kernel reports twice what was set (bookkeeping overhead).
        assert!(size >= VRRP_RCVBUF as usize, "receive buffer {size}");
    }

    #[test]
    fn received_packets_carry_the_kernel_reception_time() {
        if !crate::netns::privileged_tests_available("rka-sys rx timestamps") {
            return;
        }
        let sock = VrrpSocket::ipv4("lo", 1, IPPROTO_VRRP).expect("raw socket on lo");
        let lo = Ipv4Addr::LOCALHOST;
        let mut p = vec![0x45, 0xc0, 0, 28, 0, 0, 0, 0, 255, 112, 0, 0];
        p.extend_from_slice(&lo.octets());
        p.extend_from_slice(&lo.octets());
        p.extend_from_slice(&[0x31, 7, 100, 0, 0, 10, 0, 0]);
        let before = SystemTime::now();
        sock.send_ipv4(&p, lo).expect("send on lo");
        let mut buf = [0u8; 1500];
        let end = std::time::Instant::now() + Duration::from_secs(5);
        let r = loop {
            match sock.recv(&mut buf) {
                Ok(r) if buf.get(21) == Some(&7) => break r,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < end, "nothing received");
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => panic!("recv: {e}"),
            }
        };
        let rx = r.rx_time.expect("SO_TIMESTAMPNS reported");
        let after = SystemTime::now();
        // Realtime can be stepped, so allow a little slack on both sides.
        assert!(
            rx + Duration::from_secs(1) >= before,
            "{rx:?} before {before:?}"
        );
        assert!(
            rx <= after + Duration::from_secs(1),
            "{rx:?} after {after:?}"
        );
    }
}
