// A missing kernel feature or a clashing name is refused before anything is created.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULERS, validateLab } from '../../model/topology.js';
import { LocalShell } from '../../provision/shell.js';
import { type LabSession } from '../../lab/lifecycle.js';
import { labs } from '../labs.js';
import { netnsPreflight } from '../../testbed/netns.js';
import { TEST_LAB, machineOf } from './lab.js';
import { rejection } from '../rejection.js';
import { kernelHasIpvs } from '../../provision/host-needs.js';
import { PreflightError } from '../../model/errors.js';

let s: LabSession;
const namespaces = async () => (await machineOf(s).exec('ip netns list')).stdout.split('\n').filter(Boolean).sort();
const links = async () =>
  (await machineOf(s).exec('ip -o link show | cut -d: -f2')).stdout.split('\n').filter(Boolean).sort();

beforeAll(async () => {
  s = await labs.connect(TEST_LAB.name);
});
afterAll(async () => s?.close());

describe('preflight', () => {
  it("refuses a scheduler the lab machine's kernel lacks, leaving no trace", async (ctx) => {
    // Debian bookworm's 6.1 kernel has no ip_vs_twos; a newer kernel may have every scheduler.
    const probe = SCHEDULERS.map((x) => `modprobe -n -q ip_vs_${x} 2>/dev/null || echo ${x}`).join('; ');
    const missing = (await machineOf(s).exec(probe)).stdout.split('\n').filter(Boolean);
    if (missing.length === 0) ctx.skip('this kernel has every IPVS scheduler');
    const before = [await namespaces(), await links()];
    const lab = validateLab({ name: 'pflight', service: { scheduler: missing[0] } });
    const err = await rejection(netnsPreflight(machineOf(s), lab));
    expect(err).toBeInstanceOf(PreflightError);
    expect(err.message).toContain(`kernel: IPVS has no scheduler "${missing[0]}"`);
    expect([await namespaces(), await links()]).toEqual(before);
  });

  it("refuses to build over another lab's namespaces and links", async () => {
    const err = await rejection(netnsPreflight(machineOf(s), TEST_LAB), PreflightError);
    expect(err).toBeInstanceOf(PreflightError);
    expect(err.problems).toContain(
      `exists: namespace ${TEST_LAB.name}-client is already there (left by an earlier run? \`npm run lab -- down --name ${TEST_LAB.name}\` removes it)`,
    );
    await expect(netnsPreflight(machineOf(s), TEST_LAB, { rebuilding: true })).resolves.toBeUndefined();
  });
});

describe('a host kernel without IPVS', async () => {
  const hostHasIpvs = await kernelHasIpvs(new LocalShell());

  it.skipIf(hostHasIpvs)(
    '`lab up --testbed netns` says what is missing and what to do, exits 2, creates nothing',
    async () => {
      const host = new LocalShell();
      const before = (await host.exec('ip netns list; ip -o link show | cut -d: -f2')).stdout;
      const res = await rejection<Error & { code: number; stderr: string }>(
        promisify(execFile)('npx', ['tsx', 'cli/lab.ts', 'up', '--testbed', 'netns', '--name', 'noipvs']),
      );
      expect(res.code).toBe(2);
      expect(res.stderr).toContain('cannot build the lab on localhost');
      expect(res.stderr).toContain('kernel: this kernel has no IPVS');
      expect(res.stderr).toContain('use --testbed vm');
      expect((await host.exec('ip netns list; ip -o link show | cut -d: -f2')).stdout).toBe(before);
    },
  );
});
