// Faults a user injects into a running lab, as containerlab's `tools netem` and Mininet's `link ... down` do: tc netem
// on a host's lab interfaces, a link down, a realserver's httpd stopped, a whole host stopped. Each is parsed and
// checked before anything changes (model/fault.ts); each is made and undone with the host's own commands; what is in force is read
// back from the kernel, not from a record that could drift from it.
import { UserError } from '../model/errors.js';
import { netemArgs, type Fault } from '../model/fault.js';
import { labInterfaces, hostsOf, type Lab, type LabHost } from '../model/topology.js';
import { applyPlanOn } from '../provision/apply.js';
import { httpdFiles } from '../provision/httpd.js';
import { daemonRunning, shq } from '../provision/shell.js';
import type { LabAccess } from '../provision/transport.js';
import { hostNamed } from '../inside/hosts.js';
import { must } from '../verify/probes.js';

/** Re-applies the host's own part of the plan: what a link taken down or httpd stopped removed comes back. */
async function reapply(access: LabAccess, host: LabHost): Promise<void> {
  await applyPlanOn(access, access.lab, (h) => h.name === host.name);
}

/** Makes (or undoes) one fault on one host of a running lab; returns what it did, for the user. */
export async function applyFault(access: LabAccess, hostName: string, fault: Fault): Promise<string> {
  const { power } = access;
  const host = hostNamed(access.lab, hostName);
  const ifaces = labInterfaces(access.lab, host);
  const onHost = (command: string) => must(access, host.name, command);
  if (fault.kind === 'host' && !power)
    throw new UserError(`fault: host ${fault.up ? 'start' : 'stop'} is not supported on this testbed`);
  if (fault.kind === 'httpd' && host.role !== 'realserver')
    throw new UserError(`fault: ${host.name} is a ${host.role}; httpd runs on the realservers`);
  switch (fault.kind) {
    case 'netem': {
      const args = netemArgs(fault.netem);
      await onHost(ifaces.map((i) => `tc qdisc replace dev ${i} root netem ${args}`).join(' && '));
      return `${host.name}: netem ${args} on ${ifaces.join(', ')}`;
    }
    case 'link':
      await onHost(ifaces.map((i) => `ip link set ${i} ${fault.up ? 'up' : 'down'}`).join(' && '));
      if (fault.up) await reapply(access, host);
      return `${host.name}: ${ifaces.join(', ')} ${fault.up ? 'up (its plan re-applied)' : 'down'}`;
    case 'httpd':
      if (fault.up) await reapply(access, host);
      else await onHost(stopHttpd(httpdFiles(access.httpd, host.name).pidFile));
      return `${host.name}: httpd ${fault.up ? 'started' : 'stopped'}`;
    case 'host':
      if (fault.up) {
        await power!.start(host.name);
        await reapply(access, host); // what its links going down took (routes) comes back
      } else await power!.stop(host.name);
      return `${host.name}: ${fault.up ? 'started again' : 'stopped'}`;
    case 'clear':
      if (power && (await power.stopped(host.name))) await power.start(host.name);
      await onHost(
        ifaces.map((i) => `{ tc qdisc del dev ${i} root 2>/dev/null; ip link set ${i} up; }`).join('; ') + '; true',
      );
      await reapply(access, host);
      return `${host.name}: every fault cleared (netem removed, links up, its plan re-applied)`;
  }
}

/** Stops httpd by its pid file and waits until it is gone (a re-apply may follow at once). */
const stopHttpd = (pidFile: string) =>
  `{ pid=; read pid < ${shq(pidFile)}; } 2>/dev/null; [ -n "$pid" ] || exit 0; kill "$pid"; ` +
  'i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; ! kill -0 "$pid" 2>/dev/null';

/** One fault in force on one host, as read back: its kind, and what it is in words ("netem on eth0: delay 200ms"). */
export interface InForce {
  host: string;
  kind: 'netem' | 'link' | 'httpd' | 'host';
  what: string;
}

export const faultText = (f: InForce): string => `${f.host}: ${f.what}`;

/** What is in force on each host, read from its kernel: netem qdiscs, links down, httpd not running, stopped. */
export async function faultsInForce(access: LabAccess): Promise<InForce[]> {
  const { power } = access;
  const { lab } = access;
  const per = await Promise.all(
    hostsOf(lab).map(async (host): Promise<InForce[]> => {
      if (power && (await power.stopped(host.name))) return [{ host: host.name, kind: 'host', what: 'host stopped' }];
      const script = [
        ...labInterfaces(lab, host).map(
          (i) =>
            `tc qdisc show dev ${i} | sed -n 's/.* netem [0-9a-f]*: root refcnt [0-9]* limit [0-9]* *\\(.*\\)$/netem ${i} \\1/p'; ` +
            `ip -o link show dev ${i} | grep -q '[<,]UP[,>]' || echo 'link ${i} down'`,
        ),
        ...(host.role === 'realserver'
          ? [`${daemonRunning(httpdFiles(access.httpd, host.name).pidFile)} || echo 'httpd stopped'`]
          : []),
      ].join('\n');
      const out = await must(access, host.name, script);
      return out
        .split('\n')
        .filter(Boolean)
        .map((l) => ({
          host: host.name,
          kind: l.split(' ')[0] as InForce['kind'],
          what: l.replace(/^netem (\S+) /, 'netem on $1: ').trim(),
        }));
    }),
  );
  return per.flat();
}

/** A lab's faults as the CLI prints them. */
export const formatFaults = (lab: Lab, faults: InForce[]): string =>
  faults.length === 0
    ? `lab ${lab.name}: no faults in force`
    : `faults in force:\n${faults.map((f) => `  ${faultText(f)}`).join('\n')}`;
