#!/bin/sh
# alpha-first.log: run in the rka-vmtest VM with the alpha-first-* files in /tmp/alpha (see
# alpha-first-README.md); keepalived's lines go to /tmp/alpha/o/ka.log.
O=/tmp/alpha/o
rm -rf $O; mkdir -p $O
ip link set lo up
ip link add dummy0 type dummy; ip link set dummy0 up
ip addr add 10.99.0.1/32 dev dummy0; ip route add 10.99.0.0/24 dev dummy0
ip neigh add 10.99.0.5 lladdr 02:00:00:00:00:05 dev dummy0 nud permanent
modprobe ip_vs 2>/dev/null
/usr/bin/python3 /tmp/alpha/alpha-first-srv.py > $O/srv.log 2>&1 &
SP=$!
for i in $(seq 50); do [ -f $O/ready ] && break; sleep 0.1; done
cp /tmp/alpha/alpha-first-a.conf $O/k.conf
ipvsadm -C
T0=$(date +%s.%N)
keepalived -C -n -l -D -f $O/k.conf -p $O/k.pid -c $O/c.pid >> $O/ka.log 2>&1 &
DP=$!
sleep 20
echo "== RELOAD at $(echo "$(date +%s.%N) - $T0" | bc)" > $O/marks
cp /tmp/alpha/alpha-first-b.conf $O/k.conf
echo "==== RELOAD" >> $O/ka.log
kill -HUP $DP
sleep 25
echo "==== STOP" >> $O/ka.log
ipvsadm -Ln > $O/ipvsadm.txt
kill -TERM $DP; sleep 3
ipvsadm -C
kill $SP
echo done
