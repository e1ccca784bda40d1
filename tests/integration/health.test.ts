// A realserver whose httpd stops: plain LVS keeps sending it connections, which fail; with keepalived's checker the
// realserver leaves the IPVS table within the checker's window, no request fails after that, and it rejoins once
// httpd answers again. Each case runs on its own small lab beside the test lab.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withPreset } from '../../model/presets.js';
import type { Lab, Realserver } from '../../model/topology.js';
import { applyPlan } from '../../provision/apply.js';
import { httpdFiles } from '../../provision/httpd.js';
import { removalWindowSeconds } from '../../provision/keepalived.js';
import { planLab } from '../../provision/plan.js';
import { shq } from '../../provision/shell.js';
import { type LabSession } from '../../lab/lifecycle.js';
import { labs } from '../labs.js';
import { fetchSequence, ipvsTable, keepalivedPids } from '../../verify/probes.js';
import type { LabAccess } from '../../provision/transport.js';
import { verifyLab } from '../../verify/report.js';
import { applyFault } from '../../drive/fault.js';
import { checkLoadOptions, runLoad } from '../../drive/load.js';
import { TEST_LAB, machineOf } from './lab.js';
import { sideLab as sideLabOn } from './side-lab.js';
import { expectExercisePasses } from '../exercise.js';
import { untilText } from '../browser.js';
import { withViewPage } from '../view-page.js';

let s: LabSession;
beforeAll(async () => {
  s = await labs.connect(TEST_LAB.name);
});
afterAll(async () => s?.close());

