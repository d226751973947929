#!/usr/bin/env python3
"""Copies a daemon's console output (stdin) to FILE, each line prefixed with the wall-clock
time it was read, in milliseconds since the epoch (three decimals). The daemons' own console
timestamps have a one-second resolution; this gives the reload benchmark (bench/reload/host)
millisecond times for every log line.

usage: PROGRAM ... 2>&1 | stamp.py FILE
"""
import sys
import time


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], "w", buffering=1) as out:
        for line in sys.stdin.buffer:
            out.write("%.3f %s" % (time.time() * 1000, line.decode("utf-8", "replace")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
