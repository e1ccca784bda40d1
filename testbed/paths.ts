// Where lvs-lab keeps what outlives one command: the VM image cache, and each lab's state.
import { homedir } from 'node:os';
import { join } from 'node:path';

export const cacheDir = (): string =>
  process.env.LVS_LAB_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lvs-lab');

export const stateDir = (): string =>
  process.env.LVS_LAB_STATE_DIR ?? join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'lvs-lab');

export const labStateDir = (lab: string): string => join(stateDir(), 'labs', lab);
