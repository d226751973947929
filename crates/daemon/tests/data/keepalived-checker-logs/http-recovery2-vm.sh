#!/bin/sh
O=/tmp/httpk/o2
mkdir -p $O; rm -f $O/*
sed -i 's#/tmp/httpk/o/#/tmp/httpk/o2/#' /dev/null
ip link set lo up
modprobe ip_vs 2>/dev/null
# servers write under O (servers.py uses /tmp/httpk/o/): use a copy pointing at o2
sed 's#/tmp/httpk/o/#/tmp/httpk/o2/#' /tmp/httpk/servers.py > $O/servers.py
TLS=8603,8606 TWO=8607 /usr/bin/python3 $O/servers.py > $O/servers.log 2>&1 &
SP=$!
for i in $(seq 50); do [ -f $O/servers.ready ] && break; sleep 0.1; done
# failing from the start: 8604 (alpha), 8605, 8608 (alpha), 8610
echo BBBB > $O/seq.8604; echo BB > $O/seq.8605; echo B > $O/seq.8608; echo BBBBBBBBBBB > $O/seq.8610
keepalived -C -n -l -D -f /tmp/httpk/k2.conf -p $O/k.pid -c $O/c.pid > $O/daemon.log 2>&1 &
DP=$!
mark() { echo "==== MARK $* $(date +%s.%N)" >> $O/marks; }
sleep 5
mark bad
for p in 8601 8602 8603; do echo BBBBBBBBBBBBBBB > $O/seq.$p; done
echo BGBGGGGGG > $O/seq.8606; touch $O/bad.8607
sleep 9
mark good
rm -f $O/seq.8601 $O/seq.8602 $O/seq.8603 $O/bad.8607
sleep 14
mark stop; kill -TERM $DP; sleep 2
kill $SP
echo done
