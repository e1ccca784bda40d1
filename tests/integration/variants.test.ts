// Variants, each proven on a real IPVS kernel: every scheduler test builds its own small lab beside the test lab
// on the same machine (namespaces isolate them), and the redeploy test changes the running test lab in place.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withPreset } from '../../model/presets.js';
import { validateLab, type Lab } from '../../model/topology.js';
import { type LabSession } from '../../lab/lifecycle.js';
import { labs } from '../labs.js';
import {
  captureDuring,
  captureReplies,
  fetchSequence,
  httpdMasters,
  ipvsStats,
  ipvsStatsAfter,
  ipvsTable,
  macOf,
  parseTunnelled,
} from '../../verify/probes.js';
import type { LabAccess } from '../../provision/transport.js';
import { verifyLab } from '../../verify/report.js';
import { TEST_LAB, machineOf } from './lab.js';
import { sideLab as sideLabOn } from './side-lab.js';
import { expectExercisePasses } from '../exercise.js';
import { explainRequest } from '../../inside/explain.js';
import { MISTAKES } from '../../drive/mistakes.js';
import { whatif } from '../../drive/whatif.js';

let s: LabSession;
beforeAll(async () => {
  s = await labs.connect(TEST_LAB.name);
});
afterAll(async () => s?.close());

const sideLab = (lab: Lab) => sideLabOn(() => machineOf(s), lab);

const countBy = (bodies: string[]) => bodies.reduce((m, b) => m.set(b, (m.get(b) ?? 0) + 1), new Map<string, number>());
const from = (r: { ip: string }) => `from ${r.ip}`;

/**
 * Opens `n` TCP connections from the client to the VIP and keeps them open without a request, so IPVS counts
 * them as active; returns a function that closes them.
 */
async function holdConnections(access: LabAccess, n: number): Promise<() => Promise<void>> {
  const tag = `lvslabhold${access.lab.name}`;
  const [host, port] = [access.lab.vip, access.lab.service.port];
  const hold = `exec 3<>/dev/tcp/${host}/${port}; exec -a ${tag} sleep 120`;
  for (let i = 0; i < n; i++)
    await access.transport.run(access.lab.client.name, `(bash -c '${hold}' >/dev/null 2>&1 &)`);
  // Each connects in the background: wait until all n are established (the table is read right after).
  const established = `ss -Htn state established dst ${host} dport = :${port} | wc -l`;
  const res = await access.transport.run(
    access.lab.client.name,
    `i=0; until [ "$(${established})" -ge ${n} ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done; ${established}`,
  );
  expect(Number(res.stdout.trim()), 'connections held').toBe(n);
  return async () => void (await access.transport.run(access.lab.client.name, `pkill -f '^${tag} ' || true`));
}

describe('wrr with weights 3:1', () => {
  const access = sideLab(withPreset('dr-wrr', {}, 'test'));
  it('fresh connections split 3:1, and the kernel counts the same', async () => {
    const a = access();
    const [rs1, rs2] = a.lab.realservers;
    expect((await ipvsTable(a)).dests.map((d) => [d.rip, d.weight])).toEqual([
      [rs1.ip, 3],
      [rs2.ip, 1],
    ]);
    const before = await ipvsStats(a);
    const counts = countBy(await fetchSequence(a, 40));
    expect(counts.get(from(rs1))).toBe(30);
    expect(counts.get(from(rs2))).toBe(10);
    const after = await ipvsStatsAfter(a, before, 40);
    expect(after.dests.get(rs1.ip)!.conns - before.dests.get(rs1.ip)!.conns).toBe(30);
    expect(after.dests.get(rs2.ip)!.conns - before.dests.get(rs2.ip)!.conns).toBe(10);
  });
});

describe('sh (source hashing)', () => {
  const access = sideLab(withPreset('dr-sh', { realservers: 3 }, 'test'));
  it('sends the one client to one realserver every time', async () => {
    const a = access();
    const bodies = await fetchSequence(a, 12);
    expect(new Set(bodies).size).toBe(1);
    expect(a.lab.realservers.map(from)).toContain(bodies[0]);
    expect((await ipvsTable(a)).scheduler).toBe('sh');
  });
});

