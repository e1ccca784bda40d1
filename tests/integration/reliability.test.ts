// Reliability: re-running up, down after up and after a failed up, and two labs side by side. Each compares what
// the machine holds before and after, as listings, so anything left behind shows up by name.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateLab } from '../../model/topology.js';
import { applyPlan } from '../../provision/apply.js';
import { planLab } from '../../provision/plan.js';
import { LocalShell } from '../../provision/shell.js';
import { type LabSession } from '../../lab/lifecycle.js';
import { labs } from '../labs.js';
import { NetnsLab } from '../../testbed/netns.js';
import { footprint } from '../../lab/footprint.js';
import { labStateDir } from '../../base/paths.js';
import { fetchSequence, httpdMasters, ipvsTable } from '../../verify/probes.js';
import { machineOf, startCli, TEST_LAB, testbedChoice } from './lab.js';
import { rejection } from '../rejection.js';

let s: LabSession;
beforeAll(async () => {
  s = await labs.connect(TEST_LAB.name);
});
afterAll(async () => s?.close());

describe('re-running up', () => {
  it('changes nothing on a running lab: one service, one alias, one httpd per realserver', async () => {
    const pids = await Promise.all(TEST_LAB.realservers.map((r) => httpdMasters(s, r.name)));
    const { session, report } = await labs.up(TEST_LAB);
    await session.close();
    expect(report.changed).toBe(0);
    expect((await s.transport.run(TEST_LAB.director.name, 'ipvsadm -Ln')).stdout.match(/^TCP /gm)).toHaveLength(1);
    expect(
      (await s.transport.run(TEST_LAB.director.name, 'ip -4 -o addr show dev eth0')).stdout.match(
        / 192\.168\.170\.100\//g,
      ),
    ).toHaveLength(1);
    expect(await Promise.all(TEST_LAB.realservers.map((r) => httpdMasters(s, r.name)))).toEqual(pids);
  });
});

describe('down', () => {
  const host = new LocalShell();
  const lab = validateLab({ name: 'reldown' }, 'test');

  it('after up, leaves this machine exactly as before: no namespace, link, mount, process, VM or state of the lab', async () => {
    const before = await footprint({ of: [lab.name] });
    const { session } = await labs.up(lab, { testbed: testbedChoice });
    await session.close();
    expect(await footprint({ of: [lab.name] })).not.toEqual(before); // the lab was really there
    expect(await labs.down(lab.name)).toBe(true);
    expect(await footprint({ of: [lab.name] })).toEqual(before);
    expect((await host.exec(`test -e ${labStateDir(lab.name)}`)).code).not.toBe(0);
  });

  it('after an up that failed midway, leaves nothing either', async () => {
    const before = await footprint({ of: [lab.name] });
    const injected = new Error('injected failure after the first realserver step');
    const err = await rejection(
      labs.up(lab, {
        testbed: testbedChoice,
        onStep: (o) => {
          if (o.host === lab.realservers[0].name) throw injected;
        },
      }),
    );
    expect(err).toBe(injected);
    expect(await footprint({ of: [lab.name] })).toEqual(before);
    expect((await host.exec(`test -e ${labStateDir(lab.name)}`)).code).not.toBe(0);
    expect(await labs.down(lab.name)).toBe(false); // nothing left to remove
  });
});

describe('Ctrl-C', () => {
  it('during `lab up`, once its network is built: the run removes the lab it started, says so, exits 130, leaves nothing', async () => {
    const host = new LocalShell();
    const before = await footprint({ of: ['drlc'] });
    // Ctrl-C reaches the CLI and whatever it runs: its whole process group.
    const up = startCli(['up', '--preset', 'dr-lc', '--testbed', testbedChoice]);
    await up.until((out) => /\] network: /.test(out));
    up.signal('SIGINT');
    expect((await up.exited).code, up.output()).toBe(130);
    expect(up.output()).toContain('SIGINT: stopping; what this run created will be removed');
    expect(up.output()).toContain('interrupted: removed lab drlc, which this run had started to build');
    expect(await footprint({ of: ['drlc'] })).toEqual(before);
    expect((await host.exec(`test -e ${labStateDir('drlc')}`)).code).not.toBe(0);
  });
});

describe('two labs side by side', () => {
  // The reference lab's layout on a subnet of its own, 192.168.<third>.0/24.
  const sideLab = (name: string, third: number) =>
    validateLab(
      {
        name,
        subnet: `192.168.${third}.0/24`,
        vip: `192.168.${third}.100`,
        director: { name: 'director', ip: `192.168.${third}.101` },
        client: { name: 'client', ip: `192.168.${third}.10` },
        realservers: 2,
      },
      'test',
    );
  const [a, b] = [sideLab('sidea', 180), sideLab('sideb', 181)];

  it('do not interfere, and each teardown removes only its own', async () => {
    const before = await footprint({ machine: machineOf(s) });
    const labs = [a, b].map((lab) => new NetnsLab(machineOf(s), lab));
    try {
      for (const l of labs) {
        await l.build();
        await applyPlan(planLab(l.lab, { httpd: l.httpd }), l.transport);
      }
      const access = labs.map((l) => ({ lab: l.lab, transport: l.transport, httpd: l.httpd }));
      for (const x of access) {
        expect(new Set(await fetchSequence(x, 4))).toEqual(new Set(x.lab.realservers.map((r) => `from ${r.ip}`)));
        expect((await ipvsTable(x)).dests.map((d) => d.rip)).toEqual(x.lab.realservers.map((r) => r.ip));
      }
      await labs[0].teardown();
      expect(await labs[0].leftovers()).toEqual([]);
      expect(await labs[1].exists()).toBe(true);
      expect(new Set(await fetchSequence(access[1], 4))).toEqual(new Set(b.realservers.map((r) => `from ${r.ip}`)));
    } finally {
      for (const l of labs) await l.teardown();
    }
    expect(await footprint({ machine: machineOf(s) })).toEqual(before);
  });
});
