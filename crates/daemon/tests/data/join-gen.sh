#!/bin/sh
# join-gen.sh NAME PORT CHECKOPTS VS2_RSOPTS [VS2_PORT]: writes NAME-a.conf (VS1) and NAME-b.conf (VS1 + VS2)
N=$1; P=$2; C=$3; A=$4; P2=${5:-$2}
vs() {
PP=${3:-$P}
cat <<E
virtual_server $1 80 {
 delay_loop ${DL:-3}
 lb_algo rr
 protocol TCP
 real_server 127.0.0.1 $PP {
  $2
  TCP_CHECK {
   connect_timeout 2
   $C
  }
 }
}
E
}
{ echo "global_defs {
 router_id t
}"; vs 10.0.1.1 ""; } > /tmp/join/$N-a.conf
{ cat /tmp/join/$N-a.conf; vs 10.0.1.2 "$A" $P2; } > /tmp/join/$N-b.conf
