// What follows a mistake, read from the running lab: requests and their answers, the director's IPVS counters, a
// host's kernel counters (nstat), the frames a realserver saw, the client's neighbour entry. Each observation says
// in words what it saw, with the evidence, and whether the mistake's consequence showed.
import { directorsOf, type Lab, type Realserver } from '../model/topology.js';
import { shq } from '../provision/shell.js';
import type { LabAccess } from '../provision/transport.js';
import { framesWhile } from '../inside/capture.js';
import {
  accessLogClients,
  arpResponders,
  clientNeighborMac,
  hostsByMac,
  ipvsConnections,
  ipvsLiveTotals,
  must,
  readyArpTry,
  serviceUrl,
} from '../verify/probes.js';

/** What a mistake led to: the consequence it is known for, whether this run showed it, and what was seen. */
export interface Seen {
  consequence: string;
  shown: boolean;
  evidence: string[];
  /** The same, as figures and names (for --json and the tests). */
  facts: Record<string, number | string | string[] | undefined>;
}

/** Requests made at once, and how long each waits for an answer. */
const AT_ONCE = 4;
const WAIT_S = 3;
const END = '#lvs-lab-whatif';

/** `n` requests from the client at once, each a fresh connection; each one's body, or undefined if unanswered. */
export async function requestsAtOnce(access: LabAccess, n = AT_ONCE): Promise<Array<string | undefined>> {
  const curl = `curl -s --max-time ${WAIT_S} ${shq(serviceUrl(access.lab))} | tr '\\n' ' '`;
  const script = `${Array.from({ length: n }, () => `(r=$(${curl}); echo "${END} $r") &`).join('\n')}\nwait`;
  const out = await must(access, access.lab.client.name, script);
  return [...out.matchAll(new RegExp(`^${END} ?(.*)$`, 'gm'))].map((m) => m[1].trim() || undefined);
}

/** How the requests went, in one line: how many were answered, by what, and how many were not. */
export function answersLine(bodies: Array<string | undefined>): string {
  const answered = bodies.filter((b): b is string => b !== undefined);
  const by = [...new Set(answered)].map((b) => `"${b}" x${answered.filter((x) => x === b).length}`).join(', ');
  const lost = bodies.length - answered.length;
  return (
    `${bodies.length} requests at once: ${answered.length} answered${by ? ` (${by})` : ''}` +
    (lost ? `, ${lost} got no answer in ${WAIT_S} s` : '')
  );
}

/** Kernel counters of one host, as `nstat` reads them (absolute, the history left alone). */
export async function nstat(access: LabAccess, host: string, names: string[]): Promise<Record<string, number>> {
  const out = await must(access, host, `nstat -asz ${names.join(' ')}`);
  const values = Object.fromEntries(names.map((n) => [n, 0]));
  for (const m of out.matchAll(/^(\w+)\s+(\d+)/gm)) if (m[1] in values) values[m[1]] = Number(m[2]);
  return values;
}

/** Inbound packets the directors' IPVS counted, summed (a pair's backup counts what it holds the VIP for). */
async function directorPackets(access: LabAccess): Promise<number> {
  const totals = await Promise.all(directorsOf(access.lab).map((d) => ipvsLiveTotals(access, d.name)));
  return totals.reduce((sum, t) => sum + t.inPkts, 0);
}

const hostOfBody = (lab: Lab, body: string | undefined) => lab.realservers.find((r) => body === `from ${r.ip}`)?.name;

/** The realservers answer ARP for the VIP: who answers, which MAC the client keeps, where requests then go. */
export async function arpObservation(access: LabAccess): Promise<Seen> {
  const { lab } = access;
  const macs = await hostsByMac(access);
  const answered = [...new Set((await arpResponders(access, 1)).map((m) => macs[m] ?? m))];
  const realservers = new Set(lab.realservers.map((r) => r.name));
  const announced = new Set<string>();
  let kept: string | undefined;
  let tries = 0;
  while (tries < 6 && !realservers.has(kept ?? '')) {
    const n = tries;
    tries += 1;
    const { frames } = await framesWhile(access, [{ host: lab.client.name, dev: 'eth0' }], 'arp', async () => {
      await readyArpTry(access, n);
      await requestsAtOnce(access, 1);
    });
    for (const f of frames)
      if (f.arp?.op === 'request' && f.arp.sender === lab.vip) announced.add(macs[f.srcMac] ?? f.srcMac);
    const mac = await clientNeighborMac(access);
    kept = mac && (macs[mac] ?? mac);
  }
  const logsBefore = await Promise.all(lab.realservers.map((r) => accessLogClients(access, r.name)));
  const before = await directorPackets(access);
  const bodies = await requestsAtOnce(access);
  const counted = (await directorPackets(access)) - before;
  const logsAfter = await Promise.all(lab.realservers.map((r) => accessLogClients(access, r.name)));
  const logged = lab.realservers.map((r, i) => `${r.name} +${logsAfter[i].length - logsBefore[i].length}`);
  return {
    consequence: "the client caches a realserver's MAC for the VIP, and its requests bypass the director",
    shown: answered.some((h) => realservers.has(h)) && realservers.has(kept ?? '') && counted === 0,
    evidence: [
      `who-has ${lab.vip} from the client (arping): answered by ${answered.join(', ') || 'nobody'}`,
      ...[...announced].map(
        (h) =>
          `${h} asked for the client's MAC with the VIP as its sender address (arp_announce=0): "${lab.vip} is at ${h}"`,
      ),
      `the client's entry for the VIP after ${tries} flush${tries === 1 ? '' : 'es'} and a request: ${kept ?? 'none'}'s MAC`,
      answersLine(bodies),
      `the director's IPVS counted +${counted} packets; access logs: ${logged.join(', ')}`,
    ],
    facts: {
      answeredBy: answered,
      announced: [...announced],
      kept,
      answered: bodies.filter(Boolean).length,
      directorPackets: counted,
    },
  };
}

