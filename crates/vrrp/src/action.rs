//! What an instance asks its driver to do, and the states it reports.

use std::net::IpAddr;

/// Instance state (RFC 5798 section 6.4, plus keepalived's FAULT and STOP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not started yet (startup delay) - RFC "Initialize".
    Init,
    /// Backup: watching the master, master-down timer running.
    Backup,
    /// Master: owning the virtual addresses and advertising.
    Master,
    /// A tracked object with weight 0 failed (or a sync group peer did).
    Fault,
    /// Shut down.
    Stop,
}

impl State {
    /// keepalived's upper-case name, as notify scripts and FIFOs print it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
            State::Stop => "STOP",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a transition happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Leaving INIT.
    Startup,
    /// Leaving INIT once the trackers whose status was unknown at start have reported
    /// ([`crate::TrackerConfig::pending`]).
    TrackersReported,
    /// Priority 255: address owner (RFC 5798 section 6.4.1).
    Owner,
    /// The master-down timer fired (RFC 5798 section 6.4.2).
    MasterDown,
    /// A higher-priority advert (or equal from a higher address) was heard as MASTER
    /// (RFC 5798 section 6.4.3).
    HigherPriority,
    /// A tracked object with weight 0 failed.
    Fault,
    /// Every weight-0 tracked object is up again.
    FaultCleared,
    /// A sync group peer changed state.
    SyncGroup,
    /// One of the MASTER's virtual addresses was removed from the host by someone else.
    AddressRemoved,
    /// `shutdown` was called.
    Shutdown,
    /// A configuration reload re-created the instance in the state it had
    /// ([`crate::Instance::mark_resumed`]): no transition happened on the wire.
    Reload,
}

/// One thing for the driver to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send an advert to `dst`. Over IPv4 `bytes` is the whole IP datagram (send it with
    /// `IP_HDRINCL`); over IPv6 it is the VRRP message (the kernel adds the header, with hop
    /// limit `ttl`).
    SendAdvert {
        /// Multicast group or unicast peer.
        dst: IpAddr,
        /// TTL / hop limit.
        ttl: u8,
        /// The bytes to send.
        bytes: Vec<u8>,
        /// Priority carried (0 when releasing mastership).
        priority: u8,
    },
    /// Send `count` gratuitous ARPs (IPv4) or unsolicited NAs (IPv6) for each of `addresses`
    /// (build them with [`crate::wire::arp`] / [`crate::wire::ndp`]).
    SendGratuitous {
        /// Addresses to announce.
        addresses: Vec<IpAddr>,
        /// Messages per address.
        count: u32,
    },
    /// Install the instance's virtual addresses (and its virtual routes and rules).
    AddVips,
    /// Remove the instance's virtual addresses (and its virtual routes and rules).
    RemoveVips,
    /// The state changed (for logs and metrics).
    StateChanged {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        reason: Reason,
    },
    /// Run the notify scripts / write the FIFO line for `state` (after the address changes).
    Notify {
        /// The state entered.
        state: State,
        /// Effective priority at the time.
        priority: u8,
    },
    /// As MASTER, an advert with a lower priority was heard (another router believes it is
    /// master: `notify_master_rx_lower_pri`).
    LowerPriorityAdvert {
        /// Its sender.
        src: IpAddr,
        /// The priority it carried.
        priority: u8,
    },
    /// The effective priority changed because of a tracker.
    PriorityChanged {
        /// Previous effective priority.
        from: u8,
        /// New effective priority.
        to: u8,
    },
}
