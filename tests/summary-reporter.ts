// Ends every run with one plain line, "N passed, N failed, N skipped", that any CI can read. Every skipped test is
// listed with its reason; in CI a test skipped without one (a bare .skip or skipIf) fails the run, so no condition
// can quietly turn a suite into tests that assert nothing.
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    const skips: string[] = [];
    const unexplained: string[] = [];
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const result = test.result();
        if (result.state === 'passed') counts.passed++;
        else if (result.state === 'failed') counts.failed++;
        else {
          counts.skipped++;
          const note = 'note' in result ? result.note : undefined;
          skips.push(`SKIP  ${test.fullName} (${note ?? 'no reason given'})`);
          if (!note) unexplained.push(test.fullName);
        }
      }
      // A file that failed to load has no tests to count; it still failed.
      if (module.state() === 'failed' && [...module.children.allTests()].length === 0) counts.failed++;
    }
    const out = skips.length > 0 ? [``, ...skips] : [];
    if (process.env.CI && unexplained.length > 0) {
      out.push(`[FAIL] ${unexplained.length} tests skipped without a reason (skip them with ctx.skip('why'))`);
      counts.failed += unexplained.length;
      counts.skipped -= unexplained.length;
      process.exitCode = 1;
    }
    process.stdout.write(
      `${out.join('\n')}\n${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`,
    );
  }
}
