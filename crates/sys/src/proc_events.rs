//! Process events from the kernel's proc connector (netlink `NETLINK_CONNECTOR`, group
//! `CN_IDX_PROC`): forks, execs, name changes and exits, as `vrrp_track_process` needs them.
//!
//! Subscribing needs `CAP_NET_ADMIN` and works only in the initial network namespace (the
//! kernel refuses elsewhere with `ECONNREFUSED`, as keepalived 2.2.7 also finds); callers fall
//! back to scanning /proc then.

use std::io::{self, Read as _};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use nix::sys::socket::{bind, sendto, MsgFlags, NetlinkAddr};
use socket2::{Domain, Protocol, Socket, Type};

/// `NETLINK_CONNECTOR`.
const NETLINK_CONNECTOR: i32 = 11;
/// `CN_IDX_PROC` / `CN_VAL_PROC`: the proc connector's id.
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
/// `PROC_CN_MCAST_LISTEN`.
const MCAST_LISTEN: u32 = 1;
/// `NLMSG_DONE`: connector messages travel as this type.
const NLMSG_DONE: u16 = 3;
/// Header sizes: `nlmsghdr`, `cn_msg`, and `proc_event` up to its union.
const NLMSG_HDR: usize = 16;
const CN_MSG_HDR: usize = 20;
const EVENT_HDR: usize = 16;

const PROC_EVENT_FORK: u32 = 0x0000_0001;
const PROC_EVENT_EXEC: u32 = 0x0000_0002;
const PROC_EVENT_COMM: u32 = 0x0000_0200;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;

/// One process event (threads are left out: only whole processes matter here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcEvent {
    /// A process was created (`child` is its pid).
    Fork {
        /// The parent process.
        parent: u32,
        /// The new process.
        child: u32,
    },
    /// A process executed a new program.
    Exec {
        /// The process.
        pid: u32,
    },
    /// A process changed its name (`prctl(PR_SET_NAME)`).
    Comm {
        /// The process.
        pid: u32,
    },
    /// A process ended.
    Exit {
        /// The process.
        pid: u32,
    },
}

/// A subscription to process events.
#[derive(Debug)]
pub struct ProcEvents {
    sock: Socket,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off + 4)?;
    Some(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off + 2)?;
    Some(u16::from_ne_bytes([s[0], s[1]]))
}

impl ProcEvents {
    /// Subscribes (non-blocking socket). Fails without `CAP_NET_ADMIN` or outside the initial
    /// network namespace.
    pub fn subscribe() -> io::Result<ProcEvents> {
        let sock = Socket::new(
            Domain::from(libc::AF_NETLINK),
            Type::DGRAM,
            Some(Protocol::from(NETLINK_CONNECTOR)),
        )?;
        sock.set_cloexec(true)?;
        bind(sock.as_raw_fd(), &NetlinkAddr::new(0, CN_IDX_PROC)).map_err(io::Error::from)?;
        let mut msg = Vec::with_capacity(NLMSG_HDR + CN_MSG_HDR + 4);
        let total = (NLMSG_HDR + CN_MSG_HDR + 4) as u32;
        msg.extend_from_slice(&total.to_ne_bytes());
        msg.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
        msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
        msg.extend_from_slice(&std::process::id().to_ne_bytes());
        msg.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        msg.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes()); // seq
        msg.extend_from_slice(&0u32.to_ne_bytes()); // ack
        msg.extend_from_slice(&4u16.to_ne_bytes()); // payload length
        msg.extend_from_slice(&0u16.to_ne_bytes()); // flags
        msg.extend_from_slice(&MCAST_LISTEN.to_ne_bytes());
        sendto(
            sock.as_raw_fd(),
            &msg,
            &NetlinkAddr::new(0, 0),
            MsgFlags::empty(),
        )
        .map_err(io::Error::from)?;
        sock.set_nonblocking(true)?;
        Ok(ProcEvents { sock })
    }

    /// Reads one datagram of events (`WouldBlock` when none is queued; an `ENOBUFS` error
    /// means events were lost and the caller should rescan).
    pub fn read(&self, buf: &mut [u8]) -> io::Result<Vec<ProcEvent>> {
        let n = (&self.sock).read(buf)?;
        Ok(parse(buf.get(..n).unwrap_or_default()))
    }
}