const sideLab = (lab: Lab) => sideLabOn(() => machineOf(s), lab);
const from = (r: Realserver) => `from ${r.ip}`;
const failed = (bodies: string[]) => bodies.filter((b) => b.startsWith('curl-failed'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Stops the realserver's httpd (its master and workers) and returns once its pid is gone. */
async function stopHttpd(access: LabAccess, rs: Realserver): Promise<void> {
  const pidFile = shq(httpdFiles(access.httpd, rs.name).pidFile);
  const res = await access.transport.run(
    rs.name,
    `p=$(cat ${pidFile}) && kill "$p" && while kill -0 "$p" 2>/dev/null; do sleep 0.1; done`,
  );
  expect(res.code, res.stderr).toBe(0);
}

/** Applies `lab`'s plan to the side lab; returns "host: program" for each step that ran. */
async function apply(access: LabAccess, lab = access.lab): Promise<string[]> {
  const report = await applyPlan(planLab(lab, { httpd: access.httpd }), access.transport);
  return report.outcomes.filter((o) => o.result === 'ran').map((o) => `${o.host}: ${o.command.split(' ')[0]}`);
}

/** Re-applies the lab's plan: only the stopped httpd's start step has something to do. */
const reapply = (access: LabAccess) => apply(access);

const inTable = async (access: LabAccess, rs: Realserver) =>
  (await ipvsTable(access)).dests.some((d) => d.rip === rs.ip);

/** Seconds until `cond` holds, polled every 100 ms; undefined when it does not within `limit` seconds. */
async function secondsUntil(cond: () => Promise<boolean>, limit: number): Promise<number | undefined> {
  const t0 = Date.now();
  while (Date.now() - t0 < limit * 1000) {
    if (await cond()) return (Date.now() - t0) / 1000;
    await sleep(100);
  }
  return undefined;
}

// What a checker would need to notice the failure, in the dr-health preset: the same window the plain lab is given.
const checked = withPreset('dr-health', { name: 'hcon' }, 'test');
const window = removalWindowSeconds(checked.healthCheck!);
// Margin for a software-emulated VM, where a check's connect and keepalived's wakeups run late.
const SLACK_SECONDS = 3;

describe('plain LVS (no health checks): a realserver whose httpd stopped', () => {
  const access = sideLab(withPreset('dr-rr', { name: 'hcoff' }, 'test'));

  it('stays in the table, and the connections sent to it fail', async () => {
    const a = access();
    const [rs1, rs2] = a.lab.realservers;
    await stopHttpd(a, rs1);
    await sleep((window + 1) * 1000); // longer than keepalived would need to take it out
    expect((await ipvsTable(a)).dests.map((d) => d.rip)).toEqual([rs1.ip, rs2.ip]);
    const bodies = await fetchSequence(a, 6);
    expect(failed(bodies)).toHaveLength(3); // round robin: every other connection goes to the dead rs1
    expect(bodies.filter((b) => b === from(rs2))).toHaveLength(3);
    expect(await reapply(a)).toEqual(['rs1: apache2']);
  });
});

describe('keepalived health checks (dr-health): a realserver whose httpd stopped', () => {
  const access = sideLab(checked);

  it('the lab verifier passes with keepalived holding the table', async () => {
    const a = access();
    const pids = await keepalivedPids(a);
    expect(pids.main).toBeGreaterThan(1);
    expect(pids.checker).toBeGreaterThan(1);
    const checks = await verifyLab(a);
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.map((c) => c.name)).toContain('keepalived health-checks every realserver');
  });

  it('leaves the table within the check window, after which no request fails, and rejoins when httpd is back', async () => {
    const a = access();
    const [rs1, rs2] = a.lab.realservers;
    expect(await inTable(a, rs1)).toBe(true);

    await stopHttpd(a, rs1);
    const out = await secondsUntil(async () => !(await inTable(a, rs1)), window + SLACK_SECONDS);
    expect(out, `rs1 still in the table ${window + SLACK_SECONDS} s after its httpd stopped`).toBeDefined();
    expect((await ipvsTable(a)).dests.map((d) => d.rip)).toEqual([rs2.ip]);
    const bodies = await fetchSequence(a, 10);
    expect(failed(bodies)).toEqual([]);
    expect(bodies.every((b) => b === from(rs2))).toBe(true);

    // keepalived's config is unchanged, so no reload; the director only waits for rs1 to pass a check again.
    expect(await reapply(a)).toEqual(['director: timeout', 'rs1: apache2']);
    const back = await secondsUntil(
      () => inTable(a, rs1),
      checked.healthCheck!.interval + checked.healthCheck!.timeout + SLACK_SECONDS,
    );
    expect(back, 'rs1 did not rejoin the table after its httpd came back').toBeDefined();
    const after = await fetchSequence(a, 4);
    expect(failed(after)).toEqual([]);
    expect(after.filter((b) => b === from(rs1))).toHaveLength(2);
    expect(after.filter((b) => b === from(rs2))).toHaveLength(2);
  });

  it('`fault rs1 httpd stop` under the checker: rs1 leaves within the window (the live view shows it), `load` then has no error and none on rs1; `httpd start` brings it back', async () => {
    const a = access();
    const [rs1] = a.lab.realservers;
    const load = () => runLoad(a, checkLoadOptions({ requests: 20, concurrency: 2, clients: 1, path: '/' }));
    const state = `tr[data-rs="${rs1.name}"] .state`;
    await withViewPage(a, async (page) => {
      expect(await untilText(page, state, (t) => t !== '')).toBe('in the table');
      await applyFault(a, rs1.name, { kind: 'httpd', up: false });
      try {
        const out = await secondsUntil(async () => !(await inTable(a, rs1)), window + SLACK_SECONDS);
        expect(out, `rs1 still in the table ${window + SLACK_SECONDS} s after its httpd stopped`).toBeDefined();
        await untilText(page, state, (t) => t === 'out of the table', 5);
        await untilText(page, '#faults', (t) => t.includes(`${rs1.name}: httpd stopped`), 5);
        const r = await load();
        expect(r.errors).toEqual({ refused: 0, reset: 0, timeout: 0, status: {}, other: 0 });
        expect(r.share.rs1 ?? 0).toBe(0);
        expect(r.requests).toBe(20);
      } finally {
        await applyFault(a, rs1.name, { kind: 'httpd', up: true });
      }
      const back = await secondsUntil(
        () => inTable(a, rs1),
        checked.healthCheck!.interval + checked.healthCheck!.timeout + SLACK_SECONDS,
      );
      expect(back, 'rs1 did not rejoin the table after `httpd start`').toBeDefined();
      await untilText(page, state, (t) => t === 'in the table', 5);
    });
    const after = await load();
    expect(after.share.rs1).toBeGreaterThan(0);
  });

  it('a scheduler and weight change reloads the same keepalived (SIGHUP), which edits the table in place', async () => {
    const a = access();
    const before = await keepalivedPids(a);
    const wrr = withPreset(
      'dr-health',
      { name: 'hcon', service: { scheduler: 'wrr' }, realservers: [{ weight: 3 }, { weight: 1 }] },
      'test',
    );
    const ran = await apply(a, wrr);
    // The config is rewritten and keepalived reloaded; the wait for the new table runs unless the reload was quicker.
    expect(ran.filter((r) => r !== 'director: timeout')).toEqual(['director: mkdir', 'director: kill']);
    expect(await keepalivedPids(a)).toEqual(before);
    const table = await ipvsTable(a);
    expect(table.scheduler).toBe('wrr');
    expect(table.dests.map((d) => `${d.rip} w${d.weight}`)).toEqual([
      `${wrr.realservers[0].ip} w3`,
      `${wrr.realservers[1].ip} w1`,
    ]);
    const bodies = await fetchSequence({ ...a, lab: wrr }, 8);
    expect(bodies.filter((b) => b === from(wrr.realservers[0]))).toHaveLength(6);
  });

  it('the health exercise (labs/health.yaml): every declared check passes', async () => {
    await expectExercisePasses(access(), 'health.yaml');
  });
});
