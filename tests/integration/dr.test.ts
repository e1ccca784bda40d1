// The reference LVS-DR lab, observed where each fact can be seen: responses and frames at the client, IPVS
// tables and counters at the director, access logs at the realservers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPlan, StepFailed } from '../../provision/apply.js';
import { planLab } from '../../provision/plan.js';
import { connectLab, type LabSession } from '../../testbed/lab.js';
import {
  accessLogClients, arpResponders, captureReplies, clientNeighborMac, fetchSequence, flushClientNeighbors,
  ipvsStats, ipvsStatsAfter, ipvsTable, macsOf,
} from '../../verify/probes.js';
import { TEST_LAB } from './lab.js';

let s: LabSession;
let macs: Map<string, string>;
const [rs1, rs2] = TEST_LAB.realservers;
const rsMacs = () => TEST_LAB.realservers.map((r) => macs.get(r.name)!);

beforeAll(async () => {
  s = await connectLab(TEST_LAB.name);
  macs = await macsOf(s);
});
afterAll(async () => s?.close());

describe('round robin', () => {
  it('2k fresh connections give exactly k per realserver, alternating, and the kernel counts the same', async () => {
    const k = 10;
    const before = await ipvsStats(s);
    const bodies = await fetchSequence(s, 2 * k);
    expect(bodies).toHaveLength(2 * k);
    expect(bodies.filter((b) => b === `from ${rs1.ip}`)).toHaveLength(k);
    expect(bodies.filter((b) => b === `from ${rs2.ip}`)).toHaveLength(k);
    for (let i = 1; i < bodies.length; i++) expect(bodies[i], `request ${i + 1}`).not.toBe(bodies[i - 1]);
    const after = await ipvsStatsAfter(s, before, 2 * k);
    for (const r of [rs1, rs2]) expect(after.dests.get(r.ip)!.conns - before.dests.get(r.ip)!.conns).toBe(k);
  });
});

describe('DR return path', () => {
  it('(a) the director counts inbound packets and no outbound ones', async () => {
    const before = await ipvsStats(s);
    await fetchSequence(s, 4);
    const after = await ipvsStatsAfter(s, before, 4);
    expect(after.inPkts).toBeGreaterThan(before.inPkts);
    expect(after.outPkts).toBe(0);
    expect(after.outBytes).toBe(0);
    for (const r of [rs1, rs2]) {
      expect(after.dests.get(r.ip)!.inPkts).toBeGreaterThan(0);
      expect(after.dests.get(r.ip)!.outPkts).toBe(0);
    }
  });

  it("(b) reply frames reach the client from the realservers' MACs with the VIP as IP source", async () => {
    const { bodies, frames } = await captureReplies(s, 4);
    expect(bodies).toHaveLength(4);
    expect(frames.length).toBeGreaterThanOrEqual(4 * 3); // at least SYN-ACK, data, FIN per connection
    for (const f of frames) {
      expect(f.srcIp).toBe(TEST_LAB.vip);
      expect(rsMacs()).toContain(f.srcMac);
      expect(f.srcMac).not.toBe(macs.get('director'));
      expect(f.dstMac).toBe(macs.get('client'));
      expect(f.dstIp).toBe(TEST_LAB.client.ip);
    }
    expect(new Set(frames.map((f) => f.srcMac))).toEqual(new Set(rsMacs()));
  });

  it("(c) each realserver's access log shows the client's address, not the director's", async () => {
    const before = await Promise.all([rs1, rs2].map((r) => accessLogClients(s, r.name)));
    await fetchSequence(s, 4);
    const after = await Promise.all([rs1, rs2].map((r) => accessLogClients(s, r.name)));
    [0, 1].forEach((i) => {
      const fresh = after[i].slice(before[i].length);
      expect(fresh).toHaveLength(2);
      expect(fresh.every((ip) => ip === TEST_LAB.client.ip)).toBe(true);
      expect(after[i]).not.toContain(TEST_LAB.director.ip);
    });
  });

  it('(d) ARP for the VIP is answered by the director alone, and the client sends there', async () => {
    const replies = await arpResponders(s, 3);
    expect(replies.length).toBeGreaterThanOrEqual(3);
    expect(new Set(replies)).toEqual(new Set([macs.get('director')]));
    await flushClientNeighbors(s);
    await fetchSequence(s, 1);
    expect(await clientNeighborMac(s)).toBe(macs.get('director'));
  });
});

describe('provisioning', () => {
  it('re-applying to the provisioned lab changes nothing: one service, one alias, one httpd per realserver', async () => {
    const report = await applyPlan(planLab(s.lab, { httpd: s.httpd }), s.transport);
    expect(report.changed).toBe(0);
    expect(report.inPlace).toBeGreaterThan(20);

    const services = (await s.transport.run('director', 'ipvsadm -Ln')).stdout.split('\n').filter((l) => /^TCP/.test(l));
    expect(services).toEqual([`TCP  ${TEST_LAB.vip}:80 rr`]);
    expect((await ipvsTable(s)).dests.map((d) => d.rip)).toEqual([rs1.ip, rs2.ip]);
    const vipsOn = async (host: string, dev: string) =>
      (await s.transport.run(host, `ip -4 -o addr show dev ${dev}`)).stdout.split('\n').filter((l) => l.includes(` ${TEST_LAB.vip}/`));
    expect(await vipsOn('director', 'eth0')).toHaveLength(1);
    for (const r of [rs1, rs2]) {
      expect(await vipsOn(r.name, 'lo')).toHaveLength(1);
      // httpd masters are the apache2 processes of this config whose parent is not one of them
      const ps = (await s.machine.exec(`ps -eo pid=,ppid=,args= | grep '[a]pache2 -f /run/lvs-lab/${TEST_LAB.name}/${r.name}/'`)).stdout;
      const procs = ps.trim().split('\n').map((l) => l.trim().split(/\s+/));
      const pids = new Set(procs.map((p) => p[0]));
      expect(procs.filter((p) => !pids.has(p[1])), r.name).toHaveLength(1);
    }
  });

  it('a failing step stops with the host, the command, its exit code and stderr', async () => {
    const bad = `ipvsadm -d -t ${TEST_LAB.vip}:80 -r 192.168.170.250`; // no such realserver
    const director = { name: 'director', ip: TEST_LAB.director.ip, role: 'director' as const };
    const err = await applyPlan({ lab: s.lab, hosts: [{ host: director, steps: [{ command: bad }, { command: 'touch /tmp/never' }] }] }, s.transport).catch((e) => e);
    expect(err).toBeInstanceOf(StepFailed);
    expect(err).toMatchObject({ host: 'director', command: bad });
    expect(err.code).not.toBe(0);
    expect(err.stderr).toMatch(/No such destination/i);
    expect((await s.transport.run('director', 'test -e /tmp/never')).code).not.toBe(0);
  });
});
