// `lab whatif` on the running test lab (DR), through the CLI: what it prints for the learner, bad input refused with
// nothing changed, an interrupt that restores too. The mistakes' consequences: the DR suite (tests/suites/dr.ts, on
// every testbed) for arp and no-vip-on-lo, variants.test.ts and the Docker presets for NAT's and TUN's.
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, startCli, TEST_LAB } from './lab.js';

const NAME = ['--name', TEST_LAB.name];

/** What the test lab's hosts hold, read with `exec` (not through whatif's own report). */
const onHost = async (host: string, command: string) =>
  (await cli(['exec', host, ...NAME, '--', 'sh', '-c', command])).stdout.trim();
const hidden = () =>
  onHost('rs1', 'cat /proc/sys/net/ipv4/conf/all/arp_ignore /proc/sys/net/ipv4/conf/eth0/arp_announce');
const vipOnLo = () => onHost('rs1', `ip -o addr show dev lo | grep -c ' ${TEST_LAB.vip}/32'`);

describe.sequential('whatif on the DR test lab', () => {
  beforeAll(async () => {
    expect(await hidden()).toBe('1\n2');
  });

  it('forwarding: ip_forward off on a DR director, every request still answered through IPVS; printed for the learner', async () => {
    const res = await cli(['whatif', 'forwarding', ...NAME]);
    expect(res.exitCode, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toContain('  the seed:  director: echo 1 > /proc/sys/net/ipv4/ip_forward');
    expect(res.stdout).toContain('  changed:   director: echo 0 > /proc/sys/net/ipv4/ip_forward');
    expect(res.stdout).toMatch(/^ {2}\[SEEN\] DR does not need it/m);
    expect(res.stdout).toMatch(/^ {6}director: ip_forward = 0$/m);
    expect(res.stdout).toMatch(/^ {6}4 requests at once: 4 answered/m);
    expect(res.stdout).toMatch(/^ {6}the director's IPVS counted \+([1-9]\d*) packets$/m);
    expect(res.stdout).toMatch(/^ {2}restored: verify 6\/6$/m);
    expect(await onHost('director', 'cat /proc/sys/net/ipv4/ip_forward')).toBe('1');
  });

  it('refuses an unknown mistake, one of another method, a host where none is taken, a host not a realserver: exit 2, nothing changed', async () => {
    const refusals: Array<[string[], RegExp]> = [
      [['typo'], /"typo" is not a mistake whatif knows; one of arp, no-vip-on-lo/],
      [['rp-filter'], /whatif rp-filter: a mistake of TUN labs; lab itest forwards by DR/],
      [['arp', 'rs1'], /whatif arp: made on every realserver, so it takes no host/],
      [['no-vip-on-lo', 'client'], /"client" is not a realserver of lab itest \(rs1, rs2\)/],
    ];
    const results = await Promise.all(refusals.map(([args]) => cli(['whatif', ...args, ...NAME])));
    results.forEach((res, i) => {
      expect(res.exitCode, refusals[i][0].join(' ')).toBe(2);
      expect(res.stderr).toMatch(refusals[i][1]);
    });
    expect(await vipOnLo()).toBe('1');
    expect(await hidden()).toBe('1\n2');
  });

  it('an interrupt once the mistake is made: the lab is restored, verified, and the run exits 130', async () => {
    const run = startCli(['whatif', 'no-vip-on-lo', ...NAME]);
    await run.until((out) => /changed rs1: ip addr del/.test(out));
    run.signal('SIGINT');
    const { code } = await run.exited;
    expect(code, run.output()).toBe(130);
    expect(run.output()).toMatch(/restored: verify 6\/6/);
    expect(await vipOnLo()).toBe('1');
  });
});
