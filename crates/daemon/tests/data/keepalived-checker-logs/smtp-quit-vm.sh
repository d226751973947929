#!/bin/sh
O=/tmp/fid2/o
mkdir -p $O; rm -f $O/*
ip link set lo up
modprobe ip_vs 2>/dev/null
/usr/bin/python3 /tmp/fid2/servers.py > $O/servers.log 2>&1 &
SP=$!
for i in $(seq 50); do [ -f $O/servers.ready ] && break; sleep 0.1; done
cp /tmp/fid2/k.conf $O/k.conf
keepalived -C -n -l -D -f $O/k.conf -p $O/k.pid -c $O/c.pid > $O/daemon.log 2>&1 &
DP=$!
sleep 14
kill -TERM $DP; sleep 2
kill $SP
echo done
