#!/bin/sh
# In the VM: $1 = extra keepalived flag (-D or none), $2 = smtp port, $3 = tag
O=/tmp/clog/o; TAG=$3
rm -f $O/down.* $O/bad.* $O/dyn.* $O/seq.* $O/tf1 $O/tf2 $O/mails
cp /tmp/clog/extra1.conf $O/extra.conf
sed "s/SMTPPORT/$2/" /tmp/clog/a.conf.in > $O/a.conf
ipvsadm -C
keepalived -C -n -l $1 -f $O/a.conf -p $O/k.pid -c $O/c.pid > $O/daemon.$TAG.log 2>&1 &
DP=$!
mark() { echo "==== MARK $*" >> $O/marks.$TAG; date +%s.%N >> $O/marks.$TAG; }
sleep 4
mark down 8401 8402 8404 8405 8408; touch $O/down.8401 $O/down.8402 $O/down.8404 $O/down.8405 $O/down.8408
mark bad 8403 8407; touch $O/bad.8403 $O/bad.8407
echo 3 > $O/tf1; echo 3 > $O/tf2
sleep 5
echo -7 > $O/tf1; echo -1 > $O/tf2
sleep 4
mark up all; rm -f $O/down.* $O/bad.*
echo 0 > $O/tf1; echo 0 > $O/tf2
sleep 4
mark reload; cp /tmp/clog/extra2.conf $O/extra.conf; kill -HUP $DP
sleep 5
mark stop; kill -TERM $DP; sleep 3
ipvsadm -C
