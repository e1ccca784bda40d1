// A lab's lifecycle, the same on every testbed: choose the testbed, create the lab's machines, check them, build
// the network, apply the plan; find a running lab again from its state; remove it. One cleanup path: whatever fails
// after something was recorded is removed by `labDown`, the same code `npm run lab -- down` runs.
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { UserError } from '../model/errors.js';
import { validateLab, type Lab } from '../model/topology.js';
import { applyPlan, type ApplyReport, type StepOutcome } from '../provision/apply.js';
import { planLab, type PlanOptions } from '../provision/plan.js';
import { LocalShell } from '../provision/shell.js';
import { netnsTestbed } from '../testbed/netns.js';
import { withLabLock } from './lock.js';
import { labStateDir } from '../base/paths.js';
import { kernelHasIpvs } from '../testbed/preflight.js';
import { CorruptStateError, readState, writeState, type LabState, type TestbedKind } from './state.js';
import { seconds, type Log, type Testbed, type TestbedSession } from '../testbed/testbed.js';
import { vagrantTestbed } from '../testbed/vagrant/testbed.js';
import { vmTestbed } from '../testbed/vm.js';

export type TestbedChoice = 'auto' | TestbedKind;
export type { Log };

export const TESTBEDS: Record<TestbedKind, Testbed> = { netns: netnsTestbed, vm: vmTestbed, vagrant: vagrantTestbed };

/** Everything needed to provision and verify a running lab. */
export interface LabSession extends TestbedSession {
  lab: Lab;
  testbed: TestbedKind;
}

export async function chooseTestbed(choice: TestbedChoice): Promise<{ testbed: Testbed; reason: string }> {
  if (choice !== 'auto') return { testbed: TESTBEDS[choice], reason: 'chosen with --testbed' };
  return (await kernelHasIpvs(new LocalShell()))
    ? { testbed: netnsTestbed, reason: "this host's kernel has IPVS" }
    : {
        testbed: vmTestbed,
        reason: "this host's kernel has no IPVS, so the lab runs inside a VM with Debian's kernel",
      };
}

/**
 * What differs between a running lab and its new model beyond what the plan changes in place (scheduler,
 * persistence, weights): hosts, addresses, forwarding or the service's address need a new lab.
 */
