//! Interfaces, addresses, routes, rules and VMAC interfaces over rtnetlink.
//!
//! This crate alone talks rtnetlink (holo's design): the VRRP engine asks it to add or remove
//! virtual addresses, routes and rules, to create `use_vmac` macvlan interfaces, and listens to
//! its link and address events (`track_interface`, the source address of the adverts,
//! addresses removed by hand). Everything is async on tokio.

mod addr;
mod error;
mod events;
mod link;
mod route;

pub use addr::{AddressSpec, Scope};
pub use error::Error;
pub use events::{AddressEvent, InterfaceEvent};
pub use link::{LinkEvent, LinkInfo};
pub use route::{RouteKind, RouteSpec, RuleActionKind, RuleSpec};

use futures_util::TryStreamExt;
use rtnetlink::Handle;

/// A connection to the kernel's routing netlink socket.
#[derive(Debug, Clone)]
pub struct Netif {
    handle: Handle,
}

impl Netif {
    /// Opens a connection and drives it on the current tokio runtime.
    pub fn connect() -> Result<Netif, Error> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(Error::Io)?;
        tokio::spawn(conn);
        Ok(Netif { handle })
    }

    /// Every link in the namespace.
    pub async fn links(&self) -> Result<Vec<LinkInfo>, Error> {
        let mut out = Vec::new();
        let mut s = self.handle.link().get().execute();
        while let Some(msg) = s.try_next().await.map_err(Error::from_rtnl)? {
            out.push(LinkInfo::from_message(&msg));
        }
        Ok(out)
    }

    /// The link called `name`, if it exists.
    pub async fn link_by_name(&self, name: &str) -> Result<Option<LinkInfo>, Error> {
        let mut s = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match s.try_next().await {
            Ok(Some(msg)) => Ok(Some(LinkInfo::from_message(&msg))),
            Ok(None) => Ok(None),
            Err(e) => match Error::from_rtnl(e) {
                Error::NotFound | Error::NoDevice => Ok(None),
                e => Err(e),
            },
        }
    }
}
