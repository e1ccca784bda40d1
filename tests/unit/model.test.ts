import { describe, expect, it } from 'vitest';
import { parseLab } from '../../model/load.js';
import { LabModelError, REFERENCE_LAB, referenceLab, validateLab, type LabInput } from '../../model/topology.js';

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
    ['a VIP outside the subnet', { vip: '192.168.171.100' }, 'vip: 192.168.171.100 is outside the subnet 192.168.170.0/24'],
    ['a realserver outside the subnet', withRealservers([{ name: 'rs1', ip: '10.0.0.2' }]), 'realservers[0].ip: 10.0.0.2 is outside the subnet'],
    ['the broadcast address', { client: { name: 'client', ip: '192.168.170.255' } }, "client.ip: 192.168.170.255 is the subnet's broadcast address"],
    ['duplicate addresses', withRealservers([{ name: 'rs1', ip: '192.168.170.102' }, { name: 'rs2', ip: '192.168.170.102' }]), 'realservers[1].ip: 192.168.170.102 is already used by realservers[0].ip'],
    ['a realserver on the VIP', withRealservers([{ name: 'rs1', ip: '192.168.170.100' }]), 'realservers[0].ip: 192.168.170.100 is already used by vip'],
    ['duplicate names', withRealservers([{ name: 'web', ip: '192.168.170.102' }, { name: 'web', ip: '192.168.170.103' }]), 'realservers[1].name: name "web" is already used by realservers[0].name'],
    ['an unknown scheduler', { service: { scheduler: 'fastest' } }, 'service.scheduler: must be one of rr, wrr'],
    ['a weight out of range', withRealservers([{ name: 'rs1', ip: '192.168.170.102', weight: 70000 }]), 'realservers[0].weight: must be between 0 and 65535'],
    ['a fractional weight', withRealservers([{ name: 'rs1', ip: '192.168.170.102', weight: 1.5 }]), 'realservers[0].weight: must be a whole number'],
    ['zero realservers', withRealservers([]), 'realservers: at least one realserver is required'],
    ['only weight-0 realservers', withRealservers([{ name: 'rs1', ip: '192.168.170.102', weight: 0 }]), 'realservers: every weight is 0'],
    ['port 0', { service: { port: 0 } }, 'service.port: must be between 1 and 65535'],
    ['port 70000', { service: { port: 70000 } }, 'service.port: must be between 1 and 65535'],
    ['a port given as text', { service: { port: '80' } }, 'service.port: must be a number'],
    ['UDP', { service: { protocol: 'udp' } }, 'service.protocol: only "tcp" is supported'],
    ['an address that is not IPv4', { vip: '192.168.170' }, 'vip: is not an IPv4 address'],
    ['a subnet that is not a CIDR', { subnet: '192.168.170.0' }, 'subnet: "192.168.170.0" is not an IPv4 CIDR'],
    ['a subnet with host bits', { subnet: '192.168.170.1/24' }, 'subnet: 192.168.170.1/24 has host bits set'],
    ['an unknown field', { schedular: 'rr' }, '(lab): unknown field(s) schedular'],
    ['a forwarding method not built yet', { forwarding: 'nat' }, 'forwarding: "nat" is not built yet; supported: dr'],
    ['an unknown forwarding method', { forwarding: 'bgp' }, 'forwarding: must be one of dr, nat, tun'],
    ['a lab name too long for link names', { name: 'averylongname' }, 'name: must be 1-8 characters'],
    ['a host name with spaces', { director: { name: 'my director', ip: '192.168.170.101' } }, 'director.name: must be 1-15 characters'],
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
