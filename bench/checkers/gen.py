#!/usr/bin/env python3
"""Writes the checker benchmark's configuration: N virtual servers of M real servers, each real
server with one TCP_CHECK. Real servers are 127.x.y.z addresses (all on the loopback), so one
listener on 0.0.0.0:8080 answers every check.

usage: gen.py FILE [--vs N] [--rs M] [--delay-loop S]
"""
import sys


def main() -> int:
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    path, vs, rs, delay = args[0], 2300, 16, 30
    i = 1
    while i < len(args):
        key, val = args[i], int(args[i + 1])
        if key == "--vs":
            vs = val
        elif key == "--rs":
            rs = val
        elif key == "--delay-loop":
            delay = val
        else:
            print(f"unknown option {key}", file=sys.stderr)
            return 2
        i += 2
    out = []
    for v in range(vs):
        vip = f"10.{100 + v // 65536}.{(v // 256) % 256}.{v % 256}"
        out += [f"virtual_server {vip} 80 {{", "  protocol TCP", "  lb_algo wrr",
                f"  delay_loop {delay}"]
        for r in range(rs):
            rip = f"127.{16 + r}.{(v // 256) % 256}.{v % 256}"
            out += [f"  real_server {rip} 8080 {{", "    TCP_CHECK {",
                    "      connect_timeout 3", "    }", "  }"]
        out.append("}")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
