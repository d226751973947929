#!/bin/sh
O=/tmp/rlog/o
ip link set lo up
modprobe ip_vs 2>/dev/null
rm -f $O/ready $O/e.* $O/mark
/usr/bin/python3 /tmp/rlog/srv.py > $O/srv.log 2>&1 &
SP=$!
for i in $(seq 50); do [ -f $O/ready ] && break; sleep 0.1; done
echo 5 > $O/e.1; echo 6 > $O/e.2; echo 3 > $O/e.3; echo 5 > $O/e.4; echo 0 > $O/e.15
cp /tmp/rlog/a.conf $O/k.conf
ipvsadm -C
keepalived -C -n -l -D -f $O/k.conf -p $O/k.pid -c $O/c.pid > $O/ka.log 2>&1 &
DP=$!
sleep 4
echo "==== t4" >> $O/mark; ipvsadm -Ln >> $O/mark
echo 0 > $O/e.1; echo 9 > $O/e.4; echo 1 > $O/e.15
sleep 3
echo "==== t7" >> $O/mark; ipvsadm -Ln >> $O/mark
echo 0 > $O/e.15
sleep 3
echo "==== before reload" >> $O/mark; ipvsadm -Ln >> $O/mark
cp /tmp/rlog/b.conf $O/k.conf; kill -HUP $DP
sleep 4
echo "==== after reload" >> $O/mark; ipvsadm -Ln >> $O/mark
echo 8 > $O/e.1
sleep 3
echo "==== t+7" >> $O/mark; ipvsadm -Ln >> $O/mark
kill -TERM $DP; sleep 2
kill $SP
ipvsadm -C
echo done
