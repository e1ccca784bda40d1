// The same lab without the realservers' arp_ignore/arp_announce, built beside the test lab on the same machine:
// what breaks is asserted, so the DR suite's ARP proof is known to be able to fail.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateLab } from '../../model/topology.js';
import { applyPlan } from '../../provision/apply.js';
import { planLab } from '../../provision/plan.js';
import { type LabSession } from '../../lab/lifecycle.js';
import { labs } from '../labs.js';
import { NetnsLab } from '../../testbed/netns.js';
import {
  arpResponders,
  clientNeighborMac,
  fetchSequence,
  flushClientNeighbors,
  ipvsLiveTotals,
  macsOf,
} from '../../verify/probes.js';
import type { LabAccess } from '../../provision/transport.js';
import { TEST_LAB, machineOf } from './lab.js';

const NEG = validateLab({ name: 'negctl' }, 'negative control');
let s: LabSession;
let neg: NetnsLab;
let access: LabAccess;
let macs: Map<string, string>;

beforeAll(async () => {
  s = await labs.connect(TEST_LAB.name);
  neg = new NetnsLab(machineOf(s), NEG);
  await neg.teardown(); // left by a killed run
  await neg.build();
  await applyPlan(planLab(NEG, { httpd: neg.httpd, arpSysctls: false }), neg.transport);
  access = { lab: NEG, transport: neg.transport, httpd: neg.httpd };
  macs = await macsOf(access);
});

afterAll(async () => {
  await neg?.teardown();
  expect(await neg.leftovers()).toEqual([]);
  await s?.close();
});

describe('negative control: realservers without the ARP sysctls', () => {
  it('the realservers answer ARP for the VIP too', async () => {
    const responders = new Set(await arpResponders(access, 3));
    expect(responders.size).toBeGreaterThan(1);
    expect(responders).toContain(macs.get('director'));
    expect(NEG.realservers.some((r) => responders.has(macs.get(r.name)!))).toBe(true);
  });

  it('the client caches a realserver for the VIP, so its requests bypass the director entirely', async () => {
    await flushClientNeighbors(access);
    const before = await ipvsLiveTotals(access);
    const bodies = await fetchSequence(access, 6);
    const cached = await clientNeighborMac(access);
    const bypassedTo = NEG.realservers.find((r) => macs.get(r.name) === cached);
    expect(bypassedTo, `client cached ${cached} for the VIP`).toBeDefined();
    // no round robin: every answer comes from the one realserver that won the ARP race
    expect(bodies).toEqual(Array(6).fill(`from ${bypassedTo!.ip}`));
    // and IPVS never saw the traffic: its live per-CPU counters (no estimator tick to wait for) did not move
    const after = await ipvsLiveTotals(access);
    expect(after.conns).toBe(before.conns);
    expect(after.inPkts).toBe(before.inPkts);
  });
});
