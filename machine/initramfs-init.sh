#!/bin/busybox sh
# /init of the lvs-lab VMs' initramfs: load the few modules listed in /modules (virtio PCI, disk, NIC and RNG; ext4),
# mount the root disk and hand over to its init. Debian's generic initramfs (35 MB to unpack, udev probing every
# device) spent ~10 s of each boot under software emulation on this; the guests have no udev after it either, so the
# device drivers they need are loaded here.
bb=/bin/busybox
$bb mount -t devtmpfs dev /dev
$bb mount -t proc proc /proc
for m in $($bb cat /modules); do $bb insmod "/lib/modules/$m.ko"; done
root=/dev/vda init=/sbin/init
for arg in $($bb cat /proc/cmdline); do
  case $arg in root=*) root=${arg#root=} ;; init=*) init=${arg#init=} ;; esac
done
# virtio_blk registers the disk asynchronously; wait for it, bounded (a missing disk fails the boot, it never hangs).
i=0
while [ ! -b "$root" ] && [ $i -lt 200 ]; do $bb sleep 0.05; i=$((i + 1)); done
if ! $bb mount -t ext4 -o rw "$root" /root; then
  echo "lvs-lab initramfs: cannot mount $root" >/dev/console
  $bb poweroff -f
fi
$bb umount /proc
$bb umount /dev
exec $bb switch_root /root "$init"
