//! IPVS generic-netlink payloads from the kernel, arbitrary bytes: no decoder panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netlink_packet_core::ParseableParametrized;
use netlink_packet_generic::GenlHeader;
use rka_ipvs::types::{Destination, Family, Service, SyncDaemon};
use rka_ipvs::IpvsMessage;

fuzz_target!(|data: &[u8]| {
    let Some((&cmd, rest)) = data.split_first() else { return };
    let _ = IpvsMessage::parse_with_param(rest, GenlHeader { cmd, version: 1 });
    let _ = Service::parse(rest);
    let _ = Destination::parse(rest, if cmd & 1 == 0 { Family::Inet } else { Family::Inet6 });
    let _ = SyncDaemon::parse(rest);
});
