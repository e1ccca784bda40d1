// The Pulumi resource graph under Pulumi's mocks (no CLI, no engine): what `pulumi up` would create, with which
// inputs and dependencies, for the reference stack and its variants; and the stack config's validation.
import { readFileSync } from 'node:fs';
import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, it } from 'vitest';
import { readStackSettings, settingsFromConfig } from '../../../model/stack.js';
import { DockerLab } from '../../../infra/docker-lab.js';
import type { StitchInputs } from '../../../infra/operations.js';
import { hostsOf, LabModelError, referenceLab, validateLab, type Lab } from '../../../model/topology.js';
import { planLab } from '../../../provision/plan.js';
import type { ExecResult, Shell } from '../../../provision/shell.js';
import { macFor } from '../../../model/addressing.js';
import { engineProblems, type DockerEngine } from '../../../docker/engine.js';
import {
  bridgeRuleAdd,
  bridgeRuleRemove,
  DOCKER_HTTPD,
  dockerLabSpec,
  LABEL,
  stitchDown,
  stitchOf,
  stitchThere,
  stitchUp,
} from '../../../docker/spec.js';
import { SEED_DIRECTOR } from '../seed.js';

/**
 * The resource inputs the tests read, as the mocks receive them (plain resolved values). Each resource type has only
 * some of them; a test reading one its type lacks fails on the value, which is what it checks.
 */
interface Inputs {
  [key: string]: unknown;
  name: string;
  host: string;
  hostname: string;
  internal: boolean;
  ipamConfigs: Array<{ subnet: string }>;
  networksAdvanced: Array<{ name: string; ipv4Address: string; macAddress?: string; driverOpts?: string[] }>;
  sysctls?: Record<string, string>;
  steps: Array<{ command: string }>;
}

interface Created {
  type: string;
  name: string;
  inputs: Inputs;
  provider?: string;
}
let created: Created[] = [];

beforeAll(async () => {
  await pulumi.runtime.setMocks(
    {
      // Outputs as the provider returns them: the inputs, plus the ids and addresses Docker reports.
      newResource: ({ type, name, inputs: given, provider }) => {
        const inputs = given as Inputs;
        created.push({ type, name, inputs, provider });
        const networkDatas = (inputs.networksAdvanced ?? []).map((n) => ({
          networkName: n.name,
          ipAddress: n.ipv4Address,
          macAddress: n.macAddress ?? '',
        }));
        return {
          id: `${name}-id`,
          state: {
            ...inputs,
            imageId: type === 'docker:index/remoteImage:RemoteImage' ? 'sha256:feed' : undefined,
            networkDatas,
          },
        };
      },
      call: ({ inputs }) => inputs as Record<string, unknown>,
    },
    'lvs-lab',
    'unit',
    false,
  );
});

const value = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((resolve) => o.apply(resolve));
// The engine VM's Docker socket, forwarded to this host (docker/engine-vm.ts).
const CLIENT = { host: 'unix:///state/engine/docker.sock' };

/** Builds the component under mocks and waits until every resource it declared was registered. */
async function build(lab: Lab, engine: 'local' | 'vm' = 'vm') {
  created = [];
  const component = new DockerLab(lab.name, {
    lab,
    engines: [{ name: 'engine', address: engine, client: CLIENT, baseImage: 'lvs-lab/base:bookworm' }],
  });
  await Promise.all([...component.provisioning.values()].map((p) => value(p.urn)));
  await Promise.all(component.hosts.map((h) => value(h.mac)));
  const of = (type: string) => created.filter((c) => c.type === type);
  return { component, of };
}

