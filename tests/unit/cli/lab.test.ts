import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../../model/errors.js';
import { readStackSettings } from '../../../model/stack.js';
import { LAB_CLI } from '../../integration/lab.js';
import { rejection } from '../../rejection.js';

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

// The root boundary: every name and path a user types, or the kit reads back, is checked before it reaches a shell,
// a config file or a path. Each case here was a reproduction that ran (or would have run) as root.
describe('lab CLI: what reaches a root shell, a config file or a path is checked first', () => {
  const refused = async (args: (string | Record<string, string>)[], message: string | RegExp) => {
    const res = await lab(...args);
    expect(res.stderr).toMatch(typeof message === 'string' ? new RegExp(`^error: ${escape(message)}`) : message);
    expect(res.code).toBe(2);
    return res;
  };
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  it('refuses a --name the lab file would refuse, before any verb runs (options are checked first)', async () => {
    const pwned = join(scratch, 'PWNED');
    for (const verb of ['plan', 'up', 'down', 'vagrantfile'])
      await refused([verb, '--preset', 'dr-health', '--name', `x$(touch\${IFS}${pwned})`], '--name: "x$(touch');
    expect(existsSync(pwned)).toBe(false);
    await refused(['vagrantfile', '--name', 'x\nsystem("id")\n#'], '--name: "x\\nsystem');
    await refused(['down', '--name', '../../etc'], '--name: "../../etc" must be 1-8 characters');
    await refused(['down', '--name', '/'], '--name: "/" must be');
    await refused(['exec', 'client', '--name', 'libvirt', '--', 'true'], '--name: "libvirt" libvirt is reserved');
    expect(existsSync(join(scratch, 'state'))).toBe(false);
  });

  it('refuses a --stack that is not a stack name, and a stack file that is not YAML, with exit 2', async () => {
    await refused(['verify', '--stack', '../..'], '--stack: "../.." is not a stack name');
    await refused(['graph', '--stack', 'a/b'], '--stack: "a/b" is not a stack name');
    const project = mkdtempSync(join(scratch, 'project-'));
    writeFileSync(join(project, 'Pulumi.broken.yaml'), 'config:\n  lvs-lab:lab: [unclosed\n');
    const err = await rejection(readStackSettings('broken', project), UserError);
    expect(err.message).toMatch(/Pulumi\.broken\.yaml: invalid lab\n {2}- not valid YAML/);
    writeFileSync(join(project, 'Pulumi.list.yaml'), '- a\n- b\n');
    expect((await rejection(readStackSettings('list', project), UserError)).message).toContain('must hold a mapping');
    writeFileSync(join(project, 'Pulumi.img.yaml'), 'config:\n  lvs-lab:baseImage: "x; rm -rf /"\n');
    expect((await rejection(readStackSettings('img', project), UserError)).message).toContain(
      'is not an image reference',
    );
    await expect(readStackSettings('../../etc/x', project)).rejects.toThrow(
      /^stack: "..\/..\/etc\/x" is not a stack name/,
    );
  });

  it('refuses unknown options, missing values and absurd sizes as `error: <field>: <why>`, exit 2', async () => {
    await refused(['up', '--frobnicate'], '--frobnicate: unknown option');
    await refused(['up', '--name'], '--name: needs a value');
    const file = join(scratch, 'huge.yaml');
    for (const [text, message] of [
      ['realservers: 4294967296\n', 'realservers: 4294967296 is not a count from 1 to 64'],
      ['realservers: 30000000\n', 'realservers: 30000000 is not a count from 1 to 64'],
      ['service: { persistence: 3000000 }\n', 'service.persistence: must be at most 2678400 seconds'],
      [`vip: "${'9'.repeat(5000)}"\n`, 'vip: "9999999999'],
    ]) {
      writeFileSync(file, text);
      const res = await refused(['plan', '--file', file], /^error: .*huge\.yaml: invalid lab/);
      expect(res.stderr).toContain(message);
      expect(res.stderr.length).toBeLessThan(400); // a long value is cut, not echoed whole
    }
    writeFileSync(file, `# ${'x'.repeat(1024 * 1024)}\n`);
    expect((await refused(['plan', '--file', file], /too large for a lab file/)).code).toBe(2);
  });

  it('refuses an empty, relative or comma-bearing state or cache directory, and one that others can write', async () => {
    await refused(['status', { LVS_LAB_STATE_DIR: '' }], 'LVS_LAB_STATE_DIR: is empty');
    await refused(['status', { LVS_LAB_STATE_DIR: 'rel/state' }], 'LVS_LAB_STATE_DIR: "rel/state" must be an absolute');
    await refused(['image', { LVS_LAB_CACHE_DIR: join(scratch, 'a,b') }], 'LVS_LAB_CACHE_DIR: ');
    const open = mkdtempSync(join(scratch, 'open-'));
    chmodSync(open, 0o777);
    await refused(['status', { LVS_LAB_STATE_DIR: open }], `LVS_LAB_STATE_DIR: ${open} can be written by others`);
  });

  it('lab files that give only a subnet get the reference host numbers in it', async () => {
    const file = join(scratch, 'subnet.yaml');
    writeFileSync(file, 'subnet: 10.90.0.0/24\nvip: 10.90.0.250\nrealservers: 64\n');
    const res = await lab('plan', '--file', file);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('## director (director, 10.90.0.101)\nifconfig eth0:0 10.90.0.250/24');
    expect(res.stdout).toContain('## client (client, 10.90.0.10)');
    expect(res.stdout).toContain('ipvsadm -a -t 10.90.0.250:80 -r 10.90.0.165 -g');
  });

  it('writes all of a long plan into a pipe whose reader is slow (no cut at 64 KiB)', async () => {
    const file = join(scratch, 'big.yaml');
    writeFileSync(file, 'realservers: 64\n');
    const full = (await lab('plan', '--guards', '--file', file)).stdout.length;
    expect(full).toBeGreaterThan(200_000);
    const cli = [...LAB_CLI, 'plan', '--guards', '--file', file].map((w) => `'${w}'`).join(' ');
    const { stdout } = await run('bash', ['-c', `${cli} | (sleep 2; wc -c)`], { env });
    expect(Number(stdout.trim())).toBe(full);
  });
}, 120_000);
