// A lab as Docker containers: the model's Docker spec (docker/spec.ts) and plan (provision/plan.ts) turned
// into @pulumi/docker resources on one provider (the chosen engine): network -> image -> one container per host ->
// that host's provisioning (a dynamic resource: nothing in @pulumi/docker runs commands in a container).
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import type { Lab } from '../model/topology.js';
import { planLab } from '../provision/plan.js';
import type { DockerClientAddress, EngineKind } from '../docker/engine.js';
import { DOCKER_HTTPD, dockerLabSpec, type DockerLabSpec, type NetworkSpec } from '../docker/spec.js';
import { BridgeRule, DynamicProvider, Provisioning } from './resources.js';

export interface DockerLabArgs {
  lab: Lab;
  engine: EngineKind;
  /** How the Docker provider reaches the engine. */
  client: DockerClientAddress;
  baseImage: string;
}

export interface HostOutput {
  name: string;
  role: string;
  ip: pulumi.Output<string>;
  mac: pulumi.Output<string>;
}

const labelList = (labels: Record<string, string>) =>
  Object.entries(labels).map(([label, value]) => ({ label, value }));

export class DockerLab extends pulumi.ComponentResource {
  readonly spec: DockerLabSpec;
  readonly provider: docker.Provider;
  readonly network: docker.Network;
  readonly outside?: docker.Network;
  readonly image: docker.RemoteImage;
  readonly containers: Map<string, docker.Container>;
  readonly provisioning: Map<string, Provisioning>;
  readonly hosts: HostOutput[];

  constructor(name: string, args: DockerLabArgs, opts?: pulumi.ComponentResourceOptions) {
    super('lvs-lab:index:DockerLab', name, {}, opts);
    const { lab, engine } = args;
    this.spec = dockerLabSpec(
      lab,
      args.baseImage,
      relative(process.cwd(), fileURLToPath(new URL('../docker', import.meta.url))),
    );
    this.provider = new docker.Provider(
      `${name}-engine`,
      { host: args.client.host, sshOpts: args.client.sshOpts },
      { parent: this },
    );
    this.network = this.labNetwork(`${name}-network`, this.spec.network);
    this.outside = this.spec.outside && this.labNetwork(`${name}-outside-network`, this.spec.outside);
    this.image = this.labImage(`${name}-image`, lab);
    // Pulumi starts a provider's plugin as it takes the provider's registration, and takes no other registration
    // meanwhile. Registered once the image is built, that start overlaps the network's creation instead of delaying
    // it; the containers wait for both.
    const dynamicProvider = new DynamicProvider(`${name}-dynamic`, { parent: this, dependsOn: [this.image] });
    const dynamic = { parent: this, provider: dynamicProvider };
    // NAT's forwarded requests and a director pair's multicast (VRRP adverts to 224.0.0.18, IPVS sync to 224.0.0.81)
    // stay on the lab's bridge but fall outside its subnet, which Docker's isolation of internal networks drops.
    const rules =
      lab.forwarding === 'nat' || lab.ha
        ? [
            new BridgeRule(
              `${name}-bridge-rule`,
              { engine, bridge: this.spec.network.bridge, networkId: this.network.id },
              dynamic,
            ),
          ]
        : [];
    this.containers = new Map(
      this.spec.containers.map((c) => [c.host, this.container(`${name}-${c.host}`, c, rules)] as const),
    );
    this.provisioning = new Map(
      planLab(lab, { httpd: DOCKER_HTTPD }).hosts.map(({ host, steps }) => {
        const container = this.containers.get(host.name)!;
        const inputs = { engine, host: host.name, container: container.name, containerId: container.id, steps };
        // What it changed lives in the container: removed with it, Pulumi skips its (empty) delete, and with it the
        // dynamic provider's start on `destroy`.
        const provisioning = new Provisioning(`${name}-${host.name}-provisioning`, inputs, {
          ...dynamic,
          deletedWith: container,
        });
        return [host.name, provisioning] as const;
      }),
    );
    this.hosts = this.hostOutputs();
    this.registerOutputs({ hosts: this.hosts });
  }

  private get on() {
    return { parent: this, provider: this.provider };
  }

  /** internal: no NAT, no route off the bridge; the lab stays inside the engine's machine. */
  private labNetwork(id: string, n: NetworkSpec): docker.Network {
    return new docker.Network(
      id,
      {
        name: n.name,
        driver: 'bridge',
        internal: true,
        ipamConfigs: [{ subnet: n.subnet, gateway: n.gateway }],
        options: { 'com.docker.network.bridge.name': n.bridge },
        labels: labelList(n.labels),
      },
      this.on,
    );
  }

  private labImage(id: string, lab: Lab): docker.RemoteImage {
    const { image } = this.spec;
    return new docker.RemoteImage(
      id,
      {
        name: image.tag,
        // The provider's API build, which is BuildKit's on any engine of API 1.39 or later despite the option's name,
        // and which the engine VM's prepared layers match (BUILD_LAYERS in engine-vm.ts): no buildx in the provider.
        // Paths relative to the program's working directory, where the provider runs too: no checkout path in the state.
        build: {
          context: image.context,
          dockerfile: `${image.context}/Dockerfile`,
          buildArgs: { BASE: image.base, LAB: lab.name },
          useLegacyBuilder: true,
        },
        keepLocally: false,
      },
      this.on,
    );
  }

  private container(id: string, c: DockerLabSpec['containers'][number], rules: pulumi.Resource[]): docker.Container {
    // eth0 on the lab network (NAT's client: the outside one); NAT's director has eth1 on the outside network.
    // Named per endpoint (Docker 28's `ifname` option): the provider connects the networks in no fixed order, and
    // Docker 28 names interfaces in connection order. Engines before 28 ignore the option and name them in the
    // order of their networks' names, which gives the same: lvs-lab-X before lvs-lab-X-out.
    const ifname = (dev: string) => [`com.docker.network.endpoint.ifname=${dev}`];
    const networks = [
      {
        name: (c.network === 'outside' ? this.outside! : this.network).name,
        ipv4Address: c.ip,
        macAddress: c.mac,
        driverOpts: ifname('eth0'),
      },
      ...(c.outsideIp ? [{ name: this.outside!.name, ipv4Address: c.outsideIp, driverOpts: ifname('eth1') }] : []),
    ];
    return new docker.Container(
      id,
      {
        name: c.name,
        hostname: c.hostname,
        image: this.image.imageId,
        privileged: true,
        networksAdvanced: networks,
        labels: labelList(c.labels),
        sysctls: c.sysctls,
        mustRun: true,
        wait: false,
      },
      { ...this.on, dependsOn: rules },
    );
  }

  /** Each host's address and MAC read back from Docker, so the stack outputs state facts, not intentions. */
  private hostOutputs(): HostOutput[] {
    const labNetwork = (c: docker.Container, network: string) =>
      c.networkDatas.apply((datas) => datas.find((d) => d.networkName === network));
    return this.spec.containers.map((c) => {
      const data = labNetwork(
        this.containers.get(c.host)!,
        c.network === 'outside' ? this.spec.outside!.name : this.spec.network.name,
      );
      return {
        name: c.host,
        role: c.role,
        ip: data.apply((d) => d?.ipAddress ?? ''),
        mac: data.apply((d) => d?.macAddress ?? ''),
      };
    });
  }
}
