#!/bin/busybox sh
# First stage, run from the initramfs by the kernel as PID 1 (busybox only).
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
fail() { echo "RKA-VM-INIT-FAILED: $*"; poweroff -f; }
mount -t proc proc /proc
mount -t devtmpfs dev /dev
for m in $(cat /modules.list); do insmod "/modules/$m" || fail "insmod $m"; done
O=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$O,ro,cache=loose" hostroot /newroot || fail "mount hostroot"
mount -t tmpfs run /newroot/run || fail "tmpfs /run"
mkdir -p /newroot/run/rka /newroot/run/rka-bin /newroot/run/kroot/lib/modules
mount -t 9p -o "$O" rkactl /newroot/run/rka || fail "mount rkactl"
. /newroot/run/rka/env
cp /bin/busybox /newroot/run/rka-bin/busybox
mount --bind "/newroot$RKA_KROOT/lib/modules" /newroot/run/kroot/lib/modules || fail "bind modules"
mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mount --move /dev /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs shm /newroot/dev/shm
mount -t tmpfs tmp /newroot/tmp
mount -t tmpfs vartmp /newroot/var/tmp
if [ -n "$RKA_HOSTWORK" ]; then
  # The host directory the caller works in lies under a path the guest gives a fresh tmpfs
  # (/tmp, /var/tmp): share it again at the same path, read-only.
  mkdir -p "/newroot$RKA_HOSTWORK"
  mount -t 9p -o "$O,ro,cache=loose" hostwork "/newroot$RKA_HOSTWORK" || fail "mount hostwork"
fi
if [ -n "$RKA_SCRATCH" ]; then
  mkdir -p "/newroot$RKA_SCRATCH"
  mount -t 9p -o "$O" scratch "/newroot$RKA_SCRATCH" || fail "mount scratch"
fi
umount /proc
exec switch_root /newroot /bin/sh /run/rka/stage2
