// The proof that the lab does what its model says, as a list of named checks with the evidence behind each. What
// must be true depends on the forwarding method: DR and TUN replies bypass the director, NAT replies pass it.
import { directorsOf, FORWARD_COLUMN, type Lab } from '../model/topology.js';
import { removalWindowSeconds, takeoverWindowSeconds } from '../provision/keepalived.js';
import { syncDaemonPattern } from '../provision/plan.js';
import { accessLogClients, arpResponders, captureDuring, captureReplies, fetchSequence, ipvsConnections, ipvsStats, ipvsStatsAfter, ipvsTable, keepalivedPids, macOf, macsOf, parseTunnelled, serviceUrl, settledVipHolders, syncDaemons } from './probes.js';
import type { LabAccess } from '../provision/transport.js';

export interface Check {
  name: string;
  ok: boolean;
  evidence: string;
}

const rsByIp = (lab: Lab) => new Map(lab.realservers.map((r) => [r.ip, r.name]));

/** Runs every check once; a failing check does not stop the others, so the report shows the whole picture. */
export async function verifyLab(a: LabAccess, requests = 3 * a.lab.realservers.length): Promise<Check[]> {
  const { lab } = a;
  const checks: Check[] = [];
  const nat = lab.forwarding === 'nat';
  const macs = await macsOf(a);
  // A pair's active director is the one VRRP gave the VIP; the traffic checks below look at it.
  const holders = lab.ha ? await settledVipHolders(a, takeoverWindowSeconds(lab.ha) + 2) : [lab.director.name];
  const director = holders[0] ?? lab.director.name;
  // The director's MAC as the client sees it: eth0 on the shared network, eth1 on NAT's outside one.
  const directorMac = nat ? await macOf(a, director, 'eth1') : macs.get(director)!;
  const names = rsByIp(lab);
  const macName = new Map([...macs].map(([n, m]) => [m, n]));
  macName.set(directorMac, director);
  if (lab.ha) checks.push(...(await pairChecks(a, holders)));

  const expected = lab.realservers.filter((r) => r.weight > 0);
  const column = FORWARD_COLUMN[lab.forwarding];
  for (const d of lab.ha ? directorsOf(lab) : [lab.director]) {
    const table = await ipvsTable(a, d.name);
    checks.push({
      name: lab.ha ? `IPVS table on ${d.name}` : 'IPVS table on the director',
      ok: table.scheduler === lab.service.scheduler && expected.every((r) => table.dests.some((d) => d.rip === r.ip && d.forward === column)),
      evidence: `TCP ${lab.vip}:${lab.service.port} ${table.scheduler} -> ${table.dests.map((d) => `${d.rip} ${d.forward} w${d.weight}`).join(', ')}`,
    });
  }

  if (lab.healthCheck) {
    const { main, checker } = await keepalivedPids(a);
    checks.push({
      name: 'keepalived health-checks every realserver',
      ok: main !== undefined && checker !== undefined,
      evidence:
        `keepalived pid ${main ?? 'not running'}, checker pid ${checker ?? 'not running'}: GET / on each realserver every ` +
        `${lab.healthCheck.interval} s; one that stops answering leaves the table within ${removalWindowSeconds(lab.healthCheck)} s`,
    });
  }

  const before = await ipvsStats(a, director);
  const { bodies, frames } = await captureReplies(a, requests);
  const after = await ipvsStatsAfter(a, before, requests, undefined, director);
  const served = bodies.map((b) => names.get(b.replace(/^from /, '')) ?? b);
  const counts = new Map<string, number>();
  for (const s of served) counts.set(s, (counts.get(s) ?? 0) + 1);
  const allServed = bodies.every((b) => names.has(b.replace(/^from /, '')));
  const even = lab.service.scheduler !== 'rr' || lab.service.persistence !== undefined || expected.every((r) => counts.get(r.name) === requests / expected.length);
  checks.push({
    name: `${requests} requests to ${serviceUrl(lab)} from the client`,
    ok: allServed && even,
    evidence: `${served.join(', ')}${lab.service.scheduler === 'rr' && !lab.service.persistence ? ' (round robin: an equal share each)' : ''}`,
  });

  const replySources = [...new Set(frames.map((f) => `${f.srcIp} from ${macName.get(f.srcMac) ?? f.srcMac}`))].join('; ');
  if (nat) {
    checks.push({
      name: 'replies come back through the director (NAT)',
      ok: frames.length > 0 && frames.every((f) => f.srcIp === lab.vip && f.srcMac === directorMac),
      evidence: `${frames.length} reply frames captured at the client, IP source and sending MAC: ${replySources}`,
    });
  } else {
    checks.push({
      name: 'replies go straight from the realservers to the client',
      ok: frames.length > 0 && frames.every((f) => f.srcIp === lab.vip && f.srcMac !== directorMac && lab.realservers.some((r) => macs.get(r.name) === f.srcMac)),
      evidence: `${frames.length} reply frames captured at the client, IP source and sending MAC: ${replySources} (director's MAC ${directorMac} sent none)`,
    });
  }

  const inDelta = after.inPkts - before.inPkts;
  const outDelta = after.outPkts - before.outPkts;
  const stats = `ipvsadm --stats: InPkts +${inDelta}, OutPkts +${outDelta} (total OutPkts ${after.outPkts}), connections +${after.conns - before.conns}`;
  checks.push(
    nat
      ? { name: 'the director handles both halves (NAT)', ok: inDelta > 0 && outDelta > 0, evidence: stats }
      : { name: 'the director sees only the inbound half', ok: inDelta > 0 && after.outPkts === 0, evidence: stats },
  );

  if (lab.forwarding === 'tun') {
    const rs = expected[0];
    const packets = parseTunnelled(await captureDuring(a, rs.name, 'ip proto 4', () => fetchSequence(a, expected.length)));
    const ok = packets.length > 0 && packets.every((p) => p.outerSrc === lab.director.ip && p.outerDst === rs.ip && p.innerDst === lab.vip && p.innerSrc === lab.client.ip);
    checks.push({
      name: `requests reach ${rs.name} encapsulated (IP-in-IP) by the director`,
      ok,
      evidence: `${packets.length} IPIP packets on ${rs.name}'s eth0: ${[...new Set(packets.map((p) => `${p.outerSrc} > ${p.outerDst} carrying ${p.innerSrc} > ${p.innerDst}:${p.innerDstPort}`))].join('; ')}`,
    });
  }

  const logs = await Promise.all(expected.map(async (r) => [r.name, (await accessLogClients(a, r.name)).slice(-Math.max(1, counts.get(r.name) ?? 1))] as const));
  checks.push({
    name: "realservers see the client's own address",
    ok: logs.every(([, ips]) => ips.length > 0 && ips.every((ip) => ip === lab.client.ip)),
    evidence: logs.map(([n, ips]) => `${n} access log: ${[...new Set(ips)].join(', ')}`).join('; ') + ` (director is ${lab.director.ip})`,
  });

  if (lab.ha?.sync) checks.push(await syncCheck(a, director));

  const arp = await arpResponders(a);
  checks.push({
    name: lab.ha ? `only the MASTER (${director}) answers ARP for the VIP` : 'only the director answers ARP for the VIP',
    ok: arp.length > 0 && arp.every((m) => m === directorMac),
    evidence: `ARP replies for ${lab.vip}: ${[...new Set(arp)].map((m) => `${m} (${macName.get(m) ?? '?'})`).join(', ') || 'none'}`,
  });
  return checks;
}

