// kill -9 of `lab up` (its whole process group, as `kill -9 -PGID` or an OOM kill) in each phase: the VM's start,
// preflight, the network build, provisioning and verify. What the killed run left, `lab down` removes, leaving the
// machine as before; or the next `lab up` takes the lab over and completes it. On the vm testbed, whose phases
// include starting a VM; the netns testbed has the same phases after it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { $ } from 'zx';
import { waitFor } from '../../provision/wait.js';
import { footprint } from '../../testbed/footprint.js';
import { labStateDir } from '../../testbed/paths.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NAME = 'k9';
const cli = (args: string[]) => $({ cwd: ROOT, quiet: true, nothrow: true })`node_modules/.bin/tsx cli/lab.ts ${args}`;
const vmPids = async () =>
  (await $({ nothrow: true })`pgrep -f ${`process=lvs-lab-${NAME}( |$)`}`).stdout.split('\n').filter(Boolean);
/** The lab's qemu runs on its own: daemonized into a session of its own, so killing `up`'s group leaves it running. */
const vmDetached = async (upGroup: number) => {
  for (const pid of await vmPids()) {
    const pgid = Number((await $({ nothrow: true })`ps -o pgid= -p ${pid}`).stdout.trim());
    if (pgid && pgid !== upGroup) return true;
  }
  return false;
};

/** Starts `lab up` in its own process group, and kills that group with SIGKILL once `ready` says so. */
async function killUpWhen(ready: (out: string, group: number) => Promise<boolean>): Promise<string> {
  const child = spawn('node_modules/.bin/tsx', ['cli/lab.ts', 'up', '--name', NAME, '--testbed', 'vm'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  try {
    await waitFor(async () => ((await ready(out, child.pid!)) ? true : undefined), {
      within: 180_000,
      every: 20,
      timedOut: () => new Error(`the phase never came; up printed:\n${out}`),
    });
  } finally {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  }
  expect(await exited).toBe('SIGKILL');
  return out;
}

const printed = (line: RegExp) => (out: string) => Promise.resolve(line.test(out));

const PHASES: Array<{ phase: string; ready: (out: string, group: number) => Promise<boolean> }> = [
  // qemu runs on its own, and the run has not recorded it yet, or just has
  { phase: 'the VM start', ready: async (out, group) => /VM image cached/.test(out) && (await vmDetached(group)) },
  { phase: 'preflight', ready: printed(/\] VM up: /) },
  { phase: 'the network build', ready: printed(/\] preflight: /) },
  { phase: 'provisioning', ready: printed(/\] network: /) },
  { phase: 'verify', ready: printed(/\] verifying/) },
];

describe.sequential('kill -9 of `lab up`', () => {
  // A failed test leaves no lab for the next one to trip on.
  afterEach(async () => void (await cli(['down', '--name', NAME])));

  for (const { phase, ready } of PHASES)
    it(`during ${phase}: \`lab down\` then leaves the machine as before`, async () => {
      const before = await footprint();
      const out = await killUpWhen(ready);
      expect(await footprint(), out).not.toEqual(before); // the killed run left something: the VM at least
      const down = await cli(['down', '--name', NAME]);
      expect(down.exitCode, down.stdout + down.stderr).toBe(0);
      expect(await footprint()).toEqual(before);
      expect(existsSync(labStateDir(NAME))).toBe(false);
    });

  it('during the VM start: the next `lab up` removes the stray VM first and builds the lab', async () => {
    const before = await footprint();
    await killUpWhen(PHASES[0].ready);
    const up = await cli(['up', '--name', NAME, '--testbed', 'vm']);
    expect(up.exitCode, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toMatch(/removed leftovers of lab k9 \(vm\): qemu pid \d+/);
    expect(up.stdout).toMatch(/\d+\/\d+ checks passed/);
    expect(await vmPids()).toHaveLength(1);
    expect((await cli(['down', '--name', NAME])).exitCode).toBe(0);
    expect(await footprint()).toEqual(before);
  });

  it('during the network build: the next `lab up` takes the lab over (stale lock, running VM) and completes it', async () => {
    const before = await footprint();
    await killUpWhen(PHASES[2].ready);
    const up = await cli(['up', '--name', NAME, '--testbed', 'vm']);
    expect(up.exitCode, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toContain(`lab ${NAME} is already up (vm); re-applying the plan`);
    expect(up.stdout).toMatch(/\d+\/\d+ checks passed/);
    expect((await cli(['down', '--name', NAME])).exitCode).toBe(0);
    expect(await footprint()).toEqual(before);
  });
});
