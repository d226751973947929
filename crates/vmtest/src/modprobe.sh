#!/bin/sh
# Kernel module helper inside the VM: the modules live in the unpacked kernel package.
exec /sbin/modprobe -d /run/kroot "$@"