/** One realserver made unable to answer: what it received from the director, what it sent, what its kernel counted. */
export async function victimObservation(
  access: LabAccess,
  victim: Realserver,
  counter: { name: string; means: string },
): Promise<Seen> {
  const { lab } = access;
  const client = lab.client.name;
  const [before, retransBefore] = await Promise.all([
    nstat(access, victim.name, [counter.name]),
    retrans(access, client),
  ]);
  const { result: bodies, frames } = await framesWhile(
    access,
    [{ host: victim.name, dev: 'eth0' }],
    `tcp port ${lab.service.port} or ip proto 4`,
    () => requestsAtOnce(access),
  );
  const counted = (await nstat(access, victim.name, [counter.name]))[counter.name] - before[counter.name];
  const retransmitted = (await retrans(access, client)) - retransBefore;
  const syns = frames.filter((f) => f.tcp?.flags === 'S' && f.tcp.src === lab.client.ip);
  const synAcks = frames.filter((f) => f.tcp?.flags === 'S.' && f.tcp.dst === lab.client.ip);
  // Only this run's connections: one an earlier run left half-seen stays SYN_RECV for a minute.
  const ports = new Set(syns.map((f) => `${lab.client.ip}:${f.tcp!.sport}`));
  const entries = (await Promise.all(directorsOf(lab).map((d) => ipvsConnections(access, d.name))))
    .flat()
    .filter((e) => e.rs === victim.ip && e.state === 'SYN_RECV' && ports.has(e.client));
  const how = syns[0]?.outer ? 'inside IP-in-IP' : `to ${syns[0]?.tcp?.dst ?? lab.vip}`;
  return {
    consequence: `the director still sends ${victim.name} its share, and ${victim.name} drops it: those requests go unanswered`,
    shown: bodies.some((b) => b === undefined) && syns.length > 0 && synAcks.length === 0 && counted > 0,
    evidence: [
      answersLine(bodies),
      `${victim.name} received ${syns.length} SYNs of ${new Set(syns.map((f) => f.tcp!.sport)).size} connections from ` +
        `the director (${how}) and sent ${synAcks.length} SYN-ACKs`,
      `${victim.name}: ${counter.name} +${counted} (nstat): ${counter.means}`,
      `the client retransmitted ${retransmitted} segments (TcpRetransSegs): its SYNs got no SYN-ACK`,
      `the director's connections to ${victim.name} left in SYN_RECV: ${entries.length} (ipvsadm -lnc)`,
    ],
    facts: {
      answered: bodies.filter(Boolean).length,
      unanswered: bodies.filter((b) => b === undefined).length,
      syns: syns.length,
      synAcks: synAcks.length,
      [counter.name]: counted,
      retransmitted,
      synRecv: entries.length,
    },
  };
}

const retrans = async (access: LabAccess, host: string) =>
  (await nstat(access, host, ['TcpRetransSegs'])).TcpRetransSegs;

/** ip_forward off on the directors: whether requests are still answered, and whether IPVS still counts them. */
export async function forwardingObservation(access: LabAccess): Promise<Seen> {
  const { lab } = access;
  const values = await Promise.all(
    directorsOf(lab).map(
      async (d) =>
        `${d.name}: ip_forward = ${(await must(access, d.name, 'cat /proc/sys/net/ipv4/ip_forward')).trim()}`,
    ),
  );
  const before = await directorPackets(access);
  const bodies = await requestsAtOnce(access);
  const counted = (await directorPackets(access)) - before;
  const answered = bodies.filter((b) => hostOfBody(lab, b) !== undefined).length;
  const nat = lab.forwarding === 'nat';
  return {
    consequence: nat
      ? "NAT needs it: the realservers' replies are routed through the director, to be translated back to the VIP"
      : `${lab.forwarding.toUpperCase()} does not need it: IPVS sends each request on from the director's input hook; nothing is routed`,
    shown: nat ? answered < bodies.length : answered === bodies.length && counted > 0,
    evidence: [...values, answersLine(bodies), `the director's IPVS counted +${counted} packets`],
    facts: { answered, unanswered: bodies.length - answered, directorPackets: counted },
  };
}
