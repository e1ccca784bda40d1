// The one lab description every other part reads: validated once here, then trusted downstream.
import ipaddr from 'ipaddr.js';
import { z } from 'zod';

// Every scheduler ipvsadm(8) knows; whether the running kernel has its module is checked at preflight.
export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh', 'fo', 'ovf', 'twos'] as const;
export type Scheduler = (typeof SCHEDULERS)[number];

// ipvsadm's packet-forwarding flags; only DR is built so far (NAT and TUN change the topology, see README).
export const FORWARDING = { dr: '-g', nat: '-m', tun: '-i' } as const;
export type Forwarding = keyof typeof FORWARDING;
const SUPPORTED_FORWARDING: readonly Forwarding[] = ['dr'];

export const MAX_WEIGHT = 65535; // ipvsadm's upper bound for -w

const ipv4 = z.string().refine((s) => ipaddr.IPv4.isValidFourPartDecimal(s), { message: 'is not an IPv4 address (a.b.c.d)' });

const hostName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,14}$/, { message: 'must be 1-15 characters of a-z, 0-9 and "-", starting with a letter' });

const host = z.strictObject({ name: hostName, ip: ipv4 });

const realserver = z.strictObject({
  name: hostName,
  ip: ipv4,
  weight: z
    .number({ message: 'must be a number' })
    .int({ message: 'must be a whole number' })
    .min(0, { message: `must be between 0 and ${MAX_WEIGHT}` })
    .max(MAX_WEIGHT, { message: `must be between 0 and ${MAX_WEIGHT}` })
    .default(1),
});

const service = z.strictObject({
  // httpd is what the realservers serve, so TCP is the only protocol that means something here.
  protocol: z.literal('tcp', { message: 'only "tcp" is supported (the realservers serve HTTP)' }).default('tcp'),
  port: z
    .number({ message: 'must be a number' })
    .int({ message: 'must be a whole number' })
    .min(1, { message: 'must be between 1 and 65535' })
    .max(65535, { message: 'must be between 1 and 65535' })
    .default(80),
  scheduler: z
    .enum(SCHEDULERS, { message: `must be one of ${SCHEDULERS.join(', ')}` })
    .default('rr'),
  // ipvsadm -p: seconds a client stays with its realserver; absent means no persistence.
  persistence: z
    .number({ message: 'must be a number' })
    .int({ message: 'must be a whole number' })
    .min(1, { message: 'must be at least 1 second (leave it out for no persistence)' })
    .optional(),
});

export const REFERENCE_LAB = {
  name: 'lvs',
  subnet: '192.168.170.0/24',
  vip: '192.168.170.100',
  service: { protocol: 'tcp', port: 80, scheduler: 'rr' },
  forwarding: 'dr',
  director: { name: 'director', ip: '192.168.170.101' },
  realservers: [
    { name: 'rs1', ip: '192.168.170.102', weight: 1 },
    { name: 'rs2', ip: '192.168.170.103', weight: 1 },
  ],
  client: { name: 'client', ip: '192.168.170.10' },
} as const;

const labSchema = z.strictObject({
  // The name prefixes every namespace, link and VM of the lab; kernel link names stop at 15 characters.
  name: z
    .string()
    .regex(/^[a-z][a-z0-9]{0,7}$/, { message: 'must be 1-8 characters of a-z and 0-9, starting with a letter' })
    .default(REFERENCE_LAB.name),
  subnet: z.string().default(REFERENCE_LAB.subnet),
  vip: ipv4.default(REFERENCE_LAB.vip),
  service: service.default({ ...REFERENCE_LAB.service }),
  forwarding: z
    .enum(Object.keys(FORWARDING) as [Forwarding, ...Forwarding[]], { message: 'must be one of dr, nat, tun' })
    .default(REFERENCE_LAB.forwarding),
  director: host.default({ ...REFERENCE_LAB.director }),
  realservers: z
    .array(realserver, { message: 'must be a list of realservers' })
    .min(1, { message: 'at least one realserver is required' })
    .default(REFERENCE_LAB.realservers.map((r) => ({ ...r }))),
  client: host.default({ ...REFERENCE_LAB.client }),
});

export type LabInput = z.input<typeof labSchema>;
type Parsed = z.output<typeof labSchema>;
export type Host = Parsed['director'];
export type Realserver = Parsed['realservers'][number];
export type Service = Parsed['service'];

export type Role = 'director' | 'realserver' | 'client';

