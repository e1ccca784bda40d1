#!/usr/bin/env bash
# Installs the Debian packages a testbed needs on this machine (run as root).
#   testbed/install-deps.sh [auto|netns|vm|vagrant]
#     auto (default): netns when this kernel has IPVS, otherwise vm (and the vm packages too when no local Docker
#     engine could run the Docker lab suite: it then uses the engine VM); plus the vagrant testbed's, which `npm test`
#     runs on every machine, and Chromium for the live view's tests.
set -euo pipefail

choice=${1:-auto}
# The lab's tools for namespaces on this host. apache2-bin, not apache2: the binary and modules without a
# service that would start on the host's own port 80.
netns_pkgs=(kmod iproute2 net-tools ipvsadm apache2-bin curl tcpdump iputils-arping procps keepalived wrk)
# qemu and the image build; everything the lab runs is inside the VM image.
vm_pkgs=(kmod qemu-system-x86 qemu-utils debootstrap debian-archive-keyring e2fsprogs xz-utils)
# Debian's Vagrant with its libvirt plugin (registered system-wide: no `vagrant plugin install`, no network),
# libvirt's daemon (started by the kit itself where none runs), dnsmasq for the management network's DHCP, socat for
# SSH into the kit's network namespace. The box is built from the vm testbed's image, so its packages come too.
vagrant_pkgs=("${vm_pkgs[@]}" vagrant vagrant-libvirt libvirt-daemon-system libvirt-clients dnsmasq-base socat)
# The live view's tests open its page in Debian's Chromium (playwright-core drives it; it downloads no browser).
test_pkgs=(chromium)

pkgs=()
if [ "$choice" = auto ]; then
  if modprobe -q ip_vs 2>/dev/null; [ -e /proc/net/ip_vs ]; then
    choice=netns
    docker version >/dev/null 2>&1 || pkgs=("${vm_pkgs[@]}")
  else
    choice=vm
  fi
  pkgs+=("${vagrant_pkgs[@]}" "${test_pkgs[@]}")
fi
case "$choice" in
  netns) pkgs+=("${netns_pkgs[@]}") ;;
  vm) pkgs+=("${vm_pkgs[@]}") ;;
  vagrant) pkgs+=("${vagrant_pkgs[@]}") ;;
  *) echo "usage: $0 [auto|netns|vm|vagrant]" >&2; exit 2 ;;
esac

if [ "$(id -u)" != 0 ]; then echo "$0: run as root (apt-get install)" >&2; exit 1; fi
missing=()
for p in $(printf '%s\n' "${pkgs[@]}" | sort -u); do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing for the $choice testbed: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "testbed $choice: packages in place"
