// The exercises under labs/ that fit the test lab run on it (the others on the side labs and stacks of their kind);
// then `verify` itself on the test lab with checks declared in a file: one that must fail fails with its text and
// exit 1, and the JUnit file counts the same.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabSession } from '../../lab/lifecycle.js';
import { labs } from '../labs.js';
import { EXERCISES, expectExercisePasses } from '../exercise.js';
import { cli, TEST_LAB } from './lab.js';

let s: LabSession;
beforeAll(async () => {
  s = await labs.connect(TEST_LAB.name);
});
afterAll(async () => s?.close());

describe('exercises', () => {
  it('each file under labs/ is run by a suite on a lab of its kind', () => {
    // Where each runs: here on the test lab, on the side labs of its variant, and on the Docker stacks.
    expect(EXERCISES).toEqual([
      'arp.yaml', // here
      'director-pair.yaml', // tests/suites/ha.ts (netns and Docker)
      'draining.yaml', // here
      'health.yaml', // health.test.ts, the dr-health stack
      'nat.yaml', // variants.test.ts, the nat-rr stack
      'persistence.yaml', // variants.test.ts, the Docker test stack
      'slow-realserver.yaml', // variants.test.ts (lc), the Docker test stack
      'tun.yaml', // variants.test.ts, the tun-rr stack
    ]);
  });

  it.each(['arp.yaml', 'draining.yaml'])('%s on the test lab: every declared check passes', async (file) => {
    await expectExercisePasses(s, file);
  });
});

describe('verify with checks declared in a file, on the test lab', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvs-lab-checks-'));
  const file = join(dir, 'lab.yaml');
  writeFileSync(
    file,
    [
      `name: ${TEST_LAB.name}`,
      'checks:',
      '  - name: rr alternates',
      '    requests: { count: 10 }',
      '    expect: { split: { rs1: 0.5, rs2: 0.5 }, tolerance: 0 }',
      '    pass: five each',
      '  - name: rs1 is gone',
      '    description: a check that must fail, rs1 is in the table',
      '    ipvs: {}',
      '    expect: { absent: rs1 }',
      '    fail: rs1 is still in the table',
    ].join('\n'),
  );

  it('a failing check fails with its text and exit 1; the JUnit file counts the same as the console', async () => {
    const junit = join(dir, 'out.xml');
    const res = await cli(['verify', '--file', file, '--skip-builtin', '--junit', junit]);
    expect(res.exitCode, res.stderr).toBe(1);
    expect(res.stdout).toMatch(/^PASS {2}rr alternates — five each$/m);
    expect(res.stdout).toMatch(/^FAIL {2}rs1 is gone — rs1 is still in the table$/m);
    expect(res.stdout).toMatch(/^ {6}not absent: seen in the table: rs1, rs2; expected not in the table: rs1$/m);
    expect(res.stdout).toMatch(/\] 1\/2 checks passed$/m);
    const doc = new XMLParser({ ignoreAttributes: false }).parse(readFileSync(junit, 'utf8')) as {
      testsuites: { '@_tests': string; '@_failures': string };
    };
    expect([doc.testsuites['@_tests'], doc.testsuites['@_failures']]).toEqual(['2', '1']);
  });

  it('--only runs the named checks; an unknown name is refused with exit 2 before anything runs', async () => {
    const ok = await cli(['verify', '--file', file, '--only', 'rr alternates']);
    expect(ok.exitCode, ok.stdout).toBe(0);
    expect(ok.stdout).toMatch(/\] 1\/1 checks passed$/m);
    const bad = await cli(['verify', '--file', file, '--only', 'nope']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('--only: no check named "nope" (rr alternates, rs1 is gone)');
  });
});
