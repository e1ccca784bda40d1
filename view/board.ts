// Where other commands leave what a running view shows: the last `explain` ladder and the running `load`'s output.
// The view owns the board: it creates it when it starts (one view per lab) and removes it when it stops, so other
// commands write to it only while a view runs, and nothing is left after.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stateDir } from '../base/paths.js';
import { kitProcessAlive } from '../base/process.js';
import { UserError } from '../model/errors.js';
import { checkLabName } from '../model/topology.js';

export const BOARD_FILES = { ladder: 'explain.svg', load: 'load.txt' } as const;
export type BoardFile = keyof typeof BOARD_FILES;

export const boardDir = (lab: string): string => join(stateDir(), 'view', checkLabName(lab, 'lab name'));

/** Claims the lab's board for this process; another live view of the lab is refused, a dead one's board taken
 * (its pid checked as the lock's is: a recycled pid of another program is no view). */
export async function claimBoard(lab: string): Promise<{ dir: string; release(): Promise<void> }> {
  const dir = boardDir(lab);
  const pidFile = join(dir, 'pid');
  const other = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (other && other !== process.pid && kitProcessAlive(other))
    throw new UserError(`view: lab ${lab} is already shown by another view (pid ${other}); one view per lab`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(pidFile, `${process.pid}\n`);
  return { dir, release: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes `text` to the lab's board when a view runs; otherwise nothing (no view, nothing to show it to). */
export async function post(lab: string, file: BoardFile, text: string): Promise<void> {
  const dir = boardDir(lab);
  if (!existsSync(join(dir, 'pid'))) return;
  await writeFile(join(dir, BOARD_FILES[file]), text).catch(() => {}); // the view stopped meanwhile
}

/** What the board holds in `file` now, if anything. */
export const read = (dir: string, file: BoardFile): Promise<string | undefined> =>
  readFile(join(dir, BOARD_FILES[file]), 'utf8').catch(() => undefined);

/** When `file` was last written (the page fetches a ladder again when it changes), if it was. */
export const writtenAt = (dir: string, file: BoardFile): Promise<number | undefined> =>
  stat(join(dir, BOARD_FILES[file])).then(
    (st) => st.mtimeMs,
    () => undefined,
  );
