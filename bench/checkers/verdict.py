#!/usr/bin/env python3
"""Verdict-to-kernel latency of a health-checking daemon (runs inside the VM, see verdict-run).

Real servers 127.0.0.1:BASE+i (one listener each, answered here) with TCP_CHECK, retry 0. For
each transition one listener is closed (or reopened) and the daemon's next probe of that port
decides the real server's fate. Every instant is taken from the kernel's own trace (ftrace,
clock `mono`), so neither this script's polling nor its CPU use enters the numbers:

  syn     the probe's socket leaves CLOSE for SYN_SENT (sock:inet_sock_set_state: the SYN);
  result  it leaves SYN_SENT for CLOSE (the reset of the closed port: the probe has failed) or
          for ESTABLISHED (the listener answered: the probe has passed);
  enter   the daemon's IPVS command enters the kernel (kprobe on ip_vs_genl_set_cmd, or on
          do_ip_vs_set_ctl for the older socket-option interface);
  done    that command returns (kretprobe): the table has changed.

Reported per direction: total = done - syn (the issue's "from a check's failing result to the
IPVS change"), and its parts: probe = result - syn (the kernel's loopback handshake), reaction =
enter - result (the daemon: noticing the result, deciding, handing the change to the kernel),
kernel = done - enter. /proc/net/ip_vs is only read, at leisure, to confirm each change.

With TRACE_DETAIL=DIR, scheduler events and every system call of the daemon's processes are
traced too, and each transition's trace is written to DIR/TAG-K-DIRECTION.trace (for reading
where the reaction time goes; the tracing itself slows the daemon down).

usage: verdict.py write-conf FILE N BASE
       verdict.py measure N BASE TRANSITIONS TAG [PIDFILE]  (a daemon is running on the config;
                                                  PIDFILE: its checker's, for TRACE_DETAIL)
"""
import os
import re
import select
import socket
import subprocess
import sys
import time

TRACING = "/sys/kernel/tracing"
TCP_ESTABLISHED, TCP_SYN_SENT, TCP_CLOSE = 1, 2, 7
# IPVS entry points: generic netlink (keepalived 2.2.7 and rkeepalived), the socket option
# interface (builds without libnl).
PROBES = [
    ("ipvs_nl", "ip_vs:ip_vs_genl_set_cmd"),
    ("ipvs_so", "ip_vs:do_ip_vs_set_ctl"),
]
# Points inside rkeepalived (uprobes, when its binary has the symbols): the pool records a
# finished probe; a verdict is handed to the IPVS thread.
UPROBES = [
    ("pool_finish", "rka_check::driver::CheckerPool::finish"),
    ("handoff", "rkeepalived::checker::ipvs::Manager::update"),
]
LINE = re.compile(r"^\s*(?P<task>.+?)-(?P<pid>\d+)\s+\[\d+\]\s+\S+\s+(?P<ts>\d+\.\d+):\s+"
                  r"(?P<event>\w+):\s*(?P<rest>.*)$")


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


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


def tw(name, value):
    with open(os.path.join(TRACING, name), "w") as f:
        f.write(value)


