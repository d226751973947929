"""CPU used by a daemon (its main process and direct children) over a window.

usage: measure.py MAIN_PID SECONDS
Prints, per process, utime+stime from /proc/PID/stat (10 ms ticks) and the run time summed
over its threads from /proc/PID/task/*/schedstat (ns precision), then the totals.
"""
import os
import sys
import time


def processes(main):
    out = [main]
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if ppid == main:
            out.append(int(p))
    return out


def sample(pids):
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    r = {}
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks = (int(fields[11]) + int(fields[12])) * tick_ms
            ns = 0
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/schedstat") as f:
                    ns += int(f.read().split()[0])
            with open(f"/proc/{p}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        r[p] = (comm, ticks, ns)
    return r


def main():
    main_pid, secs = int(sys.argv[1]), float(sys.argv[2])
    pids = processes(main_pid)
    before = sample(pids)
    time.sleep(secs)
    after = sample(pids)
    total_ticks = total_run = 0.0
    for p in pids:
        if p not in before or p not in after:
            continue
        ticks = after[p][1] - before[p][1]
        run = (after[p][2] - before[p][2]) / 1e6
        total_ticks += ticks
        total_run += run
        role = "parent" if p == main_pid else "child"
        print(f"  {p:>7} {role:<6} {before[p][0]:<16} stat {ticks:5.0f} ms  schedstat {run:7.1f} ms")
    print(f"  total over {secs:.0f} s: stat {total_ticks:.0f} ms, schedstat {total_run:.1f} ms")


if __name__ == "__main__":
    main()
