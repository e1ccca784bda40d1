import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { LAB_CLI } from '../integration/lab.js';

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'lvs-lab-cli-'));
const env = { ...process.env, LVS_LAB_STATE_DIR: join(scratch, 'state'), LVS_LAB_CACHE_DIR: join(scratch, 'cache') };

async function lab(
  ...args: (string | Record<string, string>)[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const extraEnv = args.find((a) => typeof a !== 'string') ?? {};
  const argv = args.filter((a) => typeof a === 'string');
  try {
    const { stdout, stderr } = await run(LAB_CLI[0], [...LAB_CLI.slice(1), ...argv], { env: { ...env, ...extraEnv } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('lab CLI', () => {
  it('prints the plan with the seed commands', async () => {
    const res = await lab('plan');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(
      '## director (director, 192.168.170.101)\nifconfig eth0:0 192.168.170.100/24\necho 1 > /proc/sys/net/ipv4/ip_forward\nipvsadm -A -t 192.168.170.100:80 -s rr',
    );
  });

  it('rejects a bad lab file before creating anything: exit 2, each field and reason named', async () => {
    const file = join(scratch, 'bad.yaml');
    writeFileSync(
      file,
      'vip: 10.0.0.1\nservice: { scheduler: fastest }\nrealservers:\n  - { name: a, ip: 192.168.170.5 }\n  - { name: b, ip: 192.168.170.5 }\n',
    );
    const res = await lab('up', '--file', file);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`${file}: invalid lab`);
    expect(res.stderr).toContain('service.scheduler: must be one of rr, wrr');
    const again = await lab('up', '--file', file.replace('bad', 'bad2'));
    expect(again.stderr).toContain('cannot read the file');
    writeFileSync(
      file,
      'vip: 10.0.0.1\nrealservers:\n  - { name: a, ip: 192.168.170.5 }\n  - { name: b, ip: 192.168.170.5 }\n',
    );
    const semantic = await lab('up', '--file', file);
    expect(semantic.code).toBe(2);
    expect(semantic.stderr).toContain('vip: 10.0.0.1 is outside the subnet 192.168.170.0/24');
    expect(semantic.stderr).toContain('realservers[1].ip: 192.168.170.5 is already used by realservers[0].ip');
    expect(existsSync(join(scratch, 'state'))).toBe(false);
    expect(existsSync(join(scratch, 'cache'))).toBe(false);
  });

  it("refuses a state directory too deep for a VM's SSH control socket before creating anything", async () => {
    const deep = join(scratch, 'a-state-directory-too-deep-for-a-unix-socket'.repeat(2));
    const res = await lab('up', '--testbed', 'vm', '--name', 'deep', { LVS_LAB_STATE_DIR: deep });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`state directory: ${deep}/labs/deep/ssh.ctl, the VM's SSH control socket, would be`);
    expect(res.stderr).toContain('set LVS_LAB_STATE_DIR to a shorter directory');
    expect(existsSync(join(deep, 'labs', 'deep'))).toBe(false);
  });

  it('rejects an unknown testbed and an unknown command', async () => {
    expect((await lab('up', '--testbed', 'docker')).stderr).toContain(
      '--testbed: "docker" is not one of auto, netns, vm',
    );
    expect((await lab('frobnicate')).code).toBe(2);
  });
}, 60_000);
