import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { lastReading, stopProcess, waitFor } from '../../provision/wait.js';
import { rejection } from '../rejection.js';

describe('waitFor', () => {
  it('tries again at its pace until a value comes', async () => {
    let attempts = 0;
    const t0 = Date.now();
    const value = await waitFor(() => (++attempts === 4 ? 'ready' : undefined), {
      within: 5_000,
      every: 50,
      timedOut: () => new Error('late'),
    });
    expect(value).toBe('ready');
    expect(attempts).toBe(4);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150); // three pauses
  });

  it('gives up with its own error once the time is over, having tried all along', async () => {
    let attempts = 0;
    const t0 = Date.now();
    const err = await rejection(
      waitFor(() => void attempts++, { within: 300, every: 50, timedOut: () => new Error('no socket within 0.3 s') }),
    );
    expect(err.message).toBe('no socket within 0.3 s');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(attempts).toBeGreaterThanOrEqual(4);
  });

  it("ends at once with an attempt's error", async () => {
    let attempts = 0;
    const err = await rejection(
      waitFor(
        () => {
          attempts++;
          throw new Error('qemu exited');
        },
        { within: 5_000, every: 50, timedOut: () => new Error('late') },
      ),
    );
    expect(err.message).toBe('qemu exited');
    expect(attempts).toBe(1);
  });

  it('takes a value that is falsy but defined (0, false, empty string)', async () => {
    const opts = { within: 1_000, every: 10, timedOut: () => new Error('late') };
    expect(await waitFor(() => 0, opts)).toBe(0);
    expect(await waitFor(() => false, opts)).toBe(false);
    expect(await waitFor(() => Promise.resolve(''), opts)).toBe('');
  });
});

describe('lastReading', () => {
  it('returns the first settled reading, or the last one when time runs out', async () => {
    let n = 0;
    expect(
      await lastReading(
        () => Promise.resolve(++n),
        (v) => v >= 3,
        { within: 5_000, every: 10 },
      ),
    ).toBe(3);
    n = 0;
    const last = await lastReading(
      () => Promise.resolve(++n),
      () => false,
      { within: 200, every: 50 },
    );
    expect(last).toBe(n);
    expect(last).toBeGreaterThan(2);
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
    const p = start('trap "" TERM; while :; do sleep 0.1; done');
    await new Promise((r) => setTimeout(r, 200)); // the trap is set
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
