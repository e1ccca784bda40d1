// Declared checks run on a fake lab (a transport that records every command): the given is made before and undone
// after, also when the check fails or the run is interrupted; a check retries until its `within` is over; the JUnit
// file parses and counts what the console says.
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { junitXml } from '../../../checks/junit.js';
import { formatCheckResult, runCheck, runChecks } from '../../../checks/run.js';
import { checkSchema } from '../../../model/checks.js';
import { validateLab } from '../../../model/topology.js';
import type { LabAccess } from '../../../provision/transport.js';

/** A lab whose hosts answer every command with success (`client` prints `answer`); each command is recorded. */
function fakeLab(answer = () => 'hello') {
  const seen: Array<[string, string]> = [];
  const access: LabAccess = {
    lab: validateLab({ name: 'fake' }, 'test'),
    httpd: { kind: 'system' },
    transport: {
      kind: 'ssh',
      interactive: () => Promise.resolve([]),
      run: (host, command) => {
        seen.push([host, command]);
        // A plan's script: every step reported as run (provision/apply.ts's outcome lines).
        const steps = [...command.matchAll(/^# step (\d+)$/gm)].map((m) => `\n@@lvs-lab-step ${m[1]} run 0\n`);
        const stdout = steps.length > 0 ? steps.join('') : host === 'client' ? answer() : '';
        return Promise.resolve({ stdout, stderr: '', code: 0 });
      },
    },
  };
  return { access, seen };
}

const check = (c: object) => checkSchema.parse({ name: 'c', ...c });
const slowRs1 = { fault: { host: 'rs1', delay: '200ms' } };

describe('a declared check', () => {
  it('passes, with its given made before and undone after', async () => {
    const { access, seen } = fakeLab();
    const r = await runCheck(
      access,
      check({
        given: slowRs1,
        exec: { host: 'client', command: 'echo' },
        expect: { stdout: { matches: '^hello$' } },
        pass: 'said hello',
      }),
    );
    expect(r.ok).toBe(true);
    expect(r.text).toBe('said hello');
    expect(r.given).toEqual(['rs1: netem delay 200ms on eth0']);
    expect(r.undone[0]).toMatch(/^rs1: every fault cleared/);
    const order = seen.map(([h, c]) => `${h}:${c.split(' ')[0]}`);
    expect(order.indexOf('rs1:tc')).toBeLessThan(order.indexOf('client:echo'));
    expect(seen.some(([h, c]) => h === 'rs1' && c.includes('tc qdisc del dev eth0 root'))).toBe(true);
    expect(formatCheckResult(r)).toMatch(
      /^PASS {2}c — said hello\n {6}given: rs1: netem delay 200ms on eth0\n {6}ok stdout:/,
    );
  });

  it('fails after retrying until its deadline, its fail text and what was seen printed, the given still undone', async () => {
    const { access, seen } = fakeLab(() => 'bye');
    const r = await runCheck(
      access,
      check({
        within: 1.5,
        given: slowRs1,
        exec: { host: 'client', command: 'echo' },
        expect: { stdout: { matches: 'hello' } },
        fail: 'no hello',
      }),
    );
    expect(r.ok).toBe(false);
    expect(r.attempts).toBeGreaterThanOrEqual(2);
    expect(formatCheckResult(r)).toContain(
      'FAIL  c — no hello\n      given: rs1: netem delay 200ms on eth0\n      not stdout: seen "bye"; expected matches /hello/',
    );
    expect(seen.filter(([h, c]) => h === 'rs1' && c.includes('tc qdisc del')).length).toBe(1);
  });

  it('interrupted, stops retrying and the rest of the run, and still undoes its given', async () => {
    const { access, seen } = fakeLab(() => 'bye');
    let stop = false;
    const running = runChecks(
      access,
      [
        check({
          name: 'first',
          within: 60,
          given: slowRs1,
          exec: { host: 'client', command: 'echo' },
          expect: { stdout: { matches: 'hello' } },
        }),
        check({ name: 'second', vip: {}, expect: { holder: 'director' } }),
      ],
      { interrupted: () => stop, onResult: () => undefined },
    );
    setTimeout(() => (stop = true), 1_500); // as Ctrl-C does, while the first check retries
    const results = await running;
    expect(results.map((r) => r.name)).toEqual(['first']);
    expect(seen.some(([h, c]) => h === 'rs1' && c.includes('tc qdisc del'))).toBe(true);
  }, 10_000);

  it('weights given are set on the director and set back', async () => {
    const { access, seen } = fakeLab();
    const r = await runCheck(
      access,
      check({ given: { weight: { rs1: 0 } }, exec: { host: 'client', command: 'echo' }, expect: { exitCode: 0 } }),
    );
    expect(r.given).toEqual(['weights rs1=0']);
    const director = seen.filter(([h]) => h === 'director').map(([, c]) => c);
    expect(director[0]).toContain('-r 192.168.170.102 -g -w 0');
    expect(director.at(-1)).toContain('-r 192.168.170.102 -g');
    expect(director.at(-1)).not.toContain('-w 0');
  });
});

describe('JUnit', () => {
  it('parses, and counts the same as the console', async () => {
    const { access } = fakeLab(() => 'bye');
    const results = await runChecks(access, [
      check({
        name: 'says hello',
        exec: { host: 'client', command: 'echo' },
        expect: { stdout: { matches: 'hello' } },
      }),
      check({ name: 'exits 0', exec: { host: 'client', command: 'echo' }, expect: { exitCode: 0 } }),
    ]);
    const builtin = [{ name: 'a <built-in> & "check"', ok: true, evidence: 'seen' }];
    const doc = new XMLParser({ ignoreAttributes: false }).parse(junitXml('fake', builtin, results)) as {
      testsuites: { '@_tests': string; '@_failures': string; testsuite: Array<{ testcase: unknown }> };
    };
    expect(doc.testsuites['@_tests']).toBe('3');
    expect(doc.testsuites['@_failures']).toBe(String(results.filter((r) => !r.ok).length));
    expect(doc.testsuites['@_failures']).toBe('1');
    expect(doc.testsuites.testsuite).toHaveLength(2);
  });
});
