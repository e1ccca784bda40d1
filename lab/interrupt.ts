import { type Log } from '../base/log.js';
// Ctrl-C (SIGINT) or SIGTERM during a command that builds something: the run is not killed on the spot. Children
// in its process group got the Ctrl-C too (Vagrant, ssh) and stop; the command's own failure path or the caller
// then removes what this run created, says so, and exits 130. A second signal exits at once, saying what is left.

export interface Interrupts {
  readonly interrupted: boolean;
  dispose(): void;
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * A listener for SIGINT and SIGTERM that calls `first` for the first signal; a later one says what may be left and
 * exits 130 at once. One Ctrl-C can arrive twice (from the terminal, and relayed by a parent such as npm or the tsx
 * CLI): a repeat within 1 s is that, and is ignored.
 */
function onInterrupt(first: (sig: NodeJS.Signals) => void, log: Log, leftBehind: string) {
  let at = 0;
  return (sig: NodeJS.Signals) => {
    if (at && Date.now() - at < 1_000) return;
    if (at) {
      log(`${sig} again: exiting now; ${leftBehind}`);
      process.exit(130);
    }
    at = Date.now();
    first(sig);
  };
}

export function trapInterrupts(log: Log, leftBehind: string): Interrupts {
  let signal: NodeJS.Signals | undefined;
  const handler = onInterrupt(
    (sig) => {
      signal = sig;
      log(`${sig}: stopping; what this run created will be removed before it exits (again to exit at once)`);
    },
    log,
    leftBehind,
  );
  for (const s of SIGNALS) process.on(s, handler);
  return {
    get interrupted() {
      return signal !== undefined;
    },
    dispose: () => {
      for (const s of SIGNALS) process.off(s, handler);
    },
  };
}

/**
 * For runs that hold what they built until the end (a test suite's lab, the benchmark's): on Ctrl-C or SIGTERM,
 * `teardown` removes it, says so, and the process exits 130. A second signal exits at once. Returns the untrap.
 *
 * While trapped, this is the process's only listener for those signals: a test runner's own (vitest's exits 1 ms
 * after the signal) would otherwise end the process before the teardown finished, leaving the lab behind. They are
 * set aside here and put back by the untrap.
 */
export function teardownOnSignal(what: string, teardown: () => Promise<void>, log: (m: string) => void): () => void {
  const others = new Map(SIGNALS.map((s) => [s, process.listeners(s)]));
  for (const s of SIGNALS) process.removeAllListeners(s);
  const handler = onInterrupt(
    (sig) => {
      log(`${sig}: removing ${what} before exiting (again to exit at once)`);
      teardown().then(
        () => {
          log(`interrupted: removed ${what}`);
          process.exit(130);
        },
        (err) => {
          log(`interrupted: removing ${what} failed: ${err}`);
          process.exit(130);
        },
      );
    },
    log,
    `${what} may be left (\`npm run lab -- down\` removes a lab)`,
  );
  for (const s of SIGNALS) process.on(s, handler);
  return () => {
    for (const s of SIGNALS) {
      process.off(s, handler);
      for (const l of others.get(s)!) process.on(s, l);
    }
  };
}
