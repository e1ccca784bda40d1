// Where lvs-lab keeps what outlives one command: the VM image cache, and each lab's state. Root builds commands and
// qemu options from these paths and trusts what it finds there, so each is checked before use.
import { lstatSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { UserError } from '../model/errors.js';
import { checkLabName, shown } from '../model/topology.js';

/**
 * A directory the kit writes to as root: absolute, with no comma (qemu's option syntax splits there) or control
 * character, and, when it exists, a directory of this user's that nobody else can write to.
 */
export function checkedDir(dir: string, from: string): string {
  if (!isAbsolute(dir)) throw new UserError(`${from}: ${shown(dir)} must be an absolute path`);
  if (/[,\p{Cc}]/u.test(dir))
    throw new UserError(`${from}: ${shown(dir)} has a comma or a control character, which qemu's options cannot take`);
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    return dir; // created private when first needed
  }
  const uid = process.getuid?.();
  if (!st.isDirectory()) throw new UserError(`${from}: ${dir} is not a directory`);
  if (uid !== undefined && st.uid !== uid)
    throw new UserError(`${from}: ${dir} belongs to uid ${st.uid}, not to this user (uid ${uid})`);
  if ((st.mode & 0o022) !== 0)
    throw new UserError(
      `${from}: ${dir} can be written by others (mode ${(st.mode & 0o777).toString(8)}); chmod go-w it`,
    );
  return dir;
}

/** An environment variable's directory, or the default; an empty value is refused rather than taken as ".". */
function configured(variable: string, fallback: () => string): string {
  const value = process.env[variable];
  if (value === undefined) return checkedDir(fallback(), 'the default directory');
  if (value === '') throw new UserError(`${variable}: is empty; unset it or give an absolute directory`);
  return checkedDir(value, variable);
}

export const cacheDir = (): string =>
  configured('LVS_LAB_CACHE_DIR', () => join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lvs-lab'));

export const stateDir = (): string =>
  configured('LVS_LAB_STATE_DIR', () =>
    join(process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'lvs-lab'),
  );

/** A lab's state directory; the name is checked again here, so no path built from one leaves `labs/`. */
export const labStateDir = (lab: string): string => join(stateDir(), 'labs', checkLabName(lab, 'lab name'));
