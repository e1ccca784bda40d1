#!/bin/sh
# PID 1 of the lvs-lab VM. No systemd: under software emulation this reaches sshd in seconds instead of tens.
# The guest's only network is qemu's restricted user net; it gets an address but no default route.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/netns /run/sshd
# cgroup v2 for dockerd (the engine VM); nothing else here uses it.
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -o remount,rw /
hostname lvs-lab-vm

ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0

# The lab's SSH key comes on the kernel command line, so one cached image serves every lab with its own key.
key=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^lvslab.key=//p')
mkdir -p /root/.ssh
chmod 700 /root/.ssh
echo "ssh-ed25519 $key lvs-lab" >/root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys

# IPVS and its common schedulers up front, so the first ipvsadm call does not wait on module loading.
modprobe -a ip_vs ip_vs_rr ip_vs_wrr 2>/dev/null

/usr/sbin/sshd -E /var/log/sshd.log
echo "lvs-lab-vm: ready" >/dev/ttyS0

# tini reaps orphans (httpd children, ssh sessions) that would otherwise pile up as zombies under PID 1.
exec /usr/bin/tini -s -- /bin/sleep infinity
