// The one lab description every other part reads: validated once here, then trusted downstream.
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { ipToNumber, numberToIp } from './addressing.js';
import { checkProblems, checkSchema } from './checks.js';
import { UserError } from './errors.js';

// Every scheduler ipvsadm(8) knows; whether the running kernel has its module is checked at preflight.
export const SCHEDULERS = [
  'rr',
  'wrr',
  'lc',
  'wlc',
  'lblc',
  'lblcr',
  'dh',
  'sh',
  'sed',
  'nq',
  'mh',
  'fo',
  'ovf',
  'twos',
] as const;
export type Scheduler = (typeof SCHEDULERS)[number];

// ipvsadm's packet-forwarding flags: direct routing (gatewaying), masquerading (NAT), IP-in-IP tunnelling.
export const FORWARDING = { dr: '-g', nat: '-m', tun: '-i' } as const;
export type Forwarding = keyof typeof FORWARDING;
/** How `ipvsadm -Ln` names each method in its Forward column. */
export const FORWARD_COLUMN = { dr: 'Route', nat: 'Masq', tun: 'Tunnel' } as const satisfies Record<Forwarding, string>;

export const MAX_WEIGHT = 65535; // ipvsadm's upper bound for -w

/** A whole number in [min, max], with messages that say so. */
const between = (min: number, max: number) =>
  z
    .number({ message: 'must be a number' })
    .int({ message: 'must be a whole number' })
    .min(min, { message: `must be between ${min} and ${max}` })
    .max(max, { message: `must be between ${min} and ${max}` });

/** A value as a message quotes it: JSON, cut to a readable length (a field may hold megabytes). */
export function shown(value: unknown, max = 60): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > max ? `${text.slice(0, max)}... (${text.length} characters)` : text;
}

// zod's own address formats; the message names the value given.
const ipv4 = z.ipv4({ error: (iss) => `${shown(iss.input)} is not an IPv4 address (a.b.c.d)` });
const cidrv4 = z.cidrv4({ error: (iss) => `${shown(iss.input)} is not an IPv4 CIDR (a.b.c.d/len)` });

/** A host's name: it names its namespace, container or machine (kernel link and host names stay short). */
export const HOST_NAME_PATTERN = /^[a-z][a-z0-9-]{0,14}$/;
const hostName = z
  .string()
  .regex(HOST_NAME_PATTERN, { message: 'must be 1-15 characters of a-z, 0-9 and "-", starting with a letter' });

/** A host entry; a field left out takes the reference lab's value for that host (`client: { ip: ... }` works). */
const host = (defaults: { name: string; ip: string }) =>
  z.strictObject({ name: hostName.default(defaults.name), ip: ipv4.default(defaults.ip) }).default({ ...defaults });

/** ipvsadm has no limit that matters here; this keeps a lab inside what one machine builds in seconds. */
export const MAX_REALSERVERS = 64;

// name and ip may be left out: names default to rs<n>, addresses are assigned from the subnet.
const realserver = z.strictObject({
  name: hostName.optional(),
  ip: ipv4.optional(),
  weight: between(0, MAX_WEIGHT).default(1),
});

/** ipvsadm's bound for -p (31 days, in seconds). */
export const MAX_PERSISTENCE = 31 * 86400;

const service = z.strictObject({
  // httpd is what the realservers serve, so TCP is the only protocol that means something here.
  protocol: z.literal('tcp', { message: 'only "tcp" is supported (the realservers serve HTTP)' }).default('tcp'),
  port: between(1, 65535).default(80),
  scheduler: z.enum(SCHEDULERS, { message: `must be one of ${SCHEDULERS.join(', ')}` }).default('rr'),
  // ipvsadm -p: seconds a client stays with its realserver; absent means no persistence.
  persistence: z
    .number({ message: 'must be a number' })
    .int({ message: 'must be a whole number' })
    .min(1, { message: 'must be at least 1 second (leave it out for no persistence)' })
    .max(MAX_PERSISTENCE, { message: `must be at most ${MAX_PERSISTENCE} seconds (31 days, ipvsadm's limit)` })
    .optional(),
});

