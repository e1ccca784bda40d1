// The Pulumi resource graph under Pulumi's mocks (no CLI, no engine): what `pulumi up` would create, with which
// inputs and dependencies, for the reference stack and its variants; and the stack config's validation.
import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, it } from 'vitest';
import { readStackSettings, settingsFromConfig } from '../../infra/config.js';
import { DockerLab } from '../../infra/docker-lab.js';
import { LabModelError, referenceLab, type Lab } from '../../model/topology.js';
import { planLab } from '../../provision/plan.js';
import type { ExecResult, Shell } from '../../provision/shell.js';
import { containerRun, imageBuild, networkCreate, networkRemove } from '../../testbed/docker/commands.js';
import { engineProblems } from '../../testbed/docker/engine.js';
import { DOCKER_HTTPD, dockerLabSpec, LABEL } from '../../testbed/docker/spec.js';
import { SEED_DIRECTOR } from './seed.js';

interface Created {
  type: string;
  name: string;
  inputs: Record<string, any>;
}
let created: Created[] = [];

beforeAll(() => {
  pulumi.runtime.setMocks(
    {
      // Outputs as operations.ts returns them: the inputs plus what create reads back.
      newResource: ({ type, name, inputs }) => {
        created.push({ type, name, inputs });
        const spec = inputs.spec ?? {};
        return { id: `${name}-id`, state: { ...inputs, name: spec.name, tag: spec.tag, ip: spec.ip, mac: spec.mac } };
      },
      call: ({ inputs }) => inputs,
    },
    'lvs-lab',
    'unit',
    false,
  );
});

const value = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((resolve) => o.apply(resolve));

/** Builds the component under mocks and waits until every resource it declared was registered. */
async function build(lab: Lab, engine: 'local' | 'vm' = 'vm') {
  created = [];
  const component = new DockerLab(lab.name, { lab, engine, baseImage: 'lvs-lab/base:bookworm' });
  await Promise.all([...component.provisioning.values()].map((p) => value(p.urn)));
  const of = (kind: string) => created.filter((c) => c.type === `pulumi-nodejs:dynamic/lvs-lab:${kind}`);
  return { component, of };
}

