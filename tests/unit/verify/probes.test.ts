import { describe, expect, it } from 'vitest';
import { CommandError } from '../../../model/errors.js';
import { referenceLab } from '../../../model/topology.js';
import {
  must,
  parseFetched,
  parseFrames,
  parseIpvsPerCpu,
  parseIpvsStats,
  parseIpvsTable,
} from '../../../verify/probes.js';
import type { LabAccess } from '../../../provision/transport.js';
import { rejection } from '../../rejection.js';

// Captured from the reference lab in the VM testbed.
const TCPDUMP = `01:32:12.673772 02:00:c0:a8:aa:67 > 02:00:c0:a8:aa:0a, ethertype IPv4 (0x0800), length 74: 192.168.170.100.80 > 192.168.170.10.60610: Flags [S.], seq 2959020610, ack 1745907725, win 65160, options [mss 1460,sackOK,TS val 614053524 ecr 3023820653,nop,wscale 7], length 0
01:32:12.707219 02:00:c0:a8:aa:67 > 02:00:c0:a8:aa:0a, ethertype IPv4 (0x0800), length 308: 192.168.170.100.80 > 192.168.170.10.60610: Flags [P.], seq 1:243, ack 80, win 509, options [nop,nop,TS val 614053558 ecr 3023820672], length 242: HTTP: HTTP/1.1 200 OK
tcpdump: verbose output suppressed, use -v[v]... for full protocol decode
5 packets captured`;

const STATS = `Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  192.168.170.100:80                 36      180        0    12492        0
  -> 192.168.170.102:80                 18       90        0     6246        0
  -> 192.168.170.103:80                 18       90        0     6246        0
`;

const TABLE = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.168.170.100:80 rr
  -> 192.168.170.102:80           Route   1      0          18
  -> 192.168.170.103:80           Route   1      0          19
`;

describe('probe parsers', () => {
  it("reads one result per request from curl's output: the body, or the request's own exit code", () => {
    // What curl -w '#lvs-lab-fetched %{exitcode}\n' prints for: a body with a newline, a refused connection, a
    // timeout, and a body without a trailing newline.
    const out =
      'from 192.168.170.102\n#lvs-lab-fetched 0\n#lvs-lab-fetched 7\n#lvs-lab-fetched 28\nfrom 192.168.170.103#lvs-lab-fetched 0\n';
    expect(parseFetched(out)).toEqual([
      'from 192.168.170.102',
      'curl-failed:7',
      'curl-failed:28',
      'from 192.168.170.103',
    ]);
    expect(parseFetched('curl: option -w: is badly used here\n')).toEqual([]);
  });

  it('reads the sending MAC and IP source of each captured frame', () => {
    expect(parseFrames(TCPDUMP)).toEqual([
      {
        srcMac: '02:00:c0:a8:aa:67',
        dstMac: '02:00:c0:a8:aa:0a',
        srcIp: '192.168.170.100',
        srcPort: 80,
        dstIp: '192.168.170.10',
        dstPort: 60610,
      },
      {
        srcMac: '02:00:c0:a8:aa:67',
        dstMac: '02:00:c0:a8:aa:0a',
        srcIp: '192.168.170.100',
        srcPort: 80,
        dstIp: '192.168.170.10',
        dstPort: 60610,
      },
    ]);
  });

  it('reads the service and per-realserver counters', () => {
    const s = parseIpvsStats(STATS)!;
    expect(s).toMatchObject({ conns: 36, inPkts: 180, outPkts: 0, inBytes: 12492, outBytes: 0 });
    expect(s.dests.get('192.168.170.103')).toEqual({ conns: 18, inPkts: 90, outPkts: 0, inBytes: 6246, outBytes: 0 });
    expect(parseIpvsStats('Prot LocalAddress:Port\n')).toBeUndefined();
  });

  it('reads scheduler, forwarding and weights', () => {
    expect(parseIpvsTable(TABLE)).toEqual({
      scheduler: 'rr',
      flags: '',
      dests: [
        { rip: '192.168.170.102', forward: 'Route', weight: 1, activeConn: 0, inActConn: 18 },
        { rip: '192.168.170.103', forward: 'Route', weight: 1, activeConn: 0, inActConn: 19 },
      ],
    });
    expect(parseIpvsTable('TCP  10.0.0.1:80 wrr persistent 300\n')!.flags).toBe('persistent 300');
  });
});

describe('a probe', () => {
  const access = (run: () => Promise<{ stdout: string; stderr: string; code: number }>) =>
    ({
      lab: referenceLab(),
      httpd: { kind: 'system' },
      transport: { kind: 'ssh', run, interactive: () => Promise.resolve([]) },
    }) as unknown as LabAccess;

  it('that hangs fails after its limit, naming the host, the command and the limit', async () => {
    const err = await rejection(
      must(
        access(() => new Promise(() => {})),
        'rs1',
        'cat /var/log/apache2/access.log',
        200,
      ),
    );
    expect(err).toBeInstanceOf(CommandError);
    expect(err.message).toBe(
      'rs1: probe failed with exit code 124\n  command: cat /var/log/apache2/access.log\n  stderr: no result within 0.2 s',
    );
  });

  it('that fails says where, what and why', async () => {
    const err = await rejection(
      must(
        access(() => Promise.resolve({ stdout: '', stderr: 'No such file\n', code: 1 })),
        'client',
        'cat /nope',
      ),
    );
    expect(err.message).toBe('client: probe failed with exit code 1\n  command: cat /nope\n  stderr: No such file');
  });
});

describe("the director's live IPVS totals", () => {
  // Real /proc/net/ip_vs_stats_percpu after six requests through the VIP (2 vCPUs); ipvsadm -Ln --stats showed
  // 6 connections, 34 InPkts, 2404 InBytes once the estimator had run.
  const PER_CPU = [
    '       Total Incoming Outgoing         Incoming         Outgoing',
    'CPU    Conns  Packets  Packets            Bytes            Bytes',
    '  0        4       14        0              5B8                0',
    '  1        2        E        0              3AC                0',
    '  ~        6       22        0              964                0',
    '',
    '     Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s',
    '           0        2        0               A2                0',
  ].join('\n');

  it('sums the per-CPU rows (hex), not the estimator\'s "~" row or the rates', () => {
    expect(parseIpvsPerCpu(PER_CPU)).toEqual({ conns: 6, inPkts: 34, outPkts: 0, inBytes: 2404, outBytes: 0 });
  });

  it('refuses a text without CPU rows', () => {
    expect(() => parseIpvsPerCpu('cat: /proc/net/ip_vs_stats_percpu: No such file')).toThrow(/no per-CPU/);
  });
});
