// The lab lifecycle (lab/lifecycle.ts) through a fake testbed: at every point where `up` can fail, what the testbed
// created is removed again by the one cleanup path, the state goes, and the session is closed exactly once.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../../model/errors.js';
import { validateLab } from '../../../model/topology.js';
import { StepFailed } from '../../../provision/apply.js';
import { waitFor } from '../../../base/wait.js';
import { lifecycle, type Labs } from '../../../lab/lifecycle.js';
import { LabBusyError, lockFile } from '../../../lab/lock.js';
import { labStateDir } from '../../../base/paths.js';
import { writeState } from '../../../lab/state.js';
import type { Testbed } from '../../../testbed/testbed.js';
import { rejection } from '../../rejection.js';

type Point = 'checkHost' | 'create-before-save' | 'create-after-save' | 'preflight' | 'network' | 'apply' | 'none';

/** A testbed whose "machines" are names in a set; `failAt` makes one phase throw. */
function fakeTestbed(failAt: Point) {
  const machines = new Set<string>();
  const calls: string[] = [];
  const fail = (p: Point) => (failAt === p ? Promise.reject(new Error(`injected at ${p}`)) : Promise.resolve());
  const testbed: Testbed = {
    kind: 'vm',
    readOwn: (raw) => raw,
    httpdLayout: () => ({ kind: 'system' }),
    checkHost: () => fail('checkHost'),
    create: async (lab, { save }) => {
      await fail('create-before-save');
      machines.add(`${lab.name}-machine`);
      await save({});
      await fail('create-after-save');
      return session();
    },
    open: () => Promise.resolve(session()),
    destroy: () => {
      calls.push('destroy');
      machines.clear();
      return Promise.resolve();
    },
    leftovers: () => Promise.resolve([...machines]),
    describe: () => 'fake',
  };
  const session = () => ({
    where: 'fake',
    httpd: { kind: 'system' as const },
    transport: {
      kind: 'ssh' as const,
      interactive: () => Promise.resolve([]),
      // Each host's steps come as one script (provision/apply.ts): report each as run, or fail as a transport would.
      run: (_host: string, script: string) =>
        Promise.resolve(
          failAt === 'apply'
            ? { stdout: '', stderr: 'injected at apply', code: 7 }
            : {
                stdout: [...script.matchAll(/^# step (\d+)$/gm)]
                  .map((m) => `\n@@lvs-lab-step ${m[1]} run 0\n`)
                  .join(''),
                stderr: '',
                code: 0,
              },
        ),
    },
    preflight: () => fail('preflight'),
    buildNetwork: async () => {
      await fail('network');
      return 'fake network';
    },
    close: () => {
      calls.push('close');
      return Promise.resolve();
    },
  });
  return { testbed, machines, calls };
}

const lab = validateLab({ name: 'fake' }, 'test');
/** The lifecycle each test hands its fake testbed, as the CLI hands the real ones. */
let labs: Labs;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lvs-lab-lifecycle-'));
  process.env.LVS_LAB_STATE_DIR = dir;
});
afterAll(() => {
  delete process.env.LVS_LAB_STATE_DIR;
  rmSync(dir, { recursive: true, force: true });
});

describe('labUp cleans up at every failure point', () => {
  it.each<[Point, boolean]>([
    ['checkHost', false],
    ['create-before-save', false],
    ['create-after-save', true],
    ['preflight', true],
    ['network', true],
  ])('a failure at %s leaves no machine, no state and no state directory', async (point, destroyed) => {
    const fake = fakeTestbed(point);
    labs = lifecycle({ vm: fake.testbed });
    await expect(labs.up(lab, { testbed: 'vm' })).rejects.toThrow(`injected at ${point}`);
    expect(fake.machines.size).toBe(0);
    expect(existsSync(labStateDir(lab.name))).toBe(false);
    expect(fake.calls.filter((c) => c === 'destroy')).toHaveLength(destroyed ? 1 : 0);
    // a session that was opened is closed once
    expect(fake.calls.filter((c) => c === 'close')).toHaveLength(
      ['create-after-save', 'checkHost', 'create-before-save'].includes(point) ? 0 : 1,
    );
  });

  it('a failing apply stops with the host and its stderr, and removes the lab', async () => {
    const fake = fakeTestbed('apply');
    labs = lifecycle({ vm: fake.testbed });
    const err = await rejection(labs.up(lab, { testbed: 'vm' }), StepFailed);
    expect(err).toBeInstanceOf(StepFailed);
    expect(err.stderr).toContain('injected at apply');
    expect(fake.machines.size).toBe(0);
    expect(fake.calls).toEqual(['close', 'destroy']);
    expect(await labs.state(lab.name)).toBeUndefined();
  });

  it('a re-apply that fails keeps the running lab, and closes its session', async () => {
    const fake = fakeTestbed('none');
    labs = lifecycle({ vm: fake.testbed });
    const { session } = await labs.up(lab, { testbed: 'vm' });
    await session.close();
    expect(fake.machines.size).toBe(1);
    const moved = await rejection(labs.up({ ...lab, vip: '192.168.170.99' }));
    expect(moved).toBeInstanceOf(UserError);
    expect(moved.message).toMatch(/another topology \(vip changed\)/);
    const failing = fakeTestbed('network');
    labs = lifecycle({
      vm: {
        ...failing.testbed,
        destroy: (l, o, log) => fake.testbed.destroy(l, o, log),
        leftovers: (l, o) => fake.testbed.leftovers(l, o),
      },
    });
    await expect(labs.up(lab)).rejects.toThrow('injected at network');
    expect(failing.calls).toEqual(['close']);
    expect(fake.machines.size).toBe(1);
    expect((await labs.state(lab.name))?.testbed).toBe('vm');
    expect(await labs.down(lab.name)).toBe(true);
    expect(fake.machines.size).toBe(0);
    expect(existsSync(labStateDir(lab.name))).toBe(false);
  });
});

