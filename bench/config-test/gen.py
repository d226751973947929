#!/usr/bin/env python3
"""Writes the `-t` benchmark configuration: 2,300 virtual servers x 16 real servers, each real
server with one TCP_CHECK (36,800 checkers, about 161,000 lines) to stdout or to FILE.

Usage: gen.py [FILE] [--vs N] [--rs N]

Addresses are in 10.0.0.0/8; the file is only ever parsed (keepalived -t / rkeepalived -t),
never run, so they need not exist anywhere.
"""
import argparse
import sys


def generate(out, n_vs: int, n_rs: int) -> None:
    w = out.write
    w("# rkeepalived config-test benchmark: %d virtual servers x %d real servers\n" % (n_vs, n_rs))
    w("global_defs {\n    router_id bench\n}\n")
    for i in range(n_vs):
        w("virtual_server 10.0.%d.%d 80 {\n" % (i // 256, i % 256))
        w("    delay_loop 10\n")
        w("    lb_algo wrr\n")
        w("    lb_kind NAT\n")
        w("    protocol TCP\n")
        for j in range(n_rs):
            w("    real_server 10.%d.%d.%d 8080 {\n" % (1 + i // 256, i % 256, j + 1))
            w("        weight %d\n" % (1 + j % 4))
            w("        TCP_CHECK { connect_timeout 3 }\n")
            w("    }\n")
        w("}\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file", nargs="?", help="output file (default: stdout)")
    p.add_argument("--vs", type=int, default=2300, help="virtual servers (default 2300)")
    p.add_argument("--rs", type=int, default=16, help="real servers each (default 16)")
    a = p.parse_args()
    if a.vs < 1 or a.vs > 65536 or a.rs < 1 or a.rs > 254:
        p.error("--vs must be 1..65536 and --rs 1..254")
    if a.file:
        with open(a.file, "w") as f:
            generate(f, a.vs, a.rs)
    else:
        generate(sys.stdout, a.vs, a.rs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
