// plan -> apply: runs each host's steps in order through a transport; hosts run side by side.
import type { ExecResult } from './shell.js';
import type { Transport } from './transport.js';
import type { Plan, Step } from './plan.js';

export class StepFailed extends Error {
  constructor(
    readonly host: string,
    readonly command: string,
    readonly code: number,
    readonly stderr: string,
  ) {
    super(`${host}: step failed with exit code ${code}\n  command: ${command.split('\n')[0]}${command.includes('\n') ? ' ...' : ''}\n  stderr: ${stderr.trim() || '(empty)'}`);
    this.name = 'StepFailed';
  }
}

export interface StepOutcome {
  host: string;
  step: Step;
  /** ran: it changed something; in-place: its check said it was already done; shown: a read-only step. */
  result: 'ran' | 'in-place' | 'shown';
  /** What ran: the step's command, or its in-place edit form. */
  command: string;
  output: string;
}

export interface ApplyReport {
  outcomes: StepOutcome[];
  changed: number;
  inPlace: number;
}

export interface ApplyOptions {
  /** Called after each step, for progress lines. */
  onStep?: (outcome: StepOutcome) => void;
}

/** Runs steps in order with `run`, skipping those whose check says they are in place; stops at the first failure. */
export async function runSteps(
  host: string,
  steps: Step[],
  run: (command: string) => Promise<ExecResult>,
  options: ApplyOptions = {},
): Promise<StepOutcome[]> {
  const outcomes: StepOutcome[] = [];
  for (const step of steps) {
    let outcome: StepOutcome;
    if (step.unless && (await run(step.unless)).code === 0) {
      outcome = { host, step, result: 'in-place', command: step.command, output: '' };
    } else {
      const command = step.edit && (await run(step.edit.when)).code === 0 ? step.edit.command : step.command;
      const res = await run(command);
      if (res.code !== 0) throw new StepFailed(host, command, res.code, res.stderr);
      outcome = { host, step, result: step.show ? 'shown' : 'ran', command, output: res.stdout };
    }
    outcomes.push(outcome);
    options.onStep?.(outcome);
  }
  return outcomes;
}

export async function applyPlan(plan: Plan, transport: Transport, options: ApplyOptions = {}): Promise<ApplyReport> {
  // Every host finishes (or fails) before we report, so a caller tearing down never races a running step.
  const settled = await Promise.allSettled(plan.hosts.map(({ host, steps }) => runSteps(host.name, steps, (cmd) => transport.run(host.name, cmd), options)));
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure) throw failure.reason;
  const outcomes = settled.flatMap((s) => (s as PromiseFulfilledResult<StepOutcome[]>).value);
  return {
    outcomes,
    changed: outcomes.filter((o) => o.result === 'ran').length,
    inPlace: outcomes.filter((o) => o.result === 'in-place').length,
  };
}
