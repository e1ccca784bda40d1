// The proof that the lab does what its model says, as a list of named checks with the evidence behind each. What
// must be true depends on the forwarding method: DR and TUN replies bypass the director, NAT replies pass it.
import { directorsOf, FORWARD_COLUMN, type Forwarding, type Lab, type Realserver } from '../model/topology.js';
import { removalWindowSeconds, takeoverWindowSeconds } from '../provision/keepalived.js';
import { syncDaemonPattern } from '../provision/plan.js';
import type { LabAccess } from '../provision/transport.js';
import { lastReading } from '../base/wait.js';
import {
  accessLogClients,
  arpResponders,
  captureDuring,
  captureReplies,
  fetchSequence,
  IPVS_PER_CPU,
  ipvsConnections,
  ipvsLiveTotals,
  ipvsTable,
  keepalivedPids,
  macOf,
  macsOf,
  parseTunnelled,
  serviceUrl,
  settledVipHolders,
  syncDaemons,
  type Frame,
  type IpvsService,
  type TunnelledPacket,
} from './probes.js';

export interface Check {
  name: string;
  ok: boolean;
  evidence: string;
}

const rsByIp = (lab: Lab) => new Map(lab.realservers.map((r) => [r.ip, r.name]));

/** What every check reads: the hosts' MACs, and the director the client's traffic goes through (a pair's MASTER). */
export interface Context {
  access: LabAccess;
  macs: Map<string, string>;
  /** The directors holding the VIP: one in a healthy lab. */
  holders: string[];
  director: string;
  /** The director's MAC as the client sees it: eth0 on the shared network, eth1 on NAT's outside one. */
  directorMac: string;
  macName: Map<string, string>;
}

/** Which director the client's traffic goes through: a pair's is the one VRRP gave the VIP. */
async function activeDirectors(access: LabAccess): Promise<string[]> {
  return access.lab.ha
    ? settledVipHolders(access, takeoverWindowSeconds(access.lab.ha) + 2)
    : [access.lab.director.name];
}

/** `director`: the one of `holders` the client's traffic goes through. */
async function context(access: LabAccess, holders: string[], director: string): Promise<Context> {
  const { lab } = access;
  const [macs, directorMac] = await Promise.all([
    macsOf(access),
    lab.forwarding === 'nat' ? macOf(access, director, 'eth1') : undefined,
  ]);
  const macName = new Map([...macs].map(([n, m]) => [m, n]));
  macName.set(directorMac ?? macs.get(director)!, director);
  return { access, macs, holders, director, directorMac: directorMac ?? macs.get(director)!, macName };
}

/** The frames that answered the client's requests, and the director's counters around them. */
export interface Traffic {
  frames: Frame[];
  inDelta: number;
  outDelta: number;
  outTotal: number;
  conns: number;
}

/** What differs between forwarding methods: how replies come back, what the director's counters show, extra proof. */
interface MethodChecks {
  replies(c: Context, t: Traffic, sources: string): Check;
  counters(t: Traffic, stats: string): Check;
  extra?(c: Context): Promise<Check[]>;
}

/** DR and TUN: replies straight from the realservers, the director sees the inbound half only. */
const DIRECT: MethodChecks = {
  replies: (c, t, sources) => ({
    name: 'replies go straight from the realservers to the client',
    ok:
      t.frames.length > 0 &&
      t.frames.every(
        (f) =>
          f.srcIp === c.access.lab.vip &&
          f.srcMac !== c.directorMac &&
          c.access.lab.realservers.some((r) => c.macs.get(r.name) === f.srcMac),
      ),
    evidence: `${t.frames.length} reply frames captured at the client, IP source and sending MAC: ${sources} (director's MAC ${c.directorMac} sent none)`,
  }),
  counters: (t, stats) => ({
    name: 'the director sees only the inbound half',
    ok: t.inDelta > 0 && t.outTotal === 0,
    evidence: stats,
  }),
};

