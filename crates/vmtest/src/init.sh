#!/bin/busybox sh
# First stage, run from the initramfs by the kernel as PID 1 (busybox only).
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
fail() { echo "RKA-VM-INIT-FAILED: $*"; poweroff -f; }
mount -t proc proc /proc
mount -t devtmpfs dev /dev
for m in $(cat /modules.list); do insmod "/modules/$m" || fail "insmod $m"; done
O=trans=virtio,version=9p2000.L,msize=512000
SYSTEMD=
if grep -qw rka.systemd /proc/cmdline; then
  # systemd mode: the root is writable (a tmpfs overlay over the read-only host root), so
  # that packages can be installed and units written; systemd becomes PID 1.
  SYSTEMD=1
  mkdir -p /lower /rw
  mount -t 9p -o "$O,ro,cache=loose" hostroot /lower || fail "mount hostroot"
  mount -t tmpfs -o mode=0755 rw /rw || fail "tmpfs upper"
  mkdir -p /rw/upper /rw/work
  mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot \
    || fail "mount overlay"
else
  mount -t 9p -o "$O,ro,cache=loose" hostroot /newroot || fail "mount hostroot"
fi
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
if [ -n "$SYSTEMD" ]; then
  # rka.target (the only unit asked for at boot) pulls in the usual early boot (sysinit,
  # basic) and a oneshot service running the same second stage as without systemd; the
  # second stage powers the machine off when the command is done.
  U=/newroot/etc/systemd/system
  mkdir -p "$U"
  printf '%s\n' '[Unit]' 'Description=rka-vm command' 'Requires=rka-run.service' \
    'After=rka-run.service' 'AllowIsolate=yes' > "$U/rka.target"
  printf '%s\n' '[Unit]' 'Description=rka-vm command' 'After=basic.target' \
    '[Service]' 'Type=oneshot' 'ExecStart=/bin/sh /run/rka/stage2' \
    'StandardOutput=tty' 'StandardError=tty' 'TTYPath=/dev/console' > "$U/rka-run.service"
  exec switch_root /newroot /lib/systemd/systemd --unit=rka.target
fi
exec switch_root /newroot /bin/sh /run/rka/stage2