for (const [preset, what] of [
  ['dr-dh', 'the one destination (the VIP)'],
  ['dr-mh', 'the one client address (Maglev)'],
] as const) {
  describe(`${preset.slice(3)} (${preset === 'dr-dh' ? 'destination' : 'Maglev'} hashing)`, () => {
    const access = sideLab(withPreset(preset, { realservers: 3 }, 'test'));
    it(`hashes ${what} to one realserver, every time`, async () => {
      const a = access();
      expect((await ipvsTable(a)).scheduler).toBe(preset.slice(3));
      const bodies = await fetchSequence(a, 9);
      expect(new Set(bodies).size).toBe(1);
      expect(a.lab.realservers.map(from)).toContain(bodies[0]);
    });
  });
}

describe('persistence (-p 300)', () => {
  const access = sideLab(withPreset('dr-persist', {}, 'test'));
  it('repeated connections from one client stick to one realserver, where plain rr alternates', async () => {
    const a = access();
    const table = (await a.transport.run(a.lab.director.name, 'ipvsadm -Ln')).stdout;
    expect(table).toMatch(/TCP {2}192\.168\.170\.100:80 rr persistent 300/);
    const before = await ipvsStats(a);
    const bodies = await fetchSequence(a, 10);
    expect(new Set(bodies).size).toBe(1);
    // all ten were real, scheduled connections: the kernel counted them, every one on the same realserver
    const after = await ipvsStatsAfter(a, before, 10);
    const sticky = bodies[0].replace('from ', '');
    expect(after.dests.get(sticky)!.conns - before.dests.get(sticky)!.conns).toBe(10);
  });

  it('the persistence exercise (labs/persistence.yaml): every declared check passes', async () => {
    await expectExercisePasses(access(), 'persistence.yaml');
  });
});

for (const scheduler of ['lc', 'wlc'] as const) {
  describe(`${scheduler} (least connections${scheduler === 'wlc' ? ', weighted' : ''})`, () => {
    const access = sideLab(validateLab({ name: `v${scheduler}`, service: { scheduler } }, 'test'));
    it('new connections go to the realserver with fewer active connections', async () => {
      const a = access();
      const [rs1, rs2] = a.lab.realservers;
      const director = a.lab.director.name;
      // Quiesce rs2 (weight 0: no new connections), hold 3 connections, which can only land on rs1, restore rs2.
      await a.transport.run(director, `ipvsadm -e -t ${a.lab.vip}:80 -r ${rs2.ip} -g -w 0`);
      const release = await holdConnections(a, 3);
      try {
        await a.transport.run(director, `ipvsadm -e -t ${a.lab.vip}:80 -r ${rs2.ip} -g -w 1`);
        const table = await ipvsTable(a);
        expect(table.dests.map((d) => [d.rip, d.activeConn])).toEqual([
          [rs1.ip, 3],
          [rs2.ip, 0],
        ]);
        // Round robin would alternate; (w)lc sends every fresh connection to rs2 while rs1 holds 3 active.
        expect(await fetchSequence(a, 6)).toEqual(Array(6).fill(from(rs2)));
      } finally {
        await release();
      }
    });

    // The exercise is lc's (a slow realserver under wlc's equal weights would show the same).
    if (scheduler === 'lc')
      it('the slow-realserver exercise (labs/slow-realserver.yaml): every declared check passes', async () => {
        await expectExercisePasses(access(), 'slow-realserver.yaml');
      });
  });
}

describe('16 realservers, addresses assigned from the subnet', () => {
  const access = sideLab(withPreset('dr-16', {}, 'test'));
  it('every realserver is in the table and serves exactly its share', async () => {
    const a = access();
    expect(a.lab.realservers.map((r) => r.ip)).toEqual(Array.from({ length: 16 }, (_, i) => `192.168.170.${102 + i}`));
    expect((await ipvsTable(a)).dests.map((d) => d.rip)).toEqual(a.lab.realservers.map((r) => r.ip));
    const counts = countBy(await fetchSequence(a, 32));
    expect([...counts.keys()].sort()).toEqual(a.lab.realservers.map(from).sort());
    expect([...counts.values()]).toEqual(Array(16).fill(2));
  });
});