export const METHODS: Record<Forwarding, MethodChecks> = {
  dr: DIRECT,
  tun: { ...DIRECT, extra: async (c) => [await tunnelCheck(c)] },
  nat: {
    replies: (c, t, sources) => ({
      name: 'replies come back through the director (NAT)',
      ok: t.frames.length > 0 && t.frames.every((f) => f.srcIp === c.access.lab.vip && f.srcMac === c.directorMac),
      evidence: `${t.frames.length} reply frames captured at the client, IP source and sending MAC: ${sources}`,
    }),
    counters: (t, stats) => ({
      name: 'the director handles both halves (NAT)',
      ok: t.inDelta > 0 && t.outDelta > 0,
      evidence: stats,
    }),
  },
};

/**
 * Runs every check once; a failing check does not stop the others, so the report shows the whole picture. What only
 * reads the lab runs side by side (each probe is a round trip under software emulation); what sends traffic
 * runs alone, so counters and captures see only its own.
 */
export async function verifyLab(access: LabAccess, requests = 3 * access.lab.realservers.length): Promise<Check[]> {
  const { lab } = access;
  // Who answers ARP takes a second of listening and touches neither the service's TCP (the capture) nor IPVS (the
  // counters): it runs beside everything else.
  const arpReplies = arpResponders(access);
  arpReplies.catch(() => {}); // awaited below; a failure before then must not go unhandled
  const holders = await activeDirectors(access);
  const director = holders[0] ?? lab.director.name;
  const spanned = (access.segments?.length ?? 0) > 1 ? segmentReplies(access, holders) : undefined;
  spanned?.catch(() => {}); // awaited below, as arpReplies
  const method = METHODS[lab.forwarding];
  const [c, pair, tables, health, before, held] = await Promise.all([
    context(access, holders, director),
    lab.ha ? pairChecks(access, holders) : [],
    tableChecks(access),
    lab.healthCheck ? healthCheckCheck(access, lab.healthCheck).then((h) => [h]) : [],
    ipvsLiveTotals(access, director),
    ipvsConnections(access, director),
  ]);
  const checks: Check[] = [...pair, ...tables, ...health];

  const { bodies, frames } = await captureReplies(access, requests);
  const old = oldEntriesOf(lab, frames, held, requests);
  const { check: served, counts } = requestsCheck(lab, bodies, requests, old);
  const [after, clients, sync] = await Promise.all([
    ipvsLiveTotals(access, director),
    clientAddressCheck(c, counts),
    lab.ha?.sync ? syncCheck(access, director).then((x) => [x]) : [],
  ]);
  const t: Traffic = {
    frames,
    inDelta: after.inPkts - before.inPkts,
    outDelta: after.outPkts - before.outPkts,
    outTotal: after.outPkts,
    conns: after.conns - before.conns,
  };
  const sources = [...new Set(frames.map((f) => `${f.srcIp} from ${c.macName.get(f.srcMac) ?? f.srcMac}`))].join('; ');
  const stats = `IPVS counters (${IPVS_PER_CPU}): InPkts +${t.inDelta}, OutPkts +${t.outDelta} (total OutPkts ${t.outTotal}), connections +${t.conns}`;
  // TUN's extra proof sends requests of its own: after the counters are read.
  checks.push(served, method.replies(c, t, sources), method.counters(t, stats), ...((await method.extra?.(c)) ?? []));
  checks.push(clients, ...sync, arpCheck(c, await arpReplies));
  if (spanned) checks.push(segmentCheck(c, await spanned));
  return checks;
}

/** ARP for the VIP asked from a host on each machine the segment spans: who answers there. */
async function segmentReplies(access: LabAccess, holders: string[]): Promise<SegmentReplies> {
  return Promise.all(
    access.segments!.map(async ({ where, hosts }) => {
      const from = hosts.find((h) => !holders.includes(h));
      return { where, from, macs: from ? await arpResponders(access, 1, { from }) : [] };
    }),
  );
}

export type SegmentReplies = Array<{ where: string; from?: string; macs: string[] }>;

/** One segment over several machines: ARP for the VIP from each is answered by the director that holds it alone. */
export function segmentCheck(c: Context, replies: SegmentReplies): Check {
  const named = (macs: string[]) => [...new Set(macs)].map((m) => c.macName.get(m) ?? m).join(', ') || 'none';
  return {
    name: `one segment across ${replies.length} engines: ARP for the VIP from each is answered by ${c.director} alone`,
    ok: replies.every((r) => r.from !== undefined && r.macs.length > 0 && r.macs.every((m) => m === c.directorMac)),
    evidence: replies
      .map((r) => (r.from ? `${r.where} (from ${r.from}): ${named(r.macs)}` : `${r.where}: no host to ask from`))
      .join('; '),
  };
}

