// Each kind of expectation a lab file can declare, judged on canned evidence both ways: a check can pass and can fail.
import { describe, expect, it } from 'vitest';
import { judge, type Observation } from '../../../checks/judge.js';
import type { LoadResult } from '../../../drive/load.js';
import { checkSchema, type CheckExpect } from '../../../model/checks.js';

const expectOf = (e: object): CheckExpect => checkSchema.parse({ name: 'x', vip: {}, expect: e }).expect;
const load = (share: Record<string, number>, more: Partial<LoadResult> = {}): Observation => ({
  kind: 'requests',
  result: {
    requests: Object.values(share).reduce((a, b) => a + b, 0),
    seconds: 1,
    rate: 1,
    errors: { refused: 0, reset: 0, timeout: 0, status: {}, other: 0 },
    latencyMs: { p50: 1, p90: 1, p99: 1, max: 1 },
    share,
    predictedNote: '',
    connections: {},
    ...more,
  },
});
const one = (e: object, o: Observation) => {
  const verdicts = judge(expectOf(e), o);
  expect(verdicts).toHaveLength(1);
  return verdicts[0];
};

describe('declared expectations', () => {
  it('split: within the tolerance passes, outside it fails, with what was seen', () => {
    expect(one({ split: { rs1: 0.75, rs2: 0.25 } }, load({ rs1: 15, rs2: 5 })).ok).toBe(true);
    const off = one({ split: { rs1: 0.75, rs2: 0.25 } }, load({ rs1: 10, rs2: 10 }));
    expect(off.ok).toBe(false);
    expect(off.seen).toBe('rs1 50% (10), rs2 50% (10)');
    expect(off.expected).toBe('rs1 75%, rs2 25%, each within 10%');
    expect(one({ split: { rs1: 0.5, rs2: 0.5 }, tolerance: 0.3 }, load({ rs1: 14, rs2: 6 })).ok).toBe(true);
    expect(one({ split: { rs1: 1 } }, load({})).ok).toBe(false); // nothing answered
  });

  it('sameRealserver: per client address, or for the one client', () => {
    expect(one({ sameRealserver: true }, load({ rs1: 10 })).ok).toBe(true);
    expect(one({ sameRealserver: true }, load({ rs1: 9, rs2: 1 })).ok).toBe(false);
    const spread = load({ rs1: 5, rs2: 5 }, { byClient: { a: ['rs1'], b: ['rs2'] } });
    expect(one({ sameRealserver: true }, spread).ok).toBe(true);
    const moved = load({ rs1: 5, rs2: 5 }, { byClient: { a: ['rs1', 'rs2'], b: ['rs2'] } });
    expect(one({ sameRealserver: true }, moved).ok).toBe(false);
    expect(one({ sameRealserver: false }, moved).ok).toBe(true);
  });

  it('errors: at most the given number, counting every kind', () => {
    const errs = { refused: 1, reset: 1, timeout: 0, status: { '503': 1 }, other: 0 };
    expect(one({ errors: { max: 3 } }, load({ rs1: 7 }, { errors: errs })).ok).toBe(true);
    const over = one({ errors: { max: 2 } }, load({ rs1: 7 }, { errors: errs }));
    expect(over.ok).toBe(false);
    expect(over.seen).toBe('3 of 7');
  });

  it('status: every answer with that status', () => {
    expect(one({ status: 200 }, load({ rs1: 4 })).ok).toBe(true);
    const errs = { refused: 0, reset: 0, timeout: 0, status: { '404': 4 }, other: 0 };
    expect(one({ status: 200 }, load({}, { errors: errs })).ok).toBe(false);
  });

  it('stdout and exitCode of a command', () => {
    const run: Observation = { kind: 'exec', stdout: 'net.ipv4.conf.all.arp_ignore = 1\n', stderr: '', code: 0 };
    const verdicts = judge(
      checkSchema.parse({
        name: 'x',
        exec: { host: 'rs1', command: 'sysctl' },
        expect: { stdout: { matches: '= 1$' }, exitCode: 0 },
      }).expect,
      run,
    );
    expect(verdicts.map((v) => v.ok)).toEqual([true, true]);
    const failing = judge(
      checkSchema.parse({
        name: 'x',
        exec: { host: 'rs1', command: 'sysctl' },
        expect: { stdout: { matches: '= 2$' }, exitCode: 1 },
      }).expect,
      run,
    );
    expect(failing.map((v) => v.ok)).toEqual([false, false]);
  });

  it('holder, answeredBy and absent', () => {
    expect(one({ holder: 'director' }, { kind: 'vip', holders: ['director'] }).ok).toBe(true);
    expect(one({ holder: 'director' }, { kind: 'vip', holders: ['director', 'director2'] }).ok).toBe(false);
    expect(one({ holder: 'director2' }, { kind: 'vip', holders: [] }).seen).toBe('nobody');
    expect(one({ answeredBy: 'director' }, { kind: 'arp', answeredBy: ['director'] }).ok).toBe(true);
    expect(one({ answeredBy: 'director' }, { kind: 'arp', answeredBy: ['director', 'rs1'] }).ok).toBe(false);
    expect(one({ answeredBy: 'director' }, { kind: 'arp', answeredBy: [] }).ok).toBe(false);
    const table = (names: string[]): Observation => ({
      kind: 'ipvs',
      scheduler: 'rr',
      realservers: names.map((name) => ({ name, weight: 1 })),
    });
    expect(one({ absent: 'rs1' }, table(['rs2'])).ok).toBe(true);
    expect(one({ absent: ['rs1', 'rs2'] }, table(['rs2'])).ok).toBe(false);
  });
});