describe('NAT (-m): the client on its own network behind the director', () => {
  const access = sideLab(
    validateLab(
      {
        name: 'vnat',
        forwarding: 'nat',
        outside: { subnet: '192.168.171.0/24', directorIp: '192.168.171.1' },
        vip: '192.168.171.100',
        client: { name: 'client', ip: '192.168.171.10' },
      },
      'test',
    ),
  );

  it('realservers hold no VIP and no ARP sysctls, and route back through the director', async () => {
    const a = access();
    for (const rs of a.lab.realservers) {
      expect((await a.transport.run(rs.name, 'ip -4 route show default')).stdout.trim()).toMatch(
        /^default via 192\.168\.170\.101 dev eth0/,
      );
      expect((await a.transport.run(rs.name, 'ip -4 -o addr show')).stdout).not.toContain(a.lab.vip);
      expect((await a.transport.run(rs.name, 'cat /proc/sys/net/ipv4/conf/all/arp_ignore')).stdout.trim()).toBe('0');
    }
    expect((await ipvsTable(a)).dests.map((d) => d.forward)).toEqual(['Masq', 'Masq']);
  });

  it("replies pass the director: OutPkts > 0, and every reply frame carries the director's outside MAC", async () => {
    const a = access();
    const directorOutside = await macOf(a, a.lab.director.name, 'eth1');
    const before = await ipvsStats(a);
    const { bodies, frames } = await captureReplies(a, 4);
    expect(bodies.sort()).toEqual([...a.lab.realservers, ...a.lab.realservers].map((r) => `from ${r.ip}`).sort());
    const after = await ipvsStatsAfter(a, before, 4);
    expect(after.outPkts - before.outPkts).toBeGreaterThan(0);
    expect(frames.length).toBeGreaterThanOrEqual(12);
    for (const f of frames)
      expect(f).toMatchObject({ srcMac: directorOutside, srcIp: a.lab.vip, dstIp: a.lab.client.ip });
  });

  it('the lab verifier passes every NAT check', async () => {
    const checks = await verifyLab(access());
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.map((c) => c.name)).toContain('replies come back through the director (NAT)');
  });

  it('the NAT exercise passes, and explain walks its request through the director both ways', async () => {
    await expectExercisePasses(access(), 'nat.yaml');
    const w = await explainRequest(access());
    expect(w.steps.filter((st) => !st.expected).map((st) => st.title)).toEqual([]);
    const handshake = w.steps[3].says.join('\n');
    expect(handshake).toMatch(/its destination rewritten to 192\.168\.170\.10[23] \(NAT\)/);
    expect(handshake).toMatch(/SYN-ACK .* through the director/);
  });

  it('whatif nat-gateway: rs1 without its route back drops its replies (IpOutNoRoutes); ip_forward off breaks NAT', async () => {
    const a = access();
    const [rs1] = a.lab.realservers;
    const w = await whatif(a, MISTAKES['nat-gateway'], rs1);
    expect(w.seen!.facts).toMatchObject({ synAcks: 0 });
    expect(w.seen!.facts.unanswered).toBeGreaterThan(0);
    expect(w.seen!.facts.IpOutNoRoutes).toBeGreaterThan(0);
    expect(w.seen!.shown).toBe(true);
    expect(w.restored).toEqual({ rs1: 1 });
    expect(w.verify.failed).toEqual([]);
    const f = await whatif(a, MISTAKES.forwarding, rs1);
    expect(f.seen!.consequence).toMatch(/^NAT needs it/);
    expect(f.seen!.facts.unanswered).toBeGreaterThan(0);
    expect(f.verify.failed).toEqual([]);
  });
});

