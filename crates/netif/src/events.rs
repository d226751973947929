//! Interface events: links and addresses as the kernel announces them on its rtnetlink
//! multicast groups (`RTNLGRP_LINK`, `RTNLGRP_IPV4_IFADDR`, `RTNLGRP_IPV6_IFADDR`), over one
//! socket so that a link change and the address changes it causes arrive in the kernel's order.

use futures_util::StreamExt;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::AsyncSocket;
use rtnetlink::MulticastGroup;
use tokio::sync::mpsc;

use crate::addr::AddressSpec;
use crate::link::{LinkEvent, LinkInfo};
use crate::{Error, Netif};

/// Receive buffer asked for the event socket: a MASTER taking over a thousand addresses at
/// once makes the kernel announce each of them, and a full buffer loses events (reported as
/// [`InterfaceEvent::Overrun`]).
const EVENT_BUFFER: usize = 1 << 20;

/// An address added to or removed from an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressEvent {
    /// The address was added (`RTM_NEWADDR`; also sent when its flags or lifetimes change).
    Added(AddressSpec),
    /// The address was removed (`RTM_DELADDR`).
    Removed(AddressSpec),
}

impl AddressEvent {
    /// The address concerned, whichever the event.
    pub fn spec(&self) -> &AddressSpec {
        match self {
            AddressEvent::Added(s) | AddressEvent::Removed(s) => s,
        }
    }
}

/// A change of the host's interfaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceEvent {
    /// A link appeared, changed or went away.
    Link(LinkEvent),
    /// An address appeared or went away.
    Address(AddressEvent),
    /// The kernel dropped events because the socket's buffer was full (`ENOBUFS`): whoever
    /// keeps a view of the interfaces must read them again.
    Overrun,
}

impl InterfaceEvent {
    /// The event a netlink message announces, if it is one we follow.
    pub fn from_message(msg: &NetlinkMessage<RouteNetlinkMessage>) -> Option<InterfaceEvent> {
        match &msg.payload {
            NetlinkPayload::InnerMessage(inner) => InterfaceEvent::from_route_message(inner),
            NetlinkPayload::Overrun(_) => Some(InterfaceEvent::Overrun),
            _ => None,
        }
    }

    /// The event a decoded rtnetlink message announces, if it is one we follow.
    pub fn from_route_message(msg: &RouteNetlinkMessage) -> Option<InterfaceEvent> {
        Some(match msg {
            RouteNetlinkMessage::NewLink(m) => {
                InterfaceEvent::Link(LinkEvent::Changed(LinkInfo::from_message(m)))
            }
            RouteNetlinkMessage::DelLink(m) => {
                let l = LinkInfo::from_message(m);
                InterfaceEvent::Link(LinkEvent::Removed {
                    index: l.index,
                    name: l.name,
                })
            }
            RouteNetlinkMessage::NewAddress(m) => {
                InterfaceEvent::Address(AddressEvent::Added(AddressSpec::from_message(m)?))
            }
            RouteNetlinkMessage::DelAddress(m) => {
                InterfaceEvent::Address(AddressEvent::Removed(AddressSpec::from_message(m)?))
            }
            _ => return None,
        })
    }
}

impl Netif {
    /// Subscribes to link and address changes (IPv4 and IPv6). Events arrive on the returned
    /// channel, in the kernel's order, until it is dropped.
    pub fn interface_events() -> Result<mpsc::UnboundedReceiver<InterfaceEvent>, Error> {
        let (mut conn, _handle, mut messages) = rtnetlink::new_multicast_connection(&[
            MulticastGroup::Link,
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
        ])
        .map_err(Error::Io)?;
        // A smaller buffer only means an overrun (and a re-read) sooner: not fatal.
        let _ = conn.socket_mut().socket_mut().set_rx_buf_sz(EVENT_BUFFER);
        tokio::spawn(conn);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some((msg, _)) = messages.next().await {
                let Some(ev) = InterfaceEvent::from_message(&msg) else {
                    continue;
                };
                if tx.send(ev).is_err() {
                    break;
                }
            }
        });
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::Scope;

    /// Decodes one datagram as the kernel sent it.
    fn decode(hex: &str) -> Option<InterfaceEvent> {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes).expect("netlink");
        InterfaceEvent::from_message(&msg)
    }

    // Captured from the kernel (6.18) on a raw NETLINK_ROUTE socket bound to
    // RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR in a namespace, for
    // `ip addr add|del 10.9.0.100/24 dev eth0` and `ip addr add|del 2001:db8::1/64 dev eth0
    // nodad` (eth0 = index 2).
    const NEW_V4: &str = "50000000140000000ad7026bac1400000218800002000000080001000a090064\
                          080002000a090064090003006574683000000000080008008000000014000600\
                          ffffffffffffffff90fd220090fd2200";
    const DEL_V4: &str = "50000000150000000ad7026bad1400000218800002000000080001000a090064\
                          080002000a090064090003006574683000000000080008008000000014000600\
                          ffffffffffffffff90fd220090fd2200";
    const NEW_V6: &str = "480000001400000000000000000000000a408200020000001400010020010db8\
                          00000000000000000000000114000600ffffffffffffffff91fd220091fd2200\
                          0800080082000000";
    const DEL_V6: &str = "480000001500000000000000000000000a408200020000001400010020010db8\
                          00000000000000000000000114000600ffffffffffffffff91fd220091fd2200\
                          0800080082000000";

    fn v4_spec() -> AddressSpec {
        let mut s = AddressSpec::new(2, "10.9.0.100".parse().expect("ip"), 24);
        s.label = Some("eth0".into());
        s
    }

    #[test]
    fn ipv4_address_added_and_removed() {
        assert_eq!(
            decode(NEW_V4),
            Some(InterfaceEvent::Address(AddressEvent::Added(v4_spec())))
        );
        assert_eq!(
            decode(DEL_V4),
            Some(InterfaceEvent::Address(AddressEvent::Removed(v4_spec())))
        );
    }

    #[test]
    fn ipv6_address_added_and_removed() {
        let addr: IpAddr = "2001:db8::1".parse().expect("ip");
        for (hex, added) in [(NEW_V6, true), (DEL_V6, false)] {
            let Some(InterfaceEvent::Address(ev)) = decode(hex) else {
                panic!("not an address event: {hex}");
            };
            assert_eq!(matches!(ev, AddressEvent::Added(_)), added);
            let s = ev.spec();
            assert_eq!((s.ifindex, s.addr, s.prefix_len), (2, addr, 64));
            assert_eq!(s.scope, Scope::Global);
            assert!(s.nodad, "IFA_F_NODAD in IFA_FLAGS");
            assert_eq!(s.peer, None);
        }
    }

    #[test]
    fn overrun_asks_for_a_resync() {
        let mut msg = NetlinkMessage::new(
            Default::default(),
            NetlinkPayload::<RouteNetlinkMessage>::Overrun(Vec::new()),
        );
        msg.finalize();
        assert_eq!(
            InterfaceEvent::from_message(&msg),
            Some(InterfaceEvent::Overrun)
        );
    }

    #[test]
    fn other_messages_are_not_events() {
        use rtnetlink::packet_route::route::RouteMessage;
        let msg = RouteNetlinkMessage::NewRoute(RouteMessage::default());
        assert_eq!(InterfaceEvent::from_route_message(&msg), None);
    }

    #[test]
    fn an_address_message_without_an_address_is_ignored() {
        use rtnetlink::packet_route::address::AddressMessage;
        let msg = RouteNetlinkMessage::NewAddress(AddressMessage::default());
        assert_eq!(InterfaceEvent::from_route_message(&msg), None);
    }
}