impl AsFd for ProcEvents {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsRawFd for ProcEvents {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

/// Decodes the events of one datagram (several netlink messages may share it); anything
/// malformed or of no interest is skipped.
pub fn parse(mut b: &[u8]) -> Vec<ProcEvent> {
    let mut out = Vec::new();
    while b.len() >= NLMSG_HDR {
        let Some(len) = u32_at(b, 0).map(|l| l as usize) else {
            break;
        };
        if len < NLMSG_HDR || len > b.len() {
            break;
        }
        let msg = &b[..len];
        if let Some(e) = parse_message(msg) {
            out.push(e);
        }
        // Messages are 4-byte aligned.
        let next = (len + 3) & !3;
        b = b.get(next..).unwrap_or_default();
    }
    out
}

fn parse_message(msg: &[u8]) -> Option<ProcEvent> {
    if u16_at(msg, 4)? != NLMSG_DONE {
        return None;
    }
    let cn = msg.get(NLMSG_HDR..)?;
    if u32_at(cn, 0)? != CN_IDX_PROC || u32_at(cn, 4)? != CN_VAL_PROC {
        return None;
    }
    let ev = cn.get(CN_MSG_HDR..)?;
    let what = u32_at(ev, 0)?;
    let data = ev.get(EVENT_HDR..)?;
    match what {
        PROC_EVENT_FORK => {
            let (parent_tgid, child_pid, child_tgid) =
                (u32_at(data, 4)?, u32_at(data, 8)?, u32_at(data, 12)?);
            (child_pid == child_tgid).then_some(ProcEvent::Fork {
                parent: parent_tgid,
                child: child_tgid,
            })
        }
        PROC_EVENT_EXEC | PROC_EVENT_COMM | PROC_EVENT_EXIT => {
            let (pid, tgid) = (u32_at(data, 0)?, u32_at(data, 4)?);
            if pid != tgid {
                return None;
            }
            Some(match what {
                PROC_EVENT_EXEC => ProcEvent::Exec { pid: tgid },
                PROC_EVENT_COMM => ProcEvent::Comm { pid: tgid },
                _ => ProcEvent::Exit { pid: tgid },
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One connector message carrying a proc event `what` with `data` after its header.
    fn message(what: u32, data: &[u32]) -> Vec<u8> {
        let mut ev = Vec::new();
        ev.extend_from_slice(&what.to_ne_bytes());
        ev.extend_from_slice(&0u32.to_ne_bytes()); // cpu
        ev.extend_from_slice(&0u64.to_ne_bytes()); // timestamp
        for d in data {
            ev.extend_from_slice(&d.to_ne_bytes());
        }
        let mut m = Vec::new();
        let len = (NLMSG_HDR + CN_MSG_HDR + ev.len()) as u32;
        m.extend_from_slice(&len.to_ne_bytes());
        m.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        m.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&(ev.len() as u16).to_ne_bytes());
        m.extend_from_slice(&[0; 2]);
        m.extend_from_slice(&ev);
        m
    }

    #[test]
    fn decodes_process_events_and_skips_threads() {
        let mut b = message(PROC_EVENT_FORK, &[10, 10, 42, 42]);
        b.extend(message(PROC_EVENT_FORK, &[10, 10, 43, 10])); // a thread
        b.extend(message(PROC_EVENT_EXEC, &[42, 42]));
        b.extend(message(PROC_EVENT_COMM, &[42, 42, 0, 0, 0, 0]));
        b.extend(message(PROC_EVENT_EXIT, &[43, 10, 0, 0])); // a thread ends
        b.extend(message(PROC_EVENT_EXIT, &[42, 42, 0, 17]));
        b.extend(message(0x4, &[42, 42, 0, 0])); // uid change
        assert_eq!(
            parse(&b),
            vec![
                ProcEvent::Fork {
                    parent: 10,
                    child: 42
                },
                ProcEvent::Exec { pid: 42 },
                ProcEvent::Comm { pid: 42 },
                ProcEvent::Exit { pid: 42 },
            ]
        );
    }

    #[test]
    fn truncated_or_foreign_input_is_skipped() {
        let m = message(PROC_EVENT_EXEC, &[42, 42]);
        for cut in 0..m.len() {
            assert!(parse(&m[..cut]).is_empty(), "cut at {cut}");
        }
        let mut foreign = m.clone();
        foreign[NLMSG_HDR] = 9; // another connector
        assert!(parse(&foreign).is_empty());
        let mut huge = m;
        huge[0] = 0xff;
        assert!(parse(&huge).is_empty());
    }

    #[test]
    fn sees_a_child_exec_and_exit_when_allowed() {
        let Ok(ev) = ProcEvents::subscribe() else {
            // Needs CAP_NET_ADMIN in the initial network namespace.
            eprintln!("proc connector unavailable here: skipped");
            return;
        };
        let mut child = std::process::Command::new("/bin/true")
            .spawn()
            .expect("spawn");
        let pid = child.id();
        child.wait().expect("wait");
        let mut buf = vec![0u8; 8192];
        let mut seen = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline && !seen.contains(&ProcEvent::Exit { pid }) {
            match ev.read(&mut buf) {
                Ok(list) => seen.extend(list),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                Err(e) => panic!("read: {e}"),
            }
        }
        assert!(seen.contains(&ProcEvent::Exec { pid }), "{seen:?}");
        assert!(seen.contains(&ProcEvent::Exit { pid }), "{seen:?}");
    }
}
