// Ctrl-C (or SIGTERM) during a suite: its global teardown runs before vitest exits, so an interrupted `npm test`
// leaves no lab, stack or engine VM behind, and says so. A second signal exits at once.
export function teardownOnSignal(what: string, teardown: () => Promise<void>, log: (m: string) => void): () => void {
  let stopping = false;
  const handler = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: removing ${what} before exiting`);
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
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
