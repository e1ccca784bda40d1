#!/bin/sh
# PID 1 of lvs-lab VMs (the vm testbed's VM, the Docker engine VM, and each Vagrant machine). No systemd: under
# software emulation this reaches sshd in seconds instead of tens. Settings come on the kernel command line:
#   lvslab.key=<ed25519 blob>   root's authorized SSH key (one cached image serves every lab with its own key)
#   lvslab.host=<name>          the hostname (default lvs-lab-vm)
#   lvslab.nics=<mac>=<name>,.. Vagrant machines: the lab NICs by MAC (so the lab NIC is eth0, as the seed writes
#                               it); every other NIC is the management one, mgmt0, addressed by DHCP with no route out
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/netns /run/sshd /run/lock
# /var/lock is /run/lock: apache2ctl locks there (systemd's tmpfiles would create it).
chmod 1777 /run/lock
# cgroup v2 for dockerd (the engine VM); nothing else here uses it.
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -o remount,rw /

arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^lvslab\.$1=//p"; }
name=$(arg host)
hostname "${name:-lvs-lab-vm}"
ip link set lo up

nics=$(arg nics)
if [ -z "$nics" ]; then
  # qemu's restricted user net: an address, no default route.
  ip link set eth0 up
  ip addr add 10.0.2.15/24 dev eth0
else
  # Temporary names first, so a rename never collides with a NIC not yet renamed.
  for dev in $(ls /sys/class/net); do [ "$dev" = lo ] || ip link set "$dev" name "x$dev"; done
  for pair in $(echo "$nics" | tr ',' ' '); do
    mac=${pair%=*}
    for dev in $(ls /sys/class/net); do
      [ "$(cat /sys/class/net/$dev/address)" = "$mac" ] && ip link set "$dev" name "${pair#*=}"
    done
  done
  for dev in $(ls /sys/class/net); do case $dev in x*) ip link set "$dev" name mgmt0 ;; esac; done
  ip link set mgmt0 up
  # busybox's udhcpc (ISC dhclient's scripts cost seconds of each boot under emulation). Its hook takes the address
  # only: the management network is isolated, so no default route and no DNS, whatever its DHCP offers. It returns
  # with the lease (or after 30 s without one) and stays in the background to renew it (Vagrant finds machines by it).
  printf '%s\n' '#!/bin/sh' \
    'case $1 in bound | renew) ip addr replace "$ip/$mask" dev "$interface" ;; deconfig) ip -4 addr flush dev "$interface" ;; esac' \
    >/run/udhcpc.sh
  chmod 755 /run/udhcpc.sh
  busybox udhcpc -i mgmt0 -s /run/udhcpc.sh -p /run/udhcpc.pid -t 30 -T 1 -b >/dev/null 2>&1
fi

key=$(arg key)
mkdir -p /root/.ssh
chmod 700 /root/.ssh
echo "ssh-ed25519 $key lvs-lab" >/root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys

# IPVS and its common schedulers up front, so the first ipvsadm call does not wait on module loading; in the
# background, so sshd does not wait on it either (under emulation it takes over a second).
modprobe -a ip_vs ip_vs_rr ip_vs_wrr 2>/dev/null &

/usr/sbin/sshd -E /var/log/sshd.log
echo "lvs-lab-vm: ready" >/dev/console

# tini reaps orphans (httpd children, ssh sessions) that would otherwise pile up as zombies under PID 1.
exec /usr/bin/tini -s -- /bin/sleep infinity
