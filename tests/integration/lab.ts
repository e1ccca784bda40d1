// The lab the integration suite builds once per run (global-setup.ts) and every file connects to, and the CLI as a
// user runs it.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { $ } from 'zx';
import { validateLab } from '../../model/topology.js';
import { waitFor } from '../../base/wait.js';
import { shq, type Shell } from '../../provision/shell.js';
import type { LabSession } from '../../lab/lifecycle.js';

/** The reference lab under another name, so a run never touches a lab the user has up. */
export const TEST_LAB = validateLab({ name: 'itest' }, 'integration lab');

export const testbedChoice = process.env.LVS_LAB_TESTBED ?? 'auto';

/** The machine the test lab's namespaces share (this host or the VM): side labs are built on it. */
export function machineOf(s: LabSession): Shell {
  if (!s.machine) throw new Error(`the integration suite needs a netns-based testbed (netns or vm), not ${s.testbed}`);
  return s.machine;
}

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The command `npm run lab` runs, read from package.json (so the tests run what users do), without npm's own start. */
export const LAB_CLI = (
  JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { scripts: { lab: string } }
).scripts.lab.split(' ');

/** `npm run lab -- <args>`, run from the project: its output and exit status (a failure is not thrown). */
export const cli = (args: string[], input?: string) =>
  $({ cwd: ROOT, nothrow: true, quiet: true, input })`${LAB_CLI} ${args}`;

/** `npm run lab -- <args>` under `script`, which gives it a pseudo-terminal and types `input` (an interactive shell). */
export const cliInTerminal = (args: string[], input: string) =>
  $({
    cwd: ROOT,
    nothrow: true,
    quiet: true,
    input,
  })`script -qec ${[...LAB_CLI, ...args].map(shq).join(' ')} /dev/null`;

/**
 * `npm run lab -- <args>` started in a process group of its own, as a terminal's foreground job (a signal to the
 * group reaches the CLI and whatever it runs), its output collected as it comes.
 */
export function startCli(args: string[]) {
  const child = spawn(LAB_CLI[0], [...LAB_CLI.slice(1), ...args], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return {
    group: child.pid!,
    output: () => out,
    exited: new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    ),
    /** Waits (up to 180 s) until `ready` accepts the output so far; fails with what was printed. */
    until: (ready: (out: string) => boolean | Promise<boolean>) =>
      waitFor(async () => ((await ready(out)) ? true : undefined), {
        within: 180_000,
        every: 20,
        timedOut: () => new Error(`not within 180 s; printed:\n${out}`),
      }),
    /** Sends `signal` to the whole group, unless the CLI has ended. */
    signal: (signal: NodeJS.Signals) => {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, signal);
    },
  };
}
