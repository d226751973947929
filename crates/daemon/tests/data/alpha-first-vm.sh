#!/bin/sh
# One alpha-first capture, run in the rka-vmtest VM with the alpha-first-* files in /tmp/alpha
# (see alpha-first-README.md); keepalived's lines go to /tmp/alpha/o/ka.log.
#   sh alpha-first-vm.sh                 alpha-first.log
#   sh alpha-first-vm.sh timing          alpha-first-timing.log
#   sh alpha-first-vm.sh misc-retries    alpha-first-misc-retries.log
case "${1:-}" in
  "") SRV=alpha-first-srv.py; A=alpha-first-a.conf; B=alpha-first-b.conf; WAIT=20 ;;
  timing) SRV=alpha-first-timing-srv.py; A=alpha-first-timing-a.conf
    B=alpha-first-timing-b.conf; WAIT=20 ;;
  misc-retries) SRV=alpha-first-timing-srv.py; A=alpha-first-misc-retries.conf; B=$A; WAIT=2 ;;
  *) echo "usage: $0 [timing|misc-retries]" >&2; exit 2 ;;
esac
O=/tmp/alpha/o
rm -rf $O; mkdir -p $O
ip link set lo up
ip link add dummy0 type dummy; ip link set dummy0 up
ip addr add 10.99.0.1/32 dev dummy0; ip route add 10.99.0.0/24 dev dummy0
ip neigh add 10.99.0.5 lladdr 02:00:00:00:00:05 dev dummy0 nud permanent
modprobe ip_vs 2>/dev/null
/usr/bin/python3 /tmp/alpha/$SRV > $O/srv.log 2>&1 &
SP=$!
for i in $(seq 50); do [ -f $O/ready ] && break; sleep 0.1; done
cp /tmp/alpha/$A $O/k.conf
ipvsadm -C
T0=$(date +%s.%N); echo "START $T0" > $O/t0
keepalived -C -n -l -D -f $O/k.conf -p $O/k.pid -c $O/c.pid >> $O/ka.log 2>&1 &
DP=$!
sleep $WAIT
echo "== RELOAD at $(echo "$(date +%s.%N) - $T0" | bc)" > $O/marks
echo "RELOAD $(date +%s.%N)" >> $O/t0
cp /tmp/alpha/$B $O/k.conf
echo "==== RELOAD" >> $O/ka.log
kill -HUP $DP
sleep 25
echo "==== STOP" >> $O/ka.log
ipvsadm -Ln > $O/ipvsadm.txt
kill -TERM $DP; sleep 3
ipvsadm -C
kill $SP
echo done
