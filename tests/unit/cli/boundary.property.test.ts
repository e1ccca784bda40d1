// Property: whatever string a user puts in `--name`, `--stack` or any string field of a lab file, the kit either
// refuses it (a UserError: exit 2) or it is inert where it lands: made only of characters that no shell, Ruby string
// or keepalived config reads as syntax, in the printed plan (with guards), the Vagrantfile and keepalived.conf.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCli } from '../../../cli/options.js';
import { UserError } from '../../../model/errors.js';
import { LAB_NAME_PATTERN, validateLab } from '../../../model/topology.js';
import { ENGINE_NAME, STACK_PATTERN } from '../../../model/stack.js';
import { keepalivedConfig } from '../../../provision/keepalived.js';
import { formatPlan, planLab } from '../../../provision/plan.js';
import { instanceLayout } from '../../../testbed/netns.js';
import { vagrantfile } from '../../../testbed/vagrant/vagrantfile.js';

/** What a user might type: any text, and the payloads that reached a root shell before names were checked. */
const typed = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.stringMatching(/^[a-z][a-z0-9$(){};|&`'"\\\n ./-]{0,12}$/),
  fc.constantFrom(
    'x$(touch${IFS}/tmp/PWNED)',
    'x\nEOF\nid',
    'x\nsystem("id")\n#',
    '../../etc',
    '/',
    "a'b",
    'a b',
    '#{`id`}',
    'lvs;id',
    '',
  ),
);

/** Characters that are syntax nowhere the kit puts a name or an address. */
const INERT = /^[A-Za-z0-9._/:-]*$/;

const FIELDS: Array<[string, (v: string) => Record<string, unknown>]> = [
  ['name', (v) => ({ name: v })],
  ['subnet', (v) => ({ subnet: v })],
  ['vip', (v) => ({ vip: v })],
  ['director.name', (v) => ({ director: { name: v } })],
  ['director.ip', (v) => ({ director: { ip: v } })],
  ['client.name', (v) => ({ client: { name: v } })],
  ['client.ip', (v) => ({ client: { ip: v } })],
  ['realservers[0].name', (v) => ({ realservers: [{ name: v }, {}] })],
  ['realservers[0].ip', (v) => ({ realservers: [{ ip: v }, {}] })],
  ['service.protocol', (v) => ({ service: { protocol: v } })],
  ['service.scheduler', (v) => ({ service: { scheduler: v } })],
  ['forwarding', (v) => ({ forwarding: v })],
  ['ha.backup.name', (v) => ({ ha: { backup: { name: v } } })],
  ['healthCheck + name', (v) => ({ name: v, healthCheck: {} })],
  ['outside.subnet', (v) => ({ forwarding: 'nat', outside: { subnet: v, directorIp: '192.168.171.1' } })],
];

/** Every text the kit builds from a lab for a shell or a config file. */
function rendered(input: Record<string, unknown>): string[] | 'refused' {
  let lab;
  try {
    lab = validateLab(input, 'property');
  } catch (err) {
    if (err instanceof UserError) return 'refused';
    throw err;
  }
  const plan = formatPlan(planLab(lab, { httpd: instanceLayout(lab) }), { guards: true });
  const vf = vagrantfile(lab, {
    box: 'lvs-lab/bookworm-0123456789abcdef',
    boxUrl: 'file:///box',
    kernel: '/k',
    initrd: '/i',
    publicKey: 'AAAA',
    privateKeyPath: '/key',
    mgmtSubnet: '10.249.0.0/24',
    driver: 'qemu',
  });
  return [plan, vf, keepalivedConfig(lab, lab.director)];
}

describe('the root boundary holds for any input', () => {
  it('--name, --stack and --engine: refused (UserError) or matching their rule', () => {
    fc.assert(
      fc.property(typed, (s) => {
        for (const [flag, rule] of [
          ['--name', LAB_NAME_PATTERN],
          ['--stack', STACK_PATTERN],
          ['--engine', ENGINE_NAME],
        ] as const) {
          let accepted = true;
          try {
            parseCli(['plan', flag, s], ['netns', 'vm', 'vagrant']);
          } catch (err) {
            if (!(err instanceof UserError)) throw err;
            expect(err.message.startsWith(`${flag}: `)).toBe(true);
            accepted = false;
          }
          expect(accepted).toBe(rule.test(s) && (flag !== '--name' || s !== 'libvirt'));
        }
      }),
      { numRuns: 400 },
    );
  });

  it.each(FIELDS)('lab file %s: refused, or inert wherever it appears', (_field, place) => {
    fc.assert(
      fc.property(typed, (s) => {
        const out = rendered(place(s));
        if (out === 'refused' || s === '') return;
        // Accepted: it lands in these texts as itself, and is made of nothing a shell or a config reads as syntax.
        expect(s).toMatch(INERT);
        expect(out.join('\n').length).toBeGreaterThan(0);
      }),
      { numRuns: 150 },
    );
  });
});
