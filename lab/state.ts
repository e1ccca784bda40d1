// A lab's state on disk: what `down`, `verify` and the tests need to find a lab that another process built. Root
// turns it into commands and paths, so it is read through a schema: what the lab's name does not derive is refused.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { UserError } from '../model/errors.js';
import { HOST_NAME_PATTERN, LAB_NAME_PATTERN, validateLab, type Lab } from '../model/topology.js';
import type { VagrantState } from '../testbed/vagrant/state.js';
import type { VmState } from '../machine/machine.js';
import { mgmtNetworkName, vagrantDir, vmName } from '../testbed/names.js';
import { labStateDir, stateDir } from '../base/paths.js';

export const TESTBED_KINDS = ['netns', 'vm', 'vagrant'] as const;
export type TestbedKind = (typeof TESTBED_KINDS)[number];

export interface LabState {
  version: 1;
  lab: Lab;
  testbed: TestbedKind;
  createdAt: string;
  /**
   * Set while the run that creates the lab has not yet started it (its machines up and their preflight passed). Left
   * set, that run was killed: the state records only what to remove, not a lab to take over (a restored VM not yet
   * given the lab's key would refuse it).
   */
  starting?: true;
  /** vm: the VM the lab's namespaces live in. */
  vm?: VmState;
  /** vagrant: the lab's Vagrant project and the libvirtd it runs on. */
  vagrant?: VagrantState;
}

/** A state or lock file larger than this is not one (and is not read whole). */
const MAX_JSON_BYTES = 1024 * 1024;

/** A JSON file, or undefined when there is none; a file that is not JSON is a CorruptStateError. */
export async function readJson<T>(file: string): Promise<T | undefined> {
  if (!existsSync(file)) return undefined;
  const { size } = await stat(file);
  if (size > MAX_JSON_BYTES) throw new CorruptStateError(file, `${size} bytes, too large`);
  const text = await readFile(file, 'utf8');
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new CorruptStateError(file, text.trim() === '' ? 'empty' : `not JSON (${(err as Error).message})`);
  }
}

/** Writes an exclusive file of its own beside and renames: a reader (or a kill) never sees half a file, and no
 * other file is written through. The directory is private. */
export async function writeJson(file: string, value: unknown): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(JSON.stringify(value, null, 2));
  } finally {
    await fh.close();
  }
  await rename(tmp, file).catch(async (err: unknown) => {
    await rm(tmp, { force: true });
    throw err;
  });
}

/** A state file that cannot be what the kit wrote: refused, with where it is and why. */
export class CorruptStateError extends UserError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: not a lab state the kit wrote (${reason}); \`down --name <lab>\` removes what it can find by name`);
  }
}

const base64 = z.string().regex(/^[A-Za-z0-9+/]{16,}={0,2}$/, 'must be a base64 key blob');
const vmSchema = z.strictObject({
  name: z.string(),
  pid: z
    .number()
    .int()
    .min(2)
    .max(2 ** 22),
  sshPort: z.number().int().min(1).max(65535),
  hostKey: base64,
  accel: z.string().regex(/^[a-z]{0,8}$/),
  restored: z.boolean().optional(),
});
const vagrantSchema = z.strictObject({
  dir: z.string(),
  box: z.string().regex(/^lvs-lab\/bookworm-[0-9a-f]{8,64}$/),
  mgmt: z.strictObject({
    name: z.string(),
    subnet: z.cidrv4(),
    addresses: z.record(z.string().regex(HOST_NAME_PATTERN), z.ipv4()),
  }),
  netns: z.literal('lvs-lab-libvirt').optional(),
  hostKey: base64,
  hostKeys: z.record(z.string().regex(HOST_NAME_PATTERN), base64).optional(),
});
const stateSchema = z.strictObject({
  version: z.literal(1),
  lab: z.record(z.string(), z.unknown()),
  testbed: z.enum(TESTBED_KINDS),
  createdAt: z.iso.datetime(),
  starting: z.literal(true).optional(),
  vm: vmSchema.optional(),
  vagrant: vagrantSchema.optional(),
});

/** What a lab's name derives: the names and paths its testbed gives it (a state may hold these and nothing else). */
function derivedProblems(state: z.infer<typeof stateSchema>, lab: Lab): string[] {
  const problems: string[] = [];
  if (state.vm && state.vm.name !== vmName(lab.name)) problems.push(`vm.name is not ${vmName(lab.name)}`);
  if (state.vagrant) {
    if (state.vagrant.dir !== vagrantDir(lab.name)) problems.push("vagrant.dir is not the lab's own");
    if (state.vagrant.mgmt.name !== mgmtNetworkName(lab))
      problems.push(`vagrant.mgmt.name is not ${mgmtNetworkName(lab)}`);
  }
  return problems;
}

/** The lab a state holds, as validation makes it: what it records beyond that (or other than that) is refused. */
function labOfState(raw: Record<string, unknown>): Lab {
  const { prefixLength: _p, outsidePrefixLength: _o, ...input } = raw;
  const lab = validateLab(input, 'state');
  if (JSON.stringify(lab) !== JSON.stringify(raw)) throw new Error('its lab is not one the kit validated');
  return lab;
}

/** A state file's content, checked: the schema, the lab re-validated, the name its directory's. */
export function parseState(raw: unknown, file: string, name: string): LabState {
  const parsed = stateSchema.safeParse(raw);
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
  const problems = derivedProblems(parsed.data, lab);
  if (problems.length > 0) throw new CorruptStateError(file, problems.join('; '));
  return { ...parsed.data, lab };
}

const stateFile = (name: string) => join(labStateDir(name), 'state.json');

export async function readState(name: string): Promise<LabState | undefined> {
  const file = stateFile(name);
  const raw = await readJson<unknown>(file);
  return raw === undefined ? undefined : parseState(raw, file, name);
}

export const writeState = (state: LabState): Promise<void> => writeJson(stateFile(state.lab.name), state);

/** A lab directory whose state cannot be read: its name and why, for `status` to list beside the others. */
export interface UnreadableState {
  name: string;
  problem: string;
}

/** Every lab's state, and apart from them the ones that cannot be read: one corrupt state hides no other lab. */
export async function listStates(): Promise<LabState[]> {
  return (await scanStates()).states;
}

export async function scanStates(): Promise<{ states: LabState[]; unreadable: UnreadableState[] }> {
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
      const state = await readState(name);
      if (state) states.push(state);
    } catch (err) {
      if (!(err instanceof CorruptStateError)) throw err;
      unreadable.push({ name, problem: err.reason });
    }
  }
  return { states, unreadable };
}
