// One lifecycle command per lab at a time: `up` and `down` hold the lab's lock file (its pid, the command, since
// when), so two `up`s of one lab, or a `down` during an `up`, never leave two half-labs under one name. The second
// is refused with who holds the lock. A lock whose process is gone is stale and taken over. Re-entrant within one
// async call chain (a failed `up` calls `down` under the lock it holds), not across two chains of one process.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../model/errors.js';
import { checkLabName } from '../model/topology.js';
import { stateDir } from '../base/paths.js';
import { kitProcessAlive } from '../base/process.js';

export const lockFile = (lab: string): string => join(stateDir(), 'locks', `${checkLabName(lab, 'lab name')}.lock`);

interface Holder {
  pid: number;
  command: string;
  since: string;
}

/** The locks the current async call chain holds. */
const held = new AsyncLocalStorage<ReadonlySet<string>>();

export class LabBusyError extends UserError {
  constructor(
    readonly lab: string,
    readonly holder: Holder,
  ) {
    super(
      `lab "${lab}" is busy: \`${holder.command}\` (pid ${holder.pid}) has held it since ${holder.since}; ` +
        `wait for it to finish (if that process is gone, remove ${lockFile(lab)})`,
    );
  }
}

/** The lock file as it is now: its holder (undefined when it does not parse) and its inode, or undefined if gone. */
async function readLock(file: string): Promise<{ holder?: Holder; ino: number } | undefined> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const { ino, size } = await fh.stat();
    const text = size > 4096 ? '' : await fh.readFile('utf8');
    let holder: Holder | undefined;
    try {
      const h = JSON.parse(text) as Partial<Holder>;
      if (Number.isInteger(h.pid) && typeof h.command === 'string' && typeof h.since === 'string') holder = h as Holder;
    } catch {
      holder = undefined; // empty or cut short: no live process wrote it (a lock is linked in whole)
    }
    return { holder, ino };
  } finally {
    await fh.close();
  }
}

/**
 * Removes a stale lock, the very file read as stale: it is renamed aside (one process wins) and, when what was renamed
 * is a newer lock that another process linked in meanwhile, put back.
 */
async function removeStale(file: string, ino: number): Promise<void> {
  const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // another process removed it first
    throw err;
  }
  if ((await stat(aside)).ino !== ino) await link(aside, file).catch(() => {});
  await rm(aside, { force: true });
}

/** Takes the lock: the holder's record is written whole to a file of its own, then linked in place (atomic; fails
 * when a lock exists). Returns the lock's inode. */
async function acquire(lab: string, command: string): Promise<number> {
  const file = lockFile(lab);
  await mkdir(join(stateDir(), 'locks'), { recursive: true, mode: 0o700 });
  const mine = `${file}.${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(mine, 'wx', 0o600);
  try {
    await fh.writeFile(JSON.stringify({ pid: process.pid, command, since: new Date().toISOString() } satisfies Holder));
    const { ino } = await fh.stat();
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        await link(mine, file);
        return ino;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const current = await readLock(file);
      if (!current) continue;
      if (current.holder && kitProcessAlive(current.holder.pid)) throw new LabBusyError(lab, current.holder);
      await removeStale(file, current.ino); // its process is gone (killed, or the machine rebooted), or it is no lock
    }
    throw new Error(`${file}: could not take the lock (it kept changing hands)`);
  } finally {
    await fh.close();
    await rm(mine, { force: true });
  }
}

/** Runs `fn` holding the lab's lock; refuses (LabBusyError) while another live process holds it. */
export async function withLabLock<T>(lab: string, command: string, fn: () => Promise<T>): Promise<T> {
  const mine = held.getStore() ?? new Set<string>();
  if (mine.has(lab)) return fn();
  const ino = await acquire(lab, command);
  try {
    return await held.run(new Set([...mine, lab]), fn);
  } finally {
    // Only this run's own lock: one taken over after this process was thought gone is the new holder's.
    if ((await readLock(lockFile(lab)))?.ino === ino) await rm(lockFile(lab), { force: true });
  }
}
