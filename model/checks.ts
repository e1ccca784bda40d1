// Checks a lab file declares, as netlab's `validate`: each names what it shows, optionally changes the lab first
// (`given`: a fault, a weight; undone after it), does one thing (requests, a command on a host, a read of the IPVS
// table, ARP, who holds the VIP) and expects typed conditions of it, retried until `within` seconds have passed.
// Validated with the rest of the lab file: every problem with its field and reason, before anything runs.
import { z } from 'zod';
import { UserError } from './errors.js';
import { parseFault, type Fault } from './fault.js';

/** The words a `fault` given stands for, as the `fault` command takes them. */
const FAULT_FIELDS = ['httpd', 'link', 'power', 'delay', 'jitter', 'loss', 'rate', 'corrupt'] as const;

const text = (max: number) => z.string().min(1, { message: 'must not be empty' }).max(max);
const hostRef = z.string().regex(/^[a-z][a-z0-9-]{0,14}$/, { message: 'must be a host of the lab' });
const count = (min: number, max: number) =>
  z
    .number({ message: 'must be a number' })
    .int({ message: 'must be a whole number' })
    .min(min, { message: `must be from ${min} to ${max}` })
    .max(max, { message: `must be from ${min} to ${max}` });

const faultGiven = z.strictObject({
  host: hostRef,
  httpd: z.enum(['stop', 'start']).optional(),
  link: z.enum(['down', 'up']).optional(),
  power: z.enum(['stop', 'start']).optional(),
  delay: z.string().optional(),
  jitter: z.string().optional(),
  loss: z.string().optional(),
  rate: z.string().optional(),
  corrupt: z.string().optional(),
});
const given = z.union([
  z.strictObject({ fault: faultGiven }),
  z.strictObject({ weight: z.record(hostRef, count(0, 65535)) }),
]);

/** A request's URL path, as `load`, `explain` and a check's `requests` take it: plain characters, at most 200. */
export const URL_PATH = /^\/[A-Za-z0-9._~/-]{0,199}$/;
export const URL_PATH_RULE = 'must be a URL path like / or /index.html';

const requests = z.strictObject({
  count: count(1, 1000).default(10),
  concurrency: count(1, 64).default(1),
  clients: count(1, 64).default(1),
  path: z.string().regex(URL_PATH, { message: URL_PATH_RULE }).default('/'),
});

const expectSchema = z.strictObject({
  split: z.record(hostRef, z.number().min(0).max(1)).optional(),
  tolerance: z.number().min(0).max(1).default(0.1),
  sameRealserver: z.boolean().optional(),
  errors: z.strictObject({ max: count(0, 100_000) }).optional(),
  status: count(100, 599).optional(),
  stdout: z.strictObject({ matches: text(500) }).optional(),
  exitCode: count(0, 255).optional(),
  holder: hostRef.optional(),
  answeredBy: hostRef.optional(),
  absent: z.union([hostRef, z.array(hostRef).min(1)]).optional(),
});

export const checkSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 ._:'-]{0,63}$/, {
    message: "must be 1-64 characters of letters, digits, space and ._:'- starting with a letter or digit",
  }),
  description: text(500).optional(),
  pass: text(500).optional(),
  fail: text(500).optional(),
  within: z.number().min(0).max(300).optional(),
  given: z
    .union([given, z.array(given).max(8)])
    .transform((g) => (Array.isArray(g) ? g : [g]))
    .default([]),
  requests: requests.optional(),
  exec: z.strictObject({ host: hostRef, command: text(2000) }).optional(),
  ipvs: z.strictObject({ director: hostRef.optional() }).optional(),
  arp: z.strictObject({ address: z.ipv4().optional(), from: hostRef.optional() }).optional(),
  vip: z.strictObject({}).optional(),
  expect: expectSchema,
});

export type Check = z.output<typeof checkSchema>;
export type CheckGiven = Check['given'][number];
export type CheckExpect = Check['expect'];
export const ACTIONS = ['requests', 'exec', 'ipvs', 'arp', 'vip'] as const;
export type Action = (typeof ACTIONS)[number];