/** The table as modelled on each director (both of a pair). */
async function tableChecks(access: LabAccess): Promise<Check[]> {
  const { lab } = access;
  return Promise.all(
    (lab.ha ? directorsOf(lab) : [lab.director]).map(async (d) =>
      tableCheck(lab, d.name, await ipvsTable(access, d.name)),
    ),
  );
}

/** One director's table against the model: its scheduler, and every realserver of weight > 0 with the lab's method. */
export function tableCheck(lab: Lab, director: string, table: IpvsService): Check {
  const expected = lab.realservers.filter((r) => r.weight > 0);
  const column = FORWARD_COLUMN[lab.forwarding];
  return {
    name: lab.ha ? `IPVS table on ${director}` : 'IPVS table on the director',
    ok:
      table.scheduler === lab.service.scheduler &&
      expected.every((r) => table.dests.some((x) => x.rip === r.ip && x.forward === column)),
    evidence: `TCP ${lab.vip}:${lab.service.port} ${table.scheduler} -> ${table.dests.map((x) => `${x.rip} ${x.forward} w${x.weight}`).join(', ') || 'no realserver'}`,
  };
}

async function healthCheckCheck(access: LabAccess, hc: NonNullable<Lab['healthCheck']>): Promise<Check> {
  return healthJudgement(hc, await keepalivedPids(access));
}

/** keepalived and its checker process both running on the director. */
export function healthJudgement(
  hc: NonNullable<Lab['healthCheck']>,
  { main, checker }: { main?: number; checker?: number },
): Check {
  return {
    name: 'keepalived health-checks every realserver',
    ok: main !== undefined && checker !== undefined,
    evidence:
      `keepalived pid ${main ?? 'not running'}, checker pid ${checker ?? 'not running'}: GET / on each realserver every ` +
      `${hc.interval} s; one that stops answering leaves the table within ${removalWindowSeconds(hc)} s`,
  };
}

/** An IPVS entry the director held before a request, for the client port the request then used. */
export interface OldEntry {
  client: string;
  state: string;
  rs: string;
}

/**
 * For each request, the entry the director already held for its client port, if any, in a state a new SYN does not
 * end: after many connections the client's ports come round again while IPVS still keeps old entries (ESTABLISHED
 * for 15 minutes when it never saw the end, SYN_RECV for one), and a SYN that finds one goes where it points, not
 * where the scheduler would send it. IPVS schedules anew over TIME_WAIT and CLOSE, and over FIN_WAIT by the plan's
 * conn_reuse_mode where it sees one direction only. The requests run one after another, so each one's port is the
 * next new one its replies were sent to.
 */
export function oldEntriesOf(
  lab: Lab,
  frames: Frame[],
  held: OldEntry[],
  requests: number,
): Array<OldEntry | undefined> {
  const ports: number[] = [];
  for (const f of frames) if (f.dstIp === lab.client.ip && !ports.includes(f.dstPort)) ports.push(f.dstPort);
  if (ports.length !== requests) return []; // a frame missed: no way to tell which port was whose
  const ended = ['TIME_WAIT', 'CLOSE', ...(lab.forwarding === 'nat' ? [] : ['FIN_WAIT'])];
  const byClient = new Map(held.filter((e) => !ended.includes(e.state)).map((e) => [e.client, e]));
  return ports.map((p) => byClient.get(`${lab.client.ip}:${p}`));
}

/**
 * Every request answered by a realserver of the lab; with plain round robin, an equal share each of those the
 * scheduler placed (a request an old IPVS entry sent on is left out of the share, and named).
 */