describe('Docker lab resource graph', () => {
  it('one component parents a network, an image, a container and a provisioning per host', async () => {
    const { component, of } = await build(referenceLab());
    expect(of('DockerNetwork')).toHaveLength(1);
    expect(of('DockerImage')).toHaveLength(1);
    expect(of('DockerContainer').map((c) => c.name)).toEqual(['lvs-client', 'lvs-director', 'lvs-rs1', 'lvs-rs2']);
    expect(of('Provisioning').map((c) => c.name)).toEqual(['lvs-client-provisioning', 'lvs-director-provisioning', 'lvs-rs1-provisioning', 'lvs-rs2-provisioning']);
    // {parent: this}: each child's URN type is qualified by the component's.
    for (const r of [component.network, component.image, ...component.containers.values(), ...component.provisioning.values()])
      expect(await value(r.urn)).toContain('::lvs-lab:index:DockerLab$pulumi-nodejs:dynamic/lvs-lab:');
  });

  it('the network is an internal bridge with the model subnet in IPAM, labelled with the lab', async () => {
    const { of } = await build(referenceLab());
    const { spec, engine } = of('DockerNetwork')[0].inputs;
    expect(engine).toBe('vm');
    expect(spec).toMatchObject({ name: 'lvs-lab-lvs', subnet: '192.168.170.0/24', labels: { [LABEL.lab]: 'lvs' } });
    expect(networkCreate(spec)).toBe(
      'docker network create --driver bridge --internal --subnet 192.168.170.0/24 --gateway 192.168.170.254 ' +
        '-o com.docker.network.bridge.name=lvs-lvs --label lvs-lab.lab=lvs lvs-lab-lvs' +
        ' && { iptables -C DOCKER-USER -i lvs-lvs -o lvs-lvs -j ACCEPT 2>/dev/null || iptables -I DOCKER-USER -i lvs-lvs -o lvs-lvs -j ACCEPT; }',
    );
    expect(networkRemove(spec)).toMatch(/^while iptables -D DOCKER-USER -i lvs-lvs -o lvs-lvs -j ACCEPT 2>\/dev\/null; do :; done; docker network rm lvs-lab-lvs/);
  });

  it('the image is built from testbed/docker/Dockerfile with the base as a build argument', async () => {
    const { of } = await build(referenceLab());
    const { spec } = of('DockerImage')[0].inputs;
    expect(spec.dockerfile).toMatch(/^ARG BASE=debian:bookworm\nFROM \$\{BASE\}$/m);
    expect(imageBuild(spec)).toMatch(/^docker build -q --build-arg BASE=lvs-lab\/base:bookworm --label lvs-lab.lab=lvs -t lvs-lab\/node:lvs-[0-9a-f]{12} -$/);
  });

  it('each host is a privileged container with its static IP, hostname and role labels, on the lab network and image', async () => {
    const lab = referenceLab();
    const { of } = await build(lab);
    const hosts = [lab.client, lab.director, ...lab.realservers];
    for (const [i, c] of of('DockerContainer').entries()) {
      const { spec, network, image } = c.inputs;
      expect(network).toBe('lvs-lab-lvs');
      expect(image).toMatch(/^lvs-lab\/node:lvs-/);
      expect(spec).toMatchObject({ name: `lvs-lab-lvs-${hosts[i].name}`, hostname: hosts[i].name, ip: hosts[i].ip });
      expect(spec.labels).toEqual({ [LABEL.lab]: 'lvs', [LABEL.role]: spec.role, [LABEL.host]: hosts[i].name });
      const run = containerRun(spec, network, image);
      expect(run).toContain('--privileged');
      expect(run).toContain(`--network lvs-lab-lvs --ip ${hosts[i].ip} --mac-address ${spec.mac}`);
      // No per-interface key at create time: eth0 does not exist yet when Docker applies sysctls.
      expect(Object.keys(spec.sysctls).filter((k) => k.includes('.eth0.'))).toEqual([]);
    }
    expect(of('DockerContainer')[2].inputs.spec.sysctls).toEqual({
      'net.ipv4.conf.all.arp_ignore': '1',
      'net.ipv4.conf.all.arp_announce': '2',
      'net.ipv4.conf.all.rp_filter': '0',
    });
  });

  it("each host's provisioning takes its container's name and id (so runs after it) and that host's plan steps", async () => {
    const lab = referenceLab();
    const { of } = await build(lab);
    const plan = planLab(lab, { httpd: DOCKER_HTTPD });
    for (const p of of('Provisioning')) {
      const host = p.inputs.host as string;
      expect(p.inputs.container).toBe(`lvs-lab-lvs-${host}`);
      expect(p.inputs.containerId).toBe(`lvs-${host}-id`);
      expect(p.inputs.steps).toEqual(JSON.parse(JSON.stringify(plan.hosts.find((h) => h.host.name === host)!.steps)));
    }
    const director = of('Provisioning').find((p) => p.inputs.host === 'director')!.inputs.steps.map((s: { command: string }) => s.command);
    expect(director).toEqual(SEED_DIRECTOR);
  });

  it('variant stacks produce their own plans: wrr 3:1 on 192.168.171.0/24, sh with three realservers', async () => {
    const wrr = await readStackSettings('wrr');
    const { of } = await build(wrr.lab);
    const director = of('Provisioning').find((p) => p.inputs.host === 'director')!.inputs.steps.map((s: { command: string }) => s.command);
    expect(director).toContain('ipvsadm -A -t 192.168.171.100:80 -s wrr');
    expect(director).toContain('ipvsadm -a -t 192.168.171.100:80 -r 192.168.171.102 -g -w 3');
    expect(director).toContain('ipvsadm -a -t 192.168.171.100:80 -r 192.168.171.103 -g');
    expect(of('DockerNetwork')[0].inputs.spec.subnet).toBe('192.168.171.0/24');

    const sh = await readStackSettings('sh');
    const shGraph = await build(sh.lab);
    expect(shGraph.of('DockerContainer')).toHaveLength(5);
    expect(shGraph.of('Provisioning').find((p) => p.inputs.host === 'director')!.inputs.steps[2].command).toBe('ipvsadm -A -t 192.168.172.100:80 -s sh');
  });

  it('a stack named dr-health gets the preset: keepalived in /etc/keepalived holds the director table', async () => {
    const health = settingsFromConfig({}, 'dr-health');
    expect(health.lab.healthCheck).toEqual({ interval: 1, timeout: 1, retries: 1 });
    const { of } = await build(health.lab);
    const director = of('Provisioning').find((p) => p.inputs.host === 'director')!.inputs.steps.map((s: { command: string }) => s.command);
    expect(director.find((c: string) => c.startsWith('mkdir -p /etc/keepalived && cat > /etc/keepalived/keepalived.conf <<'))).toContain('lb_kind DR');
    expect(director.some((c: string) => c.startsWith('keepalived --check --use-file /etc/keepalived/keepalived.conf'))).toBe(true);
    expect(director.some((c: string) => c.startsWith('ipvsadm -A'))).toBe(false);
  });

  it('the reference stack is the reference lab under the name ref', async () => {
    const ref = await readStackSettings('ref');
    expect(ref.lab).toEqual({ ...referenceLab(), name: 'ref' });
    expect(ref.engine).toBe('auto');
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
    expect(message({ realservers: [{ name: 'a', ip: '192.168.170.5' }, { name: 'b', ip: '192.168.170.5' }] })).toContain('is already used by');
  });

  it('accepts the lab as a YAML object or a JSON string, and checks the engine choice', () => {
    expect(settingsFromConfig({ lab: '{"name":"j","service":{"scheduler":"lc"}}' }, 's').lab.service.scheduler).toBe('lc');
    expect(() => settingsFromConfig({ lab: '{not json' }, 's')).toThrow(/must be an object/);
    expect(() => settingsFromConfig({ engine: 'remote' }, 's')).toThrow(/lvs-lab:engine\)[\s\S]*must be one of auto, local, vm/);
  });
});

