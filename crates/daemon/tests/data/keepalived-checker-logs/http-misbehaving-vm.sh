#!/bin/sh
O=/tmp/httpk/o3
mkdir -p $O; rm -f $O/*
ip link set lo up
modprobe ip_vs 2>/dev/null
/usr/bin/python3 /tmp/httpk/servers3.py > $O/servers.log 2>&1 &
SP=$!
for i in $(seq 50); do [ -f $O/servers.ready ] && break; sleep 0.1; done
keepalived -C -n -l -D -f /tmp/httpk/k3.conf -p $O/k.pid -c $O/c.pid > $O/daemon.log 2>&1 &
DP=$!
sleep 16
kill -TERM $DP; sleep 2
kill $SP
echo done
