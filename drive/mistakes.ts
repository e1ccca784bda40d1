// The classic LVS mistakes `whatif` makes on a running lab. Each undoes one step of the seed (or of the plan's NAT
// or TUN variant) on the hosts that step is for; the plan, re-applied on those hosts, puts it back.
import { UserError } from '../model/errors.js';
import { directorsOf, shown, type Forwarding, type Lab, type Realserver } from '../model/topology.js';
import { arpObservation, forwardingObservation, victimObservation, type Seen } from './consequences.js';
import { proc as procStep } from '../provision/steps.js';
import type { LabAccess } from '../provision/transport.js';

export const MISTAKE_NAMES = ['arp', 'no-vip-on-lo', 'rp-filter', 'nat-gateway', 'forwarding'] as const;
export type MistakeName = (typeof MISTAKE_NAMES)[number];

export interface Change {
  host: string;
  command: string;
}

export interface Mistake {
  name: MistakeName;
  /** The mistake, in words. */
  what: string;
  /** The forwarding methods whose labs have the step it undoes. */
  applies: Forwarding[];
  /** Whether it is made on one realserver (the victim), rather than on every host of a role. */
  onOne: boolean;
  /** The step it undoes, as the seed (or the plan) writes it. */
  seed(lab: Lab): string;
  changes(lab: Lab, victim: Realserver): Change[];
  observe(access: LabAccess, victim: Realserver): Promise<Seen>;
}

/** The plan's own step for a /proc key (provision/steps.ts), with the value the mistake gives it. */
const proc = (key: string, value: number) => procStep(key, value).command;

const onRealservers = (lab: Lab, command: string): Change[] => lab.realservers.map((r) => ({ host: r.name, command }));

export const MISTAKES: Record<MistakeName, Mistake> = {
  arp: {
    name: 'arp',
    what: 'the realservers answer ARP for the VIP (arp_ignore and arp_announce back to 0)',
    applies: ['dr', 'tun'],
    onOne: false,
    seed: () =>
      'each realserver: echo 1 > /proc/sys/net/ipv4/conf/eth0/arp_ignore, echo 2 > .../eth0/arp_announce, the same two for conf/all',
    changes: (lab) =>
      onRealservers(
        lab,
        ['all', 'eth0'].flatMap((d) => [proc(`conf/${d}/arp_ignore`, 0), proc(`conf/${d}/arp_announce`, 0)]).join('; '),
      ),
    observe: (access) => arpObservation(access),
  },
  'no-vip-on-lo': {
    name: 'no-vip-on-lo',
    what: 'a realserver without the VIP on lo',
    applies: ['dr'],
    onOne: true,
    seed: (lab) => `each realserver: ifconfig lo:0 ${lab.vip} netmask 255.255.255.255`,
    changes: (lab, victim) => [{ host: victim.name, command: `ip addr del ${lab.vip}/32 dev lo` }],
    observe: (access, victim) =>
      victimObservation(access, victim, {
        name: 'IpInAddrErrors',
        means: 'packets for an address that is not its own, dropped (it does not forward)',
      }),
  },
  'rp-filter': {
    name: 'rp-filter',
    what: 'a TUN realserver with strict reverse-path filtering (rp_filter=1)',
    applies: ['tun'],
    onOne: true,
    seed: () =>
      "the plan's TUN step on each realserver: echo 0 > /proc/sys/net/ipv4/conf/tunl0/rp_filter (and conf/all): a " +
      'request arrives on tunl0, but the route back to the client leaves by eth0',
    changes: (_lab, victim) => [
      { host: victim.name, command: `${proc('conf/all/rp_filter', 1)}; ${proc('conf/tunl0/rp_filter', 1)}` },
    ],
    observe: (access, victim) =>
      victimObservation(access, victim, {
        name: 'TcpExtIPReversePathFilter',
        means: 'packets dropped because the route back to their source is not the interface they came in on',
      }),
  },
  'nat-gateway': {
    name: 'nat-gateway',
    what: 'a NAT realserver without the director as its default gateway',
    applies: ['nat'],
    onOne: true,
    seed: (lab) =>
      `the plan's NAT step on each realserver: route add default gw ${lab.director.ip}: replies must pass the ` +
      'director to be translated back to the VIP',
    changes: (_lab, victim) => [{ host: victim.name, command: 'ip route del default' }],
    observe: (access, victim) =>
      victimObservation(access, victim, {
        name: 'IpOutNoRoutes',
        means: 'replies it could not send: no route to the client',
      }),
  },
  forwarding: {
    name: 'forwarding',
    what: 'the director with ip_forward off',
    applies: ['dr', 'tun', 'nat'],
    onOne: false,
    seed: () => 'director: echo 1 > /proc/sys/net/ipv4/ip_forward',
    changes: (lab) => directorsOf(lab).map((d) => ({ host: d.name, command: proc('ip_forward', 0) })),
    observe: (access) => forwardingObservation(access),
  },
};

/** The mistake named: an unknown name is refused before any lab is reached. */
export function mistakeNamed(name: string | undefined): Mistake {
  const names = MISTAKE_NAMES.join(', ');
  if (!name) throw new UserError(`whatif: name a mistake: one of ${names}`);
  if (!(MISTAKE_NAMES as readonly string[]).includes(name))
    throw new UserError(`whatif: ${shown(name)} is not a mistake whatif knows; one of ${names}`);
  return MISTAKES[name as MistakeName];
}

/** The realserver a mistake is made on, checked with the mistake against the lab before anything changes. */
export function victimOf(lab: Lab, mistake: Mistake, host?: string): Realserver {
  const { name } = mistake;
  if (!mistake.applies.includes(lab.forwarding))
    throw new UserError(
      `whatif ${name}: a mistake of ${mistake.applies.map((f) => f.toUpperCase()).join('/')} labs; lab ${lab.name} forwards by ${lab.forwarding.toUpperCase()}`,
    );
  if (host !== undefined && !mistake.onOne)
    throw new UserError(
      `whatif ${name}: made on every ${name === 'forwarding' ? 'director' : 'realserver'}, so it takes no host`,
    );
  const victim = host === undefined ? lab.realservers[0] : lab.realservers.find((r) => r.name === host);
  if (!victim)
    throw new UserError(
      `whatif ${name}: ${shown(host)} is not a realserver of lab ${lab.name} (${lab.realservers.map((r) => r.name).join(', ')})`,
    );
  return victim;
}
