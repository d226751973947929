//! Received VRRP/AH datagrams, arbitrary bytes: decoding never panics, whatever the family,
//! authentication or checksum mode.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use rka_vrrp::packet::decode_advert;
use rka_vrrp::{Authentication, Family, V3ChecksumMode};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, bytes)) = data.split_first() else { return };
    let auth = match sel % 3 {
        0 => Authentication::None,
        1 => Authentication::pass(b"secret"),
        _ => Authentication::ah(b"secret"),
    };
    let mode = if sel & 4 == 0 { V3ChecksumMode::PseudoHeader } else { V3ChecksumMode::AsV2 };
    let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let _ = decode_advert(Family::Ipv4, v4, bytes, &auth, mode, None);
    let v6 = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
    let dst = (sel & 8 != 0).then(|| Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12));
    let _ = decode_advert(Family::Ipv6, v6, bytes, &Authentication::None, mode, dst);
});
