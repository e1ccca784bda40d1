// Ctrl-C (SIGINT) or SIGTERM during a command that builds something: the run is not killed on the spot. Children
// in its process group got the Ctrl-C too (Vagrant, ssh) and stop; the command's own failure path or the caller
// then removes what this run created, says so, and exits 130. A second signal exits at once, saying what is left.
import type { Log } from '../testbed/testbed.js';

export interface Interrupts {
  readonly interrupted: boolean;
  dispose(): void;
}

export function trapInterrupts(log: Log, leftBehind: string): Interrupts {
  let signal: NodeJS.Signals | undefined;
  let at = 0;
  const handler = (sig: NodeJS.Signals) => {
    // One Ctrl-C can arrive twice (from the terminal, and relayed by tsx's parent process): only a later one counts.
    if (signal && Date.now() - at < 1_000) return;
    if (signal) {
      log(`${sig} again: exiting now; ${leftBehind}`);
      process.exit(130);
    }
    signal = sig;
    at = Date.now();
    log(`${sig}: stopping; what this run created will be removed before it exits (again to exit at once)`);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    get interrupted() {
      return signal !== undefined;
    },
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
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
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const others = new Map(signals.map((s) => [s, process.listeners(s)]));
  for (const s of signals) process.removeAllListeners(s);
  let stopping = 0;
  const handler = (sig: NodeJS.Signals) => {
    // As in trapInterrupts: one Ctrl-C can arrive twice; only a later one counts.
    if (stopping && Date.now() - stopping < 1_000) return;
    if (stopping) {
      log(`${sig} again: exiting now; ${what} may be left (\`npm run lab -- down\` removes a lab)`);
      process.exit(130);
    }
    stopping = Date.now();
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
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) {
      process.off(s, handler);
      for (const l of others.get(s)!) process.on(s, l);
    }
  };
}
