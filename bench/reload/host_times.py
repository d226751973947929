#!/usr/bin/env python3
"""Per-reload times of bench/reload/host from a daemon's stamped log (stamp.py) and the times
the SIGHUPs were sent.

usage: host_times.py KIND LOG HUPS
  KIND  rka-all | rka-vrrp | ka-vrrp   which daemon ran, and which children
  LOG   the stamped console log (-l -D) of the run
  HUPS  one line per reload: "N VARIANT EPOCH_MS" (the time just before `kill -HUP`)

For each reload it prints one line "RELOAD N VARIANT key=ms ..." with the time from the SIGHUP
to the first log line of each marker below that follows it, and `all`, the latest of them:
the moment every child has applied the new configuration. A marker that never shows is printed
as "-" and the line starts with "FAIL".

Markers (log lines the daemons write themselves):
  (a marker matches a message that starts with it, the console timestamp left out;
   "Reloading" only the whole message; a count N takes the Nth match after the SIGHUP; of
   several markers for one key the first found counts: builds before 902f20f logged
   "reloading the VRRP configuration", builds before the parent logged keepalived's
   "Reloading ..." logged "Reloading" twice, the parent's first: not read any more)
  rkeepalived  parent   "Reloading ..."                      SIGHUP handled by the parent
               vrrp     "Reloading" (whole message)          the VRRP child has read the new
                                                              file and applies it (in-memory
                                                              diff, no parse left)
               checker  "checker configuration reloaded"     plan mapped and installed
               ipvs     "IPVS: whole table of"               the IPVS thread compared the
                                                              table and sent the change (a dry
                                                              run on a host without IPVS)
  keepalived   vrrp     "Reload complete"                    the VRRP child's reload is done

  Since bb3ef3b the checker child logs keepalived's "Reloading" too, as it takes
  the new configuration: in `rka-all` the "vrrp" key is then the first child to say it.
"""
import sys

MARKERS = {
    "rka-all": [
        ("parent", "Reloading ..."),
        ("vrrp", "Reloading"),
        ("vrrp", "reloading the VRRP configuration"),
        ("checker", "checker configuration reloaded"),
        ("ipvs", "IPVS: whole table of"),
    ],
    "rka-vrrp": [
        ("parent", "Reloading ..."),
        ("vrrp", "Reloading"),
        ("vrrp", "reloading the VRRP configuration"),
    ],
    "ka-vrrp": [
        ("parent", "Reloading ..."),
        ("vrrp", "Reload complete"),
    ],
}


def message(text):
    """The message of a console line, after keepalived's `Sun Nov 22 12:01:43 2026: `."""
    return text.split(": ", 1)[1].rstrip("\n") if ": " in text else text


def read_log(path):
    lines = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            stamp, _, text = raw.partition(" ")
            try:
                lines.append((float(stamp), text))
            except ValueError:
                continue
    return lines


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[1] not in MARKERS:
        print(__doc__, file=sys.stderr)
        return 2
    markers = MARKERS[sys.argv[1]]
    log = read_log(sys.argv[2])
    hups = []
    with open(sys.argv[3]) as f:
        for row in f:
            n, variant, t = row.split()
            hups.append((int(n), variant, float(t)))
    for i, (n, variant, t0) in enumerate(hups):
        t1 = hups[i + 1][2] if i + 1 < len(hups) else float("inf")
        got = {}
        for key, needle, *nth in markers:
            if key in got:
                continue
            seen = 0
            for t, text in log:
                if t0 <= t < t1 and message(text) == needle or (
                        t0 <= t < t1 and needle != "Reloading"
                        and message(text).startswith(needle)):
                    seen += 1
                    if seen == (nth[0] if nth else 1):
                        got[key] = t - t0
                        break
        keys = list(dict.fromkeys(m[0] for m in markers))
        missing = [k for k in keys if k not in got]
        cells = " ".join("%s=%s" % (k, "%.0f" % got[k] if k in got else "-") for k in keys)
        total = "-" if missing else "%.0f" % max(got.values())
        print("%s %d %s %s all=%s" % ("FAIL" if missing else "RELOAD", n, variant, cells, total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
