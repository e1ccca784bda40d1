// The Docker lab that `pulumi up` built: the same DR suite as the netns lab, then what Pulumi itself promises:
// the resources as modelled, outputs that match the containers, a scheduler change re-provisioning only the
// director, bad config stopped before anything exists, and `pulumi destroy` leaving nothing. Then, on the freed
// subnet, the NAT and TUN presets as stacks of their own.
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { $ } from 'zx';
import { readStackSettings } from '../../model/stack.js';
import { applyPlanOn } from '../../provision/apply.js';
import { LocalShell } from '../../provision/shell.js';
import { SshShell } from '../../provision/ssh.js';
import { connectDockerLab, type DockerEngine } from '../../docker/engine.js';
import { engineUp } from '../../docker/engine-vm.js';
import { containerName, dockerLabSpec, LABEL } from '../../docker/spec.js';
import { fetchSequence, httpdMasters, ipvsTable, macOf, must } from '../../verify/probes.js';
import type { LabAccess } from '../../provision/transport.js';
import { verifyLab } from '../../verify/report.js';
import { drSuite } from '../suites/dr.js';
import { cli, startCli } from '../integration/lab.js';
import { waitFor } from '../../base/wait.js';
import type { Snapshot } from '../../view/snapshot.js';
import { haSuite } from '../suites/ha.js';
import { DOCKER_LAB, pulumi, ROOT, STACK, stackResources } from './stack.js';
import { expectNoChanges } from './no-changes.js';
import { exerciseLab, expectExercisePasses } from '../exercise.js';
import { explainRequest } from '../../inside/explain.js';
import { MISTAKES } from '../../drive/mistakes.js';
import { whatif } from '../../drive/whatif.js';

/** The two kinds of `pulumi up --json` engine event the tests read. */
interface EngineEvent {
  summaryEvent?: { resourceChanges: Record<string, number> };
  resOutputsEvent?: { metadata: { op: string; urn: string } };
}

const engineKind = inject('engine');
const outputs = inject('outputs');
const lab = DOCKER_LAB;

drSuite(lab, () => connectDockerLab(lab, engineKind));

let s: LabAccess & { engine: DockerEngine; close(): Promise<void> };
const docker = async (args: string) => {
  const res = await s.engine.docker.exec(`docker ${args}`);
  if (res.code !== 0) throw new Error(`docker ${args}: ${res.stderr}`);
  return res.stdout;
};
/** The parts of `docker inspect` the tests read. */
interface Inspected {
  Id: string;
  Internal: boolean;
  Driver: string;
  IPAM: { Config: Array<{ Subnet: string }> };
  Labels: Record<string, string>;
  Options: Record<string, string>;
  HostConfig: { Privileged: boolean };
  State: { Paused: boolean };
  Config: { Hostname: string; Labels: Record<string, string> };
  NetworkSettings: { Networks: Record<string, { IPAMConfig: { IPv4Address: string } }> };
}
const inspect = async (what: string) => (JSON.parse(await docker(`inspect ${what}`)) as Inspected[])[0];
const ours = async (kind: 'ps -a' | 'network ls' | 'images') =>
  (await docker(`${kind} -q --filter label=${LABEL.lab}=${lab.name}`)).split('\n').filter(Boolean);

/** A lab's containers and networks on the engine, by the label every object of a lab carries. */
const labObjects = async (name: string) => {
  const list = async (kind: string) =>
    (await docker(`${kind} -q --filter label=${LABEL.lab}=${name}`)).split('\n').filter(Boolean);
  return { containers: await list('ps -a'), networks: await list('network ls') };
};
const NOTHING = { containers: [], networks: [] };

beforeAll(async () => {
  s = await connectDockerLab(lab, engineKind);
});
afterAll(async () => s?.close());

