// `lab load`'s numbers and readings: options checked before the lab is reached, the shares the schedulers predict,
// the client's extra addresses, and wrk's and curl's output read into requests, errors and bodies.
import { describe, expect, it } from 'vitest';
import {
  checkLoadOptions,
  clientAddresses,
  parseCurlRun,
  parseWrkRun,
  predictedShare,
  type LoadOptions,
} from '../../../drive/load.js';
import { UserError } from '../../../model/errors.js';
import { withPreset } from '../../../model/presets.js';
import { referenceLab } from '../../../model/topology.js';

const base: LoadOptions = { concurrency: 4, clients: 1, path: '/' };

describe('load options', () => {
  it('default to 100 requests; refuse out-of-range numbers, both bounds, and a path with shell text', () => {
    expect(checkLoadOptions(base).requests).toBe(100);
    for (const bad of [
      { requests: 0 },
      { requests: 100_001 },
      { duration: 301 },
      { concurrency: 0 },
      { clients: 65 },
      { requests: 5, duration: 5 },
      { path: '/$(id)' },
      { path: 'index.html' },
    ])
      expect(() => checkLoadOptions({ ...base, ...bad })).toThrow(UserError);
  });
});

describe('predicted shares', () => {
  it('rr equal, wrr by weight, sh and persistence per client', () => {
    expect(predictedShare(referenceLab()).share).toEqual({ rs1: 0.5, rs2: 0.5 });
    expect(predictedShare(withPreset('dr-wrr', {}, 't')).share).toEqual({ rs1: 0.75, rs2: 0.25 });
    expect(predictedShare(withPreset('dr-sh', {}, 't')).share).toBeUndefined();
    expect(predictedShare(withPreset('dr-persist', {}, 't')).note).toMatch(/^persistence/);
  });
});

describe('client addresses', () => {
  it('are the client and free addresses from the top of the subnet', () => {
    expect(clientAddresses(referenceLab(), 3)).toEqual(['192.168.170.10', '192.168.170.254', '192.168.170.253']);
  });
});

describe('load output', () => {
  it("reads wrk's bodies per status and its summary (microseconds)", () => {
    const out = [
      '#lvs-lab-progress 10',
      '#lvs-lab-bodies',
      '200 from 192.168.170.102\t20',
      '200 from 192.168.170.103\t19',
      '503 Service Unavailable\t1',
      '#lvs-lab-summary 40 2000000 1 2 0 1 3 1500 3000 9000 12000',
    ].join('\n');
    const t = parseWrkRun(out);
    expect(t.requests).toBe(40);
    expect(t.seconds).toBe(2);
    expect([...t.bodies]).toEqual([
      ['from 192.168.170.102', 20],
      ['from 192.168.170.103', 19],
    ]);
    expect(t.errors).toEqual({ refused: 1, reset: 2, timeout: 3, status: { 503: 1 }, other: 0 });
    expect(t.latencyMs).toEqual({ p50: 1.5, p90: 3, p99: 9, max: 12 });
  });

  it("reads curl's records per client address, with refused, reset and timed-out requests apart", () => {
    const rec = (addr: string, body: string, status: string, exit: string) =>
      `${addr}\t${body}\t${status}\t0.010\t${exit}\x1e`;
    const out =
      rec('192.168.170.10', 'from 192.168.170.102\n', '200', '0') +
      rec('192.168.170.254', 'from 192.168.170.103\n', '200', '0') +
      rec('192.168.170.254', '', '000', '7') +
      rec('192.168.170.10', '', '000', '28') +
      rec('192.168.170.10', '', '000', '56');
    const t = parseCurlRun(out, 1);
    expect(t.requests).toBe(5);
    expect(t.byClient).toEqual({
      '192.168.170.10': ['from 192.168.170.102'],
      '192.168.170.254': ['from 192.168.170.103'],
    });
    expect(t.errors).toEqual({ refused: 1, reset: 1, timeout: 1, status: {}, other: 0 });
  });
});
