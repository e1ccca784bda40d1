// A lab's state on disk: what `down`, `verify` and the tests need to find a lab that another process built.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Lab } from '../model/topology.js';
import type { VmState } from './vm/machine.js';
import { labStateDir, stateDir } from './paths.js';

export type TestbedKind = 'netns' | 'vm';


export interface LabState {
  version: 1;
  lab: Lab;
  testbed: TestbedKind;
  createdAt: string;
  vm?: VmState;
}

const stateFile = (name: string) => join(labStateDir(name), 'state.json');

export async function readState(name: string): Promise<LabState | undefined> {
  if (!existsSync(stateFile(name))) return undefined;
  return JSON.parse(await readFile(stateFile(name), 'utf8')) as LabState;
}

export async function writeState(state: LabState): Promise<void> {
  await mkdir(labStateDir(state.lab.name), { recursive: true, mode: 0o700 });
  await writeFile(stateFile(state.lab.name), JSON.stringify(state, null, 2));
}

export async function listStates(): Promise<LabState[]> {
  const dir = join(stateDir(), 'labs');
  if (!existsSync(dir)) return [];
  const names = await readdir(dir);
  return (await Promise.all(names.map(readState))).filter((s): s is LabState => s !== undefined);
}
