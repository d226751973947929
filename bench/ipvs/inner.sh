#!/bin/sh
# Runs inside the VM (see run): programs the table from empty with each daemon and reports
# wall time to the last real server, the checker process' CPU time and memory, and the
# netlink send calls (a second pass under strace). Output: one "RESULT" line per daemon.
# usage: inner.sh CONF WANT_DESTS PROGRAM...
conf=$1; want=$2; shift 2
hz=$(getconf CLK_TCK)

wait_programmed() {
  while :; do
    n=$(grep -c -- '->' /proc/net/ip_vs)
    [ "$n" -gt "$want" ] && return 0
    sleep 0.02
  done
}

child_pid() {
  i=0
  while [ ! -s "$1" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done
  cat "$1"
}

for prog in "$@"; do
  tag=$(basename "$prog")
  ipvsadm -C
  t0=$(date +%s%N)
  "$prog" -C -n -f "$conf" -p /tmp/$tag.pid -c /tmp/$tag-c.pid -r /tmp/$tag-v.pid >/tmp/$tag.log 2>&1 &
  pid=$!
  wait_programmed
  t1=$(date +%s%N)
  cpid=$(child_pid /tmp/$tag-c.pid)
  set -- $(cut -d' ' -f14,15 /proc/$cpid/stat)
  user_ms=$(( $1 * 1000 / hz )); sys_ms=$(( $2 * 1000 / hz ))
  cpu_ms=$(( user_ms + sys_ms ))
  rss=$(awk '/VmHWM/ {print $2}' /proc/$cpid/status)
  kill -TERM $pid; wait $pid
  # Second pass: count netlink sends while programming.
  ipvsadm -C
  rm -f /tmp/$tag-c.pid
  strace -f -qq -c -e trace=sendmsg,sendto -o /tmp/$tag.strace \
    "$prog" -C -n -f "$conf" -p /tmp/$tag.pid -c /tmp/$tag-c.pid -r /tmp/$tag-v.pid >/tmp/$tag.log 2>&1 &
  spid=$!
  wait_programmed
  cpid=$(child_pid /tmp/$tag-c.pid)
  ppid=$(cat /tmp/$tag.pid)
  kill -KILL $ppid; kill -KILL $cpid
  wait $spid
  sends=$(awk '$NF=="sendmsg" || $NF=="sendto" {s += $4} END {print s+0}' /tmp/$tag.strace)
  echo "RESULT $tag ms=$(( (t1 - t0) / 1000000 )) cpu_ms=$cpu_ms user_ms=$user_ms sys_ms=$sys_ms rss_kb=$rss sends=$sends"
  ipvsadm -C
done