export function requestsCheck(
  lab: Lab,
  bodies: string[],
  requests: number,
  old: Array<OldEntry | undefined> = [],
): { check: Check; counts: Map<string, number> } {
  const names = rsByIp(lab);
  const expected = lab.realservers.filter((r) => r.weight > 0);
  const served = bodies.map((b) => names.get(b.replace(/^from /, '')) ?? b);
  const tally = (of: string[]) => {
    const n = new Map<string, number>();
    for (const s of of) n.set(s, (n.get(s) ?? 0) + 1);
    return n;
  };
  // An old entry accounts for a request only if the request went where the entry points.
  const byOld = served.map((s, i) => (old[i] && names.get(old[i].rs) === s ? old[i] : undefined));
  const scheduled = tally(served.filter((_, i) => !byOld[i]));
  const placed = requests - byOld.filter(Boolean).length;
  const allServed = bodies.every((b) => names.has(b.replace(/^from /, '')));
  const even =
    lab.service.scheduler !== 'rr' ||
    lab.service.persistence !== undefined ||
    expected.every((r) => Math.abs((scheduled.get(r.name) ?? 0) - placed / expected.length) < 1);
  const sentByOld = byOld.flatMap((e, i) =>
    e ? [`request ${i + 1} went to ${served[i]} by IPVS's old entry for ${e.client} (${e.state})`] : [],
  );
  return {
    counts: tally(served),
    check: {
      name: `${requests} requests to ${serviceUrl(lab)} from the client`,
      ok: allServed && even,
      evidence:
        `${served.join(', ')}${lab.service.scheduler === 'rr' && !lab.service.persistence ? ' (round robin: an equal share each)' : ''}` +
        (sentByOld.length ? `; ${sentByOld.join('; ')}, not by the scheduler` : ''),
    },
  };
}

/** TUN: requests reach a realserver inside IP-in-IP from the director. */
async function tunnelCheck(c: Context): Promise<Check> {
  const { lab } = c.access;
  const expected = lab.realservers.filter((r) => r.weight > 0);
  const rs = expected[0];
  const directorIp = directorsOf(lab).find((d) => d.name === c.director)!.ip;
  const packets = parseTunnelled(
    await captureDuring(c.access, rs.name, 'ip proto 4', () => fetchSequence(c.access, expected.length)),
  );
  return tunnelJudgement(lab, rs, directorIp, packets);
}

/** Every packet on the realserver's wire is IP-in-IP from the director, carrying the client's packet to the VIP. */
export function tunnelJudgement(lab: Lab, rs: Realserver, directorIp: string, packets: TunnelledPacket[]): Check {
  return {
    name: `requests reach ${rs.name} encapsulated (IP-in-IP) by the director`,
    ok:
      packets.length > 0 &&
      packets.every(
        (p) =>
          p.outerSrc === directorIp && p.outerDst === rs.ip && p.innerDst === lab.vip && p.innerSrc === lab.client.ip,
      ),
    evidence: `${packets.length} IPIP packets on ${rs.name}'s eth0: ${[...new Set(packets.map((p) => `${p.outerSrc} > ${p.outerDst} carrying ${p.innerSrc} > ${p.innerDst}:${p.innerDstPort}`))].join('; ')}`,
  };
}

/** The realservers' access logs: the requests came from the client's own address, not the director's. */
async function clientAddressCheck(c: Context, counts: Map<string, number>): Promise<Check> {
  const { lab } = c.access;
  const expected = lab.realservers.filter((r) => r.weight > 0);
  const logs = await Promise.all(
    expected.map(
      async (r) =>
        [r.name, (await accessLogClients(c.access, r.name)).slice(-Math.max(1, counts.get(r.name) ?? 1))] as const,
    ),
  );
  return clientsCheck(lab, logs, directorsOf(lab).find((d) => d.name === c.director)!.ip);
}

/** Each realserver's latest access-log clients: the client's own address, every one. */
export function clientsCheck(lab: Lab, logs: ReadonlyArray<readonly [string, string[]]>, directorIp: string): Check {
  return {
    name: "realservers see the client's own address",
    ok: logs.every(([, ips]) => ips.length > 0 && ips.every((ip) => ip === lab.client.ip)),
    evidence:
      logs.map(([n, ips]) => `${n} access log: ${[...new Set(ips)].join(', ') || 'nothing'}`).join('; ') +
      ` (director is ${directorIp})`,
  };
}

