// A lab's state on disk: what `down`, `verify` and the tests need to find a lab that another process built.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Lab } from '../model/topology.js';
import type { VagrantState } from './vagrant/state.js';
import type { VmState } from './vm/machine.js';
import { labStateDir, stateDir } from './paths.js';

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

/** A JSON file, or undefined when there is none. */
export async function readJson<T>(file: string): Promise<T | undefined> {
  if (!existsSync(file)) return undefined;
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

/** Writes beside and renames: a reader (or a kill) never sees half a file. The directory is private. */
export async function writeJson(file: string, value: unknown): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(`${file}.tmp`, JSON.stringify(value, null, 2));
  await rename(`${file}.tmp`, file);
}

const stateFile = (name: string) => join(labStateDir(name), 'state.json');

export const readState = (name: string): Promise<LabState | undefined> => readJson<LabState>(stateFile(name));

export const writeState = (state: LabState): Promise<void> => writeJson(stateFile(state.lab.name), state);

export async function listStates(): Promise<LabState[]> {
  const dir = join(stateDir(), 'labs');
  if (!existsSync(dir)) return [];
  const names = await readdir(dir);
  return (await Promise.all(names.map(readState))).filter((s): s is LabState => s !== undefined);
}
