#!/bin/sh
# join-run.sh NAME W1: start on NAME-a.conf, wait W1 s, reload to NAME-b.conf, watch the table 12 s
N=$1; W1=$2; O=/tmp/join/o
ipvsadm -C
cp /tmp/join/$N-a.conf $O/k.conf
T0=$(date +%s.%N)
keepalived -C -n -l -D -f $O/k.conf -p $O/$N.pid -c $O/$N.cpid > $O/$N.ka.log 2>&1 &
DP=$!
: > $O/$N.table
last=""
snap() { cur=$(ipvsadm -Ln | grep -v '^IP Virtual\|^Prot\|^  -> RemoteAddress'); if [ "$cur" != "$last" ]; then echo "== $(echo "$(date +%s.%N) - $T0" | bc) $1" >> $O/$N.table; echo "$cur" >> $O/$N.table; last=$cur; fi; }
i=0; while [ $i -lt $((W1*5)) ]; do snap pre; sleep 0.2; i=$((i+1)); done
cp /tmp/join/$N-b.conf $O/k.conf
echo "== $(echo "$(date +%s.%N) - $T0" | bc) RELOAD" >> $O/$N.table
kill -HUP $DP
i=0; while [ $i -lt 75 ]; do snap post; sleep 0.2; i=$((i+1)); done
kill -TERM $DP; sleep 2
ipvsadm -C
