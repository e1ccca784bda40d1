// Faults a user injects into a running lab, as containerlab's `tools netem` and Mininet's `link ... down` do: tc netem
// on a host's lab interfaces, a link down, a realserver's httpd stopped, a whole host stopped. Each is parsed and
// checked before anything changes; each is made and undone with the host's own commands; what is in force is read
// back from the kernel, not from a record that could drift from it.
import { UserError } from '../model/errors.js';
import { hostsOf, type Lab, type LabHost } from '../model/topology.js';
import { applyPlan } from '../provision/apply.js';
import { httpdFiles } from '../provision/httpd.js';
import { planLab } from '../provision/plan.js';
import { daemonRunning, shq } from '../provision/shell.js';
import type { LabAccess } from '../provision/transport.js';
import { hostNamed, labInterfaces } from '../inside/hosts.js';
import { must } from '../verify/probes.js';

/** tc netem's impairments, each as netem writes it: "200ms", "10%", "1mbit". */
export interface Netem {
  delay?: string;
  jitter?: string;
  loss?: string;
  rate?: string;
  corrupt?: string;
}

export type Fault =
  { kind: 'netem'; netem: Netem } | { kind: 'link' | 'httpd' | 'host'; up: boolean } | { kind: 'clear' };

export const FAULT_USAGE = [
  'delay 200ms [jitter 20ms] | loss 10% | rate 1mbit | corrupt 1%   (tc netem on its lab interfaces; combinable)',
  'link down | link up                                           (its lab interfaces)',
  'httpd stop | httpd start                                      (a realserver)',
  'host stop | host start                                        (the whole host: its processes, or its container)',
  'clear                                                         (every fault of the host undone, its plan re-applied)',
];

const TIME = /^(\d+(?:\.\d+)?)(us|ms|s)$/;
const PERCENT = /^(\d+(?:\.\d+)?)%$/;
const RATE = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/;

function checkedTime(word: string, value: string | undefined): string {
  const m = value === undefined ? null : TIME.exec(value);
  if (!m) throw new UserError(`fault: ${word} ${JSON.stringify(value ?? '')}: must be a time like 200ms, 1.5s, 500us`);
  const ms = Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2] as 'us' | 'ms' | 's'];
  if (ms > 60_000) throw new UserError(`fault: ${word} ${value}: at most 60s`);
  return value!;
}

function checkedPercent(word: string, value: string | undefined): string {
  const m = value === undefined ? null : PERCENT.exec(value);
  if (!m || Number(m[1]) > 100)
    throw new UserError(`fault: ${word} ${JSON.stringify(value ?? '')}: must be a percentage from 0% to 100%`);
  return value!;
}

function checkedRate(value: string | undefined): string {
  const m = value === undefined ? null : RATE.exec(value);
  if (!m || Number(m[1]) <= 0)
    throw new UserError(`fault: rate ${JSON.stringify(value ?? '')}: must be a rate like 1mbit, 512kbit`);
  return value!;
}

/** The words after the host, as one fault; a refusal names the word and why, before anything changes. */
export function parseFault(words: string[]): Fault {
  const [first, second] = words;
  if (first === 'clear' && words.length === 1) return { kind: 'clear' };
  if ((first === 'link' || first === 'httpd' || first === 'host') && words.length === 2) {
    const up = { link: ['up', 'down'], httpd: ['start', 'stop'], host: ['start', 'stop'] }[first];
    if (!up.includes(second))
      throw new UserError(`fault: ${first} ${JSON.stringify(second)}: must be ${up.join(' or ')}`);
    return { kind: first, up: second === up[0] };
  }
  const netem: Netem = {};
  for (let i = 0; i < words.length; i += 2) {
    const [word, value] = [words[i], words[i + 1]];
    if (word === 'delay') netem.delay = checkedTime(word, value);
    else if (word === 'jitter') netem.jitter = checkedTime(word, value);
    else if (word === 'loss') netem.loss = checkedPercent(word, value);
    else if (word === 'corrupt') netem.corrupt = checkedPercent(word, value);
    else if (word === 'rate') netem.rate = checkedRate(value);
    else
      throw new UserError(
        `fault: ${JSON.stringify(word ?? '')} is not a fault; one of:\n  ${FAULT_USAGE.join('\n  ')}`,
      );
  }
  if (netem.jitter && !netem.delay) throw new UserError('fault: jitter needs a delay (delay 200ms jitter 20ms)');
  return { kind: 'netem', netem };
}

/** netem's arguments, in the order tc takes them. */
export const netemArgs = (n: Netem): string =>
  [
    n.delay && `delay ${n.delay}${n.jitter ? ` ${n.jitter}` : ''}`,
    n.loss && `loss ${n.loss}`,
    n.corrupt && `corrupt ${n.corrupt}`,
    n.rate && `rate ${n.rate}`,
  ]
    .filter(Boolean)
    .join(' ');

/** Re-applies the host's own part of the plan: what a link taken down or httpd stopped removed comes back. */
async function reapply(access: LabAccess, host: LabHost): Promise<void> {
  const plan = planLab(access.lab, { httpd: access.httpd });
  await applyPlan({ ...plan, hosts: plan.hosts.filter((h) => h.host.name === host.name) }, access.transport);
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
