// `verify` can fail: each built-in check, on the fault it exists for, made on the running test lab through its hosts'
// own commands. The CLI prints that check's FAIL line and exits 1; `up` re-applies the plan and `verify` passes again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpdFiles } from '../../provision/httpd.js';
import { virtualService } from '../../provision/plan.js';
import { type LabSession } from '../../lab/lifecycle.js';
import { labs } from '../labs.js';
import { flushClientNeighbors, must } from '../../verify/probes.js';
import { cli, TEST_LAB } from './lab.js';

const lab = TEST_LAB;
const [rs1] = lab.realservers;
let s: LabSession;

beforeAll(async () => {
  s = await labs.connect(lab.name);
});
afterAll(async () => {
  await cli(['up', '--name', lab.name, '--no-verify', '--clear-faults']); // whatever a failed case left, re-applied
  await s?.close();
});

/** verify through the CLI: its exit status and the names of the checks that failed. */
async function verify(): Promise<{ code: number; failed: string[]; stdout: string }> {
  const res = await cli(['verify', '--name', lab.name]);
  const failed = [...res.stdout.matchAll(/^FAIL {2}(.+)$/gm)].map((m) => m[1]);
  return { code: res.exitCode ?? -1, failed, stdout: res.stdout };
}

const arpSysctls = (value: number) =>
  ['all', 'eth0']
    .map(
      (dev) =>
        `echo ${value} > /proc/sys/net/ipv4/conf/${dev}/arp_ignore; echo ${value} > /proc/sys/net/ipv4/conf/${dev}/arp_announce`,
    )
    .join('; ');

const FAULTS: Array<{ what: string; fails: RegExp[]; make: () => Promise<unknown> }> = [
  {
    what: 'a realserver taken out of the table (ipvsadm -d)',
    fails: [/^IPVS table on the director$/, /requests to http/],
    make: () => must(s, lab.director.name, `ipvsadm -d ${virtualService(lab)} -r ${rs1.ip}:${lab.service.port}`),
  },
  {
    what: 'the scheduler changed (ipvsadm -E -s wrr)',
    fails: [/^IPVS table on the director$/],
    make: () => must(s, lab.director.name, `ipvsadm -E ${virtualService(lab)} -s wrr`),
  },
  {
    what: "rs1's httpd stopped",
    fails: [/requests to http/],
    make: () => must(s, rs1.name, `kill $(cat ${httpdFiles(s.httpd, rs1.name).pidFile})`),
  },
  {
    what: "the VIP gone from rs1's lo",
    fails: [/requests to http/],
    make: () => must(s, rs1.name, `ip addr del ${lab.vip}/32 dev lo`),
  },
  {
    what: 'the realservers answering ARP for the VIP (arp_ignore/arp_announce 0)',
    fails: [/^only the director answers ARP for the VIP$/],
    make: async () => {
      for (const r of lab.realservers) await must(s, r.name, arpSysctls(0));
      await flushClientNeighbors(s);
    },
  },
];

describe('verify fails on the fault each check exists for, and passes once `up` re-applied the plan', () => {
  it('passes on the lab as built', async () => {
    const res = await verify();
    expect(res.failed, res.stdout).toEqual([]);
    expect(res.code).toBe(0);
  });

  it.each(FAULTS)('$what', async ({ fails, make }) => {
    await make();
    const broken = await verify();
    for (const name of fails)
      expect(
        broken.failed.some((f) => name.test(f)),
        broken.stdout,
      ).toBe(true);
    expect(broken.stdout).toMatch(/^\[ *[\d.]+s\] \d+\/\d+ checks passed$/m);
    expect(broken.code).toBe(1);

    // The client may still cache a realserver's MAC for the VIP (the ARP fault): it learns the director's anew.
    await flushClientNeighbors(s);
    const up = await cli(['up', '--name', lab.name, '--clear-faults']);
    expect(up.exitCode, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).not.toMatch(/^FAIL/m);
    expect(up.stdout).toMatch(/ (\d+)\/\1 checks passed/);
  });
});
