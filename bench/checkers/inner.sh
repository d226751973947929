#!/bin/sh
# Runs inside the VM (see run). For each daemon: starts it, waits until every real server is in
# the table, lets the checks run for WINDOW seconds, and reports the checker process' CPU time
# over that window, its memory at the end (rss_kb) and at its peak (hwm_kb), how many real
# servers were still in the table, and how long the table took to fill (fill_s).
# usage: inner.sh CONF WANT_DESTS WINDOW PROGRAM...
conf=$1; want=$2; window=$3; shift 3
hz=$(getconf CLK_TCK)
python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(4096)
while True:
    c, _ = s.accept(); c.close()
' &
lpid=$!
dests() { grep -c -- '->' /proc/net/ip_vs; }
ticks() { set -- $(cut -d' ' -f14,15 /proc/$1/stat); echo $(( $1 + $2 )); }
for prog in "$@"; do
  tag=$(basename "$prog")
  ipvsadm -C
  rm -f /tmp/$tag-c.pid
  "$prog" -C -n ${LOGARGS:-} -f "$conf" -p /tmp/$tag.pid -c /tmp/$tag-c.pid -r /tmp/$tag-v.pid >/tmp/$tag.log 2>&1 &
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
  a=$(ticks $cpid)
  sleep "$window"
  b=$(ticks $cpid)
  up=$(( $(dests) - 1 ))
  hwm=$(awk '/VmHWM/ {print $2}' /proc/$cpid/status)
  rss=$(awk '/VmRSS/ {print $2}' /proc/$cpid/status)
  kill -TERM $pid; wait $pid
  cp /tmp/$tag.log "$(dirname "$conf")/" 2>/dev/null
  echo "RESULT $tag cpu_ms=$(( (b - a) * 1000 / hz )) rss_kb=$rss hwm_kb=$hwm up=$up fill_s=$((i / 10))"
done
kill $lpid
ipvsadm -C
