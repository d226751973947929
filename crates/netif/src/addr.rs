//! Interface addresses with keepalived's per-address options (`virtual_ipaddress`,
//! `static_ipaddress`): `brd`, `scope`, `label`, `peer`, `home`, `-nodad`, `noprefixroute`,
//! `autojoin`.

use std::net::{IpAddr, Ipv4Addr};

use futures_util::TryStreamExt;
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use rtnetlink::packet_route::AddressFamily;

use crate::{Error, Netif};

/// Address scope, as `ip addr` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// `global` (the default).
    #[default]
    Global,
    /// `site`.
    Site,
    /// `link`.
    Link,
    /// `host`.
    Host,
    /// `nowhere`.
    Nowhere,
    /// A numeric scope.
    Other(u8),
}

impl From<Scope> for AddressScope {
    fn from(s: Scope) -> Self {
        match s {
            Scope::Global => AddressScope::Universe,
            Scope::Site => AddressScope::Site,
            Scope::Link => AddressScope::Link,
            Scope::Host => AddressScope::Host,
            Scope::Nowhere => AddressScope::Nowhere,
            Scope::Other(n) => AddressScope::Other(n),
        }
    }
}

impl From<AddressScope> for Scope {
    fn from(s: AddressScope) -> Self {
        match s {
            AddressScope::Universe => Scope::Global,
            AddressScope::Site => Scope::Site,
            AddressScope::Link => Scope::Link,
            AddressScope::Host => Scope::Host,
            AddressScope::Nowhere => Scope::Nowhere,
            AddressScope::Other(n) => Scope::Other(n),
            _ => Scope::Global,
        }
    }
}

/// One address on one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressSpec {
    /// Interface index.
    pub ifindex: u32,
    /// The address.
    pub addr: IpAddr,
    /// Prefix length (keepalived's default for a VIP: 32 or 128).
    pub prefix_len: u8,
    /// `brd`: IPv4 broadcast address.
    pub broadcast: Option<Ipv4Addr>,
    /// `peer`: the other end of a point-to-point address.
    pub peer: Option<IpAddr>,
    /// `scope`.
    pub scope: Scope,
    /// `label` (IPv4).
    pub label: Option<String>,
    /// `home` (IPv6 home address).
    pub home: bool,
    /// `-nodad` (IPv6: skip duplicate address detection).
    pub nodad: bool,
    /// `noprefixroute`.
    pub noprefixroute: bool,
    /// `autojoin` (join the multicast group of a multicast address).
    pub autojoin: bool,
}

impl AddressSpec {
    /// An address with every option at its default.
    pub fn new(ifindex: u32, addr: IpAddr, prefix_len: u8) -> Self {
        AddressSpec {
            ifindex,
            addr,
            prefix_len,
            broadcast: None,
            peer: None,
            scope: Scope::Global,
            label: None,
            home: false,
            nodad: false,
            noprefixroute: false,
            autojoin: false,
        }
    }

    fn flags(&self) -> AddressFlags {
        let mut f = AddressFlags::empty();
        if self.home {
            f |= AddressFlags::Homeaddress;
        }
        if self.nodad {
            f |= AddressFlags::Nodad;
        }
        if self.noprefixroute {
            f |= AddressFlags::Noprefixroute;
        }
        if self.autojoin {
            f |= AddressFlags::Mcautojoin;
        }
        f
    }

    fn to_message(&self) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.family = match self.addr {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        m.header.prefix_len = self.prefix_len;
        m.header.scope = self.scope.into();
        m.header.index = self.ifindex;
        let flags = self.flags();
        m.header.flags = AddressHeaderFlags::from_bits_truncate(flags.bits() as u8);
        // IFA_LOCAL is our address; IFA_ADDRESS is the peer on point-to-point links and the
        // address itself otherwise (what `ip addr add` sends).
        m.attributes.push(AddressAttribute::Local(self.addr));
        m.attributes
            .push(AddressAttribute::Address(self.peer.unwrap_or(self.addr)));
        if let Some(b) = self.broadcast {
            m.attributes.push(AddressAttribute::Broadcast(b));
        }
        if let Some(l) = &self.label {
            m.attributes.push(AddressAttribute::Label(l.clone()));
        }
        if !flags.is_empty() {
            m.attributes.push(AddressAttribute::Flags(flags));
        }
        m
    }

    pub(crate) fn from_message(m: &AddressMessage) -> Option<AddressSpec> {
        let mut local = None;
        let mut address = None;
        let mut s = AddressSpec::new(
            m.header.index,
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            m.header.prefix_len,
        );
        s.scope = m.header.scope.into();
        let mut flags = AddressFlags::from_bits_truncate(u32::from(m.header.flags.bits()));
        for a in &m.attributes {
            match a {
                AddressAttribute::Local(l) => local = Some(*l),
                AddressAttribute::Address(x) => address = Some(*x),
                AddressAttribute::Broadcast(b) => s.broadcast = Some(*b),
                AddressAttribute::Label(l) => s.label = Some(l.clone()),
                AddressAttribute::Flags(f) => flags = *f,
                _ => {}
            }
        }
        s.addr = local.or(address)?;
        if let (Some(l), Some(a)) = (local, address) {
            if l != a {
                s.peer = Some(a);
            }
        }
        s.home = flags.contains(AddressFlags::Homeaddress);
        s.nodad = flags.contains(AddressFlags::Nodad);
        s.noprefixroute = flags.contains(AddressFlags::Noprefixroute);
        s.autojoin = flags.contains(AddressFlags::Mcautojoin);
        Some(s)
    }
}

impl Netif {
    /// Adds an address. `Error::Exists` when it is already there.
    pub async fn add_address(&self, spec: &AddressSpec) -> Result<(), Error> {
        let mut req = self
            .handle
            .address()
            .add(spec.ifindex, spec.addr, spec.prefix_len);
        *req.message_mut() = spec.to_message();
        req.execute().await.map_err(Error::from_rtnl)
    }

    /// Removes an address. `Error::NotFound` when it is not there.
    pub async fn del_address(&self, spec: &AddressSpec) -> Result<(), Error> {
        self.handle
            .address()
            .del(spec.to_message())
            .execute()
            .await
            .map_err(Error::from_rtnl)
    }

    /// The addresses of one interface, or of every interface.
    pub async fn addresses(&self, ifindex: Option<u32>) -> Result<Vec<AddressSpec>, Error> {
        let mut req = self.handle.address().get();
        if let Some(i) = ifindex {
            req = req.set_link_index_filter(i);
        }
        let mut s = req.execute();
        let mut out = Vec::new();
        while let Some(m) = s.try_next().await.map_err(Error::from_rtnl)? {
            if let Some(a) = AddressSpec::from_message(&m) {
                out.push(a);
            }
        }
        Ok(out)
    }
}