/** Who answers ARP for the VIP: the director alone (a pair's MASTER), never a realserver. */
export function arpCheck(c: Context, arp: string[]): Check {
  const { lab } = c.access;
  return {
    name: lab.ha
      ? `only the MASTER (${c.director}) answers ARP for the VIP`
      : 'only the director answers ARP for the VIP',
    ok: arp.length > 0 && arp.every((m) => m === c.directorMac),
    evidence: `ARP replies for ${lab.vip}: ${[...new Set(arp)].map((m) => `${m} (${c.macName.get(m) ?? '?'})`).join(', ') || 'none'}`,
  };
}

/** A director pair: the VIP on exactly one director, keepalived (VRRP and table) and the sync daemons on both. */
async function pairChecks(access: LabAccess, holders: string[]): Promise<Check[]> {
  const directors = directorsOf(access.lab);
  const pids = await Promise.all(directors.map((d) => keepalivedPids(access, d.name)));
  const daemons = access.lab.ha!.sync
    ? await Promise.all(directors.map((d) => syncDaemons(access, d.name)))
    : undefined;
  return pairJudgement(access.lab, holders, pids, daemons);
}

/** The pair's checks from what was read: who holds the VIP, keepalived's processes and the sync daemons on each. */
export function pairJudgement(
  lab: Lab,
  holders: string[],
  pids: Array<{ main?: number; checker?: number; vrrp?: number }>,
  daemons?: string[][],
): Check[] {
  const ha = lab.ha!;
  const directors = directorsOf(lab);
  const checks: Check[] = [
    {
      name: 'VRRP: the VIP on exactly one director',
      ok: holders.length === 1,
      evidence:
        directors
          .map((d) => `${d.name} ${holders.includes(d.name) ? `holds ${lab.vip} (MASTER)` : 'does not (BACKUP)'}`)
          .join(', ') +
        `; virtual router ${ha.virtualRouterId}, adverts every ${ha.advertInterval} s, takeover within ${takeoverWindowSeconds(ha).toFixed(1)} s`,
    },
    {
      name: 'keepalived runs VRRP and holds the table on both directors',
      ok: pids.every((p) => p.main !== undefined && p.vrrp !== undefined && p.checker !== undefined),
      evidence: directors
        .map(
          (d, i) =>
            `${d.name}: keepalived ${pids[i].main ?? '-'}, vrrp ${pids[i].vrrp ?? '-'}, checker ${pids[i].checker ?? '-'}`,
        )
        .join('; '),
    },
  ];
  if (ha.sync && daemons) {
    const running = (lines: string[], role: 'master' | 'backup') =>
      lines.some((l) => new RegExp(syncDaemonPattern(role, ha.virtualRouterId)).test(l));
    checks.push({
      name: 'IPVS connection sync runs on both directors (master and backup daemons)',
      ok: daemons.every((lines) => running(lines, 'master') && running(lines, 'backup')),
      evidence: directors.map((d, i) => `${d.name}: ${daemons[i].join(', ') || 'none'}`).join('; '),
    });
  }
  return checks;
}

/** After the requests: the backup's IPVS knows the client's connections, sent by the MASTER's sync daemon. */
async function syncCheck(access: LabAccess, active: string): Promise<Check> {
  const backup = directorsOf(access.lab).find((d) => d.name !== active)!.name;
  const mine = await ipvsConnections(access, active);
  // The sync daemon sends in batches (at most a second or two later).
  const synced = await lastReading(
    () => ipvsConnections(access, backup),
    (conns) => conns.length > 0,
    { within: 5_000, every: 250 },
  );
  return syncJudgement(access.lab, active, backup, mine, synced);
}

/** The backup's connection table holds connections of the MASTER's: the same client port and realserver. */
export function syncJudgement(
  lab: Lab,
  active: string,
  backup: string,
  mine: Array<{ client: string; rs: string }>,
  synced: Array<{ client: string; rs: string }>,
): Check {
  const known = synced.filter((c) => mine.some((m) => m.client === c.client && m.rs === c.rs));
  return {
    name: `the backup (${backup}) knows the client's connections (IPVS sync)`,
    ok: known.length > 0,
    evidence: `${active}'s table: ${mine.length} connections from ${lab.client.ip}; ${backup}'s: ${synced.length}, ${known.length} of them the same client port and realserver`,
  };
}

export function formatChecks(checks: Check[]): string {
  return checks.map((c) => `${c.ok ? 'PASS' : 'FAIL'}  ${c.name}\n      ${c.evidence}`).join('\n');
}
