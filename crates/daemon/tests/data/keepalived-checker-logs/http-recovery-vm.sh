#!/bin/sh
O=/tmp/httpk/o
ip link set lo up
modprobe ip_vs 2>/dev/null
rm -f $O/*
/usr/bin/python3 /tmp/httpk/servers.py > $O/servers.log 2>&1 &
SP=$!
for i in $(seq 50); do [ -f $O/servers.ready ] && break; sleep 0.1; done
tcpdump -i lo -nn -tt port 8601 or port 8603 > $O/tcpdump.txt 2>$O/tcpdump.err &
TP=$!
keepalived -C -n -l -D -f /tmp/httpk/k.conf -p $O/k.pid -c $O/c.pid > $O/daemon.log 2>&1 &
DP=$!
mark() { echo "==== MARK $* $(date +%s.%N)" >> $O/marks; }
sleep 5
mark bad
echo BBBBBBBBBBBB > $O/seq.8601; echo BBBBBBBBBBBB > $O/seq.8602; echo BBBBBBBBBBBB > $O/seq.8603
touch $O/bad.8604; echo BBBBBBBBBBBB > $O/seq.8608; echo BGBGGGGG > $O/seq.8609
sleep 3
kill $TP
sleep 6
mark good
rm -f $O/seq.8601 $O/seq.8602 $O/seq.8603 $O/bad.8604 $O/seq.8608
sleep 12
mark stop; kill -TERM $DP; sleep 3
ss -tan > $O/ss.txt
kill $SP
echo done
