//! The raw VRRP sockets: one per (interface, family, protocol), shared by every instance on
//! it. A reader task per socket forwards datagrams to the engine, which demultiplexes them by
//! VRID ([`advert_vrid`]).

use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use rka_sys::net::{Received, VrrpSocket};
use rka_vrrp::wire::{ah, ipv4, vrrp, IPPROTO_AH, IPPROTO_VRRP};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::mapping::SocketKey;

/// A datagram read from one of the sockets.
#[derive(Debug)]
pub struct Datagram {
    /// Which socket (index into the engine's socket table).
    pub socket: usize,
    /// What the kernel reported with it.
    pub info: Received,
    /// The bytes (IPv4: with the IP header).
    pub bytes: Vec<u8>,
}

/// One open socket and its reader task (aborted on drop).
#[derive(Debug)]
pub struct OpenSocket {
    /// What it is bound to.
    pub key: SocketKey,
    /// Index of the interface.
    pub ifindex: u32,
    sock: Arc<AsyncFd<VrrpSocket>>,
    reader: JoinHandle<()>,
    unicast_ttl: std::cell::Cell<Option<u8>>,
    groups: std::cell::RefCell<Vec<IpAddr>>,
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl OpenSocket {
    /// Opens the socket for `key` on interface `ifindex` and starts its reader, which sends
    /// to `tx` tagged with `slot`. Multicast instances then [`OpenSocket::join`] their group.
    pub fn open(
        key: &SocketKey,
        ifindex: u32,
        slot: usize,
        tx: mpsc::UnboundedSender<Datagram>,
    ) -> io::Result<OpenSocket> {
        let sock = if key.ipv6 {
            VrrpSocket::ipv6(&key.ifname, ifindex)?
        } else {
            VrrpSocket::ipv4(&key.ifname, ifindex, key.protocol)?
        };
        // `AsyncFd::new` is deprecated for types that could hand out a different fd over time;
        // `VrrpSocket` owns its descriptor for its whole life, which is the contract the
        // unsafe `register` spells out, so the safe constructor is sound here.
        #[allow(deprecated)]
        let sock = Arc::new(AsyncFd::new(sock)?);
        let reader = tokio::spawn(read_loop(sock.clone(), slot, tx));
        Ok(OpenSocket {
            key: key.clone(),
            ifindex,
            sock,
            reader,
            unicast_ttl: std::cell::Cell::new(None),
            groups: std::cell::RefCell::new(Vec::new()),
        })
    }

    /// Joins multicast `group` on the socket's interface (once).
    pub fn join(&self, group: IpAddr) -> io::Result<()> {
        if self.groups.borrow().contains(&group) {
            return Ok(());
        }
        match self.sock.get_ref().join_multicast(group, self.ifindex) {
            Err(e) if e.raw_os_error() != Some(libc::EADDRINUSE) => return Err(e),
            _ => {}
        }
        self.groups.borrow_mut().push(group);
        Ok(())
    }

    /// Reads up to `max` datagrams already queued on the socket, without waiting, tagged with
    /// `slot`. The engine calls this before running a backup's master-down timer: adverts that
    /// arrived while the process was not scheduled are still in the socket when the timer is
    /// found due, and the reader task has not had its turn yet.
    pub fn read_pending(&self, slot: usize, max: usize) -> Vec<Datagram> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        while out.len() < max {
            match recv_one(self.sock.get_ref(), slot, &mut buf) {
                Ok(d) => out.push(d),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        out
    }

    /// Sends the bytes of a `SendAdvert` action.
    pub fn send(&self, src: IpAddr, dst: IpAddr, ttl: u8, bytes: &[u8]) -> io::Result<usize> {
        let s = self.sock.get_ref();
        match (src, dst) {
            (_, IpAddr::V4(d)) => s.send_ipv4(bytes, d),
            (IpAddr::V6(src), IpAddr::V6(d)) => {
                if !d.is_multicast() && self.unicast_ttl.get() != Some(ttl) {
                    s.set_unicast_ttl(u32::from(ttl))?;
                    self.unicast_ttl.set(Some(ttl));
                }
                s.send_ipv6(bytes, Some(src), d, self.ifindex)
            }
            (IpAddr::V4(_), IpAddr::V6(_)) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "IPv4 source with an IPv6 destination",
            )),
        }
    }
}

async fn read_loop(
    sock: Arc<AsyncFd<VrrpSocket>>,
    slot: usize,
    tx: mpsc::UnboundedSender<Datagram>,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        let mut guard = match sock.readable().await {
            Ok(g) => g,
            Err(e) => {
                tracing::error!("VRRP socket: {e}");
                return;
            }
        };
        loop {
            match recv_one(sock.get_ref(), slot, &mut buf) {
                Ok(d) => {
                    if tx.send(d).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    guard.clear_ready();
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // ENETDOWN and friends while an interface goes away: wait for the next
                    // readiness rather than spinning.
                    tracing::debug!("VRRP socket receive: {e}");
                    guard.clear_ready();
                    break;
                }
            }
        }
    }
}

/// Receives one datagram (`WouldBlock` when none is queued).
fn recv_one(sock: &VrrpSocket, slot: usize, buf: &mut [u8]) -> io::Result<Datagram> {
    let info = sock.recv(buf)?;
    let len = info.len.min(buf.len());
    Ok(Datagram {
        socket: slot,
        info,
        bytes: buf[..len].to_vec(),
    })
}

/// The VRID of received bytes, for demultiplexing: over IPv4 the bytes are the datagram
/// (VRRP directly or behind AH), over IPv6 the VRRP message.
pub fn advert_vrid(ipv6: bool, bytes: &[u8]) -> Option<u8> {
    if ipv6 {
        return vrrp::peek_vrid(bytes);
    }
    let ip = ipv4::Packet::new_checked(bytes).ok()?;
    let payload = bytes.get(ip.header_len()..ip.total_len().min(bytes.len()))?;
    match ip.protocol() {
        IPPROTO_VRRP => vrrp::peek_vrid(payload),
        IPPROTO_AH => vrrp::peek_vrid(payload.get(ah::HEADER_LEN..)?),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vrid_of_v4_v6_and_ah() {
        // IPv4 header (20 bytes, proto 112) + VRRP v2 header for VRID 51.
        let mut v4 = vec![
            0x45, 0xc0, 0, 40, 0, 1, 0, 0, 255, 112, 0, 0, 10, 0, 0, 1, 224, 0, 0, 18,
        ];
        v4.extend_from_slice(&[
            0x21, 51, 100, 1, 0, 1, 0, 0, 10, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        assert_eq!(advert_vrid(false, &v4), Some(51));
        let mut ah4 = v4[..20].to_vec();
        ah4[9] = 51;
        ah4[3] = 64;
        ah4.extend_from_slice(&[0u8; 24]);
        ah4.extend_from_slice(&v4[20..]);
        assert_eq!(advert_vrid(false, &ah4), Some(51));
        assert_eq!(advert_vrid(true, &[0x31, 9, 100, 0, 0, 100, 0, 0]), Some(9));
        assert_eq!(advert_vrid(false, &[0x45, 0]), None);
        assert_eq!(advert_vrid(true, &[]), None);
    }
}
