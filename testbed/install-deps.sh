#!/usr/bin/env bash
# Installs the Debian packages a testbed needs on this machine (run as root).
#   testbed/install-deps.sh [auto|netns|vm]    auto: netns when this kernel has IPVS, otherwise vm; and the vm
#                                              packages too when no local Docker engine could run the Docker lab
#                                              suite (it then uses the engine VM)
set -euo pipefail

choice=${1:-auto}
# The lab's tools for namespaces on this host. apache2-bin, not apache2: the binary and modules without a
# service that would start on the host's own port 80.
netns_pkgs=(kmod iproute2 net-tools ipvsadm apache2-bin curl tcpdump iputils-arping procps keepalived)
# qemu and the image build; everything the lab runs is inside the VM image.
vm_pkgs=(kmod qemu-system-x86 qemu-utils debootstrap e2fsprogs)

pkgs=()
if [ "$choice" = auto ]; then
  if modprobe -q ip_vs 2>/dev/null; [ -e /proc/net/ip_vs ]; then
    choice=netns
    docker version >/dev/null 2>&1 || pkgs=("${vm_pkgs[@]}")
  else
    choice=vm
  fi
fi
case "$choice" in
  netns) pkgs+=("${netns_pkgs[@]}") ;;
  vm) pkgs+=("${vm_pkgs[@]}") ;;
  *) echo "usage: $0 [auto|netns|vm]" >&2; exit 2 ;;
esac

if [ "$(id -u)" != 0 ]; then echo "$0: run as root (apt-get install)" >&2; exit 1; fi
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing for the $choice testbed: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "testbed $choice: packages in place"
