#!/usr/bin/env python3
"""Summary table of bench/checkers/run's RESULT lines (one per daemon and run): per field the
median and, with several runs, [min-max]; checks_per_s and cpu_us_per_check derived per run;
ratio = median of OURS / median of keepalived.

usage: summary.py RESULTS WINDOW_S TITLE OURS [SECOND]
"""
import statistics, sys
path, window, title, ours = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
second = sys.argv[5] if len(sys.argv) > 5 else ""
rows = {}
for line in open(path):
    f = line.split()
    kv = dict(x.split("=", 1) for x in f[2:] if "=" in x)
    vals = {k: float(v) for k, v in kv.items() if k != "run"}
    n = vals.get("tcp_checks", 0) + vals.get("http_checks", 0)
    vals["checks_per_s"] = n / window
    if n > 0:
        vals["cpu_us_per_check"] = vals["cpu_ms"] * 1000 / n
    rows.setdefault(f[1], []).append(vals)
fields = ["cpu_ms", "tcp_checks", "http_checks", "checks_per_s", "cpu_us_per_check",
          "rss_kb", "hwm_kb", "up", "fill_s",
          # The checker's memory at the end split (inner.sh; absent from older results).
          "rss_anon_kb", "rss_file_kb", "pss_kb", "pss_anon_kb", "pss_file_kb"]
def med(tag, f):
    xs = [r[f] for r in rows.get(tag, []) if f in r]
    return statistics.median(xs) if xs else None
def cell(tag, f):
    xs = [r[f] for r in rows.get(tag, []) if f in r]
    if not xs:
        return "-"
    m = statistics.median(xs)
    if len(xs) == 1:
        return f"{m:.0f}"
    return f"{m:.0f} [{min(xs):.0f}-{max(xs):.0f}]"
cols = [ours, "keepalived"] + ([second] if second else [])
runs = max(len(v) for v in rows.values())
print(f"{title + f' x{runs}':<22} " + " ".join(f"{c:>22}" for c in cols[:2]) + f" {'ratio':>6}"
      + "".join(f" {c:>22}" for c in cols[2:]))
for f in fields:
    a, b = med(ours, f), med("keepalived", f)
    ratio = f"{a / b:.2f}" if a is not None and b else "-"
    print(f"{f:<22} " + " ".join(f"{cell(c, f):>22}" for c in cols[:2]) + f" {ratio:>6}"
          + "".join(f" {cell(c, f):>22}" for c in cols[2:]))
