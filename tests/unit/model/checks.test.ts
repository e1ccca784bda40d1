// The `checks:` block is validated with the rest of the lab file: every problem with its field and reason.
import { describe, expect, it } from 'vitest';
import { LabModelError, validateLab } from '../../../model/topology.js';

const problems = (checks: unknown): string[] => {
  try {
    validateLab({ name: 'chk', checks }, 'lab.yaml');
  } catch (err) {
    if (err instanceof LabModelError) return err.problems;
    throw err;
  }
  return [];
};

describe('declared checks in a lab file', () => {
  it('a check of every action and kind is accepted, with defaults filled in', () => {
    const lab = validateLab(
      {
        name: 'chk',
        checks: [
          { name: 'split', requests: {}, expect: { split: { rs1: 0.5, rs2: 0.5 } } },
          { name: 'cmd', exec: { host: 'rs1', command: 'true' }, expect: { exitCode: 0 } },
          { name: 'out', given: { weight: { rs1: 0 } }, ipvs: {}, expect: { absent: 'rs1' } },
          { name: 'arp', arp: {}, expect: { answeredBy: 'director' } },
          {
            name: 'dead',
            given: [{ fault: { host: 'rs1', httpd: 'stop' } }],
            within: 8,
            requests: { count: 5 },
            expect: { errors: { max: 0 } },
          },
        ],
      },
      'lab.yaml',
    );
    expect(lab.checks![0].requests).toEqual({ count: 10, concurrency: 1, clients: 1, path: '/' });
    expect(lab.checks![0].expect.tolerance).toBe(0.1);
    expect(lab.checks![4].given).toEqual([{ fault: { host: 'rs1', httpd: 'stop' } }]);
  });

  it('refuses what cannot run, each with its field', () => {
    expect(
      problems([
        { name: 'a', requests: {}, vip: {}, expect: { holder: 'director' } },
        { name: 'a', exec: { host: 'rs9', command: 'true' }, expect: { split: { rs1: 1 } } },
        { name: 'b', given: { fault: { host: 'rs1', loss: '140%' } }, vip: {}, expect: { holder: 'rs1' } },
        { name: 'c', ipvs: {}, expect: {} },
      ]),
    ).toEqual([
      'checks[0]: needs exactly one of requests, exec, ipvs, arp, vip (has requests, vip)',
      'checks[1].name: "a" is used by an earlier check',
      'checks[1].expect.split: needs a requests action, not exec',
      'checks[1].exec.host: "rs9" is not a host of the lab',
      'checks[2].given[0].fault: loss "140%": must be a percentage from 0% to 100%',
      'checks[2].expect.holder: "rs1" is not a director of the lab',
      'checks[3].expect: says nothing to check (split, sameRealserver, errors, status, stdout, exitCode, holder, answeredBy, absent)',
    ]);
    expect(problems([{ name: 'x', vip: {}, expect: { holder: 'director' }, within: 900 }])).toEqual([
      'checks[0].within: Too big: expected number to be <=300',
    ]);
    expect(problems([{ name: 'x; rm -rf /', vip: {}, expect: { holder: 'director' } }])[0]).toMatch(
      /^checks\[0\]\.name: must be/,
    );
  });
});
