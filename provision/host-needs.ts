// What a machine needs to host a lab's hosts: the tools the plan and the verifier run, and IPVS in its kernel.
import type { Shell } from './shell.js';

/** Tools the lab's hosts run: the seed's (ifconfig, ipvsadm, apache2) and the verifier's (curl, tcpdump, arping). */
export const LAB_TOOLS = ['ip', 'ifconfig', 'ipvsadm', 'apache2', 'curl', 'tcpdump', 'arping'];

/** Whether this machine's kernel has IPVS, without needing ipvsadm installed: the auto testbed choice. */
export async function kernelHasIpvs(shell: Shell): Promise<boolean> {
  const res = await shell.exec('modprobe -q ip_vs 2>/dev/null; test -e /proc/net/ip_vs');
  return res.code === 0;
}
