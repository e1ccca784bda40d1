#!/bin/sh
# PID 1 of lvs-lab VMs (the vm testbed's VM, the Docker engine VM, and each Vagrant machine). No systemd: under
# software emulation this reaches sshd in seconds instead of tens. Settings come on the kernel command line:
#   lvslab.key=<ed25519 blob>   root's authorized SSH key (one cached image serves every lab with its own key)
#   lvslab.host=<name>          the hostname (default lvs-lab-vm)
#   lvslab.nics=<mac>=<name>,.. Vagrant machines: the lab NICs by MAC (so the lab NIC is eth0, as the seed writes
#                               it); every other NIC is the management one, mgmt0, addressed by DHCP with no route out
#   lvslab.ipvs=1               Vagrant machines: load IPVS at boot (directors); the other VMs always do
# The housekeeping is busybox's (static, in the image for the initramfs) and the shell's own builtins: under emulation
# a dynamically linked command costs ~50 ms to start against ~15 ms, and four Vagrant machines boot at once on two
# cores. sshd, modprobe and tini-static stay Debian's.
bb=/usr/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t sysfs sys /sys
$bb mount -t devtmpfs dev /dev 2>/dev/null
$bb mkdir -p /dev/pts /dev/shm
$bb mount -t devpts devpts /dev/pts
$bb mount -t tmpfs tmpfs /dev/shm
$bb mount -t tmpfs tmpfs /run
$bb mount -t tmpfs tmpfs /tmp
$bb mkdir -p /run/netns /run/sshd /run/lock
# /var/lock is /run/lock: apache2ctl locks there (systemd's tmpfiles would create it).
$bb chmod 1777 /run/lock
# cgroup v2 for dockerd (the engine VM); nothing else here uses it.
$bb mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
$bb mount -o remount,rw /

read -r cmdline </proc/cmdline
arg() { for w in $cmdline; do case $w in "lvslab.$1="*) echo "${w#*=}" ;; esac; done; }
name=$(arg host)
$bb hostname "${name:-lvs-lab-vm}"
$bb ip link set lo up

nics=$(arg nics)
if [ -z "$nics" ]; then
  # qemu's restricted user net: an address, no default route.
  $bb ip link set eth0 up
  $bb ip addr add 10.0.2.15/24 dev eth0
else
  # Temporary names first, so a rename never collides with a NIC not yet renamed.
  for p in /sys/class/net/*; do [ "${p##*/}" = lo ] || $bb ip link set "${p##*/}" name "x${p##*/}"; done
  ifs=$IFS && IFS=, && set -- $nics && IFS=$ifs
  for pair in "$@"; do
    for p in /sys/class/net/*; do
      mac=
      read -r mac <"$p/address" 2>/dev/null
      [ "$mac" = "${pair%=*}" ] && $bb ip link set "${p##*/}" name "${pair#*=}"
    done
  done
  for p in /sys/class/net/x*; do [ -e "$p" ] && $bb ip link set "${p##*/}" name mgmt0; done
  $bb ip link set mgmt0 up
  # busybox's udhcpc (ISC dhclient's scripts cost seconds of each boot under emulation). Its hook takes the address
  # only: the management network is isolated, so no default route and no DNS, whatever its DHCP offers. It returns
  # with the lease, or at its first failed attempt, and stays in the background to renew it (Vagrant finds machines
  # by it). -A 1: after a failed attempt, try again in 1 s rather than udhcpc's 20. With four machines booting under
  # emulation dnsmasq answers in bursts, a REQUEST can go unanswered past its three 1 s tries, and the lease
  # dnsmasq then records is one this machine never took: it stayed unreachable for those 20 s (measured).
  printf '%s\n' "#!$bb sh" \
    "case \$1 in bound | renew) $bb ip addr replace \"\$ip/\$mask\" dev \"\$interface\" ;; deconfig) $bb ip -4 addr flush dev \"\$interface\" ;; esac" \
    >/run/udhcpc.sh
  $bb chmod 755 /run/udhcpc.sh
  $bb udhcpc -i mgmt0 -s /run/udhcpc.sh -p /run/udhcpc.pid -t 30 -T 1 -A 1 -b >/dev/null 2>&1
fi

key=$(arg key)
$bb mkdir -p /root/.ssh
$bb chmod 700 /root/.ssh
echo "ssh-ed25519 $key lvs-lab" >/root/.ssh/authorized_keys
$bb chmod 600 /root/.ssh/authorized_keys

# IPVS and its common schedulers up front, so the first ipvsadm call does not wait on module loading; in the
# background, so sshd does not wait on it either (under emulation it takes over a second). Of Vagrant machines only
# directors (the others' boots share the two cores with them).
if [ -z "$nics" ] || [ "$(arg ipvs)" = 1 ]; then
  modprobe -a ip_vs ip_vs_rr ip_vs_wrr 2>/dev/null &
fi

/usr/sbin/sshd -E /var/log/sshd.log
echo "lvs-lab-vm: ready" >/dev/console

# tini reaps orphans (httpd children, ssh sessions) that would otherwise pile up as zombies under PID 1.
exec /usr/bin/tini-static -s -- /bin/sleep infinity
