// The benchmark's parsers and statistics, on wrk's and the kernel's own output formats.
import { describe, expect, it } from 'vitest';
import { formatTable, kernelJiffies, parseWrk, spread, wrkErrorCount } from '../../../bench/results.js';

const WRK = `Running 10s test @ http://192.168.170.100/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.12ms    2.01ms  30.00ms   80.00%
    Req/Sec     1.58k   200.00     2.00k    70.00%
  Latency Distribution
     50%  812.00us
     75%    6.00ms
     90%    7.50ms
     99%    1.20s
  31500 requests in 10.00s, 8.00MB read
Requests/sec:   3150.25
Transfer/sec:    819.20KB
`;

describe('benchmark', () => {
  it("reads wrk's requests/s and latency percentiles in any unit", () => {
    expect(parseWrk(WRK)).toEqual({
      requests: 31500,
      requestsPerSecond: 3150.25,
      latencyMs: { p50: 0.812, p90: 7.5, p99: 1200 },
      errors: { connect: 0, read: 0, write: 0, timeout: 0, non2xx: 0 },
    });
    expect(() => parseWrk('unable to connect to 192.168.170.100:80 Connection refused')).toThrow(/no Requests\/sec/);
  });

  it("counts wrk's socket errors and non-2xx responses, which a bare requests/s would hide", () => {
    const failing = WRK.replace(
      'Requests/sec:',
      '  Socket errors: connect 3, read 7, write 0, timeout 12\n  Non-2xx or 3xx responses: 40\nRequests/sec:',
    );
    const { errors } = parseWrk(failing);
    expect(errors).toEqual({ connect: 3, read: 7, write: 0, timeout: 12, non2xx: 40 });
    expect(wrkErrorCount(errors)).toBe(62);
  });

  it('counts system, irq and softirq jiffies from /proc/stat', () => {
    expect(kernelJiffies('cpu  100 5 300 9000 20 7 11 0 0 0\ncpu0 50 2 150 4500 10 3 5 0 0 0\n')).toBe(318);
  });

  it('gives median, min and max of the runs', () => {
    expect(spread([3, 1, 2])).toMatchObject({ median: 2, min: 1, max: 3 });
    expect(spread([4, 1, 2, 3])).toMatchObject({ median: 2.5, min: 1, max: 4 });
  });

  it('prints one table with every section', () => {
    const table = formatTable({
      when: '2026-11-25T05:00:00Z',
      machine: { description: '2 cores', cores: 2, memoryGiB: 24, accel: 'tcg' },
      lifecycle: [{ testbed: 'netns in VM', phases: [{ phase: 'up', ...spread([30, 29, 31]) }] }],
      scale: [{ realservers: 2, perAddedHost: 0, ...spread([5]) }],
      dataPlane: [
        {
          path: 'DR through the VIP',
          requests: 4,
          requestsPerSecond: 3150,
          latencyMs: { p50: 1, p90: 2, p99: 3 },
          kernelCpuSeconds: 4.5,
          ipvsInPkts: 10,
          ipvsOutPkts: 0,
        },
      ],
      engineStart: { first: 9.5, second: 5.5, running: 0.7 },
    });
    expect(table).toMatch(/netns in VM\s+up 30\.0 \[29\.0-31\.0\]/);
    expect(table).toContain('engine up 9.5 s the first time, 5.5 s restored, 0.7 s on the running VM');
    expect(table).toContain('  2 realservers: 5.0 [5.0-5.0]   0.000 s per added host');
    expect(table).toMatch(/DR through the VIP\s+3150 req\/s\s+p50 1\.00 ms/);
    expect(table).toContain('director IPVS pkts in/out 10/0 (2.5/0.0 per request)');
  });
});
