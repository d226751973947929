#!/usr/bin/env python3
"""Writes the reload benchmark's configurations: one VRRP instance (MASTER, advert_int 1, one
VIP on eth0) and the checker benchmark's load, N virtual servers of M real servers with one
TCP_CHECK each (real servers are 127.x.y.z addresses, answered by one listener on
0.0.0.0:8080). `--variant b` is the changed configuration a reload applies: one more virtual
server (10.99.0.1:80, one real server) and the first virtual server's first real server at
weight 5 instead of 1. Nothing else differs.

usage: gen.py FILE [--vs N] [--rs M] [--delay-loop S] [--variant a|b]
"""
import sys


def main() -> int:
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    path, vs, rs, delay, variant = args[0], 2300, 16, 30, "a"
    i = 1
    while i < len(args):
        key, val = args[i], args[i + 1]
        if key == "--vs":
            vs = int(val)
        elif key == "--rs":
            rs = int(val)
        elif key == "--delay-loop":
            delay = int(val)
        elif key == "--variant" and val in ("a", "b"):
            variant = val
        else:
            print(f"bad option {key} {val}", file=sys.stderr)
            return 2
        i += 2
    b = variant == "b"
    out = ["global_defs {", "  router_id reload_bench", "}",
           "vrrp_instance VI_1 {", "  state MASTER", "  interface eth0",
           "  virtual_router_id 61", "  priority 150", "  advert_int 1",
           "  virtual_ipaddress {", "    10.30.0.100/24", "  }", "}"]
    for v in range(vs):
        vip = f"10.{100 + v // 65536}.{(v // 256) % 256}.{v % 256}"
        out += [f"virtual_server {vip} 80 {{", "  protocol TCP", "  lb_algo wrr",
                f"  delay_loop {delay}"]
        for r in range(rs):
            rip = f"127.{16 + r}.{(v // 256) % 256}.{v % 256}"
            weight = 5 if (b and v == 0 and r == 0) else 1
            out += [f"  real_server {rip} 8080 {{", f"    weight {weight}", "    TCP_CHECK {",
                    "      connect_timeout 3", "    }", "  }"]
        out.append("}")
    if b:
        out += ["virtual_server 10.99.0.1 80 {", "  protocol TCP", "  lb_algo rr",
                "  real_server 10.98.0.1 8080 {", "    weight 1", "  }", "}"]
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