describe('pulumi stack', () => {
  it('is in sync with the engine: a preview right after `up` and a refresh both find nothing to change', async () => {
    await expectNoChanges(STACK);
  });

  it("holds the Docker provider's own resources, run by the plugin built from the vendored source, never a download", async () => {
    const resources = await stackResources();
    const types = resources.map((r) => r.type);
    expect(types.filter((t) => t === 'docker:index/container:Container')).toHaveLength(4);
    expect(types).toContain('docker:index/network:Network');
    expect(types).toContain('docker:index/remoteImage:RemoteImage');
    expect(types).toContain('pulumi:providers:docker');
    // Where each resource of the program was declared: a path inside the project and its TypeScript line.
    // (Pulumi's own stack resource names its SDK's source, mapped the same way.)
    const positions = resources.flatMap((r) => (r.sourcePosition ? [[r.type, r.sourcePosition]] : []));
    for (const [, p] of positions) expect(p).toMatch(/^project:\/\/\/[\w@./-]+\.ts#([2-9]|\d\d+),\d+$/);
    const ours = positions.filter(([type]) => type.startsWith('docker:') || type.startsWith('lvs-lab:'));
    expect(ours.length).toBeGreaterThan(4);
    for (const [, p] of ours) expect(p).toMatch(/^project:\/\/\/infra\/[a-z-]+\.ts#/);
    const plugins = JSON.parse((await pulumi(['plugin', 'ls', '--json'])).stdout) as Array<{
      name: string;
      kind: string;
      version: string;
    }>;
    expect(plugins.filter((p) => p.kind === 'resource' && p.name === 'docker').map((p) => p.version)).toEqual([
      '5.0.0',
    ]);
    // The plugin in the project's Pulumi home is the binary built from ../shared/vendor, byte for byte.
    const cache =
      process.env.LVS_LAB_CACHE_DIR ?? `${process.env.XDG_CACHE_HOME ?? `${process.env.HOME}/.cache`}/lvs-lab`;
    const sha = async (file: string) => (await $({ quiet: true })`sha256sum ${file}`).stdout.split(' ')[0];
    expect(await sha(`${cache}/pulumi/home/plugins/resource-docker-v5.0.0/pulumi-resource-docker`)).toBe(
      await sha(`${cache}/pulumi/plugins/pulumi-resource-docker-v5.0.0`),
    );
    // With automatic plugin acquisition off, a plugin the engine lacks is an error, not a download: the preview above
    // passed, so it had every plugin it needed.
    expect((await $({ quiet: true })`cat ${`${ROOT}/infra/pulumi.sh`}`).stdout).toContain(
      'PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true',
    );
  });

  it('outputs the VIP, the verify command, and each host as the containers really are', async () => {
    expect(outputs.vip).toBe(`${lab.vip}:80`);
    expect(outputs.verify).toBe(`npm run lab -- verify --stack ${STACK}`);
    expect(outputs.hosts.map((h) => h.name)).toEqual(['client', 'director', 'rs1', 'rs2']);
    for (const h of outputs.hosts) {
      expect(h.mac, h.name).toBe(await macOf(s, h.name));
      const addr = (await s.transport.run(h.name, 'ip -4 -o addr show dev eth0')).stdout;
      expect(addr, h.name).toContain(` ${h.ip}/24 `);
    }
  });

  it("runs docker with this host's CLI where it has one, which reaches the VM's engine through the forwarded socket", async (ctx) => {
    const local = (await new LocalShell().exec("docker version --format '{{.Client.Version}}'")).stdout.trim();
    if (engineKind !== 'vm') ctx.skip('the engine is local: there is no forwarded socket');
    if (local === '') ctx.skip("this host has no docker CLI: the VM's own runs docker (the next test covers it)");
    expect((await docker("version --format '{{.Client.Version}}'")).trim()).toBe(local);
    const kernel = (await (await s.engine.machine()).exec('uname -r')).stdout.trim();
    expect((await docker("info --format '{{.KernelVersion}}'")).trim()).toBe(kernel);
    expect(kernel).not.toBe((await new LocalShell().exec('uname -r')).stdout.trim());
  });

  it("the engine VM's own commands share its one SSH connection, which also forwards the Docker socket", async (ctx) => {
    if (engineKind !== 'vm') ctx.skip("the engine is local: its machine is this host, with no VM's connection");
    const machine = await s.engine.machine();
    // A session's parent in the VM is the sshd process of the connection it came on.
    const sshdOf = async () => (await machine.exec('ps -o ppid= -p $$')).stdout.trim();
    const [first, second] = [await sshdOf(), await sshdOf()];
    expect(first).toMatch(/^\d+$/);
    expect(second).toBe(first);
    // ... and it is the VM's one SSH connection: its master, which the Docker client's calls also go through.
    const connections = (await machine.exec("ps -eo pid=,args= | grep '[s]shd: root@'")).stdout.trim().split('\n');
    expect(connections.map((c) => c.trim().split(/\s+/)[0])).toEqual([first]);
    // `engine up` on the running VM checks dockerd and the base image over that connection too: no SSH client of its
    // own, and the same one connection after it.
    const connect = vi.spyOn(SshShell, 'connect');
    try {
      const said: string[] = [];
      await engineUp((m) => said.push(m));
      expect(said.join('\n')).toMatch(/already running[\s\S]*dockerd answers/);
      expect(connect).not.toHaveBeenCalled();
    } finally {
      connect.mockRestore();
    }
    expect((await machine.exec('ps -o ppid= -p $$')).stdout.trim()).toBe(first);
  });

  it('the network is an internal bridge with the lab subnet, and no container has a route out', async () => {
    const net = await inspect(`--type network lvs-lab-${lab.name}`);
    expect(net.Internal).toBe(true);
    expect(net.Driver).toBe('bridge');
    expect(net.IPAM.Config[0].Subnet).toBe(lab.subnet);
    expect(net.Labels[LABEL.lab]).toBe(lab.name);
    expect(net.Options['com.docker.network.bridge.name']).toBe(`lvs-${lab.name}`);
    // DR needs no rule beside Docker's (NAT's is checked with its stack below)
    expect((await (await s.engine.machine()).exec('iptables -S DOCKER-USER')).stdout).not.toContain(`lvs-${lab.name}`);
    for (const h of outputs.hosts) {
      const routes = (await s.transport.run(h.name, 'ip -4 route show')).stdout.trim().split('\n');
      expect(routes, h.name).toEqual([
        expect.stringMatching(new RegExp(`^${lab.subnet.replace(/\./g, '\\.')} dev eth0 `)),
      ]);
    }
  });

  it('each host is a privileged container with its static address, hostname and labels', async () => {
    for (const c of dockerLabSpec(lab).containers) {
      const info = await inspect(`--type container ${containerName(lab.name, c.host)}`);
      expect(info.HostConfig.Privileged, c.host).toBe(true);
      expect(info.Config.Hostname).toBe(c.host);
      expect(info.NetworkSettings.Networks[`lvs-lab-${lab.name}`].IPAMConfig.IPv4Address).toBe(c.ip);
      expect(info.Config.Labels).toMatchObject({ [LABEL.lab]: lab.name, [LABEL.role]: c.role, [LABEL.host]: c.host });
    }
  });

  it('Docker applied the `all` sysctls at create time, the plan the per-interface ones', async () => {
    for (const rs of lab.realservers) {
      const paths = ['all/arp_ignore', 'eth0/arp_ignore', 'all/arp_announce', 'eth0/arp_announce'].map(
        (p) => `/proc/sys/net/ipv4/conf/${p}`,
      );
      const values = (await s.transport.run(rs.name, `cat ${paths.join(' ')}`)).stdout;
      expect(values.split('\n').filter(Boolean)).toEqual(['1', '1', '2', '2']);
    }
    // Forwarding on the director alone: the others do not inherit the engine's (Docker turns it on there).
    for (const h of [lab.director, lab.client, ...lab.realservers])
      expect((await s.transport.run(h.name, 'cat /proc/sys/net/ipv4/ip_forward')).stdout.trim(), h.name).toBe(
        h === lab.director ? '1' : '0',
      );
  });

  it('exec --stack runs on a container and exits with its status; observe shows the connections', async () => {
    const exec = await cli(['exec', 'rs1', '--stack', STACK, '--', 'sh', '-c', 'hostname; exit 5']);
    expect(exec.stdout.trim()).toBe('rs1');
    expect(exec.exitCode).toBe(5);
    const obs = await cli(['observe', '--stack', STACK, '--requests', '3']);
    expect(obs.exitCode).toBe(0);
    expect(
      obs.stdout.split('\n').filter((l) => l.includes(`${lab.client.ip}:`) && l.includes(`${lab.vip}:80`)).length,
    ).toBeGreaterThanOrEqual(3);
  });

  it('load --stack: 20 fresh connections one at a time, 10 to each realserver; fault delays and pauses containers', async () => {
    const loaded = await cli(['load', '--stack', STACK, '--requests', '20', '--concurrency', '1', '--json']);
    expect(loaded.exitCode, loaded.stderr).toBe(0);
    expect((JSON.parse(loaded.stdout) as { share: Record<string, number> }).share).toEqual({ rs1: 10, rs2: 10 });
    try {
      expect((await cli(['fault', 'rs1', 'delay', '300ms', '--stack', STACK])).exitCode).toBe(0);
      expect((await cli(['fault', 'rs2', 'host', 'stop', '--stack', STACK])).exitCode).toBe(0);
      const listed = (await cli(['fault', '--list', '--stack', STACK])).stdout;
      expect(listed).toContain('rs1: netem on eth0: delay 300ms');
      expect(listed).toContain('rs2: host stopped');
      expect((await inspect(`lvs-lab-${lab.name}-rs2`)).State.Paused).toBe(true);
      const slow = await s.transport.run(
        lab.client.name,
        `curl -s -o /dev/null -w '%{time_total}' http://${lab.realservers[0].ip}/`,
      );
      expect(Number(slow.stdout)).toBeGreaterThanOrEqual(0.6); // SYN-ACK and response, 300 ms each
    } finally {
      for (const h of ['rs1', 'rs2']) await cli(['fault', h, 'clear', '--stack', STACK]);
    }
    expect((await cli(['fault', '--list', '--stack', STACK])).stdout).toContain('no faults in force');
  });

  it('view --stack serves the Docker lab live on loopback, and Ctrl-C stops it', async () => {
    const run = startCli(['view', '--stack', STACK]);
    try {
      await run.until((out) => /view of lab \w+: http:\/\/127\.0\.0\.1:\d+\//.test(out));
      const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(run.output())![1];
      const snapshot = await waitFor(
        async () => ((await (await fetch(`${url}snapshot.json`)).json()) as Snapshot | null) ?? undefined,
        { within: 30_000, every: 500, timedOut: () => new Error(`no snapshot within 30 s:\n${run.output()}`) },
      );
      expect(snapshot.holders).toEqual([lab.director.name]);
      expect(snapshot.realservers.map((r) => [r.name, r.inTable])).toEqual([
        ['rs1', true],
        ['rs2', true],
      ]);
    } finally {
      run.signal('SIGINT');
    }
    expect((await run.exited).code, run.output()).toBe(0);
  });

  it("the stack's verify command passes", async () => {
    const res = await $({ cwd: ROOT, nothrow: true, quiet: true })`npm run -s lab -- verify --stack ${STACK}`;
    expect(res.stdout).toMatch(/6\/6 checks passed/);
    expect(res.exitCode).toBe(0);
  });

  it('the arp and draining exercises: their checks, declared in the stack config, pass through verify --stack', async () => {
    const checks = ['arp.yaml', 'draining.yaml'].flatMap((f) => exerciseLab(f, lab.name).checks!);
    const before = (await pulumi(['config', 'get', '--stack', STACK, 'lvs-lab:lab'])).stdout.trim();
    await pulumi(['config', 'set', '--stack', STACK, 'lvs-lab:lab', JSON.stringify({ ...JSON.parse(before), checks })]);
    try {
      // What a lab should show is not part of what it is: the stack has nothing to change.
      await pulumi(['preview', '--expect-no-changes', '--non-interactive', '--stack', STACK]);
      const res = await cli(['verify', '--stack', STACK, '--skip-builtin']);
      expect(res.stdout, res.stderr).toMatch(/\] 6\/6 checks passed$/m);
      expect(res.exitCode).toBe(0);
      expect((await ipvsTable(s)).dests.map((d) => d.weight)).toEqual([1, 1]); // the drain undone
    } finally {
      await pulumi(['config', 'set', '--stack', STACK, 'lvs-lab:lab', before]);
    }
  });

  it.each(['persistence.yaml', 'slow-realserver.yaml'])(
    'the exercise %s on the containers, its service set in place on the director and set back',
    async (file) => {
      const exercise = exerciseLab(file, lab.name);
      const director = (l: typeof lab) => applyPlanOn(s, l, (h) => h.role === 'director');
      await director(exercise);
      try {
        await expectExercisePasses({ ...s, lab: exercise }, file);
      } finally {
        await director(lab);
      }
      expect((await ipvsTable(s)).scheduler).toBe('rr');
    },
  );

  it('a scheduler change re-provisions the director alone, in place: realservers and containers untouched', async () => {
    const ids = async () =>
      Promise.all(
        lab.realservers.map(async (r) => [
          ...(await httpdMasters(s, r.name)),
          (await inspect(`--type container ${containerName(lab.name, r.name)}`)).Id,
        ]),
      );
    const before = await ids();
    const wrr = {
      name: lab.name,
      service: { scheduler: 'wrr' },
      realservers: lab.realservers.map((r, i) => ({ ...r, weight: i === 0 ? 3 : 1 })),
    };
    await pulumi(['config', 'set', '--stack', STACK, 'lvs-lab:lab', JSON.stringify(wrr)]);
    // `pulumi up --json` streams engine events, one JSON object a line.
    const events = (
      await pulumi(['up', '--yes', '--skip-preview', '--non-interactive', '--stack', STACK, '--json'])
    ).stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as EngineEvent);
    // stack, component, Docker and dynamic providers, network, image, 4 containers, 3 other provisionings: the same
    expect(events.find((e) => e.summaryEvent)?.summaryEvent?.resourceChanges).toEqual({ same: 13, update: 1 });
    const updated = events
      .flatMap((e) => (e.resOutputsEvent?.metadata.op === 'update' ? [e.resOutputsEvent.metadata.urn] : []))
      .map((urn) => urn.split('::').pop());
    expect(updated).toEqual([`${lab.name}-director-provisioning`]);

    const ran = (await stackResources()).find((r) => r.urn.endsWith(`::${lab.name}-director-provisioning`))?.outputs
      ?.ran;
    expect(ran).toEqual([
      `ipvsadm -E -t ${lab.vip}:80 -s wrr`,
      `ipvsadm -e -t ${lab.vip}:80 -r ${lab.realservers[0].ip} -g -w 3`,
    ]);
    expect(await ids()).toEqual(before);

    const table = await ipvsTable(s);
    expect(table.scheduler).toBe('wrr');
    expect(table.dests.map((d) => d.weight)).toEqual([3, 1]);
    const bodies = await fetchSequence(s, 8);
    expect(bodies.filter((b) => b === `from ${lab.realservers[0].ip}`)).toHaveLength(6);
    expect(bodies.filter((b) => b === `from ${lab.realservers[1].ip}`)).toHaveLength(2);
  });

  it("bad stack config fails with the model's message before anything is created", async () => {
    const bad = `${STACK}bad`;
    await pulumi(['stack', 'init', bad, '--non-interactive']);
    try {
      await pulumi(['config', 'set', '--stack', bad, 'lvs-lab:lab', JSON.stringify({ name: 'dbad', vip: '10.9.9.9' })]);
      const res = await pulumi(['up', '--yes', '--skip-preview', '--non-interactive', '--stack', bad], {
        nothrow: true,
      });
      expect(res.exitCode).not.toBe(0);
      expect(res.stdout).toContain(`stack ${bad} (config lvs-lab:lab)`);
      expect(res.stdout).toContain('vip: 10.9.9.9 is outside the subnet 192.168.170.0/24');
      const resources = await stackResources(bad);
      expect(resources.filter((r) => r.type !== 'pulumi:pulumi:Stack')).toEqual([]);
      expect(await docker(`ps -a -q --filter label=${LABEL.lab}=dbad`)).toBe('');
    } finally {
      await pulumi(['stack', 'rm', '--yes', '--force', '--non-interactive', bad], { nothrow: true });
    }
  });

  it('an up that fails midway (the image cannot be built) leaves nothing after destroy', async () => {
    const failing = `${STACK}fail`;
    const name = 'dfail';
    await pulumi(['stack', 'init', failing, '--non-interactive']);
    try {
      await pulumi([
        'config',
        'set',
        '--stack',
        failing,
        'lvs-lab:lab',
        JSON.stringify({
          name,
          subnet: '192.168.175.0/24',
          vip: '192.168.175.100',
          director: { name: 'director', ip: '192.168.175.101' },
          client: { name: 'client', ip: '192.168.175.10' },
          realservers: 2,
        }),
      ]);
      await pulumi(['config', 'set', '--stack', failing, 'lvs-lab:engine', engineKind]);
      await pulumi(['config', 'set', '--stack', failing, 'lvs-lab:baseImage', 'lvs-lab/no-such-base:none']);
      const up = await pulumi(['up', '--yes', '--skip-preview', '--non-interactive', '--stack', failing], {
        nothrow: true,
      });
      expect(up.exitCode).not.toBe(0);
      expect(up.stdout).toMatch(/lvs-lab\/no-such-base/);
      // the network was created before the image failed
      expect((await docker(`network ls -q --filter label=${LABEL.lab}=${name}`)).trim()).not.toBe('');
      await pulumi(['destroy', '--yes', '--skip-preview', '--non-interactive', '--stack', failing]);
      for (const kind of ['ps -a', 'network ls', 'images'] as const)
        expect(await docker(`${kind} -q --filter label=${LABEL.lab}=${name}`), kind).toBe('');
    } finally {
      await pulumi(['destroy', '--yes', '--skip-preview', '--non-interactive', '--stack', failing], { nothrow: true });
      await pulumi(['stack', 'rm', '--yes', '--force', '--non-interactive', failing], { nothrow: true });
    }
  });

  it('pulumi destroy, run from a fresh clone in another directory, removes every container, network and image of the lab, faults in force included', async () => {
    for (const words of [
      ['rs1', 'delay', '300ms'],
      ['rs2', 'host', 'stop'],
      ['director', 'link', 'down'],
    ])
      expect((await cli(['fault', ...words, '--stack', STACK])).exitCode).toBe(0);
    expect(await ours('ps -a')).toHaveLength(4);
    expect(await ours('network ls')).toHaveLength(1);
    expect(await ours('images')).toHaveLength(1);
    const clone = (await $({ quiet: true })`mktemp -d /tmp/lvs-lab-clone-XXXXXX`).stdout.trim();
    try {
      // The committed project, its stack file (not committed: the suite writes it) and its installed packages.
      await $({ quiet: true })`git clone -q ${ROOT} ${clone}`;
      await $({ quiet: true })`cp ${`${ROOT}/Pulumi.${STACK}.yaml`} ${clone}/`;
      await $({ quiet: true })`ln -s ${`${ROOT}/node_modules`} ${clone}/node_modules`;
      await $({
        cwd: clone,
        quiet: true,
      })`bash infra/pulumi.sh destroy --yes --skip-preview --non-interactive --stack ${STACK}`;
    } finally {
      await $({ quiet: true })`rm -rf ${clone}`;
    }
    expect(await ours('ps -a')).toEqual([]);
    expect(await ours('network ls')).toEqual([]);
    expect(await ours('images')).toEqual([]);
  });
});

// After the destroy above: Docker refuses two networks on one subnet, and these presets use the lab's.
for (const preset of ['nat-rr', 'tun-rr', 'dr-health'] as const) {
  describe(`stack ${preset}`, () => {
    it('pulumi up builds it from the stack name alone, every check of its forwarding method passes, destroy removes it', async () => {
      await pulumi(['stack', 'select', '--create', preset, '--non-interactive']);
      try {
        await pulumi(['config', 'set', '--stack', preset, 'lvs-lab:engine', engineKind]);
        const up = await pulumi(['up', '--yes', '--skip-preview', '--non-interactive', '--stack', preset], {
          nothrow: true,
        });
        expect(up.exitCode, up.stdout.slice(-3000)).toBe(0);
        const { lab } = await readStackSettings(preset);
        expect(lab.forwarding).toBe(preset.split('-')[0]);
        const access = await connectDockerLab(lab, engineKind);
        try {
          const rules = async () => (await (await access.engine.machine()).exec('iptables -S DOCKER-USER')).stdout;
          // NAT's one rule beside Docker's: frames that stay on the lab's own bridge
          if (lab.forwarding === 'nat') {
            expect(await rules()).toContain(`-A DOCKER-USER -i lvs-${lab.name} -o lvs-${lab.name} -j ACCEPT`);
            // The director's interfaces as the plan names them, whatever order the provider connected its networks in.
            const addrs = await must(
              access,
              lab.director.name,
              'ip -4 -o addr show dev eth0; ip -4 -o addr show dev eth1',
            );
            expect(addrs).toMatch(new RegExp(`eth0\\s+inet ${lab.director.ip}/`));
            expect(addrs).toMatch(new RegExp(`eth1\\s+inet ${lab.outside!.directorIp}/`));
          }
          const checks = await verifyLab(access);
          expect(checks.filter((c) => !c.ok)).toEqual([]);
          // TUN adds the IP-in-IP capture, health checks the keepalived check.
          expect(checks.length).toBe(lab.forwarding === 'tun' || lab.healthCheck ? 7 : 6);
          // The exercise of this variant (labs/): every declared check passes on the containers too.
          const exercise = { 'nat-rr': 'nat.yaml', 'tun-rr': 'tun.yaml', 'dr-health': 'health.yaml' }[preset];
          await expectExercisePasses(access, exercise);
          if (lab.forwarding !== 'dr') {
            // Its own walk, and its own classic mistake shown and undone, on containers as on namespaces.
            const walk = await explainRequest(access);
            expect(walk.steps.filter((st) => !st.expected).map((st) => st.title)).toEqual([]);
            const mistake = MISTAKES[lab.forwarding === 'nat' ? 'nat-gateway' : 'rp-filter'];
            const w = await whatif(access, mistake, lab.realservers[0]);
            expect(w.seen!.shown, w.seen!.evidence.join('\n')).toBe(true);
            expect(w.seen!.facts.synAcks).toBe(0);
            expect(w.verify.failed).toEqual([]);
          }
          expect(await labObjects(lab.name)).not.toEqual(NOTHING); // what the destroy below must remove was there
          await pulumi(['destroy', '--yes', '--skip-preview', '--non-interactive', '--stack', preset]);
          expect(await labObjects(lab.name)).toEqual(NOTHING);
          expect(await rules()).not.toContain(`lvs-${lab.name}`);
        } finally {
          await access.close();
        }
      } finally {
        await pulumi(['destroy', '--yes', '--skip-preview', '--non-interactive', '--stack', preset], { nothrow: true });
        await pulumi(['stack', 'rm', '--yes', '--force', '--non-interactive', preset], { nothrow: true });
      }
    });
  });
}

// The director pair as a stack of its own (after the presets above: it uses the lab's subnet too).
describe('stack dr-ha', () => {
  let pair: (LabAccess & { close(): Promise<void> }) | undefined;
  beforeAll(async () => {
    await pulumi(['stack', 'select', '--create', 'dr-ha', '--non-interactive']);
    await pulumi(['config', 'set', '--stack', 'dr-ha', 'lvs-lab:engine', engineKind]);
    const up = await pulumi(['up', '--yes', '--skip-preview', '--non-interactive', '--stack', 'dr-ha'], {
      nothrow: true,
    });
    expect(up.exitCode, up.stdout.slice(-3000)).toBe(0);
    const { lab: pairLab } = await readStackSettings('dr-ha');
    expect(pairLab.ha?.backup.name).toBe('director2');
    pair = await connectDockerLab(pairLab, engineKind);
  });
  afterAll(async () => {
    await pair?.close();
    await pulumi(['destroy', '--yes', '--skip-preview', '--non-interactive', '--stack', 'dr-ha'], { nothrow: true });
    await pulumi(['stack', 'rm', '--yes', '--force', '--non-interactive', 'dr-ha'], { nothrow: true });
  });
  haSuite(() => pair!);

  it('pulumi destroy removes both directors, the realservers, the client and the network', async () => {
    const { lab: pairLab } = await readStackSettings('dr-ha');
    expect((await labObjects(pairLab.name)).containers).toHaveLength(5);
    await pulumi(['destroy', '--yes', '--skip-preview', '--non-interactive', '--stack', 'dr-ha']);
    expect(await labObjects(pairLab.name)).toEqual(NOTHING);
  });
});
