#!/usr/bin/env python3
"""Verdict-to-kernel latency of a health-checking daemon (runs inside the VM, see verdict-run).

Real servers 127.0.0.1:BASE+i (one listener each, answered here) with TCP_CHECK, retry 0. For
each transition one listener is closed (or reopened); the next probe's SYN to that port is seen
on the loopback with a kernel timestamp (AF_PACKET, SO_TIMESTAMPNS): with the port closed the
kernel answers it with a reset at once, so the SYN's time is the time the probe fails. The IPVS
table (/proc/net/ip_vs) is then read in a tight loop until the real server leaves it (or comes
back, for up transitions, where the time is that of the SYN the listener answers). The latency
is table change minus SYN time; both clocks are CLOCK_REALTIME.

usage: verdict.py write-conf FILE N BASE
       verdict.py measure N BASE TRANSITIONS TAG  (a daemon is running on the config)
"""
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35


def write_conf(path, n, base):
    out = ["virtual_server 10.200.0.1 80 {", "  protocol TCP", "  lb_algo rr", "  lb_kind NAT"]
    for i in range(n):
        out += [f"  real_server 127.0.0.1 {base + i} {{", "    TCP_CHECK {",
                "      connect_timeout 1", "      delay_loop 1", "      retry 0",
                "    }", "  }"]
    out.append("}")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def dests():
    """Ports of the real servers of 10.200.0.1:80 now in the table."""
    ports = set()
    with open("/proc/net/ip_vs") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 1 and parts[0] == "->" and parts[1].startswith("7F000001:"):
                ports.add(int(parts[1].split(":")[1], 16))
    return ports


def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    s.setblocking(False)
    return s


def syn_port(frame):
    """Destination port of a TCP SYN (no ACK) in an Ethernet frame on lo, else None."""
    if len(frame) < 14 + 20 + 14 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    if ip[9] != 6:
        return None
    ihl = (ip[0] & 0x0F) * 4
    tcp = ip[ihl:]
    if len(tcp) < 14:
        return None
    flags = tcp[13]
    if flags & 0x02 and not flags & 0x10:
        return struct.unpack("!H", tcp[2:4])[0]
    return None


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


def measure(n, base, transitions, tag):
    socks = {base + i: listener(base + i) for i in range(n)}
    pkt = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    pkt.bind(("lo", 0))
    pkt.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    pkt.setblocking(False)
    want = set(socks)

    def serve():
        for s in socks.values():
            if s is None:
                continue
            try:
                while True:
                    c, _ = s.accept()
                    c.close()
            except (BlockingIOError, InterruptedError):
                pass

    def drain_packets(port):
        """Kernel time (ns) of the first SYN to `port` among the queued packets, or None."""
        found = None
        while True:
            try:
                data, anc, _, _ = pkt.recvmsg(256, 64)
            except BlockingIOError:
                return found
            if found is None and syn_port(data) == port:
                for level, typ, val in anc:
                    if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                        sec, nsec = struct.unpack("qq", val[:16])
                        found = sec * 1_000_000_000 + nsec

    deadline = time.time() + 600
    while dests() != want:
        serve()
        if time.time() > deadline:
            print(f"RESULT {tag} error=table-never-complete have={len(dests())}")
            return
        time.sleep(0.05)
    down, up = [], []
    for k in range(transitions):
        port = base + (k % n)
        for direction in ("down", "up"):
            if direction == "down":
                socks[port].close()
                socks[port] = None
            else:
                socks[port] = listener(port)
            drain_packets(-1)  # forget older packets
            syn = None
            changed = None
            limit = time.time() + 10
            while time.time() < limit:
                serve()
                if syn is None:
                    syn = drain_packets(port)
                present = port in dests()
                if (direction == "down" and not present) or (direction == "up" and present):
                    changed = time.time_ns()
                    if syn is None:
                        syn = drain_packets(port)
                    break
                select.select([pkt], [], [], 0.0002)
            if syn is None or changed is None:
                print(f"# {tag} transition {k} {direction}: syn={syn} changed={changed}")
                continue
            (down if direction == "down" else up).append((changed - syn) / 1e6)
    for name, vals in (("down", down), ("up", up)):
        print(
            f"RESULT {tag} {name} n={len(vals)} p50_ms={pct(vals, 50):.2f} "
            f"p90_ms={pct(vals, 90):.2f} p99_ms={pct(vals, 99):.2f} max_ms={max(vals or [0]):.2f}"
        )
    print(f"# {tag} down_ms={sorted(round(v, 2) for v in down)}")
    print(f"# {tag} up_ms={sorted(round(v, 2) for v in up)}")


def main():
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "write-conf":
        write_conf(a[1], int(a[2]), int(a[3]))
    elif len(a) == 5 and a[0] == "measure":
        measure(int(a[1]), int(a[2]), int(a[3]), a[4])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
