#!/bin/sh
# Runs inside the VM (see run). Namespace d is the director (the daemon, IPVS, a listener on
# 0.0.0.0:8080 answering every real server on its loopback); namespace o, on a veth pair with
# d, captures the adverts. For each daemon: start it on a.conf, wait until every real server is
# in the table and the VIP is held, start the capture, then RELOADS times: copy b.conf (or a.conf
# back) over the running file, send SIGHUP to the parent and measure the wall time until the
# change is visible in the kernel's IPVS table. Afterwards: the longest gap between two adverts
# over the whole capture (4 s before the first reload to 6 s after the last).
# usage: inner.sh DIR WANT_DESTS RELOADS PROGRAM...
set -u
dir=$1; want=$2; reloads=$3; shift 3
ip netns add d
ip netns add o
ip link add vd netns d type veth peer name vo netns o
ip -n d link set vd name eth0
ip -n o link set vo name eth0
for n in d o; do ip -n $n link set lo up; ip -n $n link set eth0 up; done
ip -n d addr add 10.30.0.1/24 dev eth0
ip -n o addr add 10.30.0.2/24 dev eth0
ip netns exec d python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(4096)
while True:
    c, _ = s.accept(); c.close()
' &
lpid=$!
ms() { echo $(( $(date +%s%N) / 1000000 )); }
dests() { ip netns exec d grep -c -- '->' /proc/net/ip_vs; }
has_vip() { ip -n d -o addr show dev eth0 | grep -q ' 10.30.0.100/'; }
# applied a|b: the table shows that variant's difference.
applied() {
  w=$(ip netns exec d ipvsadm -Ln -t 10.100.0.0:80 2>/dev/null | awk '$2 == "127.16.0.0:8080" {print $4}')
  if [ "$1" = b ]; then
    [ "$w" = 5 ] && ip netns exec d ipvsadm -Ln -t 10.99.0.1:80 >/dev/null 2>&1
  else
    [ "$w" = 1 ] && ! ip netns exec d ipvsadm -Ln -t 10.99.0.1:80 >/dev/null 2>&1
  fi
}
for prog in "$@"; do
  tag=$(basename "$prog")
  ip netns exec d ipvsadm -C
  cp "$dir/a.conf" /tmp/$tag.conf
  ip netns exec d "$prog" -n ${LOGARGS:-} -f /tmp/$tag.conf -p /tmp/$tag.pid -c /tmp/$tag-c.pid \
    -r /tmp/$tag-v.pid >/tmp/$tag.log 2>&1 &
  pid=$!
  t=$(ms)
  # /proc/net/ip_vs has a header line with "->": more than WANT lines means every real server.
  until [ "$(dests)" -gt "$want" ] && has_vip; do
    sleep 1
    echo "$tag: $(( ($(ms) - t) / 1000 )) s, $(dests) lines" >>"$dir/progress.log"
    [ $(( $(ms) - t )) -lt 900000 ] || { echo "FAIL $tag never came up: $(dests) dests"; break; }
  done
  echo "STARTED $tag in $(( $(ms) - t )) ms" | tee -a "$dir/progress.log"
  sleep 5
  ip netns exec o tcpdump -i eth0 -n -tt -l 'ip proto 112' >/tmp/$tag.adverts 2>/dev/null &
  tpid=$!
  # How busy the guest's vCPU is with the checkers alone, before any reload.
  b0=$(awk '/^cpu /{print $2+$3+$4+$6+$7+$8, $5}' /proc/stat)
  sleep 4
  b1=$(awk '/^cpu /{print $2+$3+$4+$6+$7+$8, $5}' /proc/stat)
  echo "$b0 $b1" | awk -v t=$tag '{b=$3-$1; i=$4-$2; printf "BUSY %s %d%% of the vCPU before the first reload\n", t, 100*b/(b+i)}' | tee -a "$dir/progress.log"
  times=""
  n=1
  while [ $n -le "$reloads" ]; do
    v=b; [ $((n % 2)) = 0 ] && v=a
    cp "$dir/$v.conf" /tmp/$tag.conf
    t0=$(ms)
    kill -HUP $pid
    until applied $v; do
      # Every poll forks ipvsadm and awk, which compete for the guest's single vCPU.
      sleep 0.1
      [ $(( $(ms) - t0 )) -lt 600000 ] || { echo "FAIL $tag reload $n not applied"; break; }
    done
    dt=$(( $(ms) - t0 ))
    echo "RELOAD $tag $n to $v: $dt ms" | tee -a "$dir/progress.log"
    times="$times $dt"
    sleep 6
    n=$((n+1))
  done
  kill -INT $tpid; wait $tpid
  has_vip || echo "FAIL $tag lost the VIP"
  gap=$(awk '/vrid 61,/ && $3 == "10.30.0.1" {if (p) {g = $1 - p; if (g > m) m = g}; p = $1} END {printf "%d", m * 1000}' /tmp/$tag.adverts)
  count=$(grep -c 'vrid 61,' /tmp/$tag.adverts)
  others=$(awk '/vrid 61,/ && $3 != "10.30.0.1"' /tmp/$tag.adverts | wc -l)
  kill -TERM $pid; wait $pid
  cp /tmp/$tag.log /tmp/$tag.adverts "$dir/" 2>/dev/null
  max=$(echo $times | tr ' ' '\n' | sort -n | tail -1)
  med=$(echo $times | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "RESULT $tag reload_ms_median=$med reload_ms_max=$max advert_gap_ms=$gap adverts=$count foreign=$others"
done
kill $lpid
ip netns exec d ipvsadm -C
