// A host of a netns lab stopped and started again: its processes stopped (SIGSTOP, then SIGCONT) and its links
// down. Whether it is stopped is read from the machine.
import type { Lab } from '../model/topology.js';
import { mustExec, shq, type Shell } from '../provision/shell.js';
import { netnsNames } from './names.js';
import type { HostPower } from '../provision/transport.js';

const must = (shell: Shell, command: string) => mustExec(shell, command, 'a host stop or start', 60_000);

/** Hosts that are network namespaces on `machine` (the netns and vm testbeds). */
export function netnsPower(machine: Shell, lab: Lab): HostPower {
  const names = netnsNames(lab);
  // The mark that says it was stopped on purpose (a host with no process, the client, looks like one with a link
  // down otherwise); in the lab's run directory, so `down` removes it with the lab.
  const mark = (host: string) => shq(`${names.runDir}/${host}.stopped`);
  const ns = (host: string) => shq(names.namespace(host));
  /** Signals every process of the namespace and sets its links (lo stays up) `state`. */
  const all = (host: string, signal: 'STOP' | 'CONT', state: 'down' | 'up') =>
    `for p in $(ip netns pids ${ns(host)}); do kill -${signal} "$p"; done; ` +
    `ip -n ${ns(host)} -o link show | cut -d: -f2 | cut -d@ -f1 | ` +
    `while read -r i; do [ "$i" = lo ] || ip -n ${ns(host)} link set "$i" ${state}; done`;
  return {
    stop: async (host) => {
      await must(machine, `mkdir -p ${shq(names.runDir)} && touch ${mark(host)} && ${all(host, 'STOP', 'down')}`);
    },
    start: async (host) => {
      await must(machine, `${all(host, 'CONT', 'up')}; rm -f ${mark(host)}`);
    },
    stopped: async (host) => (await machine.exec(`[ -e ${mark(host)} ]`)).code === 0,
  };
}
