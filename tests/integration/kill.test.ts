// kill -9 of `lab up` (its whole process group, as `kill -9 -PGID` or an OOM kill) in each phase: the VM's start,
// preflight, the network build, provisioning and verify. What the killed run left, `lab down` removes, leaving the
// machine as before; or the next `lab up` takes the lab over and completes it. On the vm testbed, whose phases
// include starting a VM; the netns testbed has the same phases after it.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { $ } from 'zx';
import { footprint } from '../../lab/footprint.js';
import { labStateDir } from '../../base/paths.js';
import { labs } from '../labs.js';
import { vmPidsNamed } from '../../machine/qemu.js';
import { cli, startCli } from './lab.js';

const NAME = 'k9';
const vmPids = () => vmPidsNamed(`lvs-lab-${NAME}`);
/**
 * The lab's qemu runs on its own: daemonized, and its starting parent (in `up`'s process group) gone, which it is only
 * once the daemon reported ready. Killed before that, the daemon dies on its report and nothing is left to find.
 */
const vmDetached = async (upGroup: number) => {
  const groups = await Promise.all(
    (await vmPids()).map(async (pid) => Number((await $({ nothrow: true })`ps -o pgid= -p ${pid}`).stdout.trim())),
  );
  return groups.length > 0 && groups.every((pgid) => pgid && pgid !== upGroup);
};

/** Starts `lab up` in its own process group, and kills that group with SIGKILL once `ready` says so. */
async function killUpWhen(ready: (out: string, group: number) => Promise<boolean>): Promise<string> {
  const up = startCli(['up', '--name', NAME, '--testbed', 'vm']);
  try {
    await up.until((out) => ready(out, up.group));
  } finally {
    up.signal('SIGKILL');
  }
  expect((await up.exited).signal).toBe('SIGKILL');
  return up.output();
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
      const before = await footprint({ of: [NAME] });
      const out = await killUpWhen(ready);
      expect(await footprint({ of: [NAME] }), out).not.toEqual(before); // the killed run left something: the VM at least
      const down = await cli(['down', '--name', NAME]);
      expect(down.exitCode, down.stdout + down.stderr).toBe(0);
      expect(await footprint({ of: [NAME] })).toEqual(before);
      expect(existsSync(labStateDir(NAME))).toBe(false);
    });

  // Killed once its state names the VM, before that VM is the lab's (a restored VM still takes only the saved key).
  const vmRecorded = async (out: string) =>
    !/\] VM up: /.test(out) && (await labs.state(NAME))?.testbedState !== undefined;

  it('during the VM start, the VM recorded: the next `lab up` removes what that start left, then builds the lab', async () => {
    const before = await footprint({ of: [NAME] });
    await killUpWhen(vmRecorded);
    expect((await labs.state(NAME))?.starting).toBe(true);
    const up = await cli(['up', '--name', NAME, '--testbed', 'vm']);
    expect(up.exitCode, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toMatch(
      /lab k9: a start that did not finish \(its run was killed\) left it; removing what it left/,
    );
    expect(up.stdout).toMatch(/removed lab k9: VM \(qemu pid \d+\) and its overlay/);
    expect(up.stdout).toMatch(/\d+\/\d+ checks passed/);
    expect(await vmPids()).toHaveLength(1);
    expect((await cli(['down', '--name', NAME])).exitCode).toBe(0);
    expect(await footprint({ of: [NAME] })).toEqual(before);
  });

  it('during the VM start, the VM not recorded yet: the next `lab up` finds it by name, removes it, then builds the lab', async () => {
    const before = await footprint({ of: [NAME] });
    await killUpWhen(vmRecorded);
    // As if the kill had come between qemu's start and the state's write: no state names the VM.
    await rm(join(labStateDir(NAME), 'state.json'));
    const up = await cli(['up', '--name', NAME, '--testbed', 'vm']);
    expect(up.exitCode, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toMatch(/removed leftovers of lab k9 \(vm\): qemu pid \d+/);
    expect(up.stdout).toMatch(/\d+\/\d+ checks passed/);
    expect(await vmPids()).toHaveLength(1);
    expect((await cli(['down', '--name', NAME])).exitCode).toBe(0);
    expect(await footprint({ of: [NAME] })).toEqual(before);
  });

  it('during the network build: the next `lab up` takes the lab over (stale lock, running VM) and completes it; faults and a killed `fault` then go with `down`', async () => {
    const before = await footprint({ of: [NAME] });
    await killUpWhen(PHASES[2].ready);
    // The preflight line is printed once the state no longer says `starting`: the killed run left a lab.
    expect((await labs.state(NAME))?.starting).toBeUndefined();
    const up = await cli(['up', '--name', NAME, '--testbed', 'vm']);
    expect(up.exitCode, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toContain(`lab ${NAME} is already up (vm); re-applying the plan`);
    expect(up.stdout).toContain(`lab ${NAME}: its first build did not finish (its run was killed); completing it`);
    expect(up.stdout).toMatch(/\d+\/\d+ checks passed/);
    // Faults in force, and a `fault` killed while it ran: `down` still leaves the machine as before.
    for (const words of [
      ['rs1', 'delay', '200ms'],
      ['rs2', 'host', 'stop'],
    ])
      expect((await cli(['fault', ...words, '--name', NAME])).exitCode).toBe(0);
    const started = Date.now();
    const fault = startCli(['fault', 'director', 'link', 'down', '--name', NAME]);
    await fault.until(() => Date.now() - started > 1500);
    fault.signal('SIGKILL');
    await fault.exited;
    expect((await cli(['down', '--name', NAME])).exitCode).toBe(0);
    expect(await footprint({ of: [NAME] })).toEqual(before);
  });
});
