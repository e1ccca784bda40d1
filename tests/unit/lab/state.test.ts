// What the kit reads back as root (lab state, locks) is refused unless it is what the kit wrote: a state is parsed
// through a schema and its lab re-validated, a lock is taken over atomically, and one corrupt file hides no other lab.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateLab } from '../../../model/topology.js';
import { LabBusyError, lockFile, withLabLock } from '../../../lab/lock.js';
import { labStateDir } from '../../../base/paths.js';
import { CorruptStateError, parseState, readState, scanStates, writeState, type LabState } from '../../../lab/state.js';
import { TESTBEDS } from '../../../testbed/all.js';
import { rejection } from '../../rejection.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lvs-lab-state-'));
  process.env.LVS_LAB_STATE_DIR = dir;
});
afterAll(() => {
  delete process.env.LVS_LAB_STATE_DIR;
  rmSync(dir, { recursive: true, force: true });
});

const KEY = 'AAAAC3NzaC1lZDI1NTE5AAAAIJ7b3Vb4g0Ls9QW2l6m1Hb3l7x2sT4s0a8c0V0d1x2y3';
const vm = (name: string) => ({
  name: `lvs-lab-${name}`,
  pid: 4242,
  sshPort: 40022,
  hostKey: KEY,
  accel: 'tcg',
  restored: true,
});
const good = (name: string): LabState => ({
  version: 2,
  lab: validateLab({ name }, 'test'),
  testbed: 'vm',
  createdAt: '2026-12-01T10:00:00.000Z',
  testbedState: vm(name),
});
/** A state as the kit wrote it before testbeds owned their part: the VM beside the rest. */
const versionOne = (name: string) => {
  const { testbedState, ...rest } = good(name);
  return { ...rest, version: 1, vm: testbedState };
};
type Raw = LabState & { testbedState: ReturnType<typeof vm> };
const stateFile = (name: string) => join(labStateDir(name), 'state.json');
const write = (name: string, text: string) => {
  mkdirSync(labStateDir(name), { recursive: true });
  writeFileSync(stateFile(name), text);
};

describe('lab state read back', () => {
  it('reads what the kit wrote, unchanged', async () => {
    await writeState(good('alpha'));
    expect(await readState('alpha', TESTBEDS)).toEqual(good('alpha'));
  });

  it('reads a state of the first version as the same lab, its VM handed to the vm testbed', () => {
    expect(parseState(versionOne('old'), 'f', 'old', TESTBEDS)).toEqual(good('old'));
  });

  it.each<[string, (s: Raw) => unknown, RegExp]>([
    ['a testbed not in the registry', (s) => ({ ...s, testbed: 'docker' }), /testbed: no testbed "docker"/],
    ['a version from elsewhere', (s) => ({ ...s, version: 3 }), /version: /],
    [
      'a VM name the lab does not derive',
      (s) => ({ ...s, testbedState: { ...s.testbedState, name: 'lvs-lab-other' } }),
      /vm\.name: is not lvs-lab-x1/,
    ],
    ['a pid that is no pid', (s) => ({ ...s, testbedState: { ...s.testbedState, pid: '1; reboot' } }), /vm\.pid/],
    [
      'a host key with shell text',
      (s) => ({ ...s, testbedState: { ...s.testbedState, hostKey: "AAAA' ; id #" } }),
      /vm\.hostKey/,
    ],
    ['a lab name with shell text', (s) => ({ ...s, lab: { ...s.lab, name: 'x$(id)' } }), /lab: .*name: must be 1-8/],
    [
      'a lab not as validation makes it',
      (s) => ({ ...s, lab: { ...s.lab, prefixLength: 8 } }),
      /not one the kit validated/,
    ],
    ['another lab name than its directory', (s) => ({ ...s, lab: validateLab({ name: 'beta' }) }), /lab\.name is beta/],
    ['unknown fields', (s) => ({ ...s, extra: '/etc' }), /Unrecognized key/],
  ])('refuses %s', (_what, change, reason) => {
    const err = (() => {
      try {
        parseState(JSON.parse(JSON.stringify(change(good('x1') as Raw))), 'f', 'x1', TESTBEDS);
      } catch (e) {
        return e as Error;
      }
      throw new Error('accepted');
    })();
    expect(err).toBeInstanceOf(CorruptStateError);
    expect((err as CorruptStateError).reason).toMatch(reason);
  });

  it('an empty or cut-short state is refused with its file named; status still lists the other labs', async () => {
    await writeState(good('gamma'));
    write('empty', '');
    write('cut', JSON.stringify(good('cut')).slice(0, 40));
    mkdirSync(join(dir, 'labs', 'Not-A-Lab'), { recursive: true });
    const e = await rejection(readState('empty', TESTBEDS), CorruptStateError);
    expect(e.message).toMatch(new RegExp(`^${stateFile('empty')}: not a lab state the kit wrote \\(empty\\)`));
    expect((await rejection(readState('cut', TESTBEDS), CorruptStateError)).reason).toMatch(/^not JSON/);
    const { states, unreadable } = await scanStates(TESTBEDS);
    expect(states.map((s) => s.lab.name)).toEqual(['alpha', 'gamma']);
    expect(unreadable.map((u) => u.name)).toEqual(['Not-A-Lab', 'cut', 'empty']);
  });
});

describe('lab locks', () => {
  const stale = JSON.stringify({ pid: 2 ** 22 + 17, command: 'up', since: '2026-01-01T00:00:00Z' });

  it.each([
    ['empty', ''],
    ['cut short', stale.slice(0, 12)],
    ['left by a process that is gone', stale],
  ])('a lock file %s is stale: taken over', async (_what, text) => {
    mkdirSync(join(dir, 'locks'), { recursive: true });
    writeFileSync(lockFile('lk'), text);
    expect(await withLabLock('lk', 'up', () => Promise.resolve('held'))).toBe('held');
  });

  it('two runs that find one stale lock: exactly one takes it over, the other is told who holds the lab', async () => {
    writeFileSync(lockFile('race'), stale);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const results = await Promise.allSettled(
      [0, 1].map(() =>
        // Two call chains of one process: for the lock they are two runs (it is re-entrant within one chain only).
        withLabLock('race', 'up', async () => {
          setTimeout(release, 100);
          await gate;
          return 'ran';
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(LabBusyError);
  });

  it('a lock name that would leave the locks directory is refused', () => {
    expect(() => lockFile('../x')).toThrow(/^lab name: "..\/x" must be 1-8 characters/);
  });
});