/** The lab over two engine VMs, `placement` naming the hosts on engine b. */
async function buildSpan(lab: Lab, placement: Record<string, string>) {
  created = [];
  const engine = (name: string, address: 'vm' | 'vm:b', underlay: string) => ({
    name,
    address,
    underlay,
    client: { host: `unix:///state/${name}/docker.sock` },
    baseImage: 'lvs-lab/base:bookworm',
  });
  const component = new DockerLab(lab.name, {
    lab,
    engines: [engine('a', 'vm', '198.18.0.1'), engine('b', 'vm:b', '198.18.0.2')],
    placement: Object.fromEntries(hostsOf(lab).map((h) => [h.name, placement[h.name] ?? 'a'])),
  });
  await Promise.all([...component.provisioning.values()].map((p) => value(p.urn)));
  await Promise.all(component.hosts.map((h) => value(h.mac)));
  return { component, of: (type: string) => created.filter((c) => c.type === type) };
}

const NETWORK = 'docker:index/network:Network';
const CONTAINER = 'docker:index/container:Container';
const IMAGE = 'docker:index/remoteImage:RemoteImage';
const PROVIDER = 'pulumi:providers:docker';
const DYNAMIC_PROVIDER = 'pulumi:providers:pulumi-nodejs';
const PROVISIONING = 'pulumi-nodejs:dynamic/lvs-lab:Provisioning';
const BRIDGE_RULE = 'pulumi-nodejs:dynamic/lvs-lab:BridgeRule';

