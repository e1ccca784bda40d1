import { describe, expect, it } from 'vitest';
import { lastReading, waitFor } from '../../../base/wait.js';
import { rejection } from '../../rejection.js';

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
