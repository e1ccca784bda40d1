// The kit's one way to wait for something (a socket, SSH, a table, a process gone): zx's retry at a fixed pace,
// bounded by a deadline rather than a count, because an attempt itself can take a while under emulation.
import { retry, sleep, type Duration } from 'zx';

export { sleep };

/** Thrown by an attempt that found nothing yet; zx's retry tries again after the pace. */
class NotYet extends Error {}

export interface PollOptions {
  /** How long to keep trying, in ms, counted from the first attempt. */
  within: number;
  /** The pause between attempts ('250ms', 100, ...). */
  every: Duration;
}

export interface WaitOptions extends PollOptions {
  /** The error once `within` has passed without a value: the kit's are TimeoutErrors (what did not happen, and the
   * limit it had). */
  timedOut: () => Error;
}

type Attempt<T> = () => Promise<T | undefined> | T | undefined;

/** As waitFor, but gives undefined instead of an error once `within` has passed. */
export async function pollFor<T>(attempt: Attempt<T>, { within, every }: PollOptions): Promise<T | undefined> {
  const deadline = Date.now() + within;
  const outcome = await retry(Infinity, every, async (): Promise<{ value: T } | { error: unknown } | 'late'> => {
    let value: T | undefined;
    try {
      value = await attempt();
    } catch (error) {
      return { error };
    }
    if (value !== undefined) return { value };
    if (Date.now() >= deadline) return 'late';
    throw new NotYet();
  });
  if (outcome === 'late') return undefined;
  if ('error' in outcome) throw outcome.error;
  return outcome.value;
}

/**
 * Runs `attempt` until it gives a value (anything but undefined), pausing `every` between attempts; after `within` ms
 * throws `timedOut()`. An error thrown by `attempt` ends the wait at once with that error: an attempt that should
 * try again on an error catches it and returns undefined.
 */
export async function waitFor<T>(attempt: Attempt<T>, options: WaitOptions): Promise<T> {
  const value = await pollFor(attempt, options);
  if (value === undefined) throw options.timedOut();
  return value;
}

/**
 * Reads `read` until `settled` accepts a reading or `within` has passed, and returns the last reading either way:
 * for counters and tables that catch up a moment after the traffic, judged by the caller's check.
 */
export async function lastReading<T>(
  read: () => Promise<T>,
  settled: (reading: T) => boolean,
  options: PollOptions,
): Promise<T> {
  let last: { reading: T } | undefined;
  await pollFor(async () => {
    last = { reading: await read() };
    return settled(last.reading) ? true : undefined;
  }, options);
  return last!.reading;
}
