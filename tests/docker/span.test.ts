// One lab over several Docker engines: the engine VM (engine a) and more engine VMs (engine b, `vm:b`; engine c, as a
// user's own host: `ssh://` through an ssh_config entry), joined by an underlay in a namespace of the kit. The lab's segment is
// the two engines' bridges stitched by VXLAN: every DR check passes across it, Pulumi keeps the tunnel as a resource
// (preview, refresh, a tunnel removed by hand made again, destroy), and a director pair fails over across it. On a
// subnet of their own: the suite's own stack stays up on engine a beside them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { $ } from 'zx';
import { join } from 'node:path';
import {
  engineDir,
  engineDown,
  engineMachine,
  engineUp,
  engineVmRunning,
  readEngineState,
} from '../../docker/engine-vm.js';
import { vmKeyFile } from '../../machine/machine.js';
import { connectStack, type DockerLabAccess } from '../../docker/engine.js';
import { LABEL } from '../../docker/spec.js';
import { readStackSettings } from '../../model/stack.js';
import { restoreDirector, secondsUntilSoleHolder } from '../../verify/failover.js';
import { fetchSequence } from '../../verify/probes.js';
import { expectHeldConnectionSurvives } from '../suites/ha.js';
import { takeoverWindowSeconds } from '../../provision/keepalived.js';
import { cli } from '../integration/lab.js';
import { pulumi } from './stack.js';
import { expectNoChanges } from './no-changes.js';

const SUBNET = '10.90.0.0/24';
const log = (msg: string) => console.log(`[docker span] ${msg}`);
/** Starts these engine VMs where they are not running, and stops after the block what it started (the suite's own
 * engine is often the first already). */
function withEngines(names: Array<string | undefined>): void {
  const started: Array<string | undefined> = [];
  beforeAll(async () => {
    for (const name of names) {
      if (!(await engineVmRunning(name))) started.push(name);
      await engineUp(log, name);
    }
  }, 900_000);
  afterAll(async () => {
    for (const name of started) await engineDown(log, name);
  });
}

withEngines([undefined, 'b']);

/** Each engine's machine: what Docker and the kernel there hold of a lab. */
async function onEngines(command: string): Promise<string[]> {
  return Promise.all(
    [undefined, 'b'].map(async (name) => {
      const machine = await engineMachine(name);
      try {
        return (await machine.exec(command)).stdout.trim();
      } finally {
        await machine.close();
      }
    }),
  );
}

/**
 * An engine VM as a user's own Docker host: `ssh://root@lvs-lab-engine-NAME`, the name an ssh_config entry (its
 * port, key and pinned host key) as a user writes one in ~/.ssh/config. This run's `ssh` reads it: a wrapper first on
 * PATH for this process and its children (the CLI, Pulumi, the Docker provider, `docker`). Undone by `close`.
 */