/** Which action each kind of expectation reads. */
const NEEDS: Record<string, Action> = {
  split: 'requests',
  sameRealserver: 'requests',
  errors: 'requests',
  status: 'requests',
  stdout: 'exec',
  exitCode: 'exec',
  holder: 'vip',
  answeredBy: 'arp',
  absent: 'ipvs',
};

export const actionOf = (c: Check): Action => ACTIONS.find((a) => c[a] !== undefined)!;

/** A `fault` given as the fault command's words: `{ host: rs1, delay: 200ms }` is `delay 200ms`. */
export function faultOfGiven(g: z.output<typeof faultGiven>): Fault {
  const words = FAULT_FIELDS.flatMap((f) => (g[f] === undefined ? [] : [f === 'power' ? 'host' : f, g[f]]));
  if (words.length === 0)
    throw new UserError('names no fault (httpd, link, power, delay, jitter, loss, rate, corrupt)');
  return parseFault(words);
}

/** What the schema cannot see: one action per check, expectations that fit it, hosts that exist, names used once. */
export function checkProblems(checks: Check[], lab: { hosts: string[]; realservers: string[]; directors: string[] }) {
  const problems: string[] = [];
  const seen = new Set<string>();
  checks.forEach((c, i) => {
    const at = `checks[${i}]`;
    if (seen.has(c.name)) problems.push(`${at}.name: "${c.name}" is used by an earlier check`);
    seen.add(c.name);
    const actions = ACTIONS.filter((a) => c[a] !== undefined);
    if (actions.length !== 1)
      problems.push(`${at}: needs exactly one of ${ACTIONS.join(', ')} (has ${actions.join(', ') || 'none'})`);
    const kinds = Object.keys(NEEDS).filter((k) => c.expect[k as keyof CheckExpect] !== undefined);
    if (kinds.length === 0) problems.push(`${at}.expect: says nothing to check (${Object.keys(NEEDS).join(', ')})`);
    for (const k of kinds)
      if (actions.length === 1 && NEEDS[k] !== actions[0])
        problems.push(`${at}.expect.${k}: needs a ${NEEDS[k]} action, not ${actions[0]}`);
    problems.push(...hostProblems(c, at, lab));
  });
  return problems;
}

function hostProblems(c: Check, at: string, lab: { hosts: string[]; realservers: string[]; directors: string[] }) {
  const problems: string[] = [];
  const oneOf = (field: string, name: string | undefined, among: string[], what: string) => {
    if (name !== undefined && !among.includes(name)) problems.push(`${at}.${field}: "${name}" is not ${what}`);
  };
  const rs = 'a realserver of the lab';
  c.given.forEach((g, j) => {
    if ('fault' in g) {
      oneOf(`given[${j}].fault.host`, g.fault.host, lab.hosts, 'a host of the lab');
      try {
        faultOfGiven(g.fault);
      } catch (err) {
        problems.push(`${at}.given[${j}].fault: ${(err as Error).message.replace(/^fault: /, '')}`);
      }
    } else for (const name of Object.keys(g.weight)) oneOf(`given[${j}].weight`, name, lab.realservers, rs);
  });
  oneOf('exec.host', c.exec?.host, lab.hosts, 'a host of the lab');
  oneOf('ipvs.director', c.ipvs?.director, lab.directors, 'a director of the lab');
  oneOf('arp.from', c.arp?.from, lab.hosts, 'a host of the lab');
  for (const name of Object.keys(c.expect.split ?? {})) oneOf('expect.split', name, lab.realservers, rs);
  oneOf('expect.holder', c.expect.holder, lab.directors, 'a director of the lab');
  oneOf('expect.answeredBy', c.expect.answeredBy, lab.hosts, 'a host of the lab');
  for (const name of [c.expect.absent ?? []].flat()) oneOf('expect.absent', name, lab.realservers, rs);
  if (c.expect.stdout) {
    try {
      new RegExp(c.expect.stdout?.matches ?? '');
    } catch (err) {
      problems.push(`${at}.expect.stdout.matches: not a regular expression (${(err as Error).message})`);
    }
  }
  return problems;
}