describe('Docker lab resource graph', () => {
  it("one component parents the Docker provider's own resources and a provisioning per host", async () => {
    const { component, of } = await build(referenceLab());
    expect(of(PROVIDER)).toHaveLength(1);
    expect(of(NETWORK)).toHaveLength(1);
    expect(of(IMAGE)).toHaveLength(1);
    expect(of(CONTAINER).map((c) => c.name)).toEqual(['lvs-client', 'lvs-director', 'lvs-rs1', 'lvs-rs2']);
    expect(of(PROVISIONING).map((c) => c.name)).toEqual([
      'lvs-client-provisioning',
      'lvs-director-provisioning',
      'lvs-rs1-provisioning',
      'lvs-rs2-provisioning',
    ]);
    expect(of(BRIDGE_RULE)).toHaveLength(0); // DR needs no rule on the engine
    // {parent: this}: each child's URN type is qualified by the component's.
    for (const r of [
      component.network,
      component.image,
      ...component.containers.values(),
      ...component.provisioning.values(),
    ])
      expect(await value(r.urn)).toContain('::lvs-lab:index:DockerLab$');
  });

  it('every Docker resource takes the one provider, which reaches the chosen engine', async () => {
    const { component, of } = await build(referenceLab());
    expect(of(PROVIDER)[0].inputs).toMatchObject({ host: CLIENT.host });
    const providerRef = `${await value(component.provider.urn)}::${await value(component.provider.id)}`;
    for (const r of [...of(NETWORK), ...of(IMAGE), ...of(CONTAINER)]) expect(r.provider, r.name).toBe(providerRef);
  });

  it("the dynamic resources take the lab's own dynamic provider, which has no input of its own", async () => {
    const { of } = await build(settingsFromConfig({}, 'nat-rr').lab);
    expect(of(DYNAMIC_PROVIDER).map((p) => [p.name, p.inputs])).toEqual([['natrr-dynamic', {}]]);
    // Every dynamic resource's provider reference names it.
    const [dynamic] = of(DYNAMIC_PROVIDER);
    const urn = `urn:pulumi:unit::lvs-lab::lvs-lab:index:DockerLab$${DYNAMIC_PROVIDER}::${dynamic.name}`;
    const dynamicResources = [...of(PROVISIONING), ...of(BRIDGE_RULE)];
    expect(dynamicResources).toHaveLength(5);
    for (const r of dynamicResources) expect(r.provider, r.name).toBe(`${urn}::${dynamic.name}-id`);
  });

  it('the network is an internal bridge with the model subnet and gateway in IPAM, its bridge named, labelled with the lab', async () => {
    const { of } = await build(referenceLab());
    expect(of(NETWORK)[0].inputs).toEqual({
      name: 'lvs-lab-lvs',
      driver: 'bridge',
      internal: true,
      ipamConfigs: [{ subnet: '192.168.170.0/24', gateway: '192.168.170.254' }],
      options: { 'com.docker.network.bridge.name': 'lvs-lvs' },
      labels: [{ label: LABEL.lab, value: 'lvs' }],
    });
  });

  it('the image is built from docker/Dockerfile with the base as a build argument, tagged with their digest', async () => {
    const { of } = await build(referenceLab());
    const { name, build: b, keepLocally } = of(IMAGE)[0].inputs;
    expect(name).toMatch(/^lvs-lab\/node:lvs-[0-9a-f]{12}$/);
    // relative to the program's working directory: the project here, infra/ under the Pulumi CLI
    expect(b).toMatchObject({
      context: 'docker',
      dockerfile: 'docker/Dockerfile',
      buildArgs: { BASE: 'lvs-lab/base:bookworm', LAB: 'lvs' },
      useLegacyBuilder: true,
    });
    expect(keepLocally).toBe(false);
    expect(readFileSync('docker/Dockerfile', 'utf8')).toMatch(/^ARG BASE=debian:bookworm\nFROM \$\{BASE\}$/m);
  });

  it('each host is a privileged container with its static IP and MAC, hostname and role labels, on the lab network and image', async () => {
    const lab = referenceLab();
    const { component, of } = await build(lab);
    const hosts = [lab.client, lab.director, ...lab.realservers];
    for (const [i, c] of of(CONTAINER).entries()) {
      const { inputs } = c;
      expect(inputs).toMatchObject({
        name: `lvs-lab-lvs-${hosts[i].name}`,
        hostname: hosts[i].name,
        privileged: true,
        image: 'sha256:feed',
        mustRun: true,
      });
      expect(inputs.networksAdvanced).toEqual([
        {
          name: 'lvs-lab-lvs',
          ipv4Address: hosts[i].ip,
          macAddress: macFor(hosts[i].ip),
          driverOpts: ['com.docker.network.endpoint.ifname=eth0'],
        },
      ]);
      const role = i === 0 ? 'client' : i === 1 ? 'director' : 'realserver';
      expect(inputs.labels).toEqual([
        { label: LABEL.lab, value: 'lvs' },
        { label: LABEL.role, value: role },
        { label: LABEL.host, value: hosts[i].name },
      ]);
      // No per-interface key at create time: eth0 does not exist yet when Docker applies sysctls.
      expect(Object.keys(inputs.sysctls ?? {}).filter((k) => k.includes('.eth0.'))).toEqual([]);
    }
    expect(of(CONTAINER)[1].inputs.sysctls).toEqual({ 'net.ipv4.ip_forward': '1' });
    expect(of(CONTAINER)[0].inputs.sysctls).toEqual({ 'net.ipv4.ip_forward': '0' });
    expect(of(CONTAINER)[2].inputs.sysctls).toEqual({
      'net.ipv4.ip_forward': '0',
      'net.ipv4.conf.all.arp_ignore': '1',
      'net.ipv4.conf.all.arp_announce': '2',
      'net.ipv4.conf.all.rp_filter': '0',
    });
    expect(await Promise.all(component.hosts.map((h) => value(h.ip)))).toEqual(hosts.map((h) => h.ip));
  });

  it("NAT: the client on the outside network, the director on both (eth0 lab, eth1 outside), and the lab bridge's rule", async () => {
    const nat = settingsFromConfig({}, 'nat-rr').lab;
    const { of } = await build(nat);
    expect(of(NETWORK).map((n) => [n.inputs.name, n.inputs.internal, n.inputs.ipamConfigs[0].subnet])).toEqual([
      ['lvs-lab-natrr', true, '192.168.170.0/24'],
      ['lvs-lab-natrr-out', true, '192.168.171.0/24'],
    ]);
    const networksOf = (host: string) =>
      of(CONTAINER)
        .find((c) => c.inputs.hostname === host)!
        .inputs.networksAdvanced.map((n) => `${n.driverOpts?.join()} ${n.name}=${n.ipv4Address}`);
    const ifname = 'com.docker.network.endpoint.ifname';
    expect(networksOf('client')).toEqual([`${ifname}=eth0 lvs-lab-natrr-out=192.168.171.10`]);
    expect(networksOf('director')).toEqual([
      `${ifname}=eth0 lvs-lab-natrr=192.168.170.101`,
      `${ifname}=eth1 lvs-lab-natrr-out=192.168.171.1`,
    ]);
    expect(of(BRIDGE_RULE).map(({ inputs: { engine, bridge, networkId } }) => ({ engine, bridge, networkId }))).toEqual(
      [{ engine: 'vm', bridge: 'lvs-natrr', networkId: 'natrr-network-id' }],
    );
    expect(bridgeRuleAdd('lvs-natrr')).toBe(
      'iptables -C DOCKER-USER -i lvs-natrr -o lvs-natrr -j ACCEPT 2>/dev/null || iptables -I DOCKER-USER -i lvs-natrr -o lvs-natrr -j ACCEPT',
    );
    expect(bridgeRuleRemove('lvs-natrr')).toBe(
      'while iptables -D DOCKER-USER -i lvs-natrr -o lvs-natrr -j ACCEPT 2>/dev/null; do :; done',
    );
  });

  it('a director pair: five containers, both directors privileged on the lab network, and the bridge rule for its multicast', async () => {
    const pair = settingsFromConfig({}, 'dr-ha').lab;
    const { of } = await build(pair);
    expect(of(CONTAINER).map((c) => `${c.inputs.hostname} ${c.inputs.networksAdvanced[0].ipv4Address}`)).toEqual([
      'client 192.168.170.10',
      'director 192.168.170.101',
      'director2 192.168.170.104',
      'rs1 192.168.170.102',
      'rs2 192.168.170.103',
    ]);
    expect(of(BRIDGE_RULE).map(({ inputs: { bridge } }) => bridge)).toEqual(['lvs-drha']);
  });

  it("each host's provisioning takes its container's name and id (so runs after it) and that host's plan steps", async () => {
    const lab = referenceLab();
    const { of } = await build(lab);
    const plan = planLab(lab, { httpd: DOCKER_HTTPD });
    for (const p of of(PROVISIONING)) {
      const host = p.inputs.host;
      expect(p.inputs.container).toBe(`lvs-lab-lvs-${host}`);
      expect(p.inputs.containerId).toBe(`lvs-${host}-id`);
      expect(p.inputs.engine).toBe('vm');
      expect(p.inputs.steps).toEqual(JSON.parse(JSON.stringify(plan.hosts.find((h) => h.host.name === host)!.steps)));
    }
    const director = of(PROVISIONING)
      .find((p) => p.inputs.host === 'director')!
      .inputs.steps.filter((s) => !(s as { why?: string }).why)
      .map((s) => s.command);
    expect(director).toEqual(SEED_DIRECTOR); // and what it adds beyond the seed, each with its reason
  });

  it('variant stacks produce their own plans: wrr 3:1 on 192.168.171.0/24, sh with three realservers', async () => {
    const wrr = await readStackSettings('wrr');
    const { of } = await build(wrr.lab);
    const director = of(PROVISIONING)
      .find((p) => p.inputs.host === 'director')!
      .inputs.steps.map((s) => s.command);
    expect(director).toContain('ipvsadm -A -t 192.168.171.100:80 -s wrr');
    expect(director).toContain('ipvsadm -a -t 192.168.171.100:80 -r 192.168.171.102 -g -w 3');
    expect(director).toContain('ipvsadm -a -t 192.168.171.100:80 -r 192.168.171.103 -g');
    expect(of(NETWORK)[0].inputs.ipamConfigs[0].subnet).toBe('192.168.171.0/24');

    const sh = await readStackSettings('sh');
    const shGraph = await build(sh.lab);
    expect(shGraph.of(CONTAINER)).toHaveLength(5);
    expect(shGraph.of(PROVISIONING).find((p) => p.inputs.host === 'director')!.inputs.steps[2].command).toBe(
      'ipvsadm -A -t 192.168.172.100:80 -s sh',
    );
  });

  it('a stack named dr-health gets the preset: keepalived in /etc/keepalived holds the director table', async () => {
    const health = settingsFromConfig({}, 'dr-health');
    expect(health.lab.healthCheck).toEqual({ interval: 1, timeout: 1, retries: 1 });
    const { of } = await build(health.lab);
    const director = of(PROVISIONING)
      .find((p) => p.inputs.host === 'director')!
      .inputs.steps.map((s) => s.command);
    expect(
      director.find((c) => c.startsWith('mkdir -p /etc/keepalived && cat > /etc/keepalived/keepalived.conf <<')),
    ).toContain('lb_kind DR');
    expect(director.some((c) => c.startsWith('keepalived --check --use-file /etc/keepalived/keepalived.conf'))).toBe(
      true,
    );
    expect(director.some((c) => c.startsWith('ipvsadm -A'))).toBe(false);
  });

  it('the reference stack is the reference lab under the name ref', async () => {
    const ref = await readStackSettings('ref');
    expect(ref.lab).toEqual({ ...referenceLab(), name: 'ref' });
    expect(ref.engine).toBe('auto');
  });
});

