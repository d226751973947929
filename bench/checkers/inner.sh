#!/bin/sh
# Runs inside the VM (see run). For each daemon: starts it, waits until every real server is in
# the table, lets the checks run for WINDOW seconds, and reports the checker process' CPU time
# over that window, its memory at the end (rss_kb) and at its peak (hwm_kb), how many real
# servers were still in the table, and how long the table took to fill (fill_s); then, last on
# the line, its memory at the end split (rss_anon_kb, rss_file_kb; pss_kb, pss_anon_kb,
# pss_file_kb from smaps_rollup).
# When nginx.conf (gen.py --nginx) sits beside CONF, nginx answers the checks and its counters
# give the checks done over the window (tcp_checks = connections that sent no request,
# http_checks = requests); otherwise a Python listener on 8080 answers TCP connects.
# PERF=1 (environment): also samples the checker process with `perf record -g` over the window
# and writes the report to DIR/TAG.perf.txt (the sampling costs CPU: do not read cpu_ms then).
# usage: inner.sh CONF WANT_DESTS WINDOW PROGRAM...
conf=$1; want=$2; window=$3; shift 3
dir=$(dirname "$conf")
hz=$(getconf CLK_TCK)
echo "# clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null) cpus $(nproc)"
# With two or more CPUs the listener gets the last one to itself and the daemon the others.
cpus=$(nproc)
pin_listener=""; pin_daemon=""
if [ "$cpus" -ge 2 ]; then
  pin_listener="taskset -c $((cpus - 1))"; pin_daemon="taskset -c 0-$((cpus - 2))"
fi
if [ -f "$dir/nginx.conf" ]; then
  $pin_listener nginx -p "$dir" -e "$dir/nginx-error.log" -c "$dir/nginx.conf" &
  lpid=$!
  i=0; until curl -sf http://127.0.0.1:8090/ >/dev/null || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done
else
  $pin_listener python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(4096)
while True:
    c, _ = s.accept(); c.close()
' &
  lpid=$!
fi
# "accepts requests" from nginx's counters (empty without nginx).
served() { [ -f "$dir/nginx.conf" ] && curl -s http://127.0.0.1:8090/ | awk 'NR==3 {print $1, $3}'; }
dests() { grep -c -- '->' /proc/net/ip_vs; }
ticks() { set -- $(cut -d' ' -f14,15 /proc/$1/stat); echo $(( $1 + $2 )); }
for prog in "$@"; do
  tag=$(basename "$prog")
  ipvsadm -C
  rm -f /tmp/$tag-c.pid
  $pin_daemon "$prog" -C -n ${LOGARGS:-} -f "$conf" -p /tmp/$tag.pid -c /tmp/$tag-c.pid -r /tmp/$tag-v.pid >/tmp/$tag.log 2>&1 &
  pid=$!
  i=0
  # Memory of the checker child every second while the table fills (start-up peak).
  while [ "$(dests)" -le "$want" ] && [ $i -lt 3000 ]; do
    sleep 0.1; i=$((i+1))
    if [ $((i % 10)) -eq 0 ] && [ -s /tmp/$tag-c.pid ]; then
      echo "# $tag t=$((i / 10))s dests=$(dests) $(grep -h VmRSS /proc/$(cat /tmp/$tag-c.pid)/status 2>/dev/null | tr -s ' \t' ' ')"
    fi
  done
  cpid=$(cat /tmp/$tag-c.pid)
  s0=$(served)
  a=$(ticks $cpid)
  if [ -n "${PERF:-}" ]; then
    perf record -q -F 499 -g -p "$cpid" -o /tmp/$tag.perf.data -- sleep "$window" 2>/dev/null
  else
    sleep "$window"
  fi
  b=$(ticks $cpid)
  s1=$(served)
  counts=""
  if [ -n "$s0" ] && [ -n "$s1" ]; then
    set -- $s0 $s1
    # Each counter read is one accepted connection and one request of its own.
    counts=" tcp_checks=$(( ($3 - $1) - ($4 - $2) )) http_checks=$(( $4 - $2 - 1 ))"
  fi
  up=$(( $(dests) - 1 ))
  hwm=$(awk '/VmHWM/ {print $2}' /proc/$cpid/status)
  rss=$(awk '/VmRSS/ {print $2}' /proc/$cpid/status)
  # The resident set split: anonymous (heap, stacks) and file pages (binary, libraries) from
  # status, and the proportional set size (shared pages divided among their users) from
  # smaps_rollup; appended after the older fields so that their readers see them unchanged.
  # A field the kernel does not give is left out.
  mem=$(awk '/^(RssAnon|RssFile):/ {printf "%s%s=%s", sep, $1 == "RssAnon:" ? "rss_anon_kb" : "rss_file_kb", $2; sep=" "}' /proc/$cpid/status)
  pss=$(awk '/^Pss(_Anon|_File)?:/ {k = tolower($1); sub(":", "_kb", k); printf "%s%s=%s", sep, k, $2; sep=" "}' \
    /proc/$cpid/smaps_rollup 2>/dev/null)
  kill -TERM $pid; wait $pid
  if [ -n "${PERF:-}" ]; then
    perf report -i /tmp/$tag.perf.data --stdio --no-children --percent-limit 0.7 \
      --sort dso,symbol -g none > "$dir/$tag.perf.txt" 2>/dev/null
    perf report -i /tmp/$tag.perf.data --stdio --no-children --sort dso -g none \
      > "$dir/$tag.perf-dso.txt" 2>/dev/null
  fi
  cp /tmp/$tag.log "$(dirname "$conf")/" 2>/dev/null
  echo "RESULT $tag cpu_ms=$(( (b - a) * 1000 / hz )) rss_kb=$rss hwm_kb=$hwm up=$up fill_s=$((i / 10))$counts $mem $pss"
done
kill $lpid; wait $lpid 2>/dev/null
ipvsadm -C