describe('TUN (-i): requests tunnelled to the realservers, replies straight back', () => {
  const access = sideLab(validateLab({ name: 'vtun', forwarding: 'tun' }, 'test'));

  it('the encapsulated request reaches the realserver: outer DIP -> RIP, inner client -> VIP', async () => {
    const a = access();
    const [rs1] = a.lab.realservers;
    expect((await ipvsTable(a)).dests.map((d) => d.forward)).toEqual(['Tunnel', 'Tunnel']);
    const packets = parseTunnelled(await captureDuring(a, rs1.name, 'ip proto 4', () => fetchSequence(a, 4)));
    expect(packets.length).toBeGreaterThan(0);
    for (const p of packets)
      expect(p).toEqual({
        outerSrc: a.lab.director.ip,
        outerDst: rs1.ip,
        innerSrc: a.lab.client.ip,
        innerDst: a.lab.vip,
        innerDstPort: 80,
      });
  });

  it("replies go straight to the client from the realservers' MACs, and the director sees no outbound packet", async () => {
    const a = access();
    const rsMacs = await Promise.all(a.lab.realservers.map((r) => macOf(a, r.name)));
    const before = await ipvsStats(a);
    const { bodies, frames } = await captureReplies(a, 4);
    expect(new Set(bodies)).toEqual(new Set(a.lab.realservers.map((r) => `from ${r.ip}`)));
    expect(frames.length).toBeGreaterThanOrEqual(12); // 4 requests: SYN-ACK, data and FIN at least, each
    for (const f of frames) {
      expect(rsMacs).toContain(f.srcMac);
      expect(f.srcIp).toBe(a.lab.vip);
    }
    const after = await ipvsStatsAfter(a, before, 4);
    expect(after.inPkts).toBeGreaterThan(before.inPkts);
    expect(after.outPkts).toBe(0);
  });

  it('the lab verifier passes every TUN check', async () => {
    const checks = await verifyLab(access());
    expect(checks.filter((c) => !c.ok)).toEqual([]);
  });

  it('the TUN exercise passes, and explain shows the IP-in-IP header and the reply past the director', async () => {
    await expectExercisePasses(access(), 'tun.yaml');
    const w = await explainRequest(access());
    expect(w.steps.filter((st) => !st.expected).map((st) => st.title)).toEqual([]);
    const handshake = w.steps[3].says.join('\n');
    expect(handshake).toMatch(/inside an IP-in-IP header 192\.168\.170\.101 -> 192\.168\.170\.10[23] \(TUN\)/);
    expect(handshake).toMatch(/straight to the client, past the director/);
  });

  it('whatif rp-filter: rs1 with strict reverse-path filtering drops the decapsulated requests, then restored', async () => {
    const a = access();
    const [rs1] = a.lab.realservers;
    const w = await whatif(a, MISTAKES['rp-filter'], rs1);
    expect(w.seen!.facts).toMatchObject({ synAcks: 0 });
    expect(w.seen!.facts.unanswered).toBeGreaterThan(0);
    expect(w.seen!.facts.syns).toBeGreaterThan(0);
    expect(w.seen!.facts.TcpExtIPReversePathFilter).toBeGreaterThan(0);
    expect(w.seen!.evidence.join('\n')).toMatch(
      /rs1 received \d+ SYNs of \d+ connections from the director \(inside IP-in-IP\)/,
    );
    expect(w.restored).toEqual({ rs1: 2 });
    expect(w.verify.failed).toEqual([]);
  });
});

describe('redeploy in place on the running test lab', () => {
  const { prefixLength: _derived, ...input } = TEST_LAB; // the model's input fields, without what validation adds
  const wrr = validateLab(
    {
      ...input,
      service: { scheduler: 'wrr' },
      realservers: [{ ...input.realservers[0], weight: 3 }, input.realservers[1]],
    },
    'test',
  );

  afterAll(async () => {
    await labs.up(TEST_LAB); // back to rr for the other files
  });

  it('rr -> wrr 3:1 changes only the director table, says so, and the realservers keep their httpd', async () => {
    const pids = async () => Promise.all(TEST_LAB.realservers.map((r) => httpdMasters(s, r.name)));
    const before = await pids();
    const logged: string[] = [];
    const { session, report } = await labs.up(wrr, { log: (m) => logged.push(m) });
    try {
      expect(report.outcomes.filter((o) => o.result === 'ran').map((o) => `${o.host}: ${o.command}`)).toEqual([
        `director: ipvsadm -E -t ${TEST_LAB.vip}:80 -s wrr`,
        `director: ipvsadm -e -t ${TEST_LAB.vip}:80 -r ${TEST_LAB.realservers[0].ip} -g -w 3`,
      ]);
      expect(logged).toContain(`changed on director: ipvsadm -E -t ${TEST_LAB.vip}:80 -s wrr`);
      expect(await pids()).toEqual(before);
      const counts = countBy(await fetchSequence(session, 8));
      expect(counts.get(from(TEST_LAB.realservers[0]))).toBe(6);
      expect(counts.get(from(TEST_LAB.realservers[1]))).toBe(2);
    } finally {
      await session.close();
    }
  });

  it('a change of hosts or addresses is refused before anything changes', async () => {
    const grown = validateLab({ ...input, realservers: 3 }, 'test');
    await expect(labs.up(grown)).rejects.toThrow(/another topology \(realservers changed\).*down --name itest/);
    expect((await ipvsTable(s)).dests).toHaveLength(2);
  });
});
