// plan -> apply: runs each host's steps in order through a transport; hosts run side by side.
import { CommandError } from '../model/errors.js';
import { shq, withTimeout, type ExecOptions, type ExecResult } from './shell.js';
import type { Lab, LabHost } from '../model/topology.js';
import type { LabAccess, Transport } from './transport.js';
import { planLab, type Plan, type Step } from './plan.js';

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
const OUTCOMES = new RegExp(OUTCOME.source, 'g');
// The script's pid, first on stdout: a step past its time limit is stopped through it.
const PID = new RegExp(`^${MARKER}-pid (\\d+)(?:\\n|$)`);

/** The longest one step (or its check) may run: keepalived's and VRRP's waits are the slowest, at about 15 s. */
export const STEP_TIMEOUT_SECONDS = 120;
/** The longest a host's whole script may take to come back: past it the transport is taken as hung. */
export const HOST_SCRIPT_TIMEOUT_SECONDS = 600;

/**
 * A host's steps as one POSIX shell script, so a host costs one round trip (one SSH channel, `docker exec` or
 * `ip netns exec`) instead of one or two per step. Per step: skip it when its check passes, else run its edit form
 * when the edit's check passes, else its command; print the outcome line; at the first failure stop with its exit
 * code. Each step and check runs in a subshell (its `exit`, `cd` or variables stay its own) rather than a shell of
 * its own: starting a process is slow under software emulation. Each step's stderr follows a marker line on
 * the script's stderr, so a failure reports that step's alone.
 */
export function stepsScript(steps: Step[]): string {
  // The script's own pid, read by the shell itself: in a resident shell's subshell `$$` is that shell's.
  const lines = [`read -r script_pid _ </proc/self/stat; echo ${MARKER}-pid $script_pid`];
  steps.forEach((step, i) => {
    const sub = (command: string) => `( eval ${shq(command)} )`;
    const outcome = (kind: string) => `printf '\\n${MARKER} ${i} %s %d\\n' ${kind} $rc`;
    const run = step.edit
      ? `if ${sub(step.edit.when)} >/dev/null 2>&1; then k=edit; ${sub(step.edit.command)}; else k=run; ${sub(step.command)}; fi`
      : `k=run; ${sub(step.command)}`;
    lines.push(
      `# step ${i}`,
      `echo ${MARKER} ${i} >&2`,
      step.unless ? `if ${sub(step.unless)} >/dev/null 2>&1; then rc=0; ${outcome('in-place')}; else` : 'if true; then',
      run,
      'rc=$?',
      outcome('"$k"'),
      'if [ $rc -ne 0 ]; then exit $rc; fi',
      'fi',
    );
  });
  return lines.join('\n');
}

/**
 * Stops a host script's running step: each subshell under the script is frozen first, so it starts nothing between the
 * signals to its children and its own (a child it started after them would outlive it, as a busy CI machine showed),
 * then let go to take its TERM.
 */
const stopStep = (pid: number) =>
  `for p in $(pgrep -P ${pid}); do kill -STOP $p; pkill -TERM -P $p; kill -TERM $p; kill -CONT $p; done 2>/dev/null; true`;

/** What step `index` wrote to stderr (after its marker line). */
function stepStderr(stderr: string, index: number): string {
  const marker = `${MARKER} ${index}\n`;
  const at = stderr.lastIndexOf(marker);
  return at < 0 ? stderr : stderr.slice(at + marker.length);
}

export interface RunStepsOptions extends ApplyOptions {
  /** For tests; STEP_TIMEOUT_SECONDS otherwise. */
  stepTimeoutSeconds?: number;
}

/**
 * Runs steps in order on one host with `run`, skipping those whose check says they are in place; stops at the
 * first failure. One call of `run` carries them all (see stepsScript); a step past its time limit is stopped with
 * a second call, and fails saying so.
 */
