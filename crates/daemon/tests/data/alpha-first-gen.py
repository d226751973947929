#!/usr/bin/env python3
"""Writes a.conf (phase 0: alpha checkers at start) and b.conf (a.conf + phase 1: alpha
checkers added at a reload) and cases.txt (port -> case). Every real server is alpha and its
first probe fails. Port = 9000 + 20*kind + 10*phase + variant; variant = 2*laf + retry."""
KINDS = [
    # name, vs protocol, rs address, check body
    ("tcp", "TCP", "127.0.0.1", "TCP_CHECK {\n  connect_timeout 1\n"),
    ("http-closed", "TCP", "127.0.0.1", "HTTP_GET {\n  url { path / }\n  connect_timeout 1\n"),
    ("http-500", "TCP", "127.0.0.1", "HTTP_GET {\n  url { path / }\n  connect_timeout 1\n"),
    ("ssl-closed", "TCP", "127.0.0.1", "SSL_GET {\n  url { path / }\n  connect_timeout 1\n"),
    ("ssl-500", "TCP", "127.0.0.1", "SSL_GET {\n  url { path / }\n  connect_timeout 1\n"),
    ("udp-noreply", "UDP", "127.0.0.1", "UDP_CHECK {\n  payload 41\n  require_reply 41\n  connect_timeout 1\n"),
    ("udp-unreach", "UDP", "127.0.0.1", "UDP_CHECK {\n  connect_timeout 1\n"),
    ("ping", "TCP", "10.99.0.5", "PING_CHECK {\n  connect_timeout 1\n"),
    ("dns", "UDP", "127.0.0.1", "DNS_CHECK {\n  connect_timeout 1\n"),
    ("smtp", "TCP", "127.0.0.1", "SMTP_CHECK {\n  connect_timeout 1\n"),
    ("misc", "TCP", "127.0.0.1", "MISC_CHECK {\n  misc_path /bin/false\n"),
]
def vs(k, phase, v):
    name, proto, addr, body = KINDS[k]
    port = 9000 + 20 * k + 10 * phase + v
    retry, laf = v & 1, v >> 1
    vport = 53 if proto == "UDP" else 80
    opts = f"  retry {retry}\n  delay_before_retry 1\n" + ("  log_all_failures\n" if laf else "")
    return port, name, retry, laf, (
        f"virtual_server 10.{1 + phase}.{k}.{v + 1} {vport} {{\n delay_loop 3\n lb_algo rr\n"
        f" protocol {proto}\n real_server {addr} {port} {{\n  alpha\n  {body}{opts}  }}\n }}\n}}\n")
head = "global_defs {\n router_id t\n}\n"
cases = []
blocks = {0: [], 1: []}
for phase in (0, 1):
    for k in range(len(KINDS)):
        for v in range(4):
            port, name, retry, laf, text = vs(k, phase, v)
            blocks[phase].append(text)
            cases.append(f"{port} {'start' if phase == 0 else 'reload'} {name} retry {retry}{' log_all_failures' if laf else ''}")
open("/tmp/alpha/alpha-first-a.conf", "w").write(head + "".join(blocks[0]))
open("/tmp/alpha/alpha-first-b.conf", "w").write(head + "".join(blocks[0]) + "".join(blocks[1]))
open("/tmp/alpha/alpha-first-cases.txt", "w").write("\n".join(cases) + "\n")
