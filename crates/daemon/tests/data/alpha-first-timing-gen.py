# Timing run: MISC (a script recording each run), DNS (a silent UDP server recording queries),
# SMTP (a server recording connections, closing at once), alpha and not, retry 1, laf, at start
# (10.1.x) and added at a reload (10.2.x). port = 9300 + 20*kind + 10*phase + v, v = 2*alpha + laf.
KINDS = [
    ("misc", "TCP", "MISC_CHECK {\n  misc_path \"/tmp/alpha/alpha-first-timing-rec.sh PORT\"\n"),
    ("dns", "UDP", "DNS_CHECK {\n  connect_timeout 1\n"),
    ("smtp", "TCP", "SMTP_CHECK {\n  connect_timeout 1\n"),
]
head = "global_defs {\n router_id t\n}\n"
blocks = {0: [], 1: []}
cases = []
for phase in (0, 1):
    for k, (name, proto, body) in enumerate(KINDS):
        for v in range(4):
            alpha, laf = v >> 1, v & 1
            port = 9300 + 20 * k + 10 * phase + v
            vport = 53 if proto == "UDP" else 80
            b = body.replace("PORT", str(port))
            blocks[phase].append(
                f"virtual_server 10.{1 + phase}.{k}.{v + 1} {vport} {{\n delay_loop 4\n lb_algo rr\n"
                f" protocol {proto}\n real_server 127.0.0.1 {port} {{\n  {'alpha' if alpha else ''}\n  {b}"
                f"  retry 1\n  delay_before_retry 1\n{'  log_all_failures' if laf else ''}\n  }}\n }}\n}}\n")
            cases.append(f"{port} {'start' if phase == 0 else 'reload'} {name} retry 1{' alpha' if alpha else ''}{' log_all_failures' if laf else ''}")
open("/tmp/alpha/alpha-first-timing-a.conf", "w").write(head + "".join(blocks[0]))
open("/tmp/alpha/alpha-first-timing-b.conf", "w").write(head + "".join(blocks[0]) + "".join(blocks[1]))
open("/tmp/alpha/alpha-first-timing-cases.txt", "w").write("\n".join(cases) + "\n")