export async function runSteps(
  host: string,
  steps: Step[],
  run: (command: string, options?: ExecOptions) => Promise<ExecResult>,
  options: RunStepsOptions = {},
): Promise<StepOutcome[]> {
  if (steps.length === 0) return [];
  const limit = options.stepTimeoutSeconds ?? STEP_TIMEOUT_SECONDS;
  let seen = '';
  let pid: number | undefined;
  let current = 0;
  let since = Date.now();
  let timedOut: number | undefined;
  let stoppedAt = 0;
  const watchdog = setInterval(() => {
    if (pid === undefined || Date.now() - since < limit * 1000) return;
    // Stopped again while it runs on: on a busy machine the first stop can come before the step's subshell exists.
    if (timedOut !== undefined && Date.now() - stoppedAt < 2_000) return;
    timedOut ??= current;
    stoppedAt = Date.now();
    void run(stopStep(pid)).catch(() => {});
  }, 250);
  let res: ExecResult;
  try {
    res = await withTimeout(
      run(stepsScript(steps), {
        onStdout: (chunk) => {
          seen += chunk.toString();
          pid ??= Number(PID.exec(seen)?.[1]) || undefined;
          const done = seen.match(OUTCOMES)?.length ?? 0;
          if (done !== current) [current, since] = [done, Date.now()];
        },
      }),
      HOST_SCRIPT_TIMEOUT_SECONDS * 1000,
      () =>
        new StepFailed(
          host,
          steps[current]?.command ?? steps[0].command,
          124,
          `the host's steps did not come back within ${HOST_SCRIPT_TIMEOUT_SECONDS} s (a hung connection?)`,
        ),
    );
  } finally {
    clearInterval(watchdog);
  }
  return outcomesOf(host, steps, res, { timedOut, limit, onStep: options.onStep });
}

/** Each step's outcome from the host script's output, in order; the first failed (or timed out) step throws. */
function outcomesOf(
  host: string,
  steps: Step[],
  res: ExecResult,
  { timedOut, limit, onStep }: { timedOut?: number; limit: number; onStep?: (o: StepOutcome) => void },
): StepOutcome[] {
  const outcomes: StepOutcome[] = [];
  // stdout is: the pid line, output of step 0, its outcome line, output of step 1, ... (each outcome on a line of its own).
  let rest = res.stdout.replace(PID, '');
  for (let m = OUTCOME.exec(rest); m; m = OUTCOME.exec(rest)) {
    const [index, kind, code] = [Number(m[1]), m[2], Number(m[3])];
    const step = steps[index];
    const output = rest.slice(0, m.index);
    rest = rest.slice(m.index + m[0].length);
    const command = kind === 'edit' ? step.edit!.command : step.command;
    if (timedOut === index) throw new StepFailed(host, command, 124, `timed out after ${limit} s`);
    if (code !== 0) throw new StepFailed(host, command, code, stepStderr(res.stderr, index));
    const outcome: StepOutcome = {
      host,
      step,
      result: kind === 'in-place' ? 'in-place' : step.show ? 'shown' : 'ran',
      command,
      output: kind === 'in-place' ? '' : output,
    };
    outcomes.push(outcome);
    onStep?.(outcome);
  }
  // The script stopped without saying why: the transport or the shell itself failed.
  if (outcomes.length < steps.length) {
    const index = outcomes.length;
    if (timedOut === index) throw new StepFailed(host, steps[index].command, 124, `timed out after ${limit} s`);
    throw new StepFailed(
      host,
      steps[index].command,
      res.code === 0 ? 1 : res.code,
      stepStderr(res.stderr, index) || 'the step script ended early',
    );
  }
  return outcomes;
}

/**
 * Runs hosts' work side by side; every host finishes (or fails) before the first failure is thrown, so a caller
 * tearing down never races a running step.
 */
export async function sideBySide<T>(work: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(work);
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure) throw failure.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

export async function applyPlan(plan: Plan, transport: Transport, options: ApplyOptions = {}): Promise<ApplyReport> {
  const outcomes = (
    await sideBySide(
      plan.hosts.map(({ host, steps }) =>
        runSteps(host.name, steps, (cmd, o) => transport.run(host.name, cmd, o), options),
      ),
    )
  ).flat();
  return {
    outcomes,
    changed: outcomes.filter((o) => o.result === 'ran').length,
    inPlace: outcomes.filter((o) => o.result === 'in-place').length,
  };
}

/**
 * `lab`'s plan applied on the running lab's hosts that `on` picks (a host's own part, the directors'), through its
 * transport and with its httpd layout: how a fault is undone, or a director's table set as another model has it.
 */
export function applyPlanOn(access: LabAccess, lab: Lab, on: (host: LabHost) => boolean): Promise<ApplyReport> {
  const plan = planLab(lab, { httpd: access.httpd });
  return applyPlan({ ...plan, hosts: plan.hosts.filter((h) => on(h.host)) }, access.transport);
}
