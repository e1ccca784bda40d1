// A lab's lifecycle, the same on every testbed: choose the testbed, create the lab's machines, check them, build
// the network, apply the plan; find a running lab again from its state; remove it. One cleanup path: whatever fails
// after something was recorded is removed by `labDown`, the same code `npm run lab -- down` runs.
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { UserError } from '../model/errors.js';
import { validateLab, type Lab } from '../model/topology.js';
import { applyPlan, type ApplyReport, type StepOutcome } from '../provision/apply.js';
import { planLab, type PlanOptions } from '../provision/plan.js';
import { withLabLock } from './lock.js';
import { labStateDir } from '../base/paths.js';
import { seconds, type Log } from '../base/log.js';
import type { Testbed, Testbeds, TestbedSession } from '../testbed/testbed.js';
import { CorruptStateError, readState, scanStates, writeState, type LabState } from './state.js';

/** 'auto', or a testbed's kind. */
export type TestbedChoice = string;
export type { Log };

/** Everything needed to provision and verify a running lab. */
export interface LabSession extends TestbedSession {
  lab: Lab;
  testbed: string;
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
  /** Runs on a running lab's session before its plan is re-applied (under the lab's lock); throwing stops the re-apply. */
  beforeReapply?: (session: LabSession) => Promise<void>;
}

export interface DownOptions {
  log?: Log;
  /** A lab with no state (or a corrupt one) is swept by this model's names from every testbed. */
  fallback?: Lab;
}

/** The labs of this machine, on the testbeds the lifecycle was handed. */
export interface Labs {
  readonly testbeds: Testbeds;
  /** The testbed `choice` names, or for `auto` the first of the registry that suits this host, with why. */
  choose(choice: TestbedChoice): Promise<{ testbed: Testbed; reason: string }>;
  /**
   * Builds and provisions a lab, or re-applies the plan to a lab that is already up (changing nothing when it is as
   * planned). On any failure after something was created, everything created is removed again.
   */
  up(lab: Lab, options?: UpOptions): Promise<{ session: LabSession; report: ApplyReport }>;
  /** Opens a session on a lab that is up (built by this or another process). */
  connect(name: string): Promise<LabSession>;
  /**
   * Removes everything the lab created and only that, through its testbed, then its state; false when there was no
   * such lab. A lab with no state but a `fallback` model is still swept by name from every testbed.
   */
  down(name: string, options?: DownOptions): Promise<boolean>;
  /** A lab's state, undefined when there is none; a corrupt one is a CorruptStateError. */
  state(name: string): Promise<LabState | undefined>;
  /** Every lab's state, and the lab directories whose state cannot be read. */
  list(): ReturnType<typeof scanStates>;
}

/** The lab lifecycle on the testbeds it is handed (`lifecycle(TESTBEDS)`; tests hand it a fake). */
export function lifecycle(testbeds: Testbeds): Labs {
  const labs: Labs = {
    testbeds,
    choose: (choice) => chooseTestbed(testbeds, choice),
    up: (lab, options = {}) => withLabLock(lab.name, 'up', () => upLocked(labs, lab, options)),
    connect: async (name) => {
      const state = await readState(name, testbeds);
      if (!state) throw new UserError(`no lab named "${name}" is up (\`npm run lab -- up\` builds one)`);
      if (state.starting)
        throw new UserError(
          `lab ${name} has not finished starting: its \`up\` is still running, or was killed (then \`up\` builds it ` +
            'anew, `down` removes what it left)',
        );
      const session = await testbeds[state.testbed].open(state.lab, state.testbedState);
      return { ...session, lab: state.lab, testbed: state.testbed };
    },
    down: (name, options = {}) => withLabLock(name, 'down', () => downLocked(labs, name, options)),
    state: (name) => readState(name, testbeds),
    list: () => scanStates(testbeds),
  };
  return labs;
}

async function chooseTestbed(testbeds: Testbeds, choice: TestbedChoice) {
  if (choice !== 'auto') {
    if (!Object.hasOwn(testbeds, choice))
      throw new UserError(`--testbed: no testbed "${choice}" (${['auto', ...Object.keys(testbeds)].join(', ')})`);
    return { testbed: testbeds[choice], reason: 'chosen with --testbed' };
  }
  for (const testbed of Object.values(testbeds)) {
    const reason = await testbed.suits?.();
    if (reason) return { testbed, reason };
  }
  throw new UserError(`--testbed auto: none of ${Object.keys(testbeds).join(', ')} suits this host`);
}

/** Opens the running lab `existing` for a re-apply of `lab`, refusing what cannot change in place. */
async function reopen(labs: Labs, existing: LabState, lab: Lab, options: UpOptions): Promise<TestbedSession> {
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
  options.log?.(`lab ${lab.name} is already up (${existing.testbed}); re-applying the plan`);
  const session = await labs.testbeds[existing.testbed].open(lab, existing.testbedState);
  try {
    await session.preflight({ rebuilding: true });
    if (existing.building)
      options.log?.(`lab ${lab.name}: its first build did not finish (its run was killed); completing it`);
    else await options.beforeReapply?.({ ...session, lab: existing.lab, testbed: existing.testbed });
    await writeState({ ...existing, lab });
  } catch (err) {
    await session.close();
    throw err;
  }
  return session;
}

