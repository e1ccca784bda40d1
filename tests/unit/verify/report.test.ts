// Each built-in check on canned evidence, both sides: it passes on what the reference lab shows and fails on the
// fault it exists for, so a check made to always pass (or to never pass) fails here.
import { describe, expect, it } from 'vitest';
import { referenceLab, validateLab } from '../../../model/topology.js';
import type { LabAccess } from '../../../provision/transport.js';
import { parseFrames, parseIpvsTable, type Frame } from '../../../verify/probes.js';
import { withPreset } from '../../../model/presets.js';
import {
  arpCheck,
  clientsCheck,
  formatChecks,
  healthJudgement,
  METHODS,
  oldEntriesOf,
  pairJudgement,
  requestsCheck,
  segmentCheck,
  syncJudgement,
  tableCheck,
  tunnelJudgement,
  type Check,
  type Context,
  type Traffic,
} from '../../../verify/report.js';

const lab = referenceLab();
const MAC = {
  client: '02:00:c0:a8:aa:0a',
  director: '02:00:c0:a8:aa:65',
  rs1: '02:00:c0:a8:aa:66',
  rs2: '02:00:c0:a8:aa:67',
};
const macs = new Map(Object.entries(MAC));
const context = (l = lab): Context => ({
  access: { lab: l } as LabAccess,
  macs,
  holders: ['director'],
  director: 'director',
  directorMac: MAC.director,
  macName: new Map([...macs].map(([n, m]) => [m, n])),
});

const frame = (srcMac: string, srcIp = lab.vip): Frame => ({
  srcMac,
  dstMac: MAC.client,
  srcIp,
  srcPort: 80,
  dstIp: lab.client.ip,
  dstPort: 40000,
});
const traffic = (t: Partial<Traffic>): Traffic => ({
  frames: [],
  inDelta: 0,
  outDelta: 0,
  outTotal: 0,
  conns: 0,
  ...t,
});

const TABLE = `TCP  192.168.170.100:80 rr
  -> 192.168.170.102:80           Route   1      0          18
  -> 192.168.170.103:80           Route   1      0          19
`;

describe('IPVS table check', () => {
  const table = (text: string) => parseIpvsTable(text)!;
  it('passes on the modelled table', () => {
    expect(tableCheck(lab, 'director', table(TABLE)).ok).toBe(true);
  });
  it.each([
    ['a realserver out of the table', TABLE.split('\n').slice(0, 2).join('\n')],
    ['another scheduler', TABLE.replace(' rr', ' wrr')],
    ['another forwarding method', TABLE.replace(/Route/g, 'Masq')],
  ])('fails with %s', (_what, text) => {
    const c = tableCheck(lab, 'director', table(text));
    expect(c.ok).toBe(false);
    expect(formatChecks([c])).toMatch(/^FAIL {2}IPVS table on the director\n/);
  });
});