describe('a Docker lab over two engines', () => {
  const STITCH = 'pulumi-nodejs:dynamic/lvs-lab:Stitch';
  it("has a provider, network and image per engine, each container and provisioning on its host's engine", async () => {
    const { component, of } = await buildSpan(referenceLab(), { rs1: 'b', rs2: 'b' });
    expect(of(PROVIDER).map((p) => [p.name, p.inputs.host])).toEqual([
      ['lvs-engine-a', 'unix:///state/a/docker.sock'],
      ['lvs-engine-b', 'unix:///state/b/docker.sock'],
    ]);
    const ref = async (e: string) => {
      const p = component.sides.get(e)!.provider;
      return `${await value(p.urn)}::${await value(p.id)}`;
    };
    expect(of(CONTAINER).map((c) => [c.name, c.provider])).toEqual([
      ['lvs-client', await ref('a')],
      ['lvs-director', await ref('a')],
      ['lvs-rs1', await ref('b')],
      ['lvs-rs2', await ref('b')],
    ]);
    expect(of(IMAGE).map((i) => i.provider)).toEqual([await ref('a'), await ref('b')]);
    expect(of(PROVISIONING).map((p) => `${p.inputs.host} ${String(p.inputs.engine)}`)).toEqual([
      'client vm',
      'director vm',
      'rs1 vm:b',
      'rs2 vm:b',
    ]);
    expect(component.hosts.map((h) => `${h.name}@${h.engine}`)).toEqual(['client@a', 'director@a', 'rs1@b', 'rs2@b']);
  });

  it('one subnet and bridge on each engine, each bridge its own gateway address, the links at MTU 1450', async () => {
    const { of } = await buildSpan(referenceLab(), { rs1: 'b' });
    expect(
      of(NETWORK).map((n) => [
        n.name,
        (n.inputs.ipamConfigs as Array<{ subnet: string; gateway: string }>)[0],
        n.inputs.options,
      ]),
    ).toEqual([
      [
        'lvs-network-a',
        { subnet: '192.168.170.0/24', gateway: '192.168.170.254' },
        { 'com.docker.network.bridge.name': 'lvs-lvs', 'com.docker.network.driver.mtu': '1450' },
      ],
      [
        'lvs-network-b',
        { subnet: '192.168.170.0/24', gateway: '192.168.170.253' },
        { 'com.docker.network.bridge.name': 'lvs-lvs', 'com.docker.network.driver.mtu': '1450' },
      ],
    ]);
  });

  it("stitches each engine's bridge to the other's: one VNI, its own underlay address, the other's as remote", async () => {
    const { of } = await buildSpan(referenceLab(), { rs1: 'b', rs2: 'b' });
    const stitches = of(STITCH).map(({ name, inputs }) => ({ ...(inputs as unknown as StitchInputs), name }));
    expect(stitches.map((x) => [x.name, x.engine, x.local, x.remotes, x.bridge, x.device, x.mtu])).toEqual([
      ['lvs-stitch-a', 'vm', '198.18.0.1', ['198.18.0.2'], 'lvs-lvs', 'lvsvx-lvs', 1450],
      ['lvs-stitch-b', 'vm:b', '198.18.0.2', ['198.18.0.1'], 'lvs-lvs', 'lvsvx-lvs', 1450],
    ]);
    expect(stitches[0].vni).toBe(stitches[1].vni);
    expect(stitches[0].vni).toBeGreaterThan(0);
    expect(stitches[0].vni).toBeLessThan(2 ** 24);
  });

  it('the tunnel commands: made anew, found only when whole, removed', () => {
    const spec = stitchOf(referenceLab(), '198.18.0.1', ['198.18.0.3', '198.18.0.2'], 'lvs-lvs');
    expect(stitchUp(spec)).toBe(
      '{ ip link del lvsvx-lvs 2>/dev/null || true; } && ' +
        `ip link add lvsvx-lvs type vxlan id ${spec.vni} local 198.18.0.1 dstport 4789 learning && ` +
        'bridge fdb append 00:00:00:00:00:00 dev lvsvx-lvs dst 198.18.0.2 && ' +
        'bridge fdb append 00:00:00:00:00:00 dev lvsvx-lvs dst 198.18.0.3 && ' +
        'ip link set lvsvx-lvs mtu 1450 master lvs-lvs up',
    );
    expect(stitchThere(spec)).toContain(`ip -d link show lvsvx-lvs | grep -q 'vxlan id ${spec.vni} '`);
    expect(stitchThere(spec)).toContain("grep -q '^00:00:00:00:00:00 dst 198.18.0.3 '");
    expect(stitchDown(spec)).toBe('ip link del lvsvx-lvs 2>/dev/null; true');
    // Another lab, another VNI.
    expect(stitchOf(validateLab({ name: 'other' }, 't'), '198.18.0.1', [], 'lvs-other').vni).not.toBe(spec.vni);
  });
});

