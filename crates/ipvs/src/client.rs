//! A blocking generic netlink client for IPVS.
//!
//! Requests are packed many to a datagram, each with its own sequence number and an ACK
//! request, so programming thousands of entries costs a handful of round trips; every
//! error is matched back to the request that caused it.

use netlink_packet_core::{
    Emitable, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlMessage;
use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};

use crate::attr::cmd_attr;
use crate::error::{IpvsError, Target};
use crate::message::{IpvsMessage, FAMILY_NAME};
use crate::request::Request;
use crate::types::{Destination, Info, Service, ServiceKey, SyncDaemon, Timeouts};

/// Most requests packed into one datagram.
const BATCH_MESSAGES: usize = 256;
/// Most bytes packed into one datagram.
const BATCH_BYTES: usize = 64 * 1024;
/// Largest request payload whose attribute lengths all fit their 16-bit fields.
const MAX_MESSAGE_PAYLOAD: usize = u16::MAX as usize - 64;

/// Serialises an IPVS message with its netlink and generic netlink headers.
pub fn encode(msg: IpvsMessage, family_id: u16, flags: u16, seq: u32) -> Vec<u8> {
    let mut genl = GenlMessage::from_payload(msg);
    genl.set_resolved_family_id(family_id);
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut nl = NetlinkMessage::new(header, NetlinkPayload::from(genl));
    nl.finalize();
    let mut buf = vec![0u8; nl.buffer_len()];
    nl.serialize(&mut buf);
    buf
}

/// Splits a datagram into its netlink messages, checking each length.
fn split_datagram(buf: &[u8]) -> Result<Vec<&[u8]>, IpvsError> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + 16 <= buf.len() {
        let len_bytes: [u8; 4] = buf[off..off + 4]
            .try_into()
            .map_err(|_| IpvsError::Protocol("short header".into()))?;
        let len = u32::from_ne_bytes(len_bytes) as usize;
        if len < 16 || off + len > buf.len() {
            return Err(IpvsError::Protocol(format!("bad message length {len}")));
        }
        out.push(&buf[off..off + len]);
        off += (len + 3) & !3;
    }
    Ok(out)
}

/// An open IPVS generic netlink socket with the family resolved.
#[derive(Debug)]
pub struct Client {
    socket: Socket,
    family_id: u16,
    seq: u32,
}

impl Client {
    /// Opens a socket and resolves the "IPVS" family.
    pub fn connect() -> Result<Self, IpvsError> {
        let mut socket = Socket::new(NETLINK_GENERIC)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        // Small ACKs (no echo of the request) and room for big dumps.
        let _ = socket.set_cap_ack(true);
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_rx_buf_sz(4 * 1024 * 1024);
        let mut c = Self {
            socket,
            family_id: 0,
            seq: 1,
        };
        c.family_id = c.resolve_family()?;
        Ok(c)
    }

