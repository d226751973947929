#!/usr/bin/env python3
"""Writes the IPVS programming benchmark's configuration: N virtual servers of M real servers,
no checkers (every real server is up from the start), so the run measures programming only.

usage: gen.py FILE [--vs N] [--rs M]
"""
import sys


def main() -> int:
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    path, vs, rs = args[0], 2300, 16
    i = 1
    while i < len(args):
        if args[i] == "--vs":
            vs = int(args[i + 1])
        elif args[i] == "--rs":
            rs = int(args[i + 1])
        else:
            print(f"unknown option {args[i]}", file=sys.stderr)
            return 2
        i += 2
    out = ["global_defs {", "  router_id bench", "}"]
    for v in range(vs):
        vip = f"10.{100 + v // 65536}.{(v // 256) % 256}.{v % 256}"
        out += [f"virtual_server {vip} 80 {{", "  protocol TCP", "  lb_algo wrr", "  lb_kind NAT"]
        for r in range(rs):
            rip = f"172.{16 + r}.{(v // 256) % 256}.{v % 256}"
            out += [f"  real_server {rip} 8080 {{", f"    weight {1 + r % 4}", "  }"]
        out.append("}")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
