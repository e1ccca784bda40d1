// The kit's own processes on this machine (qemu, libvirtd, a VM's SSH master connection, other lvs-lab runs): who a
// pid is, read from /proc before anything is signalled (never a recycled pid), and how one is ended.
import { readdirSync, readFileSync } from 'node:fs';
import { waitFor } from './wait.js';
import { TimeoutError } from '../model/errors.js';

/** The command line of a live process, argument by argument; undefined when there is no such process. */
export function processArgs(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

/** The live processes with a path inside `dir` in an argument (a VM's qemu names its image's kernel, and its saved
 * state inside `exec:cat '...'`). */
export function processesUsing(dir: string): number[] {
  const pids = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
  return pids.filter((pid) => processArgs(pid)?.some((a) => a.includes(`${dir}/`)));
}

/** Whether `pid` is a live lvs-lab process (node or tsx: one that could hold a lock, or own a build or a save), not
 * a recycled pid of something else. */
export function kitProcessAlive(pid: number): boolean {
  return /node|tsx/.test(processArgs(pid)?.join(' ') ?? '');
}

/**
 * Ends a process the kit started: SIGTERM, up to `graceMs` for it to exit, then SIGKILL and up to 5 s more. `ours`
 * re-checks the pid before each signal and attempt (never signal a recycled pid).
 */
export async function stopProcess(pid: number, ours: () => boolean, graceMs = 10_000): Promise<void> {
  const signal = (name: NodeJS.Signals) => {
    if (!ours()) return false;
    try {
      process.kill(pid, name);
    } catch {
      return false; // exited between the check and the signal
    }
    return true;
  };
  const gone = (within: number) =>
    waitFor(() => (ours() ? undefined : true), {
      within,
      every: 100,
      timedOut: () => new TimeoutError('still running', within),
    }).then(
      () => true,
      () => false,
    );
  if (!signal('SIGTERM') || (await gone(graceMs))) return;
  if (signal('SIGKILL')) await gone(5_000);
}
