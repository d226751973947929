# Second stage, PID 1 inside the host root (shared read-only); written to the control
# share for each run. The host's tools are available from here on.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp RKA_VM=1
. /run/rka/env
# The kernel asks this helper for modules it wants (schedulers named by ipvsadm...).
echo /run/rka/modprobe > /proc/sys/kernel/modprobe
[ -n "$RKA_MODULES" ] && modprobe -d /run/kroot -a $RKA_MODULES
ip link set lo up
hostname rka-vm
cd "$RKA_CWD" 2>/dev/null || cd /
echo "RKA-VM-START uptime $(cut -d" " -f1 /proc/uptime)s"
/bin/sh /run/rka/cmd >/run/rka/stdout 2>/run/rka/stderr </dev/null
status=$?
echo "$status" >/run/rka/status
sync
echo "RKA-VM-EXIT $status"
/run/rka-bin/busybox poweroff -f