describe('requests check', () => {
  it('passes when round robin gives each realserver an equal share', () => {
    const bodies = ['from 192.168.170.103', 'from 192.168.170.102', 'from 192.168.170.103', 'from 192.168.170.102'];
    const { check, counts } = requestsCheck(lab, bodies, 4);
    expect(check.ok).toBe(true);
    expect(counts).toEqual(
      new Map([
        ['rs2', 2],
        ['rs1', 2],
      ]),
    );
  });
  it.each([
    ['a realserver missing (out of the table, its VIP gone from lo)', Array<string>(4).fill('from 192.168.170.102')],
    [
      'a request that failed (httpd down)',
      ['from 192.168.170.102', 'curl: exit 7', 'from 192.168.170.102', 'from 192.168.170.103'],
    ],
    [
      'an answer from outside the lab',
      ['from 192.168.170.102', 'from 192.168.170.103', 'from 10.0.0.1', 'from 192.168.170.103'],
    ],
  ])('fails with %s', (_what, bodies) => {
    expect(requestsCheck(lab, bodies, 4).check.ok).toBe(false);
  });

  // Four requests on client ports 40000..40003, their replies' frames in order (a SYN-ACK and a response each).
  const replies = [0, 0, 1, 1, 2, 2, 3, 3].map((i) => ({ ...frame(MAC.rs1), dstPort: 40000 + i }));
  const entry = (port: number, state: string) => ({ client: `${lab.client.ip}:${port}`, state, rs: '192.168.170.102' });

  it('an old IPVS entry a new SYN does not end stands for the request that reused its client port', () => {
    const held = [
      entry(40001, 'ESTABLISHED'),
      entry(40002, 'FIN_WAIT'),
      entry(40003, 'TIME_WAIT'),
      entry(50000, 'SYN_RECV'),
    ];
    expect(oldEntriesOf(lab, replies, held, 4)).toEqual([undefined, entry(40001, 'ESTABLISHED'), undefined, undefined]);
    // NAT sees both directions: FIN_WAIT there is a connection still closing, which keeps its SYNs.
    const nat = withPreset('nat-rr', {}, 'test');
    const natEntry = { ...entry(40002, 'FIN_WAIT'), client: `${nat.client.ip}:40002` };
    const natReplies = replies.map((f) => ({ ...f, dstIp: nat.client.ip }));
    expect(oldEntriesOf(nat, natReplies, [natEntry], 4)).toEqual([undefined, undefined, natEntry, undefined]);
    // A frame missed: which port was whose is unknown, so no request is set aside.
    expect(oldEntriesOf(lab, replies.slice(0, 6), held, 4)).toEqual([]);
  });

  it('the share counts only the requests the scheduler placed, and names the one an old entry sent', () => {
    const rs = (n: 1 | 2) => `from 192.168.170.10${n + 1}`;
    const old = [undefined, undefined, entry(40002, 'ESTABLISHED'), undefined];
    expect(requestsCheck(lab, [rs(2), rs(1), rs(1), rs(1)], 4).check.ok).toBe(false);
    const { check } = requestsCheck(lab, [rs(2), rs(1), rs(1), rs(1)], 4, old);
    expect(check.ok).toBe(true); // placed: rs2, rs1, rs1, within one of an equal share of three
    expect(check.evidence).toContain(
      `request 3 went to rs1 by IPVS's old entry for ${lab.client.ip}:40002 (ESTABLISHED), not by the scheduler`,
    );
    expect(requestsCheck(lab, [rs(1), rs(1), rs(1), rs(1)], 4, old).check.ok).toBe(false); // placed: rs1 alone
    // An entry that points elsewhere than the request went accounts for nothing: the request counts as placed.
    const elsewhere = [undefined, undefined, { ...entry(40002, 'ESTABLISHED'), rs: '192.168.170.103' }, undefined];
    expect(requestsCheck(lab, [rs(2), rs(1), rs(1), rs(1)], 4, elsewhere).check.ok).toBe(false);
    // Fewer answers than requests: the share falls short, whatever each answer was.
    expect(requestsCheck(lab, [rs(2), rs(1)], 4).check.ok).toBe(false);
    expect(requestsCheck(lab, [rs(2), rs(1), 'curl-failed:28', rs(1)], 4, old).check.ok).toBe(false);
  });
});

