// A lab's state on disk: what `down`, `verify` and the tests need to find a lab that another process built. Root
// turns it into commands and paths, so it is read through a schema: the lab re-validated, and the testbed's own part
// checked by that testbed (what the lab's name does not derive is refused).
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { CorruptStateError, readJson, writeJson } from '../base/json-file.js';
import { labStateDir, stateDir } from '../base/paths.js';
import { LAB_NAME_PATTERN, validateLab, type Lab } from '../model/topology.js';
import type { Testbeds } from '../testbed/testbed.js';

export { CorruptStateError } from '../base/json-file.js';

export interface LabState {
  version: 2;
  lab: Lab;
  /** The testbed's kind: its key in the registry the lifecycle was handed. */
  testbed: string;
  createdAt: string;
  /**
   * Set while the run that creates the lab has not yet started it (its machines up and their preflight passed). Left
   * set, that run was killed: the state records only what to remove, not a lab to take over (a restored VM not yet
   * given the lab's key would refuse it).
   */
  starting?: true;
  /**
   * Set from the end of `starting` until the plan was first applied in full. Left set, that run was killed while
   * building the network: links down and httpd not running are its unfinished work, not faults a user injected.
   */
  building?: true;
  /** What the testbed recorded of its own (its VM, its Vagrant project): opaque here, checked by the testbed. */
  testbedState?: unknown;
}

const stateSchema = z.strictObject({
  version: z.literal(2),
  lab: z.record(z.string(), z.unknown()),
  testbed: z.string().regex(/^[a-z]{1,16}$/),
  createdAt: z.iso.datetime(),
  starting: z.literal(true).optional(),
  building: z.literal(true).optional(),
  testbedState: z.unknown().optional(),
});

/** A state written before testbeds owned their part (version 1: `vm` or `vagrant` beside the rest), mapped. */
function upgraded(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || (raw as { version?: unknown }).version !== 1) return raw;
  const { vm, vagrant, ...rest } = raw as Record<string, unknown>;
  return { ...rest, version: 2, ...((vm ?? vagrant) ? { testbedState: vm ?? vagrant } : {}) };
}

/** The lab a state holds, as validation makes it: what it records beyond that (or other than that) is refused. */
function labOfState(raw: Record<string, unknown>): Lab {
  const { prefixLength: _p, outsidePrefixLength: _o, ...input } = raw;
  const lab = validateLab(input, 'state');
  if (JSON.stringify(lab) !== JSON.stringify(raw)) throw new Error('its lab is not one the kit validated');
  return lab;
}

/** A state file's content, checked: the schema, the lab re-validated, the name its directory's, the testbed's own
 * part by that testbed. */
export function parseState(raw: unknown, file: string, name: string, testbeds: Testbeds): LabState {
  const parsed = stateSchema.safeParse(upgraded(raw));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CorruptStateError(file, `${issue.path.join('.') || '(state)'}: ${issue.message}`);
  }
  let lab: Lab;
  try {
    lab = labOfState(parsed.data.lab);
  } catch (err) {
    throw new CorruptStateError(file, `lab: ${(err as Error).message.split('\n').slice(0, 2).join(' ')}`);
  }
  if (lab.name !== name) throw new CorruptStateError(file, `lab.name is ${lab.name}, not the directory's ${name}`);
  const testbed = Object.hasOwn(testbeds, parsed.data.testbed) ? testbeds[parsed.data.testbed] : undefined;
  if (!testbed) throw new CorruptStateError(file, `testbed: no testbed "${parsed.data.testbed}" here`);
  const { testbedState, ...rest } = parsed.data;
  if (testbedState === undefined) return { ...rest, lab };
  try {
    return { ...rest, lab, testbedState: testbed.readOwn(testbedState, lab) };
  } catch (err) {
    throw new CorruptStateError(file, `${testbed.kind}.${(err as Error).message}`);
  }
}

const stateFile = (name: string) => join(labStateDir(name), 'state.json');

export async function readState(name: string, testbeds: Testbeds): Promise<LabState | undefined> {
  const file = stateFile(name);
  const raw = await readJson<unknown>(file);
  return raw === undefined ? undefined : parseState(raw, file, name, testbeds);
}

export const writeState = (state: LabState): Promise<void> => writeJson(stateFile(state.lab.name), state);

/** A lab directory whose state cannot be read: its name and why, for `status` to list beside the others. */
export interface UnreadableState {
  name: string;
  problem: string;
}

/** Every lab's state, and apart from them the ones that cannot be read: one corrupt state hides no other lab. */
export async function scanStates(testbeds: Testbeds): Promise<{ states: LabState[]; unreadable: UnreadableState[] }> {
  const dir = join(stateDir(), 'labs');
  if (!existsSync(dir)) return { states: [], unreadable: [] };
  const states: LabState[] = [];
  const unreadable: UnreadableState[] = [];
  for (const name of (await readdir(dir)).sort()) {
    if (!LAB_NAME_PATTERN.test(name)) {
      unreadable.push({ name, problem: 'not a lab name: the kit made no such directory' });
      continue;
    }
    try {
      const state = await readState(name, testbeds);
      if (state) states.push(state);
    } catch (err) {
      if (!(err instanceof CorruptStateError)) throw err;
      unreadable.push({ name, problem: err.reason });
    }
  }
  return { states, unreadable };
}
