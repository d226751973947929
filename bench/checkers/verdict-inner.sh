#!/bin/sh
# Runs inside the VM (see verdict-run): for each daemon, starts it on the verdict bench's
# configuration and measures verdict-to-kernel latencies with verdict.py.
# usage: verdict-inner.sh DIR N BASE TRANSITIONS PROGRAM...
# TRACE_DETAIL=DIR (environment): verdict.py writes each transition's full trace there.
dir=$1; n=$2; base=$3; count=$4; shift 4
python3 "$dir/verdict.py" write-conf "$dir/verdict.conf" "$n" "$base"
for prog in "$@"; do
  tag=$(basename "$prog")
  ipvsadm -C
  "$prog" -C -n ${LOGARGS:-} -f "$dir/verdict.conf" -p /tmp/$tag.pid -c /tmp/$tag-c.pid \
    -r /tmp/$tag-v.pid >/tmp/$tag-verdict.log 2>&1 &
  pid=$!
  python3 "$dir/verdict.py" measure "$n" "$base" "$count" "$tag" /tmp/$tag-c.pid
  kill -TERM $pid; wait $pid
  cp /tmp/$tag-verdict.log "$dir/" 2>/dev/null
done
ipvsadm -C
