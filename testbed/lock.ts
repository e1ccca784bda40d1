// One lifecycle command per lab at a time: `up` and `down` hold the lab's lock file (its pid, the command, since
// when), so two `up`s of one lab, or a `down` during an `up`, never leave two half-labs under one name. The second
// is refused with who holds the lock. A lock whose process is gone is stale and taken over. Re-entrant within one
// async call chain (a failed `up` calls `down` under the lock it holds), not across two chains of one process.
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../model/errors.js';
import { stateDir } from './paths.js';
import { kitProcessAlive } from './process.js';

export const lockFile = (lab: string): string => join(stateDir(), 'locks', `${lab}.lock`);

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

/** Runs `fn` holding the lab's lock; refuses (LabBusyError) while another live process holds it. */
export async function withLabLock<T>(lab: string, command: string, fn: () => Promise<T>): Promise<T> {
  const mine = held.getStore() ?? new Set<string>();
  if (mine.has(lab)) return fn();
  const file = lockFile(lab);
  await mkdir(join(stateDir(), 'locks'), { recursive: true, mode: 0o700 });
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o600);
      await fh.writeFile(
        JSON.stringify({ pid: process.pid, command, since: new Date().toISOString() } satisfies Holder),
      );
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const holder = JSON.parse(await readFile(file, 'utf8').catch(() => '{}')) as Partial<Holder>;
      if (holder.pid && kitProcessAlive(holder.pid)) throw new LabBusyError(lab, holder as Holder);
      await rm(file, { force: true }); // stale: its process is gone (killed, or the machine rebooted)
    }
  }
  try {
    return await held.run(new Set([...mine, lab]), fn);
  } finally {
    await rm(file, { force: true });
  }
}