    /// The numeric id the kernel gave the IPVS family.
    pub fn family_id(&self) -> u16 {
        self.family_id
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    fn resolve_family(&mut self) -> Result<u16, IpvsError> {
        let seq = self.next_seq();
        let mut genl = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(FAMILY_NAME.to_string())],
        });
        genl.finalize();
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK;
        header.sequence_number = seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::from(genl));
        nl.finalize();
        let mut buf = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        let mut id = None;
        loop {
            let (data, _) = self.socket.recv_from_full()?;
            for raw in split_datagram(&data)? {
                let msg = NetlinkMessage::<GenlMessage<GenlCtrl>>::deserialize(raw)?;
                if msg.header.sequence_number != seq {
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::InnerMessage(m) => {
                        for nla in m.payload.nlas {
                            if let GenlCtrlAttrs::FamilyId(f) = nla {
                                id = Some(f);
                            }
                        }
                    }
                    NetlinkPayload::Error(e) if e.code.is_none() => {
                        return id.ok_or(IpvsError::FamilyNotFound);
                    }
                    NetlinkPayload::Error(_) => return Err(IpvsError::FamilyNotFound),
                    _ => {}
                }
            }
        }
    }

    /// Sends `requests` in batches and returns one result per request, in order.
    ///
    /// The outer error is a socket or protocol failure; per-request kernel errors are in
    /// the vector, already mapped (see [`IpvsError::is_benign_for`]).
    pub fn execute(
        &mut self,
        requests: &[Request],
    ) -> Result<Vec<Result<(), IpvsError>>, IpvsError> {
        let mut results: Vec<Option<Result<(), IpvsError>>> =
            requests.iter().map(|_| None).collect();
        let mut start = 0;
        while start < requests.len() {
            let mut datagram = Vec::new();
            let mut seqs = Vec::new();
            let mut end = start;
            while end < requests.len() && end - start < BATCH_MESSAGES {
                let msg = requests[end].message();
                // Attribute lengths are 16-bit: an oversized string (a scheduler name
                // from a bad config) must be refused here, not sent truncated.
                if msg.buffer_len() > MAX_MESSAGE_PAYLOAD {
                    seqs.push(0);
                    results[end] = Some(Err(IpvsError::InvalidArgument {
                        op: format!("{} (request too large)", requests[end].describe()),
                    }));
                    end += 1;
                    continue;
                }
                let seq = self.next_seq();
                let bytes = encode(msg, self.family_id, NLM_F_REQUEST | NLM_F_ACK, seq);
                if !datagram.is_empty() && datagram.len() + bytes.len() > BATCH_BYTES {
                    break;
                }
                datagram.extend_from_slice(&bytes);
                seqs.push(seq);
                end += 1;
            }
            if !datagram.is_empty() {
                self.socket.send(&datagram, 0)?;
            }
            // Sequence 0 marks a request refused locally: nothing to wait for.
            let mut pending = seqs.iter().filter(|s| **s != 0).count();
            while pending > 0 {
                let (data, _) = self.socket.recv_from_full()?;
                for raw in split_datagram(&data)? {
                    let msg = NetlinkMessage::<GenlMessage<IpvsMessage>>::deserialize(raw)?;
                    let seq = msg.header.sequence_number;
                    let Some(i) = seqs.iter().position(|s| *s != 0 && *s == seq) else {
                        continue;
                    };
                    let idx = start + i;
                    if let NetlinkPayload::Error(e) = msg.payload {
                        if results[idx].is_none() {
                            pending -= 1;
                        }
                        let req = &requests[idx];
                        results[idx] = Some(match e.code {
                            None => Ok(()),
                            Some(code) => Err(IpvsError::from_errno(
                                -code.get(),
                                req.target(),
                                req.describe(),
                            )),
                        });
                    }
                }
            }
            start = end;
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(IpvsError::Protocol("no acknowledgement".into()))))
            .collect())
    }

    /// Sends one request and waits for its acknowledgement.
    pub fn apply(&mut self, request: &Request) -> Result<(), IpvsError> {
        self.execute(std::slice::from_ref(request))?
            .pop()
            .unwrap_or_else(|| Err(IpvsError::Protocol("no acknowledgement".into())))
    }

    /// Sends a query (a dump when `dump`) and collects the reply messages.
    fn query(
        &mut self,
        msg: IpvsMessage,
        dump: bool,
        what: &str,
        target: Target,
    ) -> Result<Vec<IpvsMessage>, IpvsError> {
        let seq = self.next_seq();
        let flags = if dump {
            NLM_F_REQUEST | NLM_F_DUMP
        } else {
            NLM_F_REQUEST | NLM_F_ACK
        };
        self.socket
            .send(&encode(msg, self.family_id, flags, seq), 0)?;
        let mut replies = Vec::new();
        loop {
            let (data, _) = self.socket.recv_from_full()?;
            for raw in split_datagram(&data)? {
                let msg = NetlinkMessage::<GenlMessage<IpvsMessage>>::deserialize(raw)?;
                if msg.header.sequence_number != seq {
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::InnerMessage(m) => replies.push(m.payload),
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::Error(e) => match e.code {
                        None => return Ok(replies),
                        Some(code) => {
                            return Err(IpvsError::from_errno(
                                -code.get(),
                                target,
                                what.to_string(),
                            ))
                        }
                    },
                    _ => {}
                }
            }
        }
    }

    /// Dumps every virtual service.
    pub fn services(&mut self) -> Result<Vec<Service>, IpvsError> {
        let replies = self.query(
            IpvsMessage::get_service(None),
            true,
            "list services",
            Target::Other,
        )?;
        replies
            .iter()
            .filter_map(|m| m.raw_attr(cmd_attr::SERVICE))
            .map(|v| Service::parse(v).map_err(IpvsError::from))
            .collect()
    }

    /// Reads one virtual service.
    pub fn service(&mut self, key: &ServiceKey) -> Result<Service, IpvsError> {
        let what = format!("get service {key}");
        let replies = self.query(
            IpvsMessage::get_service(Some(key)),
            false,
            &what,
            Target::Service,
        )?;
        let raw = replies
            .iter()
            .find_map(|m| m.raw_attr(cmd_attr::SERVICE))
            .ok_or_else(|| IpvsError::Protocol(format!("{what}: empty reply")))?;
        Ok(Service::parse(raw)?)
    }

    /// Dumps the real servers of a service.
    pub fn destinations(&mut self, key: &ServiceKey) -> Result<Vec<Destination>, IpvsError> {
        let what = format!("list real servers of {key}");
        let replies = self.query(IpvsMessage::get_dest(key), true, &what, Target::Service)?;
        replies
            .iter()
            .filter_map(|m| m.raw_attr(cmd_attr::DEST))
            .map(|v| Destination::parse(v, key.family()).map_err(IpvsError::from))
            .collect()
    }

    /// Dumps the running sync daemons.
    pub fn daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        let replies = self.query(
            IpvsMessage::get_daemon(),
            true,
            "list sync daemons",
            Target::Other,
        )?;
        replies
            .iter()
            .filter_map(|m| m.raw_attr(cmd_attr::DAEMON))
            .map(|v| SyncDaemon::parse(v).map_err(IpvsError::from))
            .collect()
    }

    /// Reads the connection timeouts.
    pub fn timeouts(&mut self) -> Result<Timeouts, IpvsError> {
        let replies = self.query(
            IpvsMessage::get_config(),
            false,
            "get timeouts",
            Target::Other,
        )?;
        let m = replies
            .first()
            .ok_or_else(|| IpvsError::Protocol("get timeouts: empty reply".into()))?;
        Ok(m.timeouts()?)
    }

    /// Reads the IPVS version and connection table size.
    pub fn info(&mut self) -> Result<Info, IpvsError> {
        let replies = self.query(IpvsMessage::get_info(), false, "get info", Target::Other)?;
        let m = replies
            .first()
            .ok_or_else(|| IpvsError::Protocol("get info: empty reply".into()))?;
        Ok(m.info()?)
    }
}
