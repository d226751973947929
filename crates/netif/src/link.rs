//! Links: listing, `use_vmac` macvlan interfaces, and what link events carry.

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{
    InfoKind, LinkAttribute, LinkFlags, LinkInfo as NlLinkInfo, LinkMessage, MacVlanMode, State,
};
use rtnetlink::{LinkMacVlan, LinkUnspec};

use crate::{Error, Netif};

/// What we need to know about a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Administratively up (`IFF_UP`).
    pub admin_up: bool,
    /// Operationally up: up and running with carrier (`IFF_RUNNING`, or oper state UP).
    pub oper_up: bool,
    /// Hardware address, when it has one.
    pub mac: Option<Vec<u8>>,
    /// The link kind (`macvlan`, `veth`, `dummy`...), when reported.
    pub kind: Option<String>,
    /// The lower link (e.g. a macvlan's parent), when reported.
    pub parent: Option<u32>,
    /// It supports multicast (`IFF_MULTICAST`; a dummy interface does not).
    pub multicast: bool,
}

impl LinkInfo {
    pub(crate) fn from_message(m: &LinkMessage) -> LinkInfo {
        let mut l = LinkInfo {
            index: m.header.index,
            name: String::new(),
            admin_up: m.header.flags.contains(LinkFlags::Up),
            oper_up: false,
            mac: None,
            kind: None,
            parent: None,
            multicast: m.header.flags.contains(LinkFlags::Multicast),
        };
        let mut oper = None;
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => l.name = n.clone(),
                LinkAttribute::Address(b) => l.mac = Some(b.clone()),
                LinkAttribute::Link(p) => l.parent = Some(*p),
                LinkAttribute::OperState(s) => oper = Some(*s),
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        if let NlLinkInfo::Kind(k) = i {
                            l.kind = Some(k.to_string().to_lowercase());
                        }
                    }
                }
                _ => {}
            }
        }
        let running = m.header.flags.contains(LinkFlags::Running);
        l.oper_up = l.admin_up
            && match oper {
                Some(State::Up) => true,
                // Links without carrier semantics (lo, dummy) report UNKNOWN while usable.
                Some(State::Unknown) | None => running,
                _ => false,
            };
        l
    }
}

/// A change of a link, from the kernel's link multicast group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// A link appeared or changed.
    Changed(LinkInfo),
    /// A link was removed.
    Removed {
        /// Its index.
        index: u32,
        /// Its name.
        name: String,
    },
}

impl Netif {
    /// Creates a macvlan (`use_vmac`) named `name` on `parent` with MAC `mac`, in private mode as
    /// keepalived creates its VMACs, and returns its index.
    pub async fn add_macvlan(&self, name: &str, parent: u32, mac: [u8; 6]) -> Result<u32, Error> {
        let msg = LinkMacVlan::new(name, parent, MacVlanMode::Private)
            .address(mac.to_vec())
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(Error::from_rtnl)?;
        match self.link_by_name(name).await? {
            Some(l) => Ok(l.index),
            None => Err(Error::NotFound),
        }
    }

    /// Sets a link administratively up or down.
    pub async fn set_link_up(&self, index: u32, up: bool) -> Result<(), Error> {
        let b = LinkUnspec::new_with_index(index);
        let msg = if up { b.up() } else { b.down() }.build();
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(Error::from_rtnl)
    }

    /// Deletes a link.
    pub async fn del_link(&self, index: u32) -> Result<(), Error> {
        self.handle
            .link()
            .del(index)
            .execute()
            .await
            .map_err(Error::from_rtnl)
    }

    /// Every link of a given kind (e.g. `macvlan`), for cleanup of VMACs left by a crash.
    pub async fn links_of_kind(&self, kind: InfoKind) -> Result<Vec<LinkInfo>, Error> {
        let want = kind.to_string().to_lowercase();
        let mut out = Vec::new();
        let mut s = self.handle.link().get().execute();
        while let Some(m) = s.try_next().await.map_err(Error::from_rtnl)? {
            let l = LinkInfo::from_message(&m);
            if l.kind.as_deref() == Some(want.as_str()) {
                out.push(l);
            }
        }
        Ok(out)
    }
}
