// The suites themselves: nothing in them can pass while asserting nothing unseen.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TestModule } from 'vitest/node';
import SummaryReporter from '../summary-reporter.js';

const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );

/** A module of tests in the shape the reporter reads. */
const module = (results: Array<{ state: string; note?: string }>) =>
  ({
    state: () => 'passed',
    children: { allTests: () => results.map((r, i) => ({ fullName: `t${i}`, result: () => r })) },
  }) as unknown as TestModule;

describe('the test suites', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    process.exitCode = undefined;
  });

  it('hold no .only (CI refuses one too: allowOnly is off there)', () => {
    const only = files('tests').filter((f) => /\b(it|test|describe)\.only\(/.test(readFileSync(f, 'utf8')));
    expect(only.filter((f) => !f.endsWith('suites.test.ts'))).toEqual([]);
  });

  it('list every skip with its reason; in CI a skip without one fails the run', () => {
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    try {
      vi.stubEnv('CI', 'true');
      new SummaryReporter().onTestRunEnd([module([{ state: 'passed' }, { state: 'skipped', note: 'no host CLI' }])]);
      expect(out.join('')).toMatch(/SKIP {2}t1 \(no host CLI\)\n1 passed, 0 failed, 1 skipped\n$/);
      expect(process.exitCode).toBeUndefined();
      new SummaryReporter().onTestRunEnd([module([{ state: 'passed' }, { state: 'skipped' }])]);
      expect(out.join('')).toMatch(/\[FAIL\] 1 tests skipped without a reason.*\n1 passed, 1 failed, 0 skipped\n$/);
      expect(process.exitCode).toBe(1);
    } finally {
      write.mockRestore();
    }
  });
});