describe('engine preflight', () => {
  const fake = (answers: (cmd: string) => Partial<ExecResult>): Shell => ({
    where: 'localhost',
    exec: async (cmd) => ({ stdout: '', stderr: '', code: 0, ...answers(cmd) }),
    close: async () => {},
  });

  it('says what is missing and what to do: no engine answering, a kernel without IPVS', async () => {
    const shell = fake((cmd) =>
      cmd.startsWith('docker version')
        ? { code: 1, stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' }
        : cmd.includes('/proc/net/ip_vs')
          ? { code: 1 }
          : cmd === 'uname -r'
            ? { stdout: '6.12.0-cloud\n' }
            : {},
    );
    const problems = await engineProblems({ kind: 'local', shell, close: async () => {} });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^docker: no Docker engine answers on localhost \(Cannot connect to the Docker daemon.*\); start dockerd, or start the VM engine with `npm run lab -- engine up`/);
    expect(problems[1]).toMatch(/^kernel: the Docker engine's kernel \(6\.12\.0-cloud on localhost\) has no IPVS/);
    expect(problems[1]).toContain('pulumi config set lvs-lab:engine vm');
  });

  it('has nothing to say about an engine that answers on a kernel with IPVS', async () => {
    expect(await engineProblems({ kind: 'vm', shell: fake(() => ({})), close: async () => {} })).toEqual([]);
  });
});

describe('Docker spec', () => {
  it("keeps the bridge's gateway address off every lab address", () => {
    const lab = { ...referenceLab(), client: { name: 'client', ip: '192.168.170.254' } };
    expect(dockerLabSpec(lab).network.gateway).toBe('192.168.170.253');
  });
});