describe('reply path and counters (DR)', () => {
  const dr = METHODS.dr;
  it('passes on replies from the realservers with the VIP as source, and no outbound packets on the director', () => {
    expect(dr.replies(context(), traffic({ frames: [frame(MAC.rs1), frame(MAC.rs2)] }), '').ok).toBe(true);
    expect(dr.counters(traffic({ inDelta: 31, outTotal: 0 }), '').ok).toBe(true);
  });
  it('fails on a reply the director sent, one from another source address, or none captured', () => {
    expect(dr.replies(context(), traffic({ frames: [frame(MAC.rs1), frame(MAC.director)] }), '').ok).toBe(false);
    expect(dr.replies(context(), traffic({ frames: [frame(MAC.rs1, '192.168.170.102')] }), '').ok).toBe(false);
    expect(dr.replies(context(), traffic({ frames: [] }), '').ok).toBe(false);
  });
  it('fails when the director forwarded replies (OutPkts) or saw nothing (bypassed through ARP)', () => {
    expect(dr.counters(traffic({ inDelta: 31, outTotal: 5 }), '').ok).toBe(false);
    expect(dr.counters(traffic({ inDelta: 0, outTotal: 0 }), '').ok).toBe(false);
  });
  it('reads frames as tcpdump -e prints them', () => {
    const line = `01:32:12.673772 ${MAC.rs2} > ${MAC.client}, ethertype IPv4 (0x0800), length 74: 192.168.170.100.80 > 192.168.170.10.60610: Flags [S.], seq 1, length 0`;
    expect(dr.replies(context(), traffic({ frames: parseFrames(line) }), '').ok).toBe(true);
  });
});

describe('reply path and counters (NAT)', () => {
  const nat = METHODS.nat;
  const natLab = validateLab({
    name: 'n',
    forwarding: 'nat',
    outside: { subnet: '192.168.171.0/24', directorIp: '192.168.171.1' },
    vip: '192.168.171.100',
    client: { ip: '192.168.171.10' },
  });
  it('passes when replies come from the director with the VIP, and it counts both halves', () => {
    const c = context(natLab);
    expect(nat.replies(c, traffic({ frames: [{ ...frame(MAC.director), srcIp: natLab.vip }] }), '').ok).toBe(true);
    expect(nat.counters(traffic({ inDelta: 10, outDelta: 8 }), '').ok).toBe(true);
  });
  it('fails when a realserver answers the client directly, or the director forwarded no reply', () => {
    expect(nat.replies(context(natLab), traffic({ frames: [{ ...frame(MAC.rs1), srcIp: natLab.vip }] }), '').ok).toBe(
      false,
    );
    expect(nat.counters(traffic({ inDelta: 10, outDelta: 0 }), '').ok).toBe(false);
  });
});

describe("client's address check", () => {
  it("passes when every realserver logged the client's own address", () => {
    expect(
      clientsCheck(
        lab,
        [
          ['rs1', ['192.168.170.10']],
          ['rs2', ['192.168.170.10']],
        ],
        '192.168.170.101',
      ).ok,
    ).toBe(true);
  });
  it("fails on the director's address (a proxy), or a realserver that logged nothing", () => {
    expect(
      clientsCheck(
        lab,
        [
          ['rs1', ['192.168.170.101']],
          ['rs2', ['192.168.170.10']],
        ],
        '192.168.170.101',
      ).ok,
    ).toBe(false);
    expect(
      clientsCheck(
        lab,
        [
          ['rs1', []],
          ['rs2', ['192.168.170.10']],
        ],
        '192.168.170.101',
      ).ok,
    ).toBe(false);
  });
});

describe('ARP check', () => {
  it('passes when the director alone answers', () => {
    expect(arpCheck(context(), [MAC.director, MAC.director]).ok).toBe(true);
  });
  it('fails when a realserver answers too (arp_ignore/arp_announce off), or nobody answers', () => {
    const c = arpCheck(context(), [MAC.rs1, MAC.director]);
    expect(c.ok).toBe(false);
    expect(c.evidence).toContain(`${MAC.rs1} (rs1)`);
    expect(arpCheck(context(), []).ok).toBe(false);
  });
});

describe('one segment across engines', () => {
  const from = (a: string[], b: string[]) => [
    { where: 'engine a', from: 'client', macs: a },
    { where: 'engine b', from: 'rs1', macs: b },
  ];
  it('passes when the director alone answers ARP for the VIP on every engine', () => {
    const c = segmentCheck(context(), from([MAC.director], [MAC.director, MAC.director]));
    expect(c.ok).toBe(true);
    expect(c.evidence).toBe('engine a (from client): director; engine b (from rs1): director');
  });
  it('fails when an engine hears nobody (the tunnel is down), someone else, or has no host to ask from', () => {
    expect(segmentCheck(context(), from([MAC.director], [])).ok).toBe(false);
    expect(segmentCheck(context(), from([MAC.director], [MAC.rs2])).ok).toBe(false);
    const none = segmentCheck(context(), [{ where: 'engine b', macs: [] }]);
    expect(none.ok).toBe(false);
    expect(none.evidence).toBe('engine b: no host to ask from');
  });
});

