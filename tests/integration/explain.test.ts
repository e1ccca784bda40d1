// `lab explain` on the running test lab (DR), through the CLI, each step checked against the captured frames (NAT's
// and TUN's walks: variants.test.ts, on their side labs).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Walk } from '../../inside/explain.js';
import { hostsOf } from '../../model/topology.js';
import { cli, TEST_LAB } from './lab.js';

const macOf = (w: Walk, host: string) => Object.entries(w.macs).find(([, h]) => h === host)![0];

describe('explain on the DR test lab', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvs-lab-explain-'));
  let walk: Walk;
  let text: string;

  beforeAll(async () => {
    const svg = join(dir, 'walk.svg');
    const res = await cli(['explain', '--name', TEST_LAB.name, '--json', '--svg', svg]);
    expect(res.exitCode, res.stderr).toBe(0);
    walk = JSON.parse(res.stdout) as Walk;
    text = (await cli(['explain', '--name', TEST_LAB.name])).stdout;
  });

  it('walks the six steps in the seed order, each as DR does it', () => {
    expect(walk.steps.map((st) => st.title)).toEqual([
      '1. a port',
      '2. a next hop',
      "3. ARP for the next hop's MAC",
      '4. the handshake',
      '5. the data',
      '6. the close',
    ]);
    expect(walk.steps.filter((st) => !st.expected)).toEqual([]);
    expect(walk.status).toBe('200');
    expect(text).toMatch(/^ {3}who-has 192\.168\.170\.100: answered by director alone;/m);
  });

  it('the frames bear it out: the director re-addresses the same IP packet to a realserver, which replies from the VIP', () => {
    const rs = walk.realserver!;
    const port = walk.client.port;
    const syn = walk.frames.find((f) => f.host === rs && f.tcp?.flags === 'S' && f.tcp.sport === port)!;
    // As the realserver received it: the client's own addresses, its own MAC, from the director's.
    expect(syn.tcp).toMatchObject({ src: TEST_LAB.client.ip, dst: TEST_LAB.vip, dport: 80 });
    expect(syn.dstMac).toBe(macOf(walk, rs));
    expect(syn.srcMac).toBe(macOf(walk, 'director'));
    const synAck = walk.frames.find((f) => f.host === 'client' && f.tcp?.flags === 'S.' && f.tcp.dport === port)!;
    expect(synAck.tcp!.src).toBe(TEST_LAB.vip);
    expect(synAck.srcMac).toBe(macOf(walk, rs));
    // The director sees the client's half only.
    expect(walk.frames.some((f) => f.host === 'director' && f.tcp?.sport === 80 && f.tcp.dport === port)).toBe(false);
    const arp = walk.frames.filter(
      (f) => f.host === 'client' && f.arp?.op === 'reply' && f.arp.target === TEST_LAB.vip,
    );
    expect(arp.map((f) => f.arp!.mac)).toEqual([macOf(walk, 'director')]);
  });

  it('the ladder diagram names every host and draws the frames', () => {
    const svg = readFileSync(join(dir, 'walk.svg'), 'utf8');
    for (const h of hostsOf(TEST_LAB)) expect(svg).toContain(`>${h.name}</text>`);
    expect(svg).toContain('ARP who-has 192.168.170.100');
    expect(svg).toContain('(same IP packet, new MAC)');
    expect(svg.match(/marker-end/g)!.length).toBeGreaterThanOrEqual(8);
  });
});