export function topologyChanges(running: Lab, next: Lab): string[] {
  const shape = (l: Lab) => ({
    subnet: l.subnet,
    vip: l.vip,
    forwarding: l.forwarding,
    'service port': `${l.service.protocol}/${l.service.port}`,
    director: l.director,
    client: l.client,
    outside: l.outside ?? null,
    // Who holds the IPVS table (ipvsadm commands, or keepalived) is not switched under a running lab.
    'health checks': l.healthCheck ? 'keepalived' : 'none',
    realservers: l.realservers.map((r) => `${r.name}=${r.ip}`),
  });
  const [a, b] = [shape(running), shape(next)];
  return (Object.keys(a) as Array<keyof typeof a>).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

export interface UpOptions {
  testbed?: TestbedChoice;
  log?: Log;
  onStep?: (outcome: StepOutcome) => void;
  plan?: Omit<PlanOptions, 'httpd'>;
}

/** Opens the running lab `existing` for a re-apply of `lab`, refusing what cannot change in place. */
async function reopen(existing: LabState, lab: Lab, options: UpOptions, log: Log): Promise<TestbedSession> {
  if (options.testbed && options.testbed !== 'auto' && options.testbed !== existing.testbed)
    throw new UserError(
      `lab ${lab.name} is already up on the ${existing.testbed} testbed; \`down\` it first to move it`,
    );
  const moved = topologyChanges(existing.lab, lab);
  if (moved.length > 0)
    throw new UserError(
      `lab ${lab.name} is up with another topology (${moved.join(', ')} changed); in place, only the scheduler, ` +
        `persistence, weights and health-check timings change: \`npm run lab -- down --name ${lab.name}\`, then \`up\` again`,
    );
  log(`lab ${lab.name} is already up (${existing.testbed}); re-applying the plan`);
  return TESTBEDS[existing.testbed].open(existing);
}

/**
 * Builds and provisions a lab, or re-applies the plan to a lab that is already up (changing nothing when it is
 * as planned). On any failure after something was created, everything created is removed again.
 */
export async function labUp(lab: Lab, options: UpOptions = {}): Promise<{ session: LabSession; report: ApplyReport }> {
  return withLabLock(lab.name, 'up', () => labUpLocked(lab, options));
}

async function labUpLocked(lab: Lab, options: UpOptions): Promise<{ session: LabSession; report: ApplyReport }> {
  const log = options.log ?? (() => {});
  let existing = await readState(lab.name);
  if (existing?.starting) {
    // Its run holds the lock while it lives, so the run that began this lab is gone: remove what it left, start anew.
    log(`lab ${lab.name}: a start that did not finish (its run was killed) left it; removing what it left`);
    await labDownLocked(lab.name, { log });
    existing = undefined;
  }
  const dir = labStateDir(lab.name);
  let session: TestbedSession | undefined;
  // The state as recorded, once the testbed created something (or preflight passed): from then on a failure removes it.
  let recorded: LabState | undefined = existing;
  let kind: TestbedKind;
  try {
    if (existing) {
      kind = existing.testbed;
      session = await reopen(existing, lab, options, log);
      await session.preflight({ rebuilding: true });
      recorded = { ...existing, lab };
      await writeState(recorded);
    } else {
      const { testbed, reason } = await chooseTestbed(options.testbed ?? 'auto');
      kind = testbed.kind;
      log(`testbed: ${kind} (${reason})`);
      await testbed.checkHost(lab);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const base: LabState = { version: 1, lab, testbed: kind, createdAt: new Date().toISOString(), starting: true };
      const save = async (patch: Partial<LabState>) => {
        recorded = { ...(recorded ?? base), ...patch };
        await writeState(recorded);
      };
      session = await testbed.create(lab, { log, dir, save });
      const tp = Date.now();
      await session.preflight({ rebuilding: false });
      // A lab from here on: the next `up` takes it over. Recorded before it is said, so a run killed once the line
      // is out always leaves a lab to take over (the kill -9 tests stop a run on this line).
      await save({ starting: undefined });
      log(`preflight: the hosts can run the lab (${seconds(tp)} s)`);
    }
    const t0 = Date.now();
    log(`network: ${await session.buildNetwork()} (${seconds(t0)} s)`);
    const t1 = Date.now();
    const report = await applyPlan(planLab(lab, { ...options.plan, httpd: session.httpd }), session.transport, {
      onStep: options.onStep,
    });
    log(`provisioned: ${report.changed} steps changed, ${report.inPlace} already in place (${seconds(t1)} s)`);
    await session.settle?.();
    if (existing)
      for (const o of report.outcomes.filter((o) => o.result === 'ran')) log(`changed on ${o.host}: ${o.command}`);
    return { session: { ...session, lab, testbed: kind }, report };
  } catch (err) {
    await session?.close();
    if (!existing) {
      if (recorded) {
        log('failed; removing what was created');
        await labDown(lab.name, { log });
      } else await rm(dir, { recursive: true, force: true }); // files of a create that recorded nothing
    }
    throw err;
  }
}

/** Opens a session on a lab that is up (built by this or another process). */
export async function connectLab(name: string): Promise<LabSession> {
  const state = await readState(name);
  if (!state) throw new UserError(`no lab named "${name}" is up (\`npm run lab -- up\` builds one)`);
  if (state.starting)
    throw new UserError(
      `lab ${name} has not finished starting: its \`up\` is still running, or was killed (then \`up\` builds it ` +
        'anew, `down` removes what it left)',
    );
  return { ...(await TESTBEDS[state.testbed].open(state)), lab: state.lab, testbed: state.testbed };
}

/**
 * Removes everything the lab created and only that, through its testbed, then its state. A lab with no state but a
 * model (`fallback`) is still swept by name from every testbed that can find one without state.
 */
export async function labDown(name: string, options: { log?: Log; fallback?: Lab } = {}): Promise<boolean> {
  return withLabLock(name, 'down', () => labDownLocked(name, options));
}

async function labDownLocked(
  name: string,
  { log = () => {}, fallback }: { log?: Log; fallback?: Lab },
): Promise<boolean> {
  let state: LabState | undefined;
  try {
    state = await readState(name);
  } catch (err) {
    // What such a state names is not trusted: the lab is swept by its name instead, as one that left no state.
    if (!(err instanceof CorruptStateError)) throw err;
    log(`${err.file}: ${err.reason}; removing what lab ${name} left by its name`);
    fallback ??= validateLab({ name }, 'lab');
  }
  if (!state) {
    if (!fallback) return false;
    let found = false;
    for (const testbed of Object.values(TESTBEDS)) {
      const left = (await testbed.sweep?.(fallback, log)) ?? [];
      if (left.length > 0) log(`removed leftovers of lab ${name} (${testbed.kind}): ${left.join(', ')}`);
      found ||= left.length > 0;
    }
    if (existsSync(labStateDir(name))) await rm(labStateDir(name), { recursive: true, force: true });
    return found;
  }
  await TESTBEDS[state.testbed].destroy(state, log);
  const left = await TESTBEDS[state.testbed].leftovers(state);
  if (left.length > 0)
    throw new Error(`lab ${name}: teardown left ${left.join(', ')}; its state stays so \`down\` can try again`);
  await rm(labStateDir(name), { recursive: true, force: true });
  return true;
}
