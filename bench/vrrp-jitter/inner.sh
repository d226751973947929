#!/bin/sh
# Runs inside the VM (see run), or on the host with CASES="idle hog". For each program and each
# case (idle: VRRP only; busy: VRRP plus the saturating checkers, which needs IPVS; hog: VRRP
# only, with one CPU-bound process per core in the master's namespace): a master in namespace
# jm, a capture in namespace jp, the advert gaps over WINDOW seconds, and the CPU time of the
# VRRP and checker children.
# usage: [CASES="idle busy"] inner.sh SCRATCH WINDOW PROGRAM...
dir=$1; window=$2; shift 2
cases=${CASES:-idle busy}
hz=$(getconf CLK_TCK)
ticks() { [ -r "/proc/$1/stat" ] || { echo 0; return; }; set -- $(cut -d' ' -f14,15 "/proc/$1/stat"); echo $(( $1 + $2 )); }
for prog in "$@"; do
  tag=$(basename "$prog")
  for c in $cases; do
    conf=$c; [ "$c" = hog ] && conf=idle
    ip netns add jm; ip netns add jp
    ip link add m0 netns jm type veth peer name p0 netns jp
    ip -n jm addr add 10.88.0.1/24 dev m0; ip -n jp addr add 10.88.0.2/24 dev p0
    ip -n jm link set m0 up; ip -n jp link set p0 up
    ip -n jm link set lo up; ip -n jp link set lo up
    ip -n jm route add 10.99.0.0/16 via 10.88.0.2
    ip -n jm route add 10.98.0.0/16 via 10.88.0.2
    [ "$c" = busy ] && ipvsadm -C 2>/dev/null
    rm -f /tmp/$tag.pid /tmp/$tag-c.pid /tmp/$tag-v.pid
    ip netns exec jm "$prog" -n -l -f "$dir/$conf.conf" -p /tmp/$tag.pid -c /tmp/$tag-c.pid \
      -r /tmp/$tag-v.pid >"$dir/$tag-$c.log" 2>&1 &
    pid=$!
    i=0
    until ip -n jm -o addr show dev m0 | grep -q 10.88.0.100 || [ $i -ge 600 ]; do sleep 0.1; i=$((i+1)); done
    # Let the checkers ramp up to their steady state.
    sleep 10
    hogs=""
    if [ "$c" = hog ]; then
      for i in $(seq 1 "$(nproc)"); do
        ip netns exec jm sh -c 'while :; do :; done' & hogs="$hogs $!"
      done
    fi
    vpid=$(cat /tmp/$tag-v.pid 2>/dev/null); cpid=$(cat /tmp/$tag-c.pid 2>/dev/null)
    va=$(ticks "$vpid"); ca=$(ticks "$cpid")
    ip netns exec jp python3 "$dir/probe.py" p0 10.88.0.100 10.88.0.1 "$window" >"$dir/$tag-$c.probe"
    vb=$(ticks "$vpid"); cb=$(ticks "$cpid")
    [ -n "$hogs" ] && kill $hogs
    kill -TERM $pid; wait $pid
    ip netns del jm; ip netns del jp
    awk -v tag="$tag" -v c="$c" -v v=$(( (vb - va) * 1000 / hz )) -v k=$(( (cb - ca) * 1000 / hz )) '
      $2 == "advert_in" { if (p) g[n++] = ($1 - p) / 1000 - 100000; p = $1 }
      END {
        for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (g[j] < g[i]) { t = g[i]; g[i] = g[j]; g[j] = t }
        printf "RESULT %s %s n=%d p50=%d p99=%d max=%d vrrp_cpu_ms=%d checker_cpu_ms=%d\n", tag, c, n,
          g[int(n * 0.5)], g[int(n * 0.99)], g[n - 1], v, k
      }' "$dir/$tag-$c.probe"
  done
done
