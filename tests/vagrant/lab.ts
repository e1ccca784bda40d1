// The Vagrant suite's labs, and what the machine holds of Vagrant labs, as a listing that names anything left behind.
import { validateLab } from '../../model/topology.js';
import { LocalShell } from '../../provision/shell.js';

/** The reference lab under its own name, so a run never touches a lab the user has up. */
export const VAGRANT_LAB = validateLab({ name: 'vtest' }, 'vagrant suite lab');

declare module 'vitest' {
  export interface ProvidedContext {
    footprintBefore: string[];
  }
}

/**
 * libvirt's domains, networks and volumes (the box's cached volume aside: it is the box cache), network namespaces,
 * the host's links, the processes a Vagrant lab runs (qemu, libvirtd, virtlogd, dnsmasq, socat proxies), lab state.
 */
export async function footprint(): Promise<string[]> {
  const script = [
    'if virsh -c qemu:///system -q version >/dev/null 2>&1; then',
    '  virsh -c qemu:///system -q list --all --name | sed "/^$/d; s/^/domain /"',
    '  virsh -c qemu:///system -q net-list --all --name | sed "/^$/d; s/^/network /"',
    '  for p in $(virsh -c qemu:///system -q pool-list --all --name); do virsh -c qemu:///system -q vol-list $p | awk \'{print $1}\' | grep -v "_vagrant_box_image_" | sed "/^$/d; s|^|volume $p/|"; done',
    'fi',
    'ip netns list | sed "s/ (id.*//; s/^/netns /"',
    'ip -o link show | cut -d: -f2 | sed "s/@.*//; s/^ */link /"',
    "ps -eo args= | grep -E '^(/usr/bin/)?(qemu-system|libvirtd|virtlogd|/usr/sbin/dnsmasq|socat)' | grep -v grep | cut -c1-80 | sed 's/^/process /'",
    `ls \${LVS_LAB_STATE_DIR:-$HOME/.local/state/lvs-lab}/labs 2>/dev/null | sed "s/^/lab state /"`,
    `ls \${LVS_LAB_STATE_DIR:-$HOME/.local/state/lvs-lab}/locks 2>/dev/null | sed "s/^/lab lock /"`,
  ].join('\n');
  return (await new LocalShell().exec(script)).stdout.split('\n').filter(Boolean).sort();
}
