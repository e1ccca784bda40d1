import { describe, expect, it } from 'vitest';
import { parseLab } from '../../../model/load.js';
import { PRESET_NAMES, withPreset } from '../../../model/presets.js';
import {
  defaultVirtualRouterId,
  hostsOf,
  LabModelError,
  REFERENCE_LAB,
  referenceLab,
  validateLab,
  type LabInput,
} from '../../../model/topology.js';

function problemsOf(input: unknown): string[] {
  try {
    validateLab(input, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(LabModelError);
    return (err as LabModelError).problems;
  }
  throw new Error('expected the lab to be rejected');
}

const withRealservers = (realservers: LabInput['realservers']): LabInput => ({ realservers });

describe('topology model', () => {
  it('defaults to the reference LVS-DR lab', () => {
    const lab = referenceLab();
    expect(lab).toMatchObject({
      name: 'lvs',
      subnet: '192.168.170.0/24',
      prefixLength: 24,
      vip: '192.168.170.100',
      service: { protocol: 'tcp', port: 80, scheduler: 'rr' },
      forwarding: 'dr',
      director: { name: 'director', ip: '192.168.170.101' },
      client: { name: 'client', ip: '192.168.170.10' },
    });
    expect(lab.realservers).toEqual([
      { name: 'rs1', ip: '192.168.170.102', weight: 1 },
      { name: 'rs2', ip: '192.168.170.103', weight: 1 },
    ]);
    expect(lab.service.persistence).toBeUndefined();
  });

  it('accepts a full description in YAML and in JSON', () => {
    const yaml = `
name: big
subnet: 10.9.0.0/16
vip: 10.9.0.100
service: { port: 8080, scheduler: wrr, persistence: 300 }
director: { name: lb, ip: 10.9.0.1 }
client: { name: c, ip: 10.9.1.1 }
realservers:
  - { name: web1, ip: 10.9.0.11, weight: 3 }
  - { name: web2, ip: 10.9.0.12 }
`;
    const lab = parseLab(yaml, 'lab.yaml');
    expect(lab.prefixLength).toBe(16);
    expect(lab.service).toEqual({ protocol: 'tcp', port: 8080, scheduler: 'wrr', persistence: 300 });
    expect(lab.realservers.map((r) => r.weight)).toEqual([3, 1]);
    expect(parseLab(JSON.stringify({ ...REFERENCE_LAB, name: 'json' }), 'lab.json').name).toBe('json');
  });

  it.each([
    [
      'a VIP outside the subnet',
      { vip: '192.168.171.100' },
      'vip: 192.168.171.100 is outside the subnet 192.168.170.0/24',
    ],
    [
      'a realserver outside the subnet',
      withRealservers([{ name: 'rs1', ip: '10.0.0.2' }]),
      'realservers[0].ip: 10.0.0.2 is outside the subnet',
    ],
    [
      'the broadcast address',
      { client: { name: 'client', ip: '192.168.170.255' } },
      "client.ip: 192.168.170.255 is the subnet's broadcast address",
    ],
    [
      'duplicate addresses',
      withRealservers([
        { name: 'rs1', ip: '192.168.170.102' },
        { name: 'rs2', ip: '192.168.170.102' },
      ]),
      'realservers[1].ip: 192.168.170.102 is already used by realservers[0].ip',
    ],
    [
      'a realserver on the VIP',
      withRealservers([{ name: 'rs1', ip: '192.168.170.100' }]),
      'realservers[0].ip: 192.168.170.100 is already used by vip',
    ],
    [
      'duplicate names',
      withRealservers([
        { name: 'web', ip: '192.168.170.102' },
        { name: 'web', ip: '192.168.170.103' },
      ]),
      'realservers[1].name: name "web" is already used by realservers[0].name',
    ],
    ['an unknown scheduler', { service: { scheduler: 'fastest' } }, 'service.scheduler: must be one of rr, wrr'],
    [
      'a weight out of range',
      withRealservers([{ name: 'rs1', ip: '192.168.170.102', weight: 70000 }]),
      'realservers[0].weight: must be between 0 and 65535',
    ],
    [
      'a fractional weight',
      withRealservers([{ name: 'rs1', ip: '192.168.170.102', weight: 1.5 }]),
      'realservers[0].weight: must be a whole number',
    ],
    ['zero realservers', withRealservers([]), 'realservers: at least one realserver is required'],
    [
      'only weight-0 realservers',
      withRealservers([{ name: 'rs1', ip: '192.168.170.102', weight: 0 }]),
      'realservers: every weight is 0',
    ],
    ['port 0', { service: { port: 0 } }, 'service.port: must be between 1 and 65535'],
    ['port 70000', { service: { port: 70000 } }, 'service.port: must be between 1 and 65535'],
    ['a port given as text', { service: { port: '80' } }, 'service.port: must be a number'],
    ['UDP', { service: { protocol: 'udp' } }, 'service.protocol: only "tcp" is supported'],
    ['an address that is not IPv4', { vip: '192.168.170' }, 'vip: "192.168.170" is not an IPv4 address (a.b.c.d)'],
    ['a subnet that is not a CIDR', { subnet: '192.168.170.0' }, 'subnet: "192.168.170.0" is not an IPv4 CIDR'],
    ['a subnet with host bits', { subnet: '192.168.170.1/24' }, 'subnet: 192.168.170.1/24 has host bits set'],
    ['an unknown field', { schedular: 'rr' }, '(lab): unknown field(s) schedular'],
    [
      'NAT without an outside network',
      { forwarding: 'nat' },
      'outside: forwarding nat needs the client on another subnet behind the director',
    ],
    [
      'an outside network without NAT',
      { outside: { subnet: '192.168.171.0/24', directorIp: '192.168.171.1' } },
      'outside: only forwarding nat has an outside network',
    ],
    ['an unknown forwarding method', { forwarding: 'bgp' }, 'forwarding: must be one of dr, nat, tun'],
    ['a lab name too long for link names', { name: 'averylongname' }, 'name: must be 1-8 characters'],
    ["the name of the kit's own libvirtd", { name: 'libvirt' }, "name: libvirt is reserved for the kit's libvirtd"],
    [
      'a host name with spaces',
      { director: { name: 'my director', ip: '192.168.170.101' } },
      'director.name: must be 1-15 characters',
    ],
  ])('rejects %s, naming the field and the reason', (_what, input, message) => {
    const problems = problemsOf(input);
    expect(problems.some((p) => p.startsWith(message))).toBe(true);
  });

  it('reports every problem at once, with the source in the message', () => {
    try {
      validateLab({ vip: '10.0.0.1', service: { scheduler: 'nope', port: -1 } }, 'my-lab.yaml');
      expect.unreachable();
    } catch (err) {
      const e = err as LabModelError;
      expect(e.problems).toHaveLength(2); // shape errors first; the subnet check needs a well-formed lab
      expect(e.message).toMatch(/^my-lab.yaml: invalid lab\n/);
    }
  });

  it('rejects a file that is not a mapping, or not YAML', () => {
    expect(() => parseLab('- a\n- b\n', 'list.yaml')).toThrow(/list.yaml: invalid lab\n.*must hold a mapping/);
    expect(() => parseLab('vip: [unclosed', 'broken.yaml')).toThrow(/not valid YAML/);
  });
});

describe('realserver count and assigned addresses', () => {
  it('a count N gives rs1..rsN at the next free addresses after the director', () => {
    const lab = validateLab({ realservers: 16 });
    expect(lab.realservers.map((r) => r.name)).toEqual(Array.from({ length: 16 }, (_, i) => `rs${i + 1}`));
    expect(lab.realservers.map((r) => r.ip)).toEqual(Array.from({ length: 16 }, (_, i) => `192.168.170.${102 + i}`));
  });

  it('given addresses are kept and skipped; names and weights can be given alone', () => {
    const lab = validateLab({ realservers: [{ weight: 3 }, { name: 'web', ip: '192.168.170.102' }, {}] });
    expect(lab.realservers).toEqual([
      { name: 'rs1', ip: '192.168.170.103', weight: 3 },
      { name: 'web', ip: '192.168.170.102', weight: 1 },
      { name: 'rs3', ip: '192.168.170.104', weight: 1 },
    ]);
  });

  it('skips the VIP and client, wraps inside the subnet, and says when it is full', () => {
    const lab = validateLab({
      subnet: '10.0.0.0/29',
      vip: '10.0.0.5',
      director: { name: 'd', ip: '10.0.0.4' },
      client: { name: 'c', ip: '10.0.0.1' },
      realservers: 3,
    });
    expect(lab.realservers.map((r) => r.ip)).toEqual(['10.0.0.6', '10.0.0.2', '10.0.0.3']);
    expect(() =>
      validateLab({
        subnet: '10.0.0.0/29',
        vip: '10.0.0.5',
        director: { name: 'd', ip: '10.0.0.4' },
        client: { name: 'c', ip: '10.0.0.1' },
        realservers: 4,
      }),
    ).toThrow(/realservers\[3\]\.ip: no free address left in 10\.0\.0\.0\/29/);
  });

  it('refuses 0, too many and fractional counts', () => {
    expect(() => validateLab({ realservers: 0 })).toThrow(/realservers: at least one realserver is required/);
    expect(() => validateLab({ realservers: 65 })).toThrow(/realservers: 65 is not a count from 1 to 64/);
    expect(() => validateLab({ realservers: 2.5 })).toThrow(/realservers: 2.5 is not a count from 1 to 64/);
  });
});

describe('presets', () => {
  it('are the reference lab with their own fields, under what a file gives', () => {
    expect(withPreset('dr-rr', {}, 't')).toEqual({ ...referenceLab(), name: 'drrr' });
    const wrr = withPreset('dr-wrr', { name: 'mine', service: { port: 8080 } }, 't');
    expect(wrr).toMatchObject({ name: 'mine', service: { scheduler: 'wrr', port: 8080 } });
    expect(wrr.realservers.map((r) => r.weight)).toEqual([3, 1]);
    expect(withPreset('dr-persist', {}, 't').service).toMatchObject({ scheduler: 'rr', persistence: 300 });
  });

  it("dr-ha's backup director follows a subnet a file gives (.104 there), as the other hosts do", () => {
    expect(withPreset('dr-ha', {}, 't').ha!.backup).toEqual({ name: 'director2', ip: '192.168.170.104' });
    const moved = withPreset('dr-ha', { name: 'pair', subnet: '10.90.0.0/24' }, 't');
    expect([moved.director.ip, moved.ha!.backup.ip, moved.vip]).toEqual(['10.90.0.101', '10.90.0.104', '10.90.0.100']);
  });

  it('every preset is a valid lab; an unknown one is a model error naming the choices', () => {
    for (const name of PRESET_NAMES) expect(() => withPreset(name, {}, 't')).not.toThrow();
    expect(() => withPreset('dr-fastest', {}, 'cli')).toThrow(
      /cli: invalid lab\n {2}- preset: "dr-fastest" is not one of dr-rr, dr-wrr/,
    );
  });
});

describe('NAT and TUN', () => {
  const nat = {
    forwarding: 'nat',
    outside: { subnet: '192.168.171.0/24', directorIp: '192.168.171.1' },
    vip: '192.168.171.100',
    client: { name: 'client', ip: '192.168.171.10' },
  };

  it('NAT puts the VIP and the client on the outside network, the director on both', () => {
    const lab = validateLab(nat);
    expect(lab).toMatchObject({ forwarding: 'nat', vip: '192.168.171.100', outsidePrefixLength: 24, prefixLength: 24 });
    expect(lab.realservers.map((r) => r.ip)).toEqual(['192.168.170.102', '192.168.170.103']);
  });

  it("refuses NAT with the client on the realservers' subnet, saying why", () => {
    expect(() => validateLab({ ...nat, client: { name: 'client', ip: '192.168.170.10' } })).toThrow(
      /client\.ip: 192\.168\.170\.10 is on the realservers' subnet 192\.168\.170\.0\/24; with NAT the client must be on the outside subnet 192\.168\.171\.0\/24/,
    );
  });

  it('refuses an outside network that overlaps the subnet, and a VIP off the outside network', () => {
    expect(() => validateLab({ ...nat, outside: { subnet: '192.168.170.0/25', directorIp: '192.168.170.1' } })).toThrow(
      /outside\.subnet: 192\.168\.170\.0\/25 overlaps/,
    );
    expect(() => validateLab({ ...nat, vip: '192.168.170.100' })).toThrow(
      /vip: 192\.168\.170\.100 is outside the subnet 192\.168\.171\.0\/24/,
    );
  });

  it('TUN is the DR lab shape with another forwarding method', () => {
    expect(validateLab({ forwarding: 'tun' })).toEqual({ ...referenceLab(), forwarding: 'tun' });
  });
});

describe('health checks (keepalived)', () => {
  it('are off unless asked for; an empty mapping takes the defaults', () => {
    expect(referenceLab().healthCheck).toBeUndefined();
    expect(validateLab({ healthCheck: {} }).healthCheck).toEqual({ interval: 2, timeout: 1, retries: 1 });
    expect(withPreset('dr-health', {}, 't').healthCheck).toEqual({ interval: 1, timeout: 1, retries: 1 });
  });

  it('refuses timings out of range and unknown fields', () => {
    expect(problemsOf({ healthCheck: { interval: 0, timeout: 1.5, retries: 11, path: '/x' } })).toEqual([
      'healthCheck.interval: must be between 1 and 3600',
      'healthCheck.timeout: must be a whole number',
      'healthCheck.retries: must be between 0 and 10',
      'healthCheck: unknown field(s) path',
    ]);
  });
});

describe('partial host entries', () => {
  it("take the reference lab's value for each field left out", () => {
    const lab = validateLab({ client: { ip: '192.168.170.20' }, director: { name: 'lb1' } }, 'test');
    expect(lab.client).toEqual({ name: 'client', ip: '192.168.170.20' });
    expect(lab.director).toEqual({ name: 'lb1', ip: '192.168.170.101' });
  });

  it('are still checked field by field', () => {
    expect(() => validateLab({ client: { ip: '192.168.171.20' } }, 'test')).toThrow(
      /client\.ip: 192\.168\.171\.20 is outside the subnet 192\.168\.170\.0\/24/,
    );
    expect(() => validateLab({ director: { name: 'Bad Name' } }, 'test')).toThrow(
      /director\.name: must be 1-15 characters/,
    );
  });
});

const PRESET_NAT = {
  forwarding: 'nat',
  outside: { subnet: '192.168.171.0/24', directorIp: '192.168.171.1' },
  vip: '192.168.171.100',
  client: { ip: '192.168.171.10' },
};

describe('a director pair (ha)', () => {
  it('fills in the backup, a router id from the lab name, adverts every second, preemption and sync', () => {
    const lab = validateLab({ name: 'pair', ha: {} });
    expect(lab.ha).toEqual({
      backup: { name: 'director2', ip: '192.168.170.104' },
      virtualRouterId: defaultVirtualRouterId('pair'),
      advertInterval: 1,
      preempt: true,
      sync: true,
    });
    expect(defaultVirtualRouterId('pair')).not.toBe(defaultVirtualRouterId('lvs'));
    expect(
      hostsOf(lab)
        .filter((h) => h.role === 'director')
        .map((h) => h.name),
    ).toEqual(['director', 'director2']);
  });

  it("assigns realservers around the backup's address", () => {
    const lab = validateLab({ ha: {}, realservers: 3 });
    expect(lab.realservers.map((r) => r.ip)).toEqual(['192.168.170.102', '192.168.170.103', '192.168.170.105']);
  });

  it('refuses NAT, a clashing backup and bad settings, naming each field', () => {
    const problems = (input: unknown) => {
      try {
        validateLab(input, 't');
      } catch (e) {
        return (e as LabModelError).problems;
      }
      return [];
    };
    expect(problems({ ...PRESET_NAT, ha: {} })).toEqual([
      expect.stringMatching(/^ha: a director pair needs forwarding dr or tun/),
    ]);
    expect(problems({ ha: { backup: { name: 'director' } } })).toEqual([
      'ha.backup.name: name "director" is already used by director.name',
    ]);
    expect(problems({ ha: { backup: { ip: '192.168.170.101' } } })).toEqual([
      'ha.backup.ip: 192.168.170.101 is already used by director.ip',
    ]);
    expect(problems({ ha: { backup: { ip: '10.0.0.1' } } })).toEqual([
      'ha.backup.ip: 10.0.0.1 is outside the subnet 192.168.170.0/24',
    ]);
    expect(problems({ ha: { virtualRouterId: 0, advertInterval: 'x', preempt: 'no' } })).toEqual([
      'ha.virtualRouterId: must be between 1 and 255',
      'ha.advertInterval: must be a number',
      'ha.preempt: must be true or false',
    ]);
  });
});

describe('every problem in one pass', () => {
  it('a duplicate name or address is reported beside a field the schema refuses', () => {
    const err = (() => {
      try {
        validateLab(
          {
            realservers: [
              { name: 'rs1', ip: '192.168.170.102', weight: -1 },
              { name: 'rs1', ip: '192.168.170.102' },
            ],
          },
          'lab.yaml',
        );
      } catch (e) {
        return e as LabModelError;
      }
    })();
    expect(err?.problems).toEqual([
      'realservers[0].weight: must be between 0 and 65535',
      'realservers[1].name: name "rs1" is already used by realservers[0].name',
      'realservers[1].ip: 192.168.170.102 is already used by realservers[0].ip',
    ]);
  });
});
