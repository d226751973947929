//! Raw VRRP sockets and frame sockets between two network namespaces joined by a veth pair.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use rka_sys::host::interface_index;
use rka_sys::net::{interface_mac, FrameSocket, VrrpSocket, IPPROTO_VRRP};
use rka_sys::netns::{enter_named, privileged_tests_available, ScratchNs};

struct Lab {
    a: ScratchNs,
    b: ScratchNs,
}

fn lab(tag: &str) -> Lab {
    let pid = std::process::id();
    let a = ScratchNs::create(&format!("rka-net-{tag}-a-{pid}")).expect("netns a");
    let b = ScratchNs::create(&format!("rka-net-{tag}-b-{pid}")).expect("netns b");
    a.ip(&[
        "link",
        "add",
        "veth0",
        "type",
        "veth",
        "peer",
        "name",
        "veth1",
        "netns",
        b.name(),
    ])
    .expect("veth pair");
    a.ip(&["addr", "add", "192.0.2.1/24", "dev", "veth0"])
        .expect("addr a");
    b.ip(&["addr", "add", "192.0.2.2/24", "dev", "veth1"])
        .expect("addr b");
    a.ip(&["-6", "addr", "add", "fd00:1::1/64", "dev", "veth0", "nodad"])
        .expect("addr6 a");
    b.ip(&["-6", "addr", "add", "fd00:1::2/64", "dev", "veth1", "nodad"])
        .expect("addr6 b");
    a.ip(&["link", "set", "veth0", "up"]).expect("up a");
    b.ip(&["link", "set", "veth1", "up"]).expect("up b");
    Lab { a, b }
}

/// Runs `f` on a thread that has entered namespace `ns`.
fn in_ns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter_named(&ns).expect("setns");
        f()
    })
}

fn recv_within(s: &VrrpSocket, buf: &mut [u8], wait: Duration) -> rka_sys::net::Received {
    let end = Instant::now() + wait;
    loop {
        match s.recv(buf) {
            Ok(r) => return r,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
}

/// A minimal IPv4 header + 8-byte payload with TTL 255 and protocol 112.
fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut p = vec![0x45, 0xc0, 0, 28, 0, 0, 0, 0, 255, 112, 0, 0];
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&[0x21, 1, 100, 0, 0, 1, 0, 0]);
    p
}

#[test]
fn vrrp_ipv4_multicast_between_namespaces() {
    if !privileged_tests_available("rka-sys net") {
        return;
    }
    let lab = lab("v4");
    let group = Ipv4Addr::new(224, 0, 0, 18);
    let rx = in_ns(lab.b.name(), move || {
        let idx = interface_index("veth1").expect("veth1");
        let s = VrrpSocket::ipv4("veth1", idx, IPPROTO_VRRP).expect("socket");
        s.join_multicast(IpAddr::V4(group), idx).expect("join");
        let mut buf = [0u8; 1500];
        let r = recv_within(&s, &mut buf, Duration::from_secs(5));
        (r, buf[..r.len].to_vec(), idx)
    });
    std::thread::sleep(Duration::from_millis(200));
    let tx = in_ns(lab.a.name(), move || {
        let idx = interface_index("veth0").expect("veth0");
        let s = VrrpSocket::ipv4("veth0", idx, IPPROTO_VRRP).expect("socket");
        for _ in 0..20 {
            s.send_ipv4(&ipv4_packet(Ipv4Addr::new(192, 0, 2, 1), group), group)
                .expect("send");
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let (r, bytes, idx) = rx.join().expect("rx thread");
    tx.join().expect("tx thread");
    assert_eq!(r.src, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(r.dst, Some(IpAddr::V4(group)));
    assert_eq!(r.ttl, Some(255));
    assert_eq!(r.ifindex, Some(idx));
    assert_eq!(&bytes[20..], &[0x21, 1, 100, 0, 0, 1, 0, 0]);
}

#[test]
fn vrrp_ipv6_multicast_reports_hop_limit_and_destination() {
    if !privileged_tests_available("rka-sys net") {
        return;
    }
    let lab = lab("v6");
    let group: Ipv6Addr = "ff02::12".parse().expect("group");
    let rx = in_ns(lab.b.name(), move || {
        let idx = interface_index("veth1").expect("veth1");
        let s = VrrpSocket::ipv6("veth1", idx).expect("socket");
        s.join_multicast(IpAddr::V6(group), idx).expect("join");
        let mut buf = [0u8; 1500];
        let r = recv_within(&s, &mut buf, Duration::from_secs(5));
        (r, buf[..r.len].to_vec())
    });
    std::thread::sleep(Duration::from_millis(200));
    let tx = in_ns(lab.a.name(), move || {
        let idx = interface_index("veth0").expect("veth0");
        let s = VrrpSocket::ipv6("veth0", idx).expect("socket");
        // VRRPv3 header with a zero checksum: the kernel fills it in (IPV6_CHECKSUM).
        let msg = [0x31, 1, 100, 1, 0, 100, 0, 0];
        let src: Ipv6Addr = "fd00:1::1".parse().expect("src");
        for _ in 0..20 {
            s.send_ipv6(&msg, Some(src), group, idx).expect("send");
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let (r, bytes) = rx.join().expect("rx thread");
    tx.join().expect("tx thread");
    assert_eq!(r.src, IpAddr::V6("fd00:1::1".parse().expect("addr")));
    assert_eq!(r.dst, Some(IpAddr::V6(group)));
    assert_eq!(r.ttl, Some(255));
    assert_eq!(bytes.len(), 8);
    assert_ne!(&bytes[6..8], &[0, 0], "the kernel computed a checksum");
}

#[test]
fn frame_socket_sends_an_arp_frame() {
    if !privileged_tests_available("rka-sys net") {
        return;
    }
    let lab = lab("arp");
    let tx = in_ns(lab.a.name(), move || {
        let idx = interface_index("veth0").expect("veth0");
        let mac = interface_mac("veth0").expect("mac");
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&mac);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&mac);
        f.extend_from_slice(&[192, 0, 2, 100]);
        f.extend_from_slice(&[0xff; 6]);
        f.extend_from_slice(&[192, 0, 2, 100]);
        let s = FrameSocket::new(idx).expect("packet socket");
        (s.send_frame(&f).expect("send"), f.len(), mac)
    });
    let (sent, len, mac) = tx.join().expect("tx");
    assert_eq!(sent, len);
    assert_ne!(mac, [0u8; 6]);
}
