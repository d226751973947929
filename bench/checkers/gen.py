#!/usr/bin/env python3
"""Writes the checker benchmark's configuration: N virtual servers of M real servers, each real
server with one TCP_CHECK, and optionally H virtual servers of K real servers, each real server
with one HTTP_GET. Real servers are 127.x.y.z addresses (all on the loopback), so one listener
on 0.0.0.0:8080 answers every TCP_CHECK and one HTTP server on 0.0.0.0:8081 every HTTP_GET.

The HTTP_GET url asks `/check` with `status_code 200` and the `digest` of BODY (what inner.sh's
nginx returns there), so every check reads and hashes the whole response.

With `--nginx DIR` it also writes DIR/nginx.conf: one nginx (prefix DIR, no daemon, one worker,
no access log) answering TCP connects on 8080, `/check` on 8081 with BODY, and its request
counters (stub_status) on 127.0.0.1:8090 for inner.sh's checks/s.

usage: gen.py FILE [--vs N] [--rs M] [--http-vs H] [--http-rs K] [--delay-loop S]
                   [--connect-timeout S] [--nginx DIR]
"""
import hashlib
import sys

# The body inner.sh's nginx serves at /check (keep the two in step).
BODY = "rkeepalived checker benchmark: this body is hashed by every HTTP_GET check.\n"


def real_ip(block: int, v: int, r: int) -> str:
    """A distinct loopback address per real server; `block` keeps the TCP and HTTP sets apart."""
    return f"127.{16 + block * 64 + r}.{(v // 256) % 256}.{v % 256}"


def nginx_conf(d: str) -> str:
    """The benchmark's nginx configuration, everything nginx writes kept under `d`."""
    body = BODY.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    temps = "".join(f"  {k}_temp_path {d}/ngx-{k};\n"
                    for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""daemon off;
worker_processes 1;
worker_rlimit_nofile 65536;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
events {{ worker_connections 32768; multi_accept on; }}
http {{
  access_log off;
{temps}  server {{
    listen 8080 backlog=4096;
    listen 8081 backlog=4096;
    location = /check {{ default_type text/plain; return 200 "{body}"; }}
  }}
  server {{
    listen 127.0.0.1:8090;
    location / {{ stub_status; }}
  }}
}}
"""


def main() -> int:
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    path = args[0]
    opts = {"--vs": 2300, "--rs": 16, "--http-vs": 0, "--http-rs": 16, "--delay-loop": 30,
            "--connect-timeout": 3}
    nginx_dir = None
    i = 1
    while i < len(args):
        key = args[i]
        if key == "--nginx" and i + 1 < len(args):
            nginx_dir = args[i + 1]
            i += 2
            continue
        if key not in opts or i + 1 >= len(args):
            print(f"unknown or incomplete option {key}", file=sys.stderr)
            return 2
        opts[key] = int(args[i + 1])
        i += 2
    vs, rs, hvs, hrs = opts["--vs"], opts["--rs"], opts["--http-vs"], opts["--http-rs"]
    delay, timeout = opts["--delay-loop"], opts["--connect-timeout"]
    if rs > 64 or hrs > 64 or max(vs, hvs) > 65536:
        print("at most 64 real servers per virtual server and 65536 virtual servers",
              file=sys.stderr)
        return 2
    digest = hashlib.md5(BODY.encode()).hexdigest()
    out = []
    for v in range(vs):
        vip = f"10.{100 + v // 65536}.{(v // 256) % 256}.{v % 256}"
        out += [f"virtual_server {vip} 80 {{", "  protocol TCP", "  lb_algo wrr",
                f"  delay_loop {delay}"]
        for r in range(rs):
            out += [f"  real_server {real_ip(0, v, r)} 8080 {{", "    TCP_CHECK {",
                    f"      connect_timeout {timeout}", "    }", "  }"]
        out.append("}")
    for v in range(hvs):
        vip = f"10.{200 + v // 65536}.{(v // 256) % 256}.{v % 256}"
        out += [f"virtual_server {vip} 80 {{", "  protocol TCP", "  lb_algo wrr",
                f"  delay_loop {delay}"]
        for r in range(hrs):
            out += [f"  real_server {real_ip(1, v, r)} 8081 {{", "    HTTP_GET {",
                    "      url {", "        path /check", f"        digest {digest}",
                    "        status_code 200", "      }", f"      connect_timeout {timeout}",
                    "      retry 1", "      delay_before_retry 1", "    }", "  }"]
        out.append("}")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    if nginx_dir is not None:
        with open(f"{nginx_dir}/nginx.conf", "w") as f:
            f.write(nginx_conf(nginx_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
