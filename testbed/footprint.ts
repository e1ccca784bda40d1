// What lvs-lab can leave on this machine, as one sorted listing: namespaces, links, lab mounts, the processes labs
// run (qemu and its SSH master connection, apache2 instances, keepalived, tcpdump, the kit's libvirtd and its
// helpers), the kit's run directory, lab state and locks, and (where the kit's libvirtd answers) libvirt domains and
// networks. Two listings that differ name what was left behind.
import { LocalShell } from '../provision/shell.js';
import { stateDir } from './paths.js';

export async function footprint(): Promise<string[]> {
  const script = [
    'ip netns list | sed "s/ (id.*//; s/^/netns /"',
    'ip -o link show | cut -d: -f2 | sed "s/@.*//; s/^ */link /"',
    "grep -E 'netns|lvs' /proc/mounts | cut -d' ' -f2 | sed 's/^/mount /'",
    "ps -eo args= | grep -E '^(/usr/bin/)?(qemu-system|apache2 -f|keepalived|tcpdump|libvirtd|virtlogd|/usr/sbin/dnsmasq|socat)' | grep -v grep | cut -c1-80 | sed 's/^/process /'",
    // A VM's master connection (testbed/vm/master.ts), by its control socket: the process's name alone is ssh.
    "ps -eo args= | grep -E '^ssh .*ControlMaster=yes' | grep -o 'ControlPath=[^ ]*' | sed 's/^/process ssh /'",
    'ls /run/lvs-lab 2>/dev/null | sed "s/^/run dir /"',
    `ls ${stateDir()}/labs 2>/dev/null | sed "s/^/lab state /"`,
    `ls ${stateDir()}/locks 2>/dev/null | sed "s/^/lab lock /"`,
    'if virsh -c qemu:///system -q version >/dev/null 2>&1; then',
    '  virsh -c qemu:///system -q list --all --name | sed "/^$/d; s/^/domain /"',
    '  virsh -c qemu:///system -q net-list --all --name | sed "/^$/d; s/^/network /"',
    'fi',
  ].join('\n');
  return (await new LocalShell().exec(script)).stdout.split('\n').filter(Boolean).sort();
}

/** What `after` holds that `before` did not, and what went missing. */
export function footprintDiff(before: string[], after: string[]): { left: string[]; gone: string[] } {
  return { left: after.filter((x) => !before.includes(x)), gone: before.filter((x) => !after.includes(x)) };
}