/**
 * Creates a new lab's machines through the chosen testbed and checks them. `recorded` is called with each state
 * written, so the caller knows from when a failure has something to remove.
 */
async function create(labs: Labs, lab: Lab, options: UpOptions, recorded: (s: LabState) => void) {
  const log = options.log ?? (() => {});
  const { testbed, reason } = await labs.choose(options.testbed ?? 'auto');
  log(`testbed: ${testbed.kind} (${reason})`);
  await testbed.checkHost(lab);
  const dir = labStateDir(lab.name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let state: LabState = { version: 2, lab, testbed: testbed.kind, createdAt: new Date().toISOString(), starting: true };
  const save = async (patch: Partial<LabState>) => {
    state = { ...state, ...patch };
    await writeState(state);
    recorded(state);
  };
  const session = await testbed.create(lab, { log, dir, save: (own) => save({ testbedState: own }) });
  try {
    const tp = Date.now();
    await session.preflight({ rebuilding: false });
    // A lab from here on: the next `up` takes it over. Recorded before it is said, so a run killed once the line is
    // out always leaves a lab to take over (the kill -9 tests stop a run on this line).
    await save({ starting: undefined, building: true });
    log(`preflight: the hosts can run the lab (${seconds(tp)} s)`);
  } catch (err) {
    await session.close();
    throw err;
  }
  return { session, kind: testbed.kind, state };
}

/** The network built and the plan applied on an open session; the session is the caller's to close on failure. */
async function provision(lab: Lab, session: TestbedSession, options: UpOptions, reapplied: boolean) {
  const log = options.log ?? (() => {});
  const t0 = Date.now();
  log(`network: ${await session.buildNetwork()} (${seconds(t0)} s)`);
  const t1 = Date.now();
  const report = await applyPlan(planLab(lab, { ...options.plan, httpd: session.httpd }), session.transport, {
    onStep: options.onStep,
  });
  log(`provisioned: ${report.changed} steps changed, ${report.inPlace} already in place (${seconds(t1)} s)`);
  await session.settle?.();
  if (reapplied)
    for (const o of report.outcomes.filter((o) => o.result === 'ran')) log(`changed on ${o.host}: ${o.command}`);
  return report;
}

async function upLocked(labs: Labs, lab: Lab, options: UpOptions) {
  const log = options.log ?? (() => {});
  let existing = await labs.state(lab.name);
  if (existing?.starting) {
    // Its run holds the lock while it lives, so the run that began this lab is gone: remove what it left, start anew.
    log(`lab ${lab.name}: a start that did not finish (its run was killed) left it; removing what it left`);
    await downLocked(labs, lab.name, { log });
    existing = undefined;
  }
  if (existing) {
    const session = await reopen(labs, existing, lab, options);
    try {
      const report = await provision(lab, session, options, true);
      if (existing.building) await writeState({ ...existing, lab, building: undefined });
      return { session: { ...session, lab, testbed: existing.testbed }, report };
    } catch (err) {
      await session.close(); // a failed re-apply leaves the running lab alone
      throw err;
    }
  }
  let recorded = false;
  let session: TestbedSession | undefined;
  try {
    const created = await create(labs, lab, options, () => void (recorded = true));
    session = created.session;
    const report = await provision(lab, session, options, false);
    await writeState({ ...created.state, building: undefined });
    return { session: { ...session, lab, testbed: created.kind }, report };
  } catch (err) {
    await session?.close();
    if (recorded) {
      log('failed; removing what was created');
      await labs.down(lab.name, { log });
    } else await rm(labStateDir(lab.name), { recursive: true, force: true }); // files of a create that recorded nothing
    throw err;
  }
}

/** What a lab with no readable state left, swept by `fallback`'s names from every testbed; whether there was any. */
async function sweepByName(labs: Labs, fallback: Lab, log: Log): Promise<boolean> {
  let found = false;
  for (const testbed of Object.values(labs.testbeds)) {
    const left = (await testbed.sweep?.(fallback, log)) ?? [];
    if (left.length > 0) log(`removed leftovers of lab ${fallback.name} (${testbed.kind}): ${left.join(', ')}`);
    found ||= left.length > 0;
  }
  if (existsSync(labStateDir(fallback.name))) await rm(labStateDir(fallback.name), { recursive: true, force: true });
  return found;
}

async function downLocked(labs: Labs, name: string, { log = () => {}, fallback }: DownOptions): Promise<boolean> {
  let state: LabState | undefined;
  try {
    state = await labs.state(name);
  } catch (err) {
    // What such a state names is not trusted: the lab is swept by its name instead, as one that left no state.
    if (!(err instanceof CorruptStateError)) throw err;
    log(`${err.file}: ${err.reason}; removing what lab ${name} left by its name`);
    fallback ??= validateLab({ name }, 'lab');
  }
  if (!state) return fallback ? sweepByName(labs, fallback, log) : false;
  const testbed = labs.testbeds[state.testbed];
  await testbed.destroy(state.lab, state.testbedState, log);
  const left = await testbed.leftovers(state.lab, state.testbedState);
  if (left.length > 0)
    throw new Error(`lab ${name}: teardown left ${left.join(', ')}; its state stays so \`down\` can try again`);
  await rm(labStateDir(name), { recursive: true, force: true });
  return true;
}
