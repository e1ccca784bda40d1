// What lvs-lab can leave on a machine, as one sorted listing: namespaces, links, lab mounts, the processes labs run
// (qemu and its SSH master connection, apache2 instances, keepalived, tcpdump, the kit's libvirtd and its helpers),
// the kit's run directory, lab state and locks, and (where the kit's libvirtd answers) libvirt domains, networks and
// volumes. Two listings that differ name what was left behind.
import { LocalShell, shq, type Shell } from '../provision/shell.js';
import { ENGINE_VM, engineDir } from '../docker/engine-vm.js';
import { stateDir } from '../base/paths.js';
import { dirname } from 'node:path';
import { UNDERLAY_NETNS } from '../machine/underlay.js';
import { KIT_SOCKET, LIBVIRT_NETNS } from '../testbed/vagrant/libvirt.js';

/** Who owns what the kit's libvirtd runs: the Vagrant labs, together (no lab may take this name: model/topology.ts). */
export const LIBVIRT_OWNER = 'libvirt';
/** The Docker engine VMs (docker/engine-vm.ts) and their underlay; with its "-", no lab's name. */
export const ENGINE_OWNER = 'docker-engine';

export interface FootprintOptions {
  /** The machine to list (default this host; the VM of a netns lab inside one). */
  machine?: Shell;
  /**
   * Only what these owners (lab names, `engine`, `libvirt`) or nobody known owns: a listing taken while other labs
   * come and go beside (another test suite, a user's lab) compares only what the labs in question could leave.
   */
  of?: readonly string[];
}

export async function footprint({ machine = new LocalShell(), of }: FootprintOptions = {}): Promise<string[]> {
  // The kit's own libvirtd where it runs one (root-only sockets of its own), else the machine's.
  const virsh = `virsh -c "$uri" -q`;
  const script = [
    'ip netns list | sed "s/ (id.*//; s/^/netns /"',
    'ip -o link show | cut -d: -f2 | sed "s/@.*//; s/^ */link /"',
    // Not /run/netns itself: iproute2 mounts it at a boot's first `ip netns add`, for every tool's namespaces, and
    // keeps it; it is the machine's from then on, whoever came first.
    "grep -E 'netns|lvs' /proc/mounts | cut -d' ' -f2 | grep -vx /run/netns | sed 's/^/mount /'",
    "ps -eo args= | grep -E '^(/usr/bin/)?(qemu-system|apache2 -f|keepalived|tcpdump|libvirtd|virtlogd|/usr/sbin/dnsmasq|socat)' | grep -v grep | cut -c1-80 | sed 's/^/process /'",
    // A VM's master connection (machine/master.ts), by its control socket: the process's name alone is ssh.
    "ps -eo args= | grep -E '^ssh .*ControlMaster=yes' | grep -o 'ControlPath=[^ ]*' | sed 's/^/process ssh /'",
    'ls /run/lvs-lab 2>/dev/null | sed "s/^/run dir /"',
    `ls ${stateDir()}/labs 2>/dev/null | sed "s/^/lab state /"`,
    `ls ${stateDir()}/locks 2>/dev/null | sed "s/^/lab lock /"`,
    `ls ${stateDir()}/view 2>/dev/null | sed "s/^/lab view /"`,
    `uri=qemu:///system; [ -S ${KIT_SOCKET} ] && uri=${shq(`qemu:///system?socket=${KIT_SOCKET}`)}`,
    `if ${virsh} version >/dev/null 2>&1; then`,
    `  ${virsh} list --all --name | sed "/^$/d; s/^/domain /"`,
    `  ${virsh} net-list --all --name | sed "/^$/d; s/^/network /"`,
    // The box's volume is the box cache, kept across labs.
    `  for p in $(${virsh} pool-list --all --name); do ${virsh} vol-list $p | awk '{print $1}' | grep -v "_vagrant_box_image_" | sed "/^$/d; s|^|volume $p/|"; done`,
    'fi',
  ].join('\n');
  const lines = (await machine.exec(script)).stdout.split('\n').filter(Boolean).sort();
  return of ? ownedBy(lines, of) : lines;
}

/** The lines that `owners` or nobody known owns. */
export function ownedBy(lines: string[], owners: readonly string[]): string[] {
  return lines.filter((line) => {
    const owner = ownerOf(line);
    return owner === undefined || owners.includes(owner);
  });
}

/**
 * Whom a footprint line belongs to, where the line names it: a lab (its name), the engine VM, or the kit's libvirtd.
 * The kit names what it creates `lvs-lab-<lab>...` (VMs, libvirt's domains, networks and volumes) or puts it under
 * `/run/lvs-lab/<lab>` and `<state>/labs/<lab>`; lab names have no "-", so the name ends at the next other character.
 */
export function ownerOf(line: string): string | undefined {
  if (
    line.includes(ENGINE_VM) ||
    line.includes(UNDERLAY_NETNS) ||
    line === `process ssh ControlPath=${engineDir()}/ssh.ctl` ||
    line.startsWith(`process ssh ControlPath=${dirname(engineDir('x'))}/`)
  )
    return ENGINE_OWNER;
  if (line.includes(LIBVIRT_NETNS) || /^process (libvirtd|virtlogd|\/usr\/sbin\/dnsmasq)\b/.test(line))
    return LIBVIRT_OWNER;
  const state = /^lab (?:state|lock|view) ([a-z0-9]+)/.exec(line) ?? /^run dir ([a-z0-9]+)$/.exec(line);
  if (state) return state[1];
  return /(?:lvs-lab-|\/run\/lvs-lab\/|\/labs\/)([a-z][a-z0-9]*)/.exec(line)?.[1];
}

/** What `after` holds that `before` did not, and what went missing. */
export function footprintDiff(before: string[], after: string[]): { left: string[]; gone: string[] } {
  return { left: after.filter((x) => !before.includes(x)), gone: before.filter((x) => !after.includes(x)) };
}