async function asSshHost(name: string) {
  const state = await readEngineState(name);
  if (!state?.vm || !state.underlay) throw new Error(`engine VM ${name}: no state`);
  const dir = await mkdtemp(join(tmpdir(), 'lvs-lab-ssh-'));
  const key = vmKeyFile(engineDir(name));
  const config = [
    `Host lvs-lab-engine-${name}`,
    ...['HostName 127.0.0.1', `Port ${state.vm.sshPort}`, 'User root', `IdentityFile ${key}`, 'IdentitiesOnly yes'],
    ...[`UserKnownHostsFile ${dir}/known_hosts`, 'StrictHostKeyChecking yes', 'KexAlgorithms curve25519-sha256'],
    // One connection shared by every ssh the run starts, as docs/docker.md suggests: a handshake is slow to a VM.
    ...[`ControlPath ${dir}/%C`, 'ControlMaster auto', 'ControlPersist 30'],
  ];
  await writeFile(join(dir, 'known_hosts'), `[127.0.0.1]:${state.vm.sshPort} ssh-ed25519 ${state.vm.hostKey}\n`);
  await writeFile(join(dir, 'ssh_config'), config.join('\n  ') + '\n');
  await mkdir(join(dir, 'bin'));
  await writeFile(join(dir, 'bin', 'ssh'), `#!/bin/sh\nexec /usr/bin/ssh -F ${dir}/ssh_config "$@"\n`);
  await chmod(join(dir, 'bin', 'ssh'), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${dir}/bin:${path}`;
  return {
    engine: { host: `ssh://root@lvs-lab-engine-${name}`, underlay: state.underlay },
    close: async () => {
      await $({ nothrow: true, quiet: true })`${dir}/bin/ssh -O exit lvs-lab-engine-${name}`; // the shared connection
      process.env.PATH = path;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A stack of the suite's over several engines: its config written by the Pulumi CLI, then `pulumi up`. Engine a is
 * the engine VM; every other engine a host is placed on is the engine VM of that name, `vm:NAME` unless `engines`
 * says how else to reach it.
 */
function spanStack(
  stack: string,
  lab: object,
  placement: Record<string, string>,
  { preset, engines }: { preset?: string; engines?: () => Record<string, object> } = {},
) {
  let access: DockerLabAccess | undefined;
  const up = async () => {
    await pulumi(['stack', 'select', '--create', stack, '--non-interactive']);
    const set = (key: string, value: string) => pulumi(['config', 'set', '--stack', stack, `lvs-lab:${key}`, value]);
    await set('lab', JSON.stringify({ subnet: SUBNET, ...lab }));
    const others = [...new Set(Object.values(placement))].map((e) => [e, `vm:${e}`]);
    await set('engines', JSON.stringify({ a: 'vm', ...Object.fromEntries(others), ...engines?.() }));
    await set('placement', JSON.stringify(placement));
    if (preset) await set('preset', preset);
    const res = await pulumi(['up', '--yes', '--skip-preview', '--non-interactive', '--stack', stack], {
      nothrow: true,
    });
    expect(res.exitCode, res.stdout.slice(-3000)).toBe(0);
    access = await connectStack(await readStackSettings(stack));
  };
  const down = async () => {
    await access?.close();
    await pulumi(['destroy', '--yes', '--skip-preview', '--non-interactive', '--stack', stack], { nothrow: true });
    await pulumi(['stack', 'rm', '--yes', '--force', '--non-interactive', stack], { nothrow: true });
  };
  return { up, down, access: () => access! };
}

const verifyStack = async (stack: string) => {
  const res = await cli(['verify', '--stack', stack]);
  expect(res.exitCode, res.stdout + res.stderr).toBe(0);
  return res.stdout;
};

describe('a DR lab over two engines (director and client on a, realservers on b)', () => {
  const STACK = 'dockertest-span';
  const span = spanStack(STACK, { name: 'dspan' }, { rs1: 'b', rs2: 'b' });
  beforeAll(span.up, 600_000);
  afterAll(span.down, 600_000);

  it('every DR check passes, and ARP for the VIP asked on each engine is answered by the director alone', async () => {
    const out = await verifyStack(STACK);
    expect(out).toMatch(/^PASS {2}replies go straight from the realservers to the client$/m);
    expect(out).toMatch(/^PASS {2}the director sees only the inbound half$/m);
    expect(out).toMatch(/^PASS {2}one segment across 2 engines: ARP for the VIP from each is answered by director/m);
    expect(out).toMatch(/engine a \(from client\): director; engine b \(from rs1\): director/);
  });

  it("replies cross the tunnel from engine b straight to the client: VXLAN on engine a's underlay carries them", async () => {
    const a = span.access();
    const machine = await engineMachine();
    try {
      const file = '/tmp/lvs-lab-span.txt';
      const dump = machine.exec(`timeout 8 tcpdump -lni eth1 -c 200 udp port 4789 >${file} 2>/dev/null; cat ${file}`);
      await new Promise((r) => setTimeout(r, 1500)); // tcpdump listening
      expect(new Set(await fetchSequence(a, 4)).size).toBe(2);
      const seen = (await dump).stdout;
      const vip = a.lab.vip.replace(/\./g, '\\.');
      const client = a.lab.client.ip.replace(/\./g, '\\.');
      // An outer packet from engine b to engine a, whose inner one is a reply from the VIP to the client.
      expect(seen).toMatch(new RegExp(`198\\.18\\.0\\.\\d+\\.\\d+ > 198\\.18\\.0\\.\\d+\\.4789: VXLAN`));
      expect(seen).toMatch(new RegExp(`${vip}\\.80 > ${client}\\.\\d+: Flags \\[[SFP.]*\\.?\\]`));
    } finally {
      await machine.close();
    }
  });

  it('preview right after `up` and a refresh both find nothing to change', async () => {
    await expectNoChanges(STACK);
  });

  it('a tunnel removed by hand is seen gone by a refreshing preview and made again by `up --refresh`', async () => {
    const machine = await engineMachine('b');
    try {
      expect((await machine.exec('ip link del lvsvx-dspan')).code).toBe(0);
    } finally {
      await machine.close();
    }
    const stale = await pulumi(['preview', '--refresh', '--expect-no-changes', '--non-interactive', '--stack', STACK], {
      nothrow: true,
    });
    expect(stale.exitCode).not.toBe(0);
    expect(stale.stdout).toContain('dspan-stitch-b');
    const up = await pulumi(['up', '--refresh', '--yes', '--skip-preview', '--non-interactive', '--stack', STACK], {
      nothrow: true,
    });
    expect(up.exitCode, up.stdout.slice(-2000)).toBe(0);
    expect(up.stdout).toMatch(/\+ 1 created/);
    await verifyStack(STACK);
  });

  it('exec, fault, observe, capture and graph reach the hosts on either engine', async () => {
    const exec = await cli(['exec', 'rs1', '--stack', STACK, '--', 'hostname']);
    expect(exec.stdout.trim()).toBe('rs1');
    expect((await cli(['fault', 'rs2', 'delay', '100ms', '--stack', STACK])).exitCode).toBe(0);
    expect((await cli(['fault', '--list', '--stack', STACK])).stdout).toContain('rs2: netem on eth0: delay 100ms');
    expect((await cli(['fault', 'rs2', 'clear', '--stack', STACK])).exitCode).toBe(0);
    const observe = await cli(['observe', '--stack', STACK, '--requests', '2']);
    expect(observe.exitCode, observe.stderr).toBe(0);
    expect(observe.stdout).toMatch(/rs2/);
    const capture = await cli([
      'capture',
      '--stack',
      STACK,
      '--hosts',
      'client,rs1',
      '--requests',
      '2',
      '--out',
      '/tmp/lvs-lab-span-captures',
    ]);
    expect(capture.exitCode, capture.stderr).toBe(0);
    expect(capture.stdout).toMatch(/rs1/);
    const graph = await cli(['graph', '--stack', STACK, '--out', '/tmp/lvs-lab-span.svg']);
    expect(graph.exitCode, graph.stderr).toBe(0);
    const svg = await readFile('/tmp/lvs-lab-span.svg', 'utf8');
    expect(svg).toContain('rs1 (realserver) · engine b');
    expect(svg).toContain('joined by VXLAN');
    await rm('/tmp/lvs-lab-span-captures', { recursive: true, force: true });
  });

  it('destroy leaves nothing on either engine: no container, network, lab image or tunnel', async () => {
    const objects = `docker ps -aq --filter label=${LABEL.lab}=dspan; docker network ls -q --filter label=${LABEL.lab}=dspan; docker images -q --filter label=${LABEL.lab}=dspan; ip -o link show lvsvx-dspan 2>/dev/null`;
    expect((await onEngines(objects)).every((o) => o !== '')).toBe(true); // what destroy must remove was there
    await pulumi(['destroy', '--yes', '--skip-preview', '--non-interactive', '--stack', STACK]);
    expect(await onEngines(objects)).toEqual(['', '']);
  });
});

describe('a lab over three engines (a realserver each on b and c; c a Docker host over ssh://)', () => {
  const STACK = 'dockertest-span3';
  withEngines(['c']); // a third emulated VM for this block alone: idle, it would still take CPU from the others
  let c: Awaited<ReturnType<typeof asSshHost>> | undefined;
  beforeAll(async () => void (c = await asSshHost('c')));
  const span = spanStack(STACK, { name: 'dspan3' }, { rs1: 'b', rs2: 'c' }, { engines: () => ({ c: c!.engine }) });
  beforeAll(span.up, 600_000);
  afterAll(async () => {
    await span.down();
    await c?.close();
  }, 600_000);

  it('every check passes: each tunnel end floods to both other engines, and ARP for the VIP crosses to each', async () => {
    const out = await verifyStack(STACK);
    expect(out).toMatch(
      /engine a \(from client\): director; engine b \(from rs1\): director; engine c \(from rs2\): director/,
    );
    expect(out).toMatch(/^PASS {2}6 requests to http:\/\/10\.90\.0\.100\/ from the client$/m);
  });

  it("engine c is a user's Docker host: the stack names it by ssh://, and exec and fault reach rs2 through it", async () => {
    const settings = await readStackSettings(STACK);
    expect(settings.engines?.find((e) => e.name === 'c')?.address).toBe('ssh://root@lvs-lab-engine-c');
    expect((await cli(['exec', 'rs2', '--stack', STACK, '--', 'hostname'])).stdout.trim()).toBe('rs2');
    expect((await cli(['fault', 'rs2', 'loss', '1%', '--stack', STACK])).exitCode).toBe(0);
    expect((await cli(['fault', '--list', '--stack', STACK])).stdout).toContain('rs2: netem on eth0: loss 1%');
    expect((await cli(['fault', 'rs2', 'clear', '--stack', STACK])).exitCode).toBe(0);
  });
});

describe('a director pair over two engines (director2 and rs2 on b)', () => {
  const STACK = 'dockertest-spanha';
  const span = spanStack(STACK, { name: 'dspanha' }, { director2: 'b', rs2: 'b' }, { preset: 'dr-ha' });
  beforeAll(span.up, 600_000);
  afterAll(span.down, 600_000);

  it('verify passes: the VIP on the director alone, sync on both, one segment from each engine', async () => {
    const out = await verifyStack(STACK);
    expect(out).toMatch(/^PASS {2}the backup \(director2\) knows the client's connections \(IPVS sync\)$/m);
    expect(out).toMatch(/^PASS {2}one segment across 2 engines/m);
  });

  it('failover moves the VIP to director2 on engine b, and a connection opened before it carries on (sync)', async () => {
    const a = span.access();
    const within = takeoverWindowSeconds(a.lab.ha!) + 10; // polled through two emulated engines
    await expectHeldConnectionSurvives(a, within, async () => {
      await restoreDirector(a, a.lab.director.name);
      return secondsUntilSoleHolder(a, a.lab.director.name, within);
    });
  });
});