def file_offsets(exe, names):
    """File offsets of the functions `names` (demangled) in ELF `exe`, by name."""
    try:
        syms = subprocess.run(["nm", "-C", exe], capture_output=True, text=True,
                              check=True).stdout
        phdrs = subprocess.run(["readelf", "-lW", exe], capture_output=True, text=True,
                               check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    loads = []
    for line in phdrs.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            loads.append((int(f[2], 16), int(f[1], 16), int(f[5], 16)))  # vaddr, off, memsz
    out = {}
    for line in syms.splitlines():
        f = line.split(" ", 2)
        if len(f) == 3 and f[1] in "tT" and f[2] in names:
            addr = int(f[0], 16)
            for vaddr, off, size in loads:
                if vaddr <= addr < vaddr + size:
                    out[f[2]] = addr - vaddr + off
    return out


def setup_tracing(base, n, pids, exe):
    """Arms the trace points; returns the kprobe names armed."""
    if not os.path.exists(os.path.join(TRACING, "trace")):
        os.system(f"mount -t tracefs nodev {TRACING}")
    tw("tracing_on", "0")
    tw("events/enable", "0")
    tw("kprobe_events", "")
    tw("uprobe_events", "")
    armed = []
    # Appended without a seek (tracefs refuses the one Python's "a" mode makes).
    fd = os.open(os.path.join(TRACING, "kprobe_events"), os.O_WRONLY | os.O_APPEND)
    try:
        for name, sym in PROBES:
            try:
                os.write(fd, f"p:rka/{name}_enter {sym}\n".encode())
                os.write(fd, f"r:rka/{name}_done {sym}\n".encode())
                armed.append(name)
            except OSError:
                pass
    finally:
        os.close(fd)
    if not armed:
        raise SystemExit("no IPVS entry point can be traced (kprobes)")
    if exe:
        offsets = file_offsets(exe, {sym for _, sym in UPROBES})
        fd = os.open(os.path.join(TRACING, "uprobe_events"), os.O_WRONLY | os.O_APPEND)
        try:
            for name, sym in UPROBES:
                if sym in offsets:
                    try:
                        os.write(fd, f"p:rkau/{name} {exe}:{offsets[sym]:#x}\n".encode())
                    except OSError as e:
                        print(f"# uprobe {name}: {e}")
        finally:
            os.close(fd)
        if os.path.isdir(os.path.join(TRACING, "events/rkau")):
            tw("events/rkau/enable", "1")
    tw("events/rka/enable", "1")
    tw("events/sock/inet_sock_set_state/filter",
       f"dport >= {base} && dport < {base + n} && protocol == 6")
    tw("events/sock/inet_sock_set_state/enable", "1")
    if os.environ.get("TRACE_DETAIL") and pids:
        only = " || ".join(f"common_pid == {p}" for p in pids)
        for ev in ("raw_syscalls/sys_enter", "raw_syscalls/sys_exit",
                   "exceptions/page_fault_user"):
            tw(f"events/{ev}/filter", only)
            tw(f"events/{ev}/enable", "1")
        tw("events/sched/sched_switch/enable", "1")
        tw("events/sched/sched_wakeup/enable", "1")
        tw("buffer_size_kb", "8192")
    tw("trace_clock", "mono")
    tw("trace", "")
    tw("tracing_on", "1")
    return armed


def teardown_tracing():
    tw("tracing_on", "0")
    tw("events/enable", "0")
    tw("kprobe_events", "")
    tw("uprobe_events", "")
    tw("trace", "")


def read_trace():
    with open(os.path.join(TRACING, "trace")) as f:
        return f.read()


def timings(text, direction):
    """The instants (seconds) of one transition from its trace: a dict with syn, result, enter,
    done, and when rkeepalived's uprobes fired, pool_finish (the first after the result) and
    handoff (the last before enter); None when the trace is incomplete."""
    want = TCP_CLOSE if direction == "down" else TCP_ESTABLISHED
    t = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        ev, ts, rest = m.group("event"), float(m.group("ts")), m.group("rest")
        if ev == "inet_sock_set_state":
            if "result" in t:
                continue
            if "oldstate=TCP_CLOSE " in rest and "newstate=TCP_SYN_SENT" in rest:
                t = {"syn": ts}
            elif "oldstate=TCP_SYN_SENT" in rest and "syn" in t:
                new = TCP_CLOSE if "newstate=TCP_CLOSE" in rest else (
                    TCP_ESTABLISHED if "newstate=TCP_ESTABLISHED" in rest else None)
                if new == want:
                    t["result"] = ts
                else:
                    t = {}  # that probe ended otherwise: wait for the next one
        elif "result" not in t:
            continue
        elif ev == "pool_finish":
            t.setdefault("pool_finish", ts)
        elif ev == "handoff" and "enter" not in t:
            t["handoff"] = ts
        elif ev.startswith("ipvs_") and ev.endswith("_enter") and "enter" not in t:
            t["enter"] = ts
        elif ev.startswith("ipvs_") and ev.endswith("_done") and "enter" in t:
            t["done"] = ts
            return t
    return None


def threads(pidfile):
    """Thread ids of the process named in `pidfile` (none if it cannot be read)."""
    try:
        with open(pidfile) as f:
            pid = int(f.read().split()[0])
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except (OSError, ValueError, IndexError):
        return []


def measure(n, base, transitions, tag, pidfile):
    socks = {base + i: listener(base + i) for i in range(n)}
    want = set(socks)

    def serve(timeout):
        ready, _, _ = select.select([s for s in socks.values() if s], [], [], timeout)
        for s in ready:
            try:
                while True:
                    c, _ = s.accept()
                    c.close()
            except (BlockingIOError, InterruptedError):
                pass

    deadline = time.time() + 600
    while dests() != want:
        serve(0.05)
        if time.time() > deadline:
            print(f"RESULT {tag} error=table-never-complete have={len(dests())}")
            return
    pids = threads(pidfile) if pidfile else []
    exe = None
    if pids:
        try:
            exe = os.readlink(f"/proc/{min(pids)}/exe")
        except OSError:
            pass
    setup_tracing(base, n, pids, exe)
    detail = os.environ.get("TRACE_DETAIL")
    rows = {"down": [], "up": []}
    try:
        for k in range(transitions):
            port = base + (k % n)
            for direction in ("down", "up"):
                tw("events/sock/inet_sock_set_state/filter",
                   f"dport == {port} && protocol == 6")
                tw("trace", "")
                if direction == "down":
                    socks[port].close()
                    socks[port] = None
                else:
                    socks[port] = listener(port)
                # Sleep through the next probe (delay_loop 1 s) instead of polling: on one
                # emulated CPU this script's own work would delay the daemon it measures.
                time.sleep(1.2)
                limit = time.time() + 10
                changed = False
                while time.time() < limit:
                    serve(0)
                    present = port in dests()
                    if present == (direction == "up"):
                        changed = True
                        break
                    time.sleep(0.2)
                text = read_trace()
                if detail:
                    with open(os.path.join(detail, f"{tag}-{k}-{direction}.trace"), "w") as f:
                        f.write(text)
                t = timings(text, direction) if changed else None
                if t is None:
                    print(f"# {tag} transition {k} {direction}: changed={changed}, "
                          "no complete trace")
                    continue
                rows[direction].append(t)
    finally:
        teardown_tracing()
    for name in ("down", "up"):
        report(tag, name, rows[name])


def ms(t, a, b):
    return (t[b] - t[a]) * 1e3 if a in t and b in t else None


def report(tag, name, rows):
    total = [ms(t, "syn", "done") for t in rows]
    print(
        f"RESULT {tag} {name} n={len(total)} p50_ms={pct(total, 50):.2f} "
        f"p90_ms={pct(total, 90):.2f} p99_ms={pct(total, 99):.2f} "
        f"max_ms={max(total or [0]):.2f}"
    )
    parts = [("probe", "syn", "result"), ("reaction", "result", "enter"),
             ("kernel", "enter", "done")]
    if rows and all("handoff" in t and "pool_finish" in t for t in rows):
        parts[1:2] = [("pool", "result", "pool_finish"), ("runtime", "pool_finish", "handoff"),
                      ("ipvs-thread", "handoff", "enter")]
    for part, a, b in parts:
        vals = [v for v in (ms(t, a, b) for t in rows) if v is not None]
        print(f"# {tag} {name} {part}: p50_ms={pct(vals, 50):.3f} "
              f"p90_ms={pct(vals, 90):.3f} p99_ms={pct(vals, 99):.3f} "
              f"max_ms={max(vals or [0]):.3f}")
    print(f"# {tag} {name}_ms={sorted(round(v, 2) for v in total)}")


def main():
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "write-conf":
        write_conf(a[1], int(a[2]), int(a[3]))
    elif len(a) in (5, 6) and a[0] == "measure":
        measure(int(a[1]), int(a[2]), int(a[3]), a[4], a[5] if len(a) > 5 else None)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
