// A lab's lifecycle: choose the testbed, create the machine (this host, or a VM), build the netns network on it,
// apply the plan, and find or remove it again later from its state.
import { rm } from 'node:fs/promises';
import type { Lab } from '../model/topology.js';
import { applyPlan, type ApplyReport, type StepOutcome } from '../provision/apply.js';
import { planLab, type PlanOptions } from '../provision/plan.js';
import { LocalShell, type Shell } from '../provision/shell.js';
import type { Transport } from '../provision/transport.js';
import type { HttpdLayout } from '../provision/httpd.js';
import { NetnsLab } from './netns.js';
import { labStateDir } from './paths.js';
import { kernelHasIpvs, preflightMachine, PreflightError } from './preflight.js';
import { readState, writeState, type LabState, type TestbedKind } from './state.js';
import { bootMachine, checkVmHostTools, openMachine, stopMachine, vmRunning, type Log } from './vm/machine.js';

export type TestbedChoice = 'auto' | TestbedKind;
export type { Log };

/** Everything needed to provision and verify a running lab. */
export interface LabSession {
  lab: Lab;
  testbed: TestbedKind;
  /** The machine the lab's namespaces live on: this host, or the VM. */
  machine: Shell;
  netns: NetnsLab;
  transport: Transport;
  httpd: HttpdLayout;
  close(): Promise<void>;
}

const vmName = (lab: string) => `lvs-lab-${lab}`;

export async function chooseTestbed(choice: TestbedChoice): Promise<{ kind: TestbedKind; reason: string }> {
  if (choice !== 'auto') return { kind: choice, reason: 'chosen with --testbed' };
  return (await kernelHasIpvs(new LocalShell()))
    ? { kind: 'netns', reason: "this host's kernel has IPVS" }
    : { kind: 'vm', reason: "this host's kernel has no IPVS, so the lab runs inside a VM with Debian's kernel" };
}

function session(lab: Lab, testbed: TestbedKind, machine: Shell): LabSession {
  const netns = new NetnsLab(machine, lab);
  return { lab, testbed, machine, netns, transport: netns.transport, httpd: netns.httpd, close: () => machine.close() };
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

/** Boots the lab's VM and returns a shell on it; state is written as soon as there is something to clean up. */
async function startVm(lab: Lab, log: Log): Promise<Shell> {
  const state: LabState = { version: 1, lab, testbed: 'vm', createdAt: new Date().toISOString() };
  await writeState(state);
  return bootMachine(vmName(lab.name), labStateDir(lab.name), log, (vm) => writeState({ ...state, vm }));
}

async function openLabMachine(state: LabState): Promise<Shell> {
  if (state.testbed === 'netns') return new LocalShell();
  if (!vmRunning(state.vm)) throw new Error(`lab ${state.lab.name}: its VM is not running; \`npm run lab -- down --name ${state.lab.name}\` clears it`);
  return openMachine(state.vm, labStateDir(state.lab.name));
}

export interface UpOptions {
  testbed?: TestbedChoice;
  log?: Log;
  onStep?: (outcome: StepOutcome) => void;
  plan?: Omit<PlanOptions, 'httpd'>;
}

/**
 * Builds and provisions a lab, or re-applies the plan to a lab that is already up (changing nothing when it is
 * as planned). On any failure after something was created, everything created is removed again.
 */
export async function labUp(lab: Lab, options: UpOptions = {}): Promise<{ session: LabSession; report: ApplyReport }> {
  const log = options.log ?? (() => {});
  const existing = await readState(lab.name);
  let s: LabSession;
  if (existing) {
    if (options.testbed && options.testbed !== 'auto' && options.testbed !== existing.testbed)
      throw new Error(`lab ${lab.name} is already up on the ${existing.testbed} testbed; \`down\` it first to move it`);
    const moved = topologyChanges(existing.lab, lab);
    if (moved.length > 0)
      throw new Error(
        `lab ${lab.name} is up with another topology (${moved.join(', ')} changed); in place, only the scheduler, ` +
          `persistence, weights and health-check timings change: \`npm run lab -- down --name ${lab.name}\`, then \`up\` again`,
      );
    log(`lab ${lab.name} is already up (${existing.testbed}); re-applying the plan`);
    s = session(lab, existing.testbed, await openLabMachine(existing));
    await preflightMachine(s.machine, lab, { rebuilding: true });
    await writeState({ ...existing, lab });
  } else {
    const { kind, reason } = await chooseTestbed(options.testbed ?? 'auto');
    log(`testbed: ${kind} (${reason})`);
    if (kind === 'netns') {
      const machine = new LocalShell();
      await preflightMachine(machine, lab);
      await writeState({ version: 1, lab, testbed: 'netns', createdAt: new Date().toISOString() });
      s = session(lab, 'netns', machine);
    } else {
      await checkVmHostTools();
      try {
        const machine = await startVm(lab, log);
        s = session(lab, 'vm', machine);
        await preflightMachine(machine, lab);
      } catch (err) {
        await labDown(lab.name, { log });
        throw err;
      }
    }
  }
  try {
    const t0 = Date.now();
    await s.netns.build();
    log(`network: bridge ${s.netns.names.bridge}, ${lab.realservers.length + 2} namespaces on ${s.machine.where} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    const t1 = Date.now();
    const report = await applyPlan(planLab(lab, { ...options.plan, httpd: s.httpd }), s.transport, { onStep: options.onStep });
    log(`provisioned: ${report.changed} steps changed, ${report.inPlace} already in place (${((Date.now() - t1) / 1000).toFixed(1)} s)`);
    if (existing) for (const o of report.outcomes.filter((o) => o.result === 'ran')) log(`changed on ${o.host}: ${o.command}`);
    return { session: s, report };
  } catch (err) {
    if (!existing) {
      log(`failed; removing what was created`);
      await s.close();
      await labDown(lab.name, { log });
    }
    throw err;
  }
}

/** Opens a session on a lab that is up (built by this or another process). */
export async function connectLab(name: string): Promise<LabSession> {
  const state = await readState(name);
  if (!state) throw new Error(`no lab named "${name}" is up (\`npm run lab -- up\` builds one)`);
  return session(state.lab, state.testbed, await openLabMachine(state));
}

/**
 * Removes everything the lab created and only that: its namespaces, links and httpd processes, or its VM and
 * overlay, then its state. A lab with no state but a model (`fallback`) is still torn down on this host by name.
 */
export async function labDown(name: string, { log = () => {}, fallback }: { log?: Log; fallback?: Lab } = {}): Promise<boolean> {
  const state = await readState(name);
  if (!state) {
    if (!fallback) return false;
    const left = await new NetnsLab(new LocalShell(), fallback).leftovers();
    if (left.length === 0) return false;
    await new NetnsLab(new LocalShell(), fallback).teardown();
    log(`removed leftovers of lab ${name} on this host: ${left.join(', ')}`);
    return true;
  }
  if (state.testbed === 'netns') {
    await new NetnsLab(new LocalShell(), state.lab).teardown();
    log(`removed lab ${name}: namespaces, links and httpd processes`);
  } else if (state.vm) {
    // Everything of the lab lives inside the VM; stopping it and dropping its overlay removes all of it.
    await stopMachine(state.vm);
    log(`removed lab ${name}: VM (qemu pid ${state.vm.pid}) and its overlay`);
  }
  await rm(labStateDir(name), { recursive: true, force: true });
  return true;
}
