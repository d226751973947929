#!/usr/bin/env python3
"""Timestamps what one director sees and does during a VRRP takeover.

Run inside the director's network namespace:

    probe.py IFNAME VIP PEER_IP SECONDS

It listens on IFNAME with an AF_PACKET socket (kernel receive/transmit timestamps,
SO_TIMESTAMPNS) and on rtnetlink address events, and prints one line per event, with
CLOCK_REALTIME nanoseconds first:

    <ns> advert_in <src>        VRRP advert received from PEER_IP
    <ns> advert_out <src>       VRRP advert sent by this director
    <ns> vip_added <addr>       rtnetlink: VIP added on this host
    <ns> garp_out <addr>        gratuitous ARP for VIP sent by this director

It exits after SECONDS, or 200 ms after the first gratuitous ARP that follows the VIP's
installation. Only the first advert_out, vip_added and garp_out after the last advert_in
matter to bench/vrrp/run; everything is printed so a run can be inspected by hand.
"""

import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
RTMGRP_IPV4_IFADDR = 0x10
RTM_NEWADDR = 20
IFA_ADDRESS = 1
IFA_LOCAL = 2


def kernel_time(ancdata):
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack("qq", data[:16])
            return sec * 1_000_000_000 + nsec
    return time.clock_gettime_ns(time.CLOCK_REALTIME)


def frame_event(frame, outgoing, vip, peer):
    if len(frame) < 14:
        return None
    ethertype = struct.unpack("!H", frame[12:14])[0]
    body = frame[14:]
    if ethertype == 0x0800 and len(body) >= 20 and body[9] == 112:
        src = socket.inet_ntoa(body[12:16])
        if outgoing:
            return f"advert_out {src}"
        if src == peer:
            return f"advert_in {src}"
        return None
    if ethertype == 0x0806 and outgoing and len(body) >= 28:
        sender = socket.inet_ntoa(body[14:18])
        target = socket.inet_ntoa(body[24:28])
        if sender == target == vip:
            return f"garp_out {sender}"
    return None


def address_events(buf):
    """Yields the IPv4 addresses in the RTM_NEWADDR messages of a netlink datagram."""
    off = 0
    while off + 16 <= len(buf):
        length, kind = struct.unpack("IH", buf[off:off + 6])
        if length < 16:
            return
        msg = buf[off:off + length]
        if kind == RTM_NEWADDR and len(msg) >= 24:
            pos = 24
            while pos + 4 <= len(msg):
                alen, atype = struct.unpack("HH", msg[pos:pos + 4])
                if alen < 4:
                    break
                if atype in (IFA_LOCAL, IFA_ADDRESS) and alen == 8:
                    yield socket.inet_ntoa(msg[pos + 4:pos + 8])
                    break
                pos += (alen + 3) & ~3
        off += (length + 3) & ~3


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    ifname, vip, peer, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    pkt = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    pkt.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    pkt.bind((ifname, 0))
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    nl.bind((0, RTMGRP_IPV4_IFADDR))
    print("ready", flush=True)
    end = time.monotonic() + seconds
    vip_seen = False
    stop_at = None
    while True:
        now = time.monotonic()
        limit = end if stop_at is None else min(end, stop_at)
        if now >= limit:
            break
        ready, _, _ = select.select([pkt, nl], [], [], limit - now)
        for s in ready:
            if s is nl:
                data = nl.recv(65536)
                t = time.clock_gettime_ns(time.CLOCK_REALTIME)
                for addr in address_events(data):
                    if addr == vip:
                        vip_seen = True
                        print(f"{t} vip_added {addr}", flush=True)
                continue
            frame, anc, _, addr = pkt.recvmsg(65536, socket.CMSG_SPACE(16))
            ev = frame_event(frame, addr[2] == PACKET_OUTGOING, vip, peer)
            if ev is None:
                continue
            print(f"{kernel_time(anc)} {ev}", flush=True)
            if ev.startswith("garp_out") and vip_seen and stop_at is None:
                stop_at = time.monotonic() + 0.2
    return 0


if __name__ == "__main__":
    sys.exit(main())