describe('stack config', () => {
  it('goes through the model validation, with the stack and key named in the message', () => {
    const message = (lab: unknown) => {
      try {
        settingsFromConfig({ lab }, 'demo');
      } catch (e) {
        expect(e).toBeInstanceOf(LabModelError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(message({ vip: '10.0.0.1' })).toContain('stack demo (config lvs-lab:lab)');
    expect(message({ vip: '10.0.0.1' })).toContain('vip: 10.0.0.1 is outside the subnet 192.168.170.0/24');
    expect(message({ service: { scheduler: 'fastest' } })).toMatch(/service\.scheduler/);
    expect(
      message({
        realservers: [
          { name: 'a', ip: '192.168.170.5' },
          { name: 'b', ip: '192.168.170.5' },
        ],
      }),
    ).toContain('is already used by');
  });

  it('accepts the lab as a YAML object or a JSON string, and checks the engine choice', () => {
    expect(settingsFromConfig({ lab: '{"name":"j","service":{"scheduler":"lc"}}' }, 's').lab.service.scheduler).toBe(
      'lc',
    );
    expect(() => settingsFromConfig({ lab: '{not json' }, 's')).toThrow(/must be an object/);
    expect(() => settingsFromConfig({ engine: 'remote' }, 's')).toThrow(
      /lvs-lab:engine\)[\s\S]*must be one of auto, local, vm/,
    );
  });

  it('refuses a preset or base image given as a mapping instead of a string, naming the key', () => {
    expect(() => settingsFromConfig({ preset: { name: 'dr-ha' } }, 's')).toThrow(
      /lvs-lab:preset\)[\s\S]*must be a string, not \{"name":"dr-ha"\}/,
    );
    expect(() => settingsFromConfig({ baseImage: ['debian'] }, 's')).toThrow(
      /lvs-lab:baseImage\)[\s\S]*must be a string/,
    );
    expect(settingsFromConfig({ preset: 'dr-ha', baseImage: 'debian:bookworm' }, 's').baseImage).toBe(
      'debian:bookworm',
    );
  });
});

