// The kit's processes: a lab's VM is found by its qemu name alone (a run killed before it recorded the VM), by the
// exact name, never a longer one that starts the same, and only a qemu process; a process of the kit is ended with
// SIGTERM, then SIGKILL, and nothing that is not the kit's is signalled.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../base/wait.js';
import { stopProcess } from '../../../base/process.js';
import { isOurVm, vmPidsNamed } from '../../../machine/qemu.js';

/** Polls `cond` (every 10 ms, 5 s at most) rather than sleeping a guess of how long it takes. */
const until = (cond: () => boolean) =>
  waitFor(() => (cond() ? true : undefined), {
    within: 5_000,
    every: 10,
    timedOut: () => new Error('condition not met within 5 s'),
  });

const readCmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
};

/** A process whose command line reads as a qemu started under `name` (perl sleeping, renamed by bash's exec -a). */
function fakeQemu(name: string, argv0 = 'qemu-system-x86_64') {
  const child = spawn('bash', ['-c', `exec -a ${argv0} perl -e 'sleep 60' -- -name ${name},process=${name}`], {
    stdio: 'ignore',
  });
  return child;
}

const children: ReturnType<typeof fakeQemu>[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

describe('VMs by name', () => {
  it('finds the qemu of exactly this name', async () => {
    const [k9, k91, notQemu] = [fakeQemu('lvs-lab-k9'), fakeQemu('lvs-lab-k91'), fakeQemu('lvs-lab-k9', 'perl')];
    children.push(k9, k91, notQemu);
    // Each has exec'd once its command line is the fake qemu's (or perl's) rather than bash's.
    await until(() => [k9, k91, notQemu].every((c) => !readCmdline(c.pid!).startsWith('bash')));
    expect(await vmPidsNamed('lvs-lab-k9')).toEqual([k9.pid]);
    expect(await vmPidsNamed('lvs-lab-k91')).toEqual([k91.pid]);
    expect(await vmPidsNamed('lvs-lab-k')).toEqual([]);
    expect(isOurVm(k9.pid!, 'lvs-lab-k9')).toBe(true);
    expect(isOurVm(k91.pid!, 'lvs-lab-k9')).toBe(false);
    expect(isOurVm(notQemu.pid!, 'lvs-lab-k9')).toBe(false);
  });
});

describe('stopProcess', () => {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const start = (script: string) => {
    const child = spawn('sh', ['-c', script], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_code, signal) => resolve(signal)),
    );
    return { pid: child.pid!, exited, ours: () => child.exitCode === null && child.signalCode === null };
  };

  it('ends a process with SIGTERM', async () => {
    const p = start('exec sleep 60');
    await stopProcess(p.pid, p.ours, 5_000);
    expect(await p.exited).toBe('SIGTERM');
  });

  it('kills one that ignores SIGTERM once its grace time is over', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'lvs-lab-trap-')), 'trapped');
    const p = start(`trap "" TERM; touch ${marker}; while :; do sleep 0.1; done`);
    await until(() => existsSync(marker)); // the trap is set
    const t0 = Date.now();
    await stopProcess(p.pid, p.ours, 500);
    expect(await p.exited).toBe('SIGKILL');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
  });

  it('signals nothing that is not ours', async () => {
    const p = start('exec sleep 60');
    await stopProcess(p.pid, () => false, 100);
    expect(alive(p.pid)).toBe(true);
    process.kill(p.pid, 'SIGKILL');
    await p.exited;
  });
});
