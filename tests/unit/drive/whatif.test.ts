// whatif's mistakes, checked before a lab is touched, and what it prints; the consequences themselves are observed
// on live labs (tests/integration/whatif.test.ts, variants.test.ts, the Docker suite).
import { describe, expect, it } from 'vitest';
import { answersLine } from '../../../drive/consequences.js';
import { MISTAKE_NAMES, MISTAKES, mistakeNamed, victimOf } from '../../../drive/mistakes.js';
import { formatWhatif, type Whatif } from '../../../drive/whatif.js';
import { UserError } from '../../../model/errors.js';
import { validateLab } from '../../../model/topology.js';
import { planLab } from '../../../provision/plan.js';

const dr = validateLab({ name: 'w' }, 'test');
const tun = validateLab({ name: 'w', forwarding: 'tun' }, 'test');
const nat = validateLab(
  {
    name: 'w',
    forwarding: 'nat',
    outside: { subnet: '10.0.0.0/24', directorIp: '10.0.0.1' },
    client: { ip: '10.0.0.10' },
    vip: '10.0.0.100',
  },
  'test',
);
const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return (err as Error).message;
  }
  throw new Error('not refused');
};

describe('choosing a mistake', () => {
  it('knows the five, and refuses other names listing them', () => {
    for (const n of MISTAKE_NAMES) expect(mistakeNamed(n).name).toBe(n);
    expect(refusal(() => mistakeNamed('arp_ignore'))).toBe(
      'whatif: "arp_ignore" is not a mistake whatif knows; one of arp, no-vip-on-lo, rp-filter, nat-gateway, forwarding',
    );
    expect(refusal(() => mistakeNamed(undefined))).toMatch(/^whatif: name a mistake/);
  });

  it('applies each only to the labs that have the step it undoes', () => {
    expect(refusal(() => victimOf(dr, MISTAKES['rp-filter']))).toBe(
      'whatif rp-filter: a mistake of TUN labs; lab w forwards by DR',
    );
    expect(refusal(() => victimOf(tun, MISTAKES['nat-gateway']))).toMatch(
      /a mistake of NAT labs; lab w forwards by TUN/,
    );
    expect(refusal(() => victimOf(nat, MISTAKES.arp))).toMatch(/a mistake of DR\/TUN labs/);
    for (const lab of [dr, tun, nat]) expect(victimOf(lab, MISTAKES.forwarding).name).toBe('rs1');
  });

  it('takes a realserver for the one-realserver mistakes only', () => {
    expect(victimOf(dr, MISTAKES['no-vip-on-lo'], 'rs2').name).toBe('rs2');
    expect(refusal(() => victimOf(dr, MISTAKES['no-vip-on-lo'], 'director'))).toMatch(
      /"director" is not a realserver of lab w \(rs1, rs2\)/,
    );
    expect(refusal(() => victimOf(dr, MISTAKES.forwarding, 'rs1'))).toMatch(
      /made on every director, so it takes no host/,
    );
  });

  // Restoring is re-applying the plan: each mistake must undo something the plan makes, or it would stay.
  it.each([
    ['arp', dr, /arp_ignore/],
    ['no-vip-on-lo', dr, /ifconfig lo:0 192\.168\.170\.100/],
    ['rp-filter', tun, /conf\/tunl0\/rp_filter/],
    ['nat-gateway', nat, /route add default gw 192\.168\.170\.101/],
    ['forwarding', dr, /ip_forward/],
  ] as const)('%s undoes a step the plan makes on the hosts it changes', (name, lab, step) => {
    const changes = MISTAKES[name].changes(lab, lab.realservers[0]);
    const plan = planLab(lab, { httpd: { kind: 'system' } });
    for (const c of changes) {
      const steps = plan.hosts.find((h) => h.host.name === c.host)!.steps.map((s) => s.command);
      expect(
        steps.some((s) => step.test(s)),
        `${c.host}: ${steps.join('\n')}`,
      ).toBe(true);
    }
  });
});

describe('what whatif prints', () => {
  it('counts answers by body, and the unanswered', () => {
    expect(answersLine(['from a', undefined, 'from a', 'from b'])).toBe(
      '4 requests at once: 3 answered ("from a" x2, "from b" x1), 1 got no answer in 3 s',
    );
    expect(answersLine([undefined])).toBe('1 requests at once: 0 answered, 1 got no answer in 3 s');
  });

  it("the seed's sentence, the change, what was seen, and the verify after the restore", () => {
    const w: Whatif = {
      lab: 'w',
      mistake: 'forwarding',
      what: 'the director with ip_forward off',
      seed: 'director: echo 1 > /proc/sys/net/ipv4/ip_forward',
      changed: [{ host: 'director', command: 'echo 0 > /proc/sys/net/ipv4/ip_forward' }],
      seen: { consequence: 'DR does not need it', shown: true, evidence: ['director: ip_forward = 0'], facts: {} },
      restored: { director: 1 },
      verify: { passed: 5, total: 6, failed: [{ name: 'ARP for the VIP', evidence: 'answered by rs1' }] },
    };
    expect(formatWhatif(dr, w).split('\n')).toEqual([
      'whatif forwarding: the director with ip_forward off (lab w, DR)',
      '  the seed:  director: echo 1 > /proc/sys/net/ipv4/ip_forward',
      '  changed:   director: echo 0 > /proc/sys/net/ipv4/ip_forward',
      '  [SEEN] DR does not need it',
      '      director: ip_forward = 0',
      "  restored:  the plan re-applied (director 1 step changed back); the client's neighbours flushed",
      '  restored: verify 5/6',
      '      [FAIL] ARP for the VIP: answered by rs1',
    ]);
  });
});
