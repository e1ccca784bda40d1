// An underlay between the kit's VMs, for what spans several of them (a Docker lab over several engine VMs): a Linux
// bridge in a network namespace of the kit, each VM's second NIC a tap on it. qemu makes the tap in this host's root
// namespace and it is moved into the underlay's at once, before the VM runs; the namespace holds nothing else, so
// frames between the VMs go nowhere but to the other VMs.
import { LocalShell, mustExec, shq } from '../provision/shell.js';

export const UNDERLAY_NETNS = 'lvs-lab-underlay';
const BRIDGE = 'ul';
/** RFC 2544's benchmarking range: routed nowhere, and no lab's. Each VM on the underlay has one address of it. */
export const UNDERLAY_PREFIX = '198.18.0.';
export const UNDERLAY_BITS = 24;
/** The MAC qemu gives every VM's second NIC (a restored VM's device must match its saved one); each guest then sets
 * one of its own, from its address (the model's macFor). */
export const UNDERLAY_NIC_MAC = '52:54:00:12:34:99';

const host = () => new LocalShell();
const inNs = (command: string) => `ip -n ${UNDERLAY_NETNS} ${command}`;

/** Moves the tap qemu made into the underlay's namespace (made on first use) and onto its bridge. */
export async function joinUnderlay(tap: string): Promise<void> {
  const script = [
    `ip netns list | grep -qx '${UNDERLAY_NETNS}\\( .*\\)\\?' || ip netns add ${UNDERLAY_NETNS}`,
    `${inNs(`link show ${BRIDGE}`)} >/dev/null 2>&1 || ${inNs(`link add ${BRIDGE} type bridge`)}`,
    inNs(`link set ${BRIDGE} up`),
    `ip link set ${shq(tap)} netns ${UNDERLAY_NETNS}`,
    inNs(`link set ${shq(tap)} master ${BRIDGE} up`),
  ].join(' && ');
  await mustExec(host(), script, `joining ${tap} to the VMs' underlay`, 20_000);
}

/** The underlay's namespace goes once no VM's tap is left on it (a tap goes with its qemu). */
export async function leaveUnderlayIfEmpty(): Promise<void> {
  const script = [
    `ip netns list | grep -qx '${UNDERLAY_NETNS}\\( .*\\)\\?' || exit 0`,
    `[ -n "$(${inNs(`-o link show master ${BRIDGE}`)} 2>/dev/null)" ] && exit 0`,
    `ip netns del ${UNDERLAY_NETNS}`,
  ].join('\n');
  await mustExec(host(), script, "removing the VMs' underlay", 20_000);
}
