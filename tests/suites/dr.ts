// The LVS-DR suite, run against every kind of lab: netns (on this host or in the VM) and Docker containers. The
// lab's facts are observed where each can be seen: responses and frames at the client, IPVS tables and counters at
// the director, access logs and processes at the realservers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../model/topology.js';
import { applyPlan, StepFailed } from '../../provision/apply.js';
import { planLab } from '../../provision/plan.js';
import {
  accessLogClients,
  arpResponders,
  captureReplies,
  clientNeighborMac,
  fetchSequence,
  flushClientNeighbors,
  httpdMasters,
  ipvsStats,
  ipvsStatsAfter,
  ipvsTable,
  macsOf,
} from '../../verify/probes.js';
import type { LabAccess } from '../../provision/transport.js';
import { rejection } from '../rejection.js';
import { explainRequest } from '../../inside/explain.js';
import { MISTAKES } from '../../drive/mistakes.js';
import { whatif } from '../../drive/whatif.js';

export type SuiteAccess = LabAccess & { close(): Promise<void> };

/** Declares the suite for the lab `lab`, reached through `connect`. */
export function drSuite(lab: Lab, connect: () => Promise<SuiteAccess>): void {
  let s: SuiteAccess;
  let macs: Map<string, string>;
  const [rs1, rs2] = lab.realservers;
  const rsMacs = () => lab.realservers.map((r) => macs.get(r.name)!);

  beforeAll(async () => {
    s = await connect();
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
        expect(f.srcIp).toBe(lab.vip);
        expect(rsMacs()).toContain(f.srcMac);
        expect(f.srcMac).not.toBe(macs.get(lab.director.name));
        expect(f.dstMac).toBe(macs.get(lab.client.name));
        expect(f.dstIp).toBe(lab.client.ip);
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
        expect(fresh.every((ip) => ip === lab.client.ip)).toBe(true);
        expect(after[i]).not.toContain(lab.director.ip);
      });
    });

    it('(d) ARP for the VIP is answered by the director alone, and the client sends there', async () => {
      const replies = await arpResponders(s, 3);
      expect(replies.length).toBeGreaterThanOrEqual(3);
      expect(new Set(replies)).toEqual(new Set([macs.get(lab.director.name)]));
      await flushClientNeighbors(s);
      await fetchSequence(s, 1);
      expect(await clientNeighborMac(s)).toBe(macs.get(lab.director.name));
    });
  });

  describe('one request walked through (explain)', () => {
    it("every step as DR does it: the SYN re-addressed to a realserver's MAC, unchanged, the reply from the VIP", async () => {
      const w = await explainRequest(s);
      expect(w.steps.filter((st) => !st.expected).map((st) => st.title)).toEqual([]);
      const rs = lab.realservers.find((r) => r.name === w.realserver)!;
      const syn = w.frames.find((f) => f.host === rs.name && f.tcp?.flags === 'S' && f.tcp.sport === w.client.port)!;
      expect(syn.tcp).toMatchObject({ src: lab.client.ip, dst: lab.vip });
      expect([syn.srcMac, syn.dstMac]).toEqual([macs.get(lab.director.name), macs.get(rs.name)]);
      expect(w.body).toBe(`from ${rs.ip}`);
    });
  });

  describe('the classic mistakes, made and undone (whatif)', () => {
    it("arp: the realservers answer for the VIP, the client keeps one's MAC and bypasses the director", async () => {
      const w = await whatif(s, MISTAKES.arp, rs1);
      expect(w.seen!.facts.answeredBy).toEqual(expect.arrayContaining([lab.director.name, rs1.name, rs2.name]));
      expect([rs1.name, rs2.name]).toContain(w.seen!.facts.kept);
      expect(w.seen!.facts).toMatchObject({ answered: 4, directorPackets: 0 });
      expect(w.restored).toEqual({ [rs1.name]: 4, [rs2.name]: 4 });
      expect(w.verify.failed).toEqual([]);
      expect(new Set(await arpResponders(s, 1))).toEqual(new Set([macs.get(lab.director.name)]));
    });

    it('no-vip-on-lo: the director forwards to rs1, which drops (IpInAddrErrors); the client retransmits', async () => {
      const w = await whatif(s, MISTAKES['no-vip-on-lo'], rs1);
      const f = w.seen!.facts;
      expect(f.unanswered).toBeGreaterThan(0);
      expect(f.answered).toBeGreaterThan(0); // rs2 still answers its share
      expect(f.syns).toBeGreaterThan(0);
      expect(f.synAcks).toBe(0);
      expect(f.IpInAddrErrors).toBeGreaterThanOrEqual(f.syns as number);
      expect(f.retransmitted).toBeGreaterThan(0);
      expect(f.synRecv).toBe(f.unanswered);
      expect(w.restored).toEqual({ [rs1.name]: 1 });
      expect(w.verify.failed).toEqual([]);
    });
  });

  describe('provisioning', () => {
    it('re-applying to the provisioned lab changes nothing: one service, one alias, one httpd per realserver', async () => {
      const report = await applyPlan(planLab(s.lab, { httpd: s.httpd }), s.transport);
      expect(report.changed).toBe(0);
      expect(report.inPlace).toBeGreaterThan(20);

      const services = (await s.transport.run(lab.director.name, 'ipvsadm -Ln')).stdout
        .split('\n')
        .filter((l) => /^TCP/.test(l));
      expect(services).toEqual([`TCP  ${lab.vip}:80 ${lab.service.scheduler}`]);
      expect((await ipvsTable(s)).dests.map((d) => d.rip)).toEqual([rs1.ip, rs2.ip]);
      const vipsOn = async (host: string, dev: string) =>
        (await s.transport.run(host, `ip -4 -o addr show dev ${dev}`)).stdout
          .split('\n')
          .filter((l) => l.includes(` ${lab.vip}/`));
      expect(await vipsOn(lab.director.name, 'eth0')).toHaveLength(1);
      for (const r of [rs1, rs2]) {
        expect(await vipsOn(r.name, 'lo')).toHaveLength(1);
        expect(await httpdMasters(s, r.name), r.name).toHaveLength(1);
      }
    });

    it('a failing step stops with the host, the command, its exit code and stderr', async () => {
      const bad = `ipvsadm -d -t ${lab.vip}:80 -r ${lab.client.ip}`; // no such realserver
      const director = { ...lab.director, role: 'director' as const };
      const err = await rejection(
        applyPlan(
          { lab: s.lab, hosts: [{ host: director, steps: [{ command: bad }, { command: 'touch /tmp/never' }] }] },
          s.transport,
        ),
        StepFailed,
      );
      expect(err).toBeInstanceOf(StepFailed);
      expect(err).toMatchObject({ host: lab.director.name, command: bad });
      expect(err.code).not.toBe(0);
      expect(err.stderr).toMatch(/No such destination/i);
      expect((await s.transport.run(lab.director.name, 'test -e /tmp/never')).code).not.toBe(0);
    });
  });
}