describe('a start that was killed', () => {
  it('leaves a state marked starting until preflight passed; the next `up` removes what it left and builds anew', async () => {
    const fake = fakeTestbed('none');
    let during: boolean | undefined;
    labs = lifecycle({
      vm: {
        ...fake.testbed,
        create: async (l, ctx) => {
          const session = await fake.testbed.create(l, ctx);
          during = (await labs.state(l.name))?.starting;
          return session;
        },
      },
    });
    // What a run killed after create recorded its machine, before preflight, leaves.
    await writeState({ version: 2, lab, testbed: 'vm', createdAt: '2026-01-01T00:00:00.000Z', starting: true });
    fake.machines.add('left-by-the-killed-run');
    // Nothing to open in the meantime: `verify`, `exec` and the rest say why.
    expect((await rejection(labs.connect(lab.name))).message).toMatch(/lab fake has not finished starting/);
    const lines: string[] = [];
    const { session } = await labs.up(lab, { testbed: 'vm', log: (l) => lines.push(l) });
    await session.close();
    expect(lines[0]).toBe('lab fake: a start that did not finish (its run was killed) left it; removing what it left');
    expect(fake.calls.filter((c) => c === 'destroy')).toHaveLength(1);
    expect(fake.machines).toEqual(new Set(['fake-machine']));
    expect(during).toBe(true);
    const state = await labs.state(lab.name);
    expect(state?.starting).toBeUndefined();
    expect(state?.createdAt).not.toBe('2026-01-01T00:00:00.000Z');
    expect(await labs.down(lab.name)).toBe(true);
  });
});

describe('a build that was killed', () => {
  it('is marked building until its plan is applied; the next `up` completes it without asking about faults', async () => {
    const fake = fakeTestbed('none');
    let duringNetwork: boolean | undefined;
    labs = lifecycle({
      vm: {
        ...fake.testbed,
        create: async (l, ctx) => {
          const session = await fake.testbed.create(l, ctx);
          return {
            ...session,
            buildNetwork: async () => {
              duringNetwork = (await labs.state(l.name))?.building;
              return session.buildNetwork();
            },
          };
        },
      },
    });
    const asked: string[] = [];
    const lines: string[] = [];
    const up = () =>
      labs.up(lab, {
        testbed: 'vm',
        log: (l) => lines.push(l),
        beforeReapply: () => Promise.resolve(void asked.push('faults')),
      });
    await (await up()).session.close();
    expect(duringNetwork).toBe(true);
    expect((await labs.state(lab.name))?.building).toBeUndefined();
    // What a run killed during the network build leaves: its machine, and its state marked building.
    await writeState({ ...(await labs.state(lab.name))!, building: true });
    await (await up()).session.close();
    expect(lines).toContain('lab fake: its first build did not finish (its run was killed); completing it');
    expect(asked).toEqual([]);
    expect((await labs.state(lab.name))?.building).toBeUndefined();
    await (await up()).session.close(); // built now: a re-apply asks
    expect(asked).toEqual(['faults']);
    expect(await labs.down(lab.name)).toBe(true);
  });
});

describe('one lifecycle command per lab at a time', () => {
  it('a second `up` while one runs is refused, naming who holds the lab; `down` too; the lock goes with the command', async () => {
    const fake = fakeTestbed('none');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    labs = lifecycle({ vm: { ...fake.testbed, checkHost: () => gate } }); // the first `up` waits here, holding the lock
    const first = labs.up(lab, { testbed: 'vm' });
    // The first holds the lock once its file is there.
    await waitFor(() => (existsSync(lockFile(lab.name)) ? true : undefined), {
      within: 5_000,
      every: 5,
      timedOut: () => new Error('the first up took no lock'),
    });
    const second = await rejection(labs.up(lab, { testbed: 'vm' }));
    expect(second).toBeInstanceOf(LabBusyError);
    expect(second.message).toMatch(
      new RegExp(`^lab "fake" is busy: \`up\` \\(pid ${process.pid}\\) has held it since \\d{4}-`),
    );
    expect(await rejection(labs.down(lab.name))).toBeInstanceOf(LabBusyError);
    // Another lab is not held up by it.
    expect(await labs.down('other')).toBe(false);
    release();
    const { session } = await first;
    await session.close();
    expect(existsSync(lockFile(lab.name))).toBe(false);
    expect(await labs.down(lab.name)).toBe(true);
    expect(fake.machines.size).toBe(0);
  });

  it('a lock left by a process that is gone (killed, rebooted) is taken over', async () => {
    mkdirSync(join(dir, 'locks'), { recursive: true });
    writeFileSync(
      lockFile(lab.name),
      JSON.stringify({ pid: 2 ** 22 + 17, command: 'up', since: '2026-01-01T00:00:00Z' }),
    );
    const fake = fakeTestbed('none');
    labs = lifecycle({ vm: fake.testbed });
    const { session } = await labs.up(lab, { testbed: 'vm' });
    await session.close();
    expect(await labs.down(lab.name)).toBe(true);
    expect(existsSync(lockFile(lab.name))).toBe(false);
  });
});
