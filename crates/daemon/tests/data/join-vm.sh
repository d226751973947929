#!/bin/sh
# The join captures: run in the rka-vmtest VM with these files copied to /tmp/join (see
# join-README.md); each scenario's log is /tmp/join/o/NAME.ka.log, its table NAME.table.
O=/tmp/join/o
mkdir -p $O
ip link set lo up
modprobe ip_vs 2>/dev/null
/usr/bin/python3 /tmp/join/join-srv.py > $O/srv.log 2>&1 &
SP=$!
for i in $(seq 50); do [ -f $O/ready ] && break; sleep 0.1; done
G=/tmp/join/join-gen.sh
sh $G fail 8999 "" ""
sh $G fail-retry2 8999 "retry 2
   delay_before_retry 1" ""
sh $G fail-alpha 8999 "" "alpha"
sh $G up 8998 "" ""
sh $G up-alpha 8998 "" "alpha"
sh $G fresh 8999 "" "" 8997
sh $G fresh-retry2 8999 "retry 2
   delay_before_retry 1" "" 8997
# alpha on both sides, or on the new one with retry 0; delay_loop 6
export DL=6
sh $G fail-alpha-both-retry0 8999 "alpha
   retry 0" ""
sh $G fresh-alpha-retry0 8999 "alpha
   retry 0" "" 8997
sh $G fail-alpha-both-retry1 8999 "alpha
   retry 1" ""
sh $G fail-alpha-retry0 8999 "retry 0" "alpha"
for n in fail fail-retry2 fail-alpha up up-alpha fresh fresh-retry2 \
    fail-alpha-both-retry0 fresh-alpha-retry0 fail-alpha-both-retry1 fail-alpha-retry0; do
  sh /tmp/join/join-run.sh $n 8
done
kill $SP
echo done