describe('health-check check', () => {
  const hc = { interval: 1, timeout: 1, retries: 1 };
  it('passes with keepalived and its checker running', () => {
    expect(healthJudgement(hc, { main: 10, checker: 11 }).ok).toBe(true);
  });
  it('fails when keepalived or its checker is not running', () => {
    expect(healthJudgement(hc, { main: 10 }).ok).toBe(false);
    expect(healthJudgement(hc, {}).ok).toBe(false);
  });
});

describe('TUN check', () => {
  const tun = validateLab({ name: 't', forwarding: 'tun' });
  const [rs1] = tun.realservers;
  const ipip = {
    outerSrc: tun.director.ip,
    outerDst: rs1.ip,
    innerSrc: tun.client.ip,
    innerDst: tun.vip,
    innerDstPort: 80,
  };
  it('passes when every packet is IP-in-IP from the director to the realserver, carrying client -> VIP', () => {
    expect(tunnelJudgement(tun, rs1, tun.director.ip, [ipip, ipip]).ok).toBe(true);
  });
  it('fails with no encapsulated packet, or one from elsewhere or carrying another destination', () => {
    expect(tunnelJudgement(tun, rs1, tun.director.ip, []).ok).toBe(false);
    expect(tunnelJudgement(tun, rs1, tun.director.ip, [{ ...ipip, outerSrc: tun.client.ip }]).ok).toBe(false);
    expect(tunnelJudgement(tun, rs1, tun.director.ip, [{ ...ipip, innerDst: rs1.ip }]).ok).toBe(false);
  });
});

describe('director pair checks', () => {
  const pair = withPreset('dr-ha', {}, 'test');
  const id = pair.ha!.virtualRouterId;
  const both = [`master sync daemon (mcast=eth0, syncid=${id})`, `backup sync daemon (mcast=eth0, syncid=${id})`];
  const running = { main: 1, checker: 2, vrrp: 3 };
  const byName = (checks: Check[]) => new Map(checks.map((c) => [c.name.split(' ')[0], c.ok]));
  it('pass with the VIP on one director, keepalived whole and both sync daemons on each', () => {
    const checks = pairJudgement(pair, ['director'], [running, running], [both, both]);
    expect(checks).toHaveLength(3);
    expect(checks.every((c) => c.ok)).toBe(true);
  });
  it('fail with the VIP on both (split brain) or on none, a VRRP process gone, a sync daemon missing', () => {
    expect(byName(pairJudgement(pair, ['director', 'director2'], [running, running], [both, both])).get('VRRP:')).toBe(
      false,
    );
    expect(byName(pairJudgement(pair, [], [running, running], [both, both])).get('VRRP:')).toBe(false);
    expect(
      byName(pairJudgement(pair, ['director'], [running, { main: 1, checker: 2 }], [both, both])).get('keepalived'),
    ).toBe(false);
    expect(byName(pairJudgement(pair, ['director'], [running, running], [both, [both[0]]])).get('IPVS')).toBe(false);
  });
  it("sync: passes when the backup holds the MASTER's connections, fails when it holds none of them", () => {
    const conn = { client: '192.168.170.10:40000', rs: '192.168.170.102:80' };
    expect(syncJudgement(pair, 'director', 'director2', [conn], [conn]).ok).toBe(true);
    expect(syncJudgement(pair, 'director', 'director2', [conn], []).ok).toBe(false);
    expect(syncJudgement(pair, 'director', 'director2', [conn], [{ ...conn, client: '192.168.170.10:40001' }]).ok).toBe(
      false,
    );
  });
});