describe('engine preflight', () => {
  const fake = (answers: (cmd: string) => Partial<ExecResult>, where = 'localhost'): Shell => ({
    where,
    exec: (cmd) => Promise.resolve({ stdout: '', stderr: '', code: 0, ...answers(cmd) }),
    interactive: (cmd) => Promise.resolve(['sh', '-c', cmd]),
    close: async () => {},
  });
  const engineOf = (kind: 'local' | 'vm', docker: Shell, machine = docker): DockerEngine => ({
    kind,
    address: kind,
    docker,
    machine: () => Promise.resolve(machine),
    client: {},
    close: async () => {},
  });

  it('says what is missing and what to do: no engine answering, a kernel without IPVS', async () => {
    const shell = fake((cmd) =>
      cmd.startsWith('docker version')
        ? {
            code: 1,
            stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?',
          }
        : cmd.includes('/proc/net/ip_vs')
          ? { code: 1 }
          : cmd === 'uname -r'
            ? { stdout: '6.12.0-cloud\n' }
            : {},
    );
    const problems = await engineProblems(engineOf('local', shell));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(
      /^docker: no Docker engine answers on localhost \(Cannot connect to the Docker daemon.*\); start dockerd, or start the VM engine with `npm run lab -- engine up`/,
    );
    expect(problems[1]).toMatch(/^kernel: the Docker engine's kernel \(6\.12\.0-cloud on localhost\) has no IPVS/);
    expect(problems[1]).toContain('pulumi config set lvs-lab:engine vm');
  });

  it('has nothing to say about an engine that answers on a kernel with IPVS', async () => {
    expect(
      await engineProblems(
        engineOf(
          'vm',
          fake(() => ({})),
        ),
      ),
    ).toEqual([]);
  });

  it("asks Docker through the engine's client and reads the kernel on the engine's machine, each named as it is", async () => {
    // The VM engine as this host's CLI sees it (through the forwarded socket) and the VM itself over SSH.
    const asked: string[] = [];
    const docker = fake(
      (cmd) => (asked.push(`docker: ${cmd}`), { code: 1, stderr: 'connection refused' }),
      'the engine VM (its Docker socket)',
    );
    const machine = fake(
      (cmd) => (
        asked.push(`machine: ${cmd.split(' ')[0]}`),
        cmd === 'uname -r' ? { stdout: '6.1.0-vm\n' } : { code: 1 }
      ),
      'vm engine (127.0.0.1:2222)',
    );
    const problems = await engineProblems(engineOf('vm', docker, machine));
    expect(problems[0]).toMatch(
      /^docker: no Docker engine answers on the engine VM \(its Docker socket\) \(connection refused\)/,
    );
    expect(problems[1]).toMatch(
      /^kernel: the Docker engine's kernel \(6\.1\.0-vm on vm engine \(127\.0\.0\.1:2222\)\)/,
    );
    expect(asked.filter((a) => a.startsWith('docker: '))).toEqual([
      "docker: docker version --format '{{.Server.Version}}'",
    ]);
    expect(asked.some((a) => a.startsWith('machine: ') && a.includes('docker'))).toBe(false);
  });
});

describe('Docker spec', () => {
  it("keeps the bridge's gateway address off every lab address", () => {
    const lab = { ...referenceLab(), client: { name: 'client', ip: '192.168.170.254' } };
    expect(dockerLabSpec(lab).network.gateway).toBe('192.168.170.253');
  });
});