/** A director pair: the VIP on exactly one director, keepalived (VRRP and table) and the sync daemons on both. */
async function pairChecks(a: LabAccess, holders: string[]): Promise<Check[]> {
  const { lab } = a;
  const ha = lab.ha!;
  const directors = directorsOf(lab);
  const pids = await Promise.all(directors.map((d) => keepalivedPids(a, d.name)));
  const checks: Check[] = [
    {
      name: 'VRRP: the VIP on exactly one director',
      ok: holders.length === 1,
      evidence:
        directors.map((d) => `${d.name} ${holders.includes(d.name) ? `holds ${lab.vip} (MASTER)` : 'does not (BACKUP)'}`).join(', ') +
        `; virtual router ${ha.virtualRouterId}, adverts every ${ha.advertInterval} s, takeover within ${takeoverWindowSeconds(ha).toFixed(1)} s`,
    },
    {
      name: 'keepalived runs VRRP and holds the table on both directors',
      ok: pids.every((p) => p.main !== undefined && p.vrrp !== undefined && p.checker !== undefined),
      evidence: directors.map((d, i) => `${d.name}: keepalived ${pids[i].main ?? '-'}, vrrp ${pids[i].vrrp ?? '-'}, checker ${pids[i].checker ?? '-'}`).join('; '),
    },
  ];
  if (ha.sync) {
    const daemons = await Promise.all(directors.map((d) => syncDaemons(a, d.name)));
    const running = (lines: string[], role: 'master' | 'backup') => lines.some((l) => new RegExp(syncDaemonPattern(role, ha.virtualRouterId)).test(l));
    checks.push({
      name: 'IPVS connection sync runs on both directors (master and backup daemons)',
      ok: daemons.every((lines) => running(lines, 'master') && running(lines, 'backup')),
      evidence: directors.map((d, i) => `${d.name}: ${daemons[i].join(', ') || 'none'}`).join('; '),
    });
  }
  return checks;
}

/** After the requests: the backup's IPVS knows the client's connections, sent by the MASTER's sync daemon. */
async function syncCheck(a: LabAccess, active: string): Promise<Check> {
  const backup = directorsOf(a.lab).find((d) => d.name !== active)!.name;
  const [mine, deadline] = [await ipvsConnections(a, active), Date.now() + 5_000];
  let synced = await ipvsConnections(a, backup);
  // The sync daemon sends in batches (at most a second or two later).
  while (synced.length === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    synced = await ipvsConnections(a, backup);
  }
  const known = synced.filter((c) => mine.some((m) => m.client === c.client && m.rs === c.rs));
  return {
    name: `the backup (${backup}) knows the client's connections (IPVS sync)`,
    ok: known.length > 0,
    evidence: `${active}'s table: ${mine.length} connections from ${a.lab.client.ip}; ${backup}'s: ${synced.length}, ${known.length} of them the same client port and realserver`,
  };
}

export function formatChecks(checks: Check[]): string {
  return checks.map((c) => `${c.ok ? 'PASS' : 'FAIL'}  ${c.name}\n      ${c.evidence}`).join('\n');
}