// keepalived's checker (health-checking variant): every `interval` seconds it GETs / from each realserver's httpd,
// waiting `timeout` seconds to connect and trying `retries` more times before it takes the realserver out of the
// IPVS table; a realserver that answers again goes back in.
const healthCheck = z.strictObject({
  interval: between(1, 3600).default(2),
  timeout: between(1, 60).default(1),
  retries: between(0, 10).default(1),
});

/** A director pair's second director, when the lab file names none. */
const REFERENCE_BACKUP = { name: 'director2', ip: '192.168.170.104' };

// A director pair (DR and TUN): keepalived's VRRP moves the VIP between the director and `backup`; IPVS connection
// sync (ipvsadm --start-daemon) tells the backup about every connection, so established ones survive a takeover.
const ha = z.strictObject({
  backup: host(REFERENCE_BACKUP),
  // VRRP's virtual router id, also the IPVS sync id; by default derived from the lab's name (one per lab).
  virtualRouterId: between(1, 255).optional(),
  advertInterval: between(1, 255).default(1),
  // false: keepalived's nopreempt, so a returning director does not take the VIP back from a healthy MASTER.
  preempt: z.boolean({ message: 'must be true or false' }).default(true),
  sync: z.boolean({ message: 'must be true or false' }).default(true),
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

/** A lab's name: it prefixes every namespace, link and VM of the lab (kernel link names stop at 15 characters) and
 * names its state and run directories, so it is the one rule for `--name`, lab files, stacks and state read back. */
export const LAB_NAME_PATTERN = /^[a-z][a-z0-9]{0,7}$/;
const labName = z
  .string({ message: 'must be a string' })
  .regex(LAB_NAME_PATTERN, { message: 'must be 1-8 characters of a-z and 0-9, starting with a letter' })
  // The kit's own libvirtd (Vagrant labs) has the run directory a netns lab of this name would have.
  .refine((name) => name !== 'libvirt', { message: "libvirt is reserved for the kit's libvirtd" });

/** A lab name given outside a lab file (`--name`, a state directory): refused as `<field>: <value> <reason>`. */
export function checkLabName(name: unknown, field = '--name'): string {
  const r = labName.safeParse(name);
  if (!r.success) throw new UserError(`${field}: ${shown(name)} ${r.error.issues[0].message}`);
  return r.data;
}

/** A count of realservers becomes that many empty entries; a count past the cap stays a number so the schema says
 * why (building the array first would take the machine's memory). */
const realserverCount = (v: unknown) =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_REALSERVERS
    ? Array.from({ length: v }, () => ({}))
    : v;

const labSchema = z.strictObject({
  name: labName.default(REFERENCE_LAB.name),
  subnet: cidrv4.default(REFERENCE_LAB.subnet),
  vip: ipv4.default(REFERENCE_LAB.vip),
  service: service.default({ ...REFERENCE_LAB.service }),
  forwarding: z
    .enum(Object.keys(FORWARDING) as [Forwarding, ...Forwarding[]], { message: 'must be one of dr, nat, tun' })
    .default(REFERENCE_LAB.forwarding),
  director: host(REFERENCE_LAB.director),
  // A list, or a count N: rs1..rsN with addresses assigned from the subnet.
  realservers: z
    .preprocess(
      realserverCount,
      z
        .array(realserver, {
          error: (iss) =>
            typeof iss.input === 'number'
              ? `${shown(iss.input)} is not a count from 1 to ${MAX_REALSERVERS}`
              : 'must be a list of realservers or a count',
        })
        .min(1, { message: 'at least one realserver is required' })
        .max(MAX_REALSERVERS, { message: `at most ${MAX_REALSERVERS} realservers` }),
    )
    .default(REFERENCE_LAB.realservers.map((r) => ({ ...r }))),
  client: host(REFERENCE_LAB.client),
  // NAT only: the client's network, behind the director, which has directorIp on it and holds the VIP there.
  outside: z.strictObject({ subnet: cidrv4, directorIp: ipv4 }).optional(),
  // Present: keepalived on the director holds the IPVS table and takes out realservers that stop answering.
  healthCheck: healthCheck.optional(),
  // Present: a second director, VRRP and connection sync (see `ha` above).
  ha: ha.optional(),
  // What the lab should show, checked by `verify` after the built-in checks (model/checks.ts).
  checks: z.array(checkSchema).max(50, { message: 'at most 50 checks' }).optional(),
  // The vagrant testbed's machines: memory (MiB) and vCPUs each.
  vagrant: z.strictObject({ memory: between(256, 16384).default(512), cpus: between(1, 16).default(1) }).optional(),
});

export type LabInput = z.input<typeof labSchema>;
type Parsed = z.output<typeof labSchema>;
export type Host = Parsed['director'];
export type Service = Parsed['service'];
export type HealthCheck = NonNullable<Parsed['healthCheck']>;
/** The director pair, its virtual router id settled. */
export type Ha = NonNullable<Parsed['ha']> & { virtualRouterId: number };
export interface Realserver {
  name: string;
  ip: string;
  weight: number;
}

export type Role = 'director' | 'realserver' | 'client';

/** A validated lab: the shape of the input, every realserver named and addressed, plus what follows from it. */
export interface Lab extends Omit<Parsed, 'realservers' | 'ha'> {
  realservers: Realserver[];
  ha?: Ha;
  /** The subnet's prefix length, e.g. 24: the seed's `ifconfig eth0:0 <VIP>/24` uses it. */
  prefixLength: number;
  /** NAT: the outside network's prefix length (the VIP's alias there). */
  outsidePrefixLength?: number;
}

export interface LabHost extends Host {
  role: Role;
}

/** The lab interfaces of a host: eth0, and NAT's director also eth1 (the client's network). */
export const labInterfaces = (lab: Lab, host: LabHost): string[] =>
  lab.forwarding === 'nat' && host.role === 'director' ? ['eth0', 'eth1'] : ['eth0'];

/** Every host of the lab in a fixed order: client, director, then realservers. */
export function hostsOf(lab: Lab): LabHost[] {
  return [
    { ...lab.client, role: 'client' },
    { ...lab.director, role: 'director' },
    ...(lab.ha ? [{ ...lab.ha.backup, role: 'director' as const }] : []),
    ...lab.realservers.map((r) => ({ name: r.name, ip: r.ip, role: 'realserver' as const })),
  ];
}

/** The lab's directors: the director, then the HA pair's backup. */
export const directorsOf = (lab: Lab): Host[] => [lab.director, ...(lab.ha ? [lab.ha.backup] : [])];

/** A virtual router id from the lab's name (1-255), so labs sharing a segment by accident do not share one. */
export function defaultVirtualRouterId(name: string): number {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) % 255;
  return h + 1;
}

export class LabModelError extends UserError {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: invalid lab\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

function fieldPath(path: readonly PropertyKey[]): string {
  return (
    path.reduce<string>(
      (acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)),
      '',
    ) || '(lab)'
  );
}

/** Checks that need the whole lab at once: addresses against the subnet, and uniqueness. */
const toNumber = ipToNumber;
const toIp = numberToIp;

/**
 * Names and addresses for realservers given without them: rs<n>, and the next free address counting up from the
 * director's (the reference lab's .102, .103 after the director's .101), wrapping inside the subnet.
 */
function resolveRealservers(lab: Parsed, subnet: string): { realservers: Realserver[]; problems: string[] } {
  const first = toNumber(ipaddr.IPv4.networkAddressFromCIDR(subnet).toString()) + 1;
  const last = toNumber(ipaddr.IPv4.broadcastAddressFromCIDR(subnet).toString()) - 1;
  const used = new Set([
    lab.vip,
    lab.director.ip,
    lab.client.ip,
    ...(lab.ha ? [lab.ha.backup.ip] : []),
    ...lab.realservers.flatMap((r) => (r.ip ? [r.ip] : [])),
  ]);
  const start = ipaddr.IPv4.isValidFourPartDecimal(lab.director.ip) ? toNumber(lab.director.ip) : first;
  let next = start;
  const problems: string[] = [];
  const realservers = lab.realservers.map((r, i) => {
    let ip = r.ip;
    for (let tries = 0; !ip && tries <= last - first; tries++) {
      next = next >= last || next < first ? first : next + 1;
      if (!used.has(toIp(next))) ip = toIp(next);
    }
    if (!ip) problems.push(`realservers[${i}].ip: no free address left in ${subnet}`);
    used.add(ip ?? '');
    return { name: r.name ?? `rs${i + 1}`, ip: ip ?? '', weight: r.weight };
  });
  return { realservers, problems };
}

interface Cidr {
  base: ipaddr.IPv4;
  len: number;
  network: string;
  broadcast: string;
}

/** A subnet the schema accepted as an IPv4 CIDR: what a lab needs of it beyond the syntax. */
function parseCidr(field: string, cidr: string, problems: string[]): Cidr {
  const [base, len] = ipaddr.IPv4.parseCIDR(cidr);
  const network = ipaddr.IPv4.networkAddressFromCIDR(cidr).toString();
  if (base.toString() !== network)
    problems.push(`${field}: ${cidr} has host bits set (the network is ${network}/${len})`);
  if (len < 8 || len > 30) problems.push(`${field}: /${len} must be between /8 and /30 to hold a lab`);
  return { base, len, network, broadcast: ipaddr.IPv4.broadcastAddressFromCIDR(cidr).toString() };
}

type Checked = { problems: string[]; prefixLength: number; outsidePrefixLength?: number; realservers: Realserver[] };

/** The subnets: NAT's outside network where (and only where) NAT needs one, not overlapping the lab's. */
function networkProblems(lab: Parsed, problems: string[]): { inside: Cidr; outside?: Cidr } {
  const inside = parseCidr('subnet', lab.subnet, problems);
  const nat = lab.forwarding === 'nat';
  if (nat && !lab.outside)
    problems.push(
      'outside: forwarding nat needs the client on another subnet behind the director: add outside: { subnet, directorIp }',
    );
  if (lab.ha && nat)
    problems.push(
      'ha: a director pair needs forwarding dr or tun (with nat every realserver routes through one director address; a shared gateway address is not modelled)',
    );
  if (!nat && lab.outside)
    problems.push(`outside: only forwarding nat has an outside network (this lab is ${lab.forwarding})`);
  const outside = nat && lab.outside ? parseCidr('outside.subnet', lab.outside.subnet, problems) : undefined;
  if (outside && (inside.base.match(outside.base, outside.len) || outside.base.match(inside.base, inside.len)))
    problems.push(`outside.subnet: ${lab.outside!.subnet} overlaps the subnet ${lab.subnet}`);
  return { inside, outside };
}

type Placed = [field: string, address: string, network: Cidr | undefined, cidr: string];

/** Every address with the network it belongs on: with NAT, the VIP and the client are outside. */
function placedAddresses(lab: Parsed, inside: Cidr, outside: Cidr | undefined, realservers: Realserver[]): Placed[] {
  const nat = lab.forwarding === 'nat';
  const clientCidr = outside ? lab.outside!.subnet : lab.subnet;
  return [
    ['vip', lab.vip, nat ? outside : inside, nat ? (lab.outside?.subnet ?? '') : lab.subnet],
    ['director.ip', lab.director.ip, inside, lab.subnet],
    ...(lab.ha ? [['ha.backup.ip', lab.ha.backup.ip, inside, lab.subnet] as Placed] : []),
    ['client.ip', lab.client.ip, nat ? outside : inside, nat ? clientCidr : lab.subnet],
    ...(outside ? [['outside.directorIp', lab.outside!.directorIp, outside, lab.outside!.subnet] as Placed] : []),
    ...realservers.flatMap((r, i): Placed[] => (r.ip ? [[`realservers[${i}].ip`, r.ip, inside, lab.subnet]] : [])), // '' was reported above
  ];
}

/** Each address on its network, not its network or broadcast address, and used once. */
function addressProblems(lab: Parsed, inside: Cidr, placed: Placed[], problems: string[]): void {
  const nat = lab.forwarding === 'nat';
  const clientSide = nat && lab.outside ? 'outside subnet' : 'subnet';
  const seen = new Map<string, string>();
  for (const [field, addr, net, cidr] of placed) {
    if (net) {
      const parsed = ipaddr.IPv4.parse(addr);
      if (!parsed.match(net.base, net.len)) {
        if (nat && field === 'client.ip' && parsed.match(inside.base, inside.len))
          problems.push(
            `client.ip: ${addr} is on the realservers' subnet ${lab.subnet}; with NAT the client must be on the outside ` +
              `subnet ${cidr}, behind the director, or the realservers' replies would bypass it`,
          );
        else problems.push(`${field}: ${addr} is outside the ${field === 'client.ip' ? clientSide : 'subnet'} ${cidr}`);
      } else if (addr === net.network || addr === net.broadcast)
        problems.push(`${field}: ${addr} is the subnet's ${addr === net.network ? 'network' : 'broadcast'} address`);
    }
    const other = seen.get(addr);
    if (other) problems.push(`${field}: ${addr} is already used by ${other}`);
    else seen.set(addr, field);
  }
}

/** Each host's name used once. */
function nameProblems(lab: Parsed, realservers: Realserver[], problems: string[]): void {
  const names: Array<[string, string]> = [
    ['director.name', lab.director.name],
    ...(lab.ha ? [['ha.backup.name', lab.ha.backup.name] as [string, string]] : []),
    ['client.name', lab.client.name],
    ...realservers.map((r, i): [string, string] => [`realservers[${i}].name`, r.name]),
  ];
  const seen = new Map<string, string>();
  for (const [field, name] of names) {
    const other = seen.get(name);
    if (other) problems.push(`${field}: name "${name}" is already used by ${other}`);
    else seen.set(name, field);
  }
}

function semanticProblems(lab: Parsed): Checked {
  const problems: string[] = [];
  const { inside, outside } = networkProblems(lab, problems);
  const resolved = resolveRealservers(lab, lab.subnet);
  problems.push(...resolved.problems);
  const realservers = resolved.realservers;
  addressProblems(lab, inside, placedAddresses(lab, inside, outside, realservers), problems);
  nameProblems(lab, realservers, problems);
  const directors = [lab.director.name, ...(lab.ha ? [lab.ha.backup.name] : [])];
  problems.push(
    ...checkProblems(lab.checks ?? [], {
      hosts: [...directors, lab.client.name, ...realservers.map((r) => r.name)],
      realservers: realservers.map((r) => r.name),
      directors,
    }),
  );
  if (lab.realservers.every((r) => r.weight === 0))
    problems.push('realservers: every weight is 0, so IPVS would send no traffic anywhere');
  return { problems, prefixLength: inside.len, outsidePrefixLength: outside?.len, realservers };
}

const plainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Names and addresses the input gives twice, from the raw input (for when the schema already failed). */
function duplicatesInInput(input: unknown): string[] {
  const o = (v: unknown): Record<string, unknown> => (plainObject(v) ? v : {});
  const lab = o(input);
  const entries: Array<[string, Record<string, unknown>]> = [
    ['director', o(lab.director)],
    ...(lab.ha !== undefined ? [['ha.backup', o(o(lab.ha).backup)] as [string, Record<string, unknown>]] : []),
    ['client', o(lab.client)],
    ...(Array.isArray(lab.realservers)
      ? lab.realservers.map((r, i): [string, Record<string, unknown>] => [`realservers[${i}]`, o(r)])
      : []),
  ];
  const problems: string[] = [];
  for (const key of ['name', 'ip'] as const) {
    const seen = new Map<string, string>();
    for (const [field, entry] of entries) {
      const value = entry[key];
      if (typeof value !== 'string') continue;
      const other = seen.get(value);
      if (other)
        problems.push(`${field}.${key}: ${key === 'name' ? `name "${value}"` : value} is already used by ${other}`);
      else seen.set(value, `${field}.${key}`);
    }
  }
  return problems;
}

/**
 * The input with the addresses it left out placed in the subnet it gave: the reference lab's host numbers there
 * (.100 the VIP, .101 the director, ...), or the next free ones when the subnet is too small for them. An input
 * with no valid subnet of its own is returned as it is (the reference lab's defaults, or the schema's messages).
 */
export function followSubnet(input: unknown): unknown {
  if (!plainObject(input)) return input;
  const valid = (c: unknown): c is string => typeof c === 'string' && ipaddr.IPv4.isValidCIDR(c);
  const outside = plainObject(input.outside) && valid(input.outside.subnet) ? input.outside.subnet : undefined;
  const inside = valid(input.subnet) ? input.subnet : undefined;
  if (!inside && !outside) return input;
  const lab: Record<string, unknown> = { ...input };
  const hostEntries: Array<[Record<string, unknown>, string, string]> = [];
  const entry = (key: string, holder: Record<string, unknown>, ref: string, net: string | undefined) => {
    const current = holder[key] ?? {};
    if (!net || !plainObject(current) || current.ip !== undefined) return;
    const copy = { ...current };
    holder[key] = copy;
    hostEntries.push([copy, ref, net]);
  };
  const clientNet = lab.forwarding === 'nat' ? outside : inside;
  // The reference realservers without their addresses: placed after the director's (resolveRealservers).
  if (inside && lab.realservers === undefined)
    lab.realservers = REFERENCE_LAB.realservers.map((r) => ({ name: r.name }));
  entry('director', lab, REFERENCE_LAB.director.ip, inside);
  if (plainObject(lab.ha)) {
    lab.ha = { ...lab.ha };
    entry('backup', lab.ha as Record<string, unknown>, REFERENCE_BACKUP.ip, inside);
  }
  entry('client', lab, REFERENCE_LAB.client.ip, clientNet);
  const ipOf = (v: unknown) => (plainObject(v) ? v.ip : undefined);
  const used = new Set(
    [
      lab.vip,
      ipOf(lab.director),
      ipOf(lab.client),
      plainObject(lab.ha) ? ipOf(lab.ha.backup) : undefined,
      ...(Array.isArray(lab.realservers) ? lab.realservers.map(ipOf) : []),
    ].filter((ip): ip is string => typeof ip === 'string'),
  );
  const referenceNetwork = toNumber(ipaddr.IPv4.networkAddressFromCIDR(REFERENCE_LAB.subnet).toString());
  const place = (ref: string, net: string): string | undefined => {
    const network = toNumber(ipaddr.IPv4.networkAddressFromCIDR(net).toString());
    const size = 2 ** (32 - ipaddr.IPv4.parseCIDR(net)[1]);
    const offset = toNumber(ref) - referenceNetwork;
    const candidates = [offset, ...Array.from({ length: Math.min(size - 2, 4096) }, (_, i) => i + 1)];
    const ip = candidates
      .filter((o) => o > 0 && o < size - 1)
      .map((o) => toIp(network + o))
      .find((a) => !used.has(a));
    if (ip) used.add(ip);
    return ip;
  };
  // The VIP is where the client reaches it: the outside network with NAT.
  if (lab.vip === undefined && clientNet) lab.vip = place(REFERENCE_LAB.vip, clientNet);
  for (const [copy, ref, net] of hostEntries) {
    const ip = place(ref, net);
    if (ip) copy.ip = ip;
  }
  return lab;
}

/**
 * Validates a lab description (already parsed from YAML/JSON/stack config) and fills in the reference lab's
 * defaults, the addresses in the subnet it gives. Throws LabModelError listing every problem as `field: reason`.
 */
export function validateLab(input: unknown, source = 'lab'): Lab {
  const parsed = labSchema.safeParse(followSubnet(input ?? {}));
  if (!parsed.success) {
    throw new LabModelError(source, [
      ...parsed.error.issues.map((issue) => {
        if (issue.code === 'unrecognized_keys')
          return `${fieldPath(issue.path)}: unknown field(s) ${issue.keys.join(', ')}`;
        return `${fieldPath(issue.path)}: ${issue.message}`;
      }),
      // What the schema cannot see, reported in the same pass: names and addresses given twice.
      ...duplicatesInInput(input),
    ]);
  }
  const { problems, prefixLength, outsidePrefixLength, realservers } = semanticProblems(parsed.data);
  if (problems.length > 0) throw new LabModelError(source, problems);
  const { ha: pair, ...rest } = parsed.data;
  return {
    ...rest,
    ...(pair ? { ha: { ...pair, virtualRouterId: pair.virtualRouterId ?? defaultVirtualRouterId(rest.name) } } : {}),
    realservers,
    prefixLength,
    ...(outsidePrefixLength ? { outsidePrefixLength } : {}),
  };
}

export const referenceLab = (): Lab => validateLab({}, 'reference lab');