/** A validated lab: the shape of the input plus what follows from it. */
export interface Lab extends Parsed {
  /** The subnet's prefix length, e.g. 24: the seed's `ifconfig eth0:0 <VIP>/24` uses it. */
  prefixLength: number;
}

export interface LabHost extends Host {
  role: Role;
}

/** Every host of the lab in a fixed order: client, director, then realservers. */
export function hostsOf(lab: Lab): LabHost[] {
  return [
    { ...lab.client, role: 'client' },
    { ...lab.director, role: 'director' },
    ...lab.realservers.map((r) => ({ name: r.name, ip: r.ip, role: 'realserver' as const })),
  ];
}

export class LabModelError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: invalid lab\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'LabModelError';
  }
}

function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), '') || '(lab)';
}

/** Checks that need the whole lab at once: addresses against the subnet, and uniqueness. */
function semanticProblems(lab: Parsed): { problems: string[]; prefixLength: number } {
  const problems: string[] = [];
  let net: [ipaddr.IPv4, number];
  try {
    const parsed = ipaddr.parseCIDR(lab.subnet);
    if (parsed[0].kind() !== 'ipv4') throw new Error('not IPv4');
    net = parsed as [ipaddr.IPv4, number];
  } catch {
    return { problems: [`subnet: ${JSON.stringify(lab.subnet)} is not an IPv4 CIDR (a.b.c.d/len)`], prefixLength: 0 };
  }
  const [base, len] = net;
  const network = ipaddr.IPv4.networkAddressFromCIDR(lab.subnet).toString();
  if (base.toString() !== network) problems.push(`subnet: ${lab.subnet} has host bits set (the network is ${network}/${len})`);
  if (len < 8 || len > 30) problems.push(`subnet: /${len} must be between /8 and /30 to hold a lab`);
  const broadcast = ipaddr.IPv4.broadcastAddressFromCIDR(lab.subnet).toString();

  const addresses: Array<[string, string]> = [
    ['vip', lab.vip],
    ['director.ip', lab.director.ip],
    ['client.ip', lab.client.ip],
    ...lab.realservers.map((r, i): [string, string] => [`realservers[${i}].ip`, r.ip]),
  ];
  const seenAddress = new Map<string, string>();
  for (const [field, addr] of addresses) {
    const parsed = ipaddr.IPv4.parse(addr);
    if (!parsed.match(base, len)) problems.push(`${field}: ${addr} is outside the subnet ${lab.subnet}`);
    else if (addr === network || addr === broadcast)
      problems.push(`${field}: ${addr} is the subnet's ${addr === network ? 'network' : 'broadcast'} address`);
    const other = seenAddress.get(addr);
    if (other) problems.push(`${field}: ${addr} is already used by ${other}`);
    else seenAddress.set(addr, field);
  }

  const names: Array<[string, string]> = [
    ['director.name', lab.director.name],
    ['client.name', lab.client.name],
    ...lab.realservers.map((r, i): [string, string] => [`realservers[${i}].name`, r.name]),
  ];
  const seenName = new Map<string, string>();
  for (const [field, name] of names) {
    const other = seenName.get(name);
    if (other) problems.push(`${field}: name "${name}" is already used by ${other}`);
    else seenName.set(name, field);
  }

  if (!SUPPORTED_FORWARDING.includes(lab.forwarding))
    problems.push(`forwarding: "${lab.forwarding}" is not built yet; supported: ${SUPPORTED_FORWARDING.join(', ')}`);
  if (lab.realservers.every((r) => r.weight === 0))
    problems.push('realservers: every weight is 0, so IPVS would send no traffic anywhere');
  return { problems, prefixLength: len };
}

/**
 * Validates a lab description (already parsed from YAML/JSON/stack config) and fills in the reference lab's
 * defaults. Throws LabModelError listing every problem as `field: reason`.
 */
export function validateLab(input: unknown, source = 'lab'): Lab {
  const parsed = labSchema.safeParse(input ?? {});
  if (!parsed.success) {
    throw new LabModelError(
      source,
      parsed.error.issues.map((issue) => {
        if (issue.code === 'unrecognized_keys') return `${fieldPath(issue.path)}: unknown field(s) ${issue.keys.join(', ')}`;
        return `${fieldPath(issue.path)}: ${issue.message}`;
      }),
    );
  }
  const { problems, prefixLength } = semanticProblems(parsed.data);
  if (problems.length > 0) throw new LabModelError(source, problems);
  return { ...parsed.data, prefixLength };
}

export const referenceLab = (): Lab => validateLab({}, 'reference lab');
