// plan -> apply: runs each host's steps in order through a transport; hosts run side by side.
import { CommandError } from '../model/errors.js';
import { shq, withTimeout, type ExecResult } from './shell.js';
import type { Transport } from './transport.js';
import type { Plan, Step } from './plan.js';

/** A plan step that failed on a lab host: the command error of provisioning, `host` naming where it ran. */
export class StepFailed extends CommandError {
  constructor(
    readonly host: string,
    command: string,
    code: number,
    stderr: string,
  ) {
    super(host, command, code, stderr, 'step');
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
  /** Called for each step in order, once its host's steps have run, for progress lines. */
  onStep?: (outcome: StepOutcome) => void;
}

// Each step's outcome is a line `<marker> <index> <in-place|run|edit> <exit code>` on stdout, after its output.
const MARKER = '@@lvs-lab-step';
// At either end of stdout the newline may be gone: node-ssh trims what it returns.
const OUTCOME = new RegExp(`(?:^|\\n)${MARKER} (\\d+) (in-place|run|edit) (\\d+)(?:\\n|$)`);

/** The longest one step (or its check) may run: keepalived's and VRRP's waits are the slowest, at about 15 s. */
export const STEP_TIMEOUT_SECONDS = 120;
/** The longest a host's whole script may take to come back: past it the transport is taken as hung. */
export const HOST_SCRIPT_TIMEOUT_SECONDS = 600;

// A shell of its own each, so a step's `exit`, `cd` or variables stay its own, under `timeout`: a step that hangs
// (a daemon that never detaches) fails with a message instead of hanging the lab's `up`.
const sub = (command: string) => `timeout ${STEP_TIMEOUT_SECONDS} sh -c ${shq(command)}`;

/**
 * A host's steps as one POSIX shell script, so a host costs one round trip (one SSH channel, `docker exec` or
 * `ip netns exec`) instead of one or two per step. Per step: skip it when its check passes, else run its edit form
 * when the edit's check passes, else its command; print the outcome line; at the first failure print the step's
 * stderr and stop with its exit code.
 */
export function stepsScript(steps: Step[]): string {
  const lines = ['e=$(mktemp) || exit 1', 'trap \'rm -f "$e"\' EXIT'];
  steps.forEach((step, i) => {
    const outcome = (kind: string) => `printf '\\n${MARKER} ${i} %s %d\\n' ${kind} $rc`;
    const run = step.edit
      ? `if ${sub(step.edit.when)} >/dev/null 2>&1; then k=edit; ${sub(step.edit.command)} 2>"$e"; else k=run; ${sub(step.command)} 2>"$e"; fi`
      : `k=run; ${sub(step.command)} 2>"$e"`;
    lines.push(
      `# step ${i}`,
      step.unless ? `if ${sub(step.unless)} >/dev/null 2>&1; then rc=0; ${outcome('in-place')}; else` : 'if true; then',
      run,
      'rc=$?',
      `if [ $rc -eq 124 ]; then echo 'timed out after ${STEP_TIMEOUT_SECONDS} s' >>"$e"; fi`,
      `${outcome('"$k"')}`,
      'if [ $rc -ne 0 ]; then cat "$e" >&2; exit $rc; fi',
      'fi',
    );
  });
  return lines.join('\n');
}

/**
 * Runs steps in order on one host with `run`, skipping those whose check says they are in place; stops at the
 * first failure. One call of `run` carries them all (see stepsScript).
 */
export async function runSteps(
  host: string,
  steps: Step[],
  run: (command: string) => Promise<ExecResult>,
  options: ApplyOptions = {},
): Promise<StepOutcome[]> {
  if (steps.length === 0) return [];
  const res = await withTimeout(
    run(stepsScript(steps)),
    HOST_SCRIPT_TIMEOUT_SECONDS * 1000,
    () => new StepFailed(host, steps[0].command, 124, `the host's steps did not come back within ${HOST_SCRIPT_TIMEOUT_SECONDS} s (a hung connection?)`),
  );
  const outcomes: StepOutcome[] = [];
  // stdout is: output of step 0, its outcome line, output of step 1, ... (the printf puts each on a line of its own).
  let rest = res.stdout;
  for (let m = OUTCOME.exec(rest); m; m = OUTCOME.exec(rest)) {
    const [index, kind, code] = [Number(m[1]), m[2], Number(m[3])];
    const step = steps[index];
    const output = rest.slice(0, m.index);
    rest = rest.slice(m.index + m[0].length);
    const command = kind === 'edit' ? step.edit!.command : step.command;
    if (code !== 0) throw new StepFailed(host, command, code, res.stderr);
    const outcome: StepOutcome = { host, step, result: kind === 'in-place' ? 'in-place' : step.show ? 'shown' : 'ran', command, output: kind === 'in-place' ? '' : output };
    outcomes.push(outcome);
    options.onStep?.(outcome);
  }
  // The script stopped without saying why: the transport or the shell itself failed.
  if (outcomes.length < steps.length)
    throw new StepFailed(host, steps[outcomes.length].command, res.code === 0 ? 1 : res.code, res.stderr || 'the step script ended early');
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
