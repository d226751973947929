#!/bin/sh
O=/tmp/clog/o
ip link set lo up
ip link add dummy0 type dummy 2>/dev/null; ip link set dummy0 up; ip addr add 10.99.0.1/32 dev dummy0; ip route add 10.99.0.0/24 dev dummy0
ip neigh add 10.99.0.5 lladdr 02:00:00:00:00:05 dev dummy0 nud permanent 2>/dev/null
modprobe ip_vs 2>/dev/null
rm -f $O/servers.ready
/usr/bin/python3 /tmp/clog/servers.py > $O/servers.log 2>&1 &
SP=$!
for i in $(seq 50); do [ -f $O/servers.ready ] && break; sleep 0.1; done
sh /tmp/clog/run.sh -D 2525 d
sh /tmp/clog/run.sh "" 2525 nod
sh /tmp/clog/run.sh -D 2599 smtpfail
kill $SP
echo done
