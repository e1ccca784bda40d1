// Checks run before anything is created, so a missing tool or kernel feature is a clear message, not a half-built lab.
import { PreflightError } from '../model/errors.js';
import type { Lab, LabHost } from '../model/topology.js';
import { LAB_TOOLS } from '../provision/host-needs.js';
import type { Shell } from '../provision/shell.js';

// TEST-NET-1 (RFC 5737), inside a throwaway namespace (`unshare -n`: the kernel removes it with the probe's process,
// and it costs one process where `ip netns add`, `exec` and `del` cost three): the probe never touches a real network.
const PROBE_SERVICE = '192.0.2.1:80';

/**
 * One script: prints one line per problem. IPVS is probed for real in a throwaway namespace: the module loads,
 * ipvsadm talks to the kernel, and a service with the lab's scheduler can be created.
 */
export function preflightScript(lab: Lab, { ipvs = true, nameChecks = [] as string[] } = {}): string {
  const sched = lab.service.scheduler;
  // Each process started is slow under software emulation: shell tests and reads (the effective uid from
  // /proc/self/status rather than `id -u`), modprobe only for a module not loaded yet, and the IPVS probe's second
  // ipvsadm only to tell "no IPVS" from "no such scheduler".
  return [
    'uid=; while read -r k _ e _; do [ "$k" = Uid: ] && { uid=$e; break; }; done < /proc/self/status',
    `[ "$uid" = 0 ] || echo "root: network namespaces and IPVS need root (run as root or with sudo)"`,
    `for t in ${[...LAB_TOOLS, ...(lab.healthCheck ? ['keepalived'] : [])].join(' ')}; do command -v $t >/dev/null 2>&1 || echo "tool: $t is not installed (testbed/install-deps.sh netns installs the lab's tools)"; done`,
    ...(ipvs
      ? [
          // The kernel first, without ipvsadm: a host without IPVS is told to use the VM even before it has the tools.
          `[ "$uid" = 0 ] && [ ! -d /sys/module/ip_vs_${sched} ] && modprobe -q -a ip_vs ip_vs_${sched} 2>/dev/null`,
          `if [ "$uid" = 0 ] && [ ! -e /proc/net/ip_vs ]; then`,
          `  echo "kernel: this kernel has no IPVS (no /proc/net/ip_vs after modprobe ip_vs); use --testbed vm, which boots Debian's kernel in qemu"`,
          `elif command -v ipvsadm >/dev/null 2>&1 && [ "$uid" = 0 ]; then`,
          `  if ! out=$(unshare -n ipvsadm -A -t ${PROBE_SERVICE} -s ${sched} 2>&1); then`,
          `    if ! unshare -n ipvsadm -Ln >/dev/null 2>&1; then`,
          `      echo "kernel: this kernel has no IPVS (ipvsadm: $(echo $out | head -c 200)); use --testbed vm, which boots Debian's kernel in qemu"`,
          `    else`,
          `      echo "kernel: IPVS has no scheduler \\"${sched}\\" (ip_vs_${sched}: $(echo $out | head -c 200))"`,
          `    fi`,
          `  fi`,
          `fi`,
        ]
      : []),
    ...(lab.forwarding === 'tun'
      ? [
          // TUN realservers decapsulate on tunl0, which exists in every namespace once ipip is loaded.
          `if [ "$uid" = 0 ]; then`,
          `  [ -d /sys/module/ipip ] || modprobe -q ipip 2>/dev/null`,
          `  unshare -n ip link show tunl0 >/dev/null 2>&1 || echo "kernel: no ipip tunnels (no tunl0 after modprobe ipip), which TUN forwarding needs; use --testbed vm, whose Debian kernel has them"`,
          `fi`,
        ]
      : []),
    ...nameChecks,
    `true`,
  ].join('\n');
}

/**
 * Throws PreflightError unless the machine can host this netns lab. `rebuilding` skips the name checks and the IPVS probe. `host`: the
 * machine is that one lab host (a Vagrant machine), so IPVS only on a director. `nameChecks`: script lines that print
 * `exists: ...` for each name the lab would take that is in use.
 */
export async function preflightMachine(
  shell: Pick<Shell, 'where' | 'exec'>,
  lab: Lab,
  { rebuilding = false, host, nameChecks = [] }: { rebuilding?: boolean; host?: LabHost; nameChecks?: string[] } = {},
): Promise<void> {
  // A lab being rebuilt already runs: its kernel has shown it has IPVS, so only the tools are checked again.
  const ipvs = !rebuilding && (host === undefined || host.role === 'director');
  const res = await shell.exec(preflightScript(lab, { ipvs, nameChecks: rebuilding ? [] : nameChecks }));
  const problems = res.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) =>
      line.startsWith('exists:')
        ? `${line} (left by an earlier run? \`npm run lab -- down --name ${lab.name}\` removes it)`
        : line,
    );
  if (problems.length > 0) throw new PreflightError(shell.where, problems);
}
