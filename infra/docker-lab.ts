// A lab as Docker containers: the model's Docker spec (docker/spec.ts) and plan (provision/plan.ts) turned
// into @pulumi/docker resources on one provider per engine: network -> image -> one container per host -> that
// host's provisioning (a dynamic resource: nothing in @pulumi/docker runs commands in a container). A lab over
// several engines has the network and image on each, and each engine's bridge stitched to the others' by VXLAN.
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import type { Lab } from '../model/topology.js';
import { planLab } from '../provision/plan.js';
import type { DockerClientAddress, EngineAddress } from '../docker/engine.js';
import {
  DOCKER_HTTPD,
  dockerLabSpec,
  spannedNetwork,
  stitchOf,
  type DockerLabSpec,
  type NetworkSpec,
} from '../docker/spec.js';
import { BridgeRule, DynamicProvider, Provisioning, Stitch } from './resources.js';

/** One engine the lab runs on: how the stack names it, how the provider reaches it, the image's base there. */
export interface EngineArgs {
  name: string;
  address: EngineAddress;
  client: DockerClientAddress;
  baseImage: string;
  /** Its address on the network between the engines: the others' tunnels end there. */
  underlay?: string;
}

export interface DockerLabArgs {
  lab: Lab;
  /** The engines, the first first; one for a lab on one engine. */
  engines: EngineArgs[];
  /** Every host's engine by name (a lab over several engines). */
  placement?: Record<string, string>;
}

export interface HostOutput {
  name: string;
  role: string;
  /** The engine it runs on (its name in the stack's engines; the only one's otherwise). */
  engine: string;
  ip: pulumi.Output<string>;
  mac: pulumi.Output<string>;
}

/** What the lab has on one engine. */
export interface EngineSide {
  args: EngineArgs;
  provider: docker.Provider;
  network: docker.Network;
  outside?: docker.Network;
  image: docker.RemoteImage;
  /** What its containers wait for: the bridge's rule, the tunnel's end. */
  rules: pulumi.Resource[];
}

const labelList = (labels: Record<string, string>) =>
  Object.entries(labels).map(([label, value]) => ({ label, value }));

export class DockerLab extends pulumi.ComponentResource {
  readonly spec: DockerLabSpec;
  /** By engine name, in the stack's order. */
  readonly sides: Map<string, EngineSide>;
  readonly provider: docker.Provider;
  readonly network: docker.Network;
  readonly image: docker.RemoteImage;
  readonly containers: Map<string, docker.Container>;
  readonly provisioning: Map<string, Provisioning>;
  readonly hosts: HostOutput[];
  private readonly dynamic: pulumi.CustomResourceOptions;
  private readonly engineOf: (host: string) => EngineSide;

  constructor(
    private readonly labName: string,
    args: DockerLabArgs,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super('lvs-lab:index:DockerLab', labName, {}, opts);
    const { lab, engines } = args;
    this.spec = dockerLabSpec(
      lab,
      engines[0].baseImage,
      relative(process.cwd(), fileURLToPath(new URL('../docker', import.meta.url))),
    );
    const spanned = engines.length > 1;
    this.sides = new Map(engines.map((e, i) => [e.name, this.side(e, spanned ? i : undefined, lab)] as const));
    const first = this.sides.get(engines[0].name)!;
    [this.provider, this.network, this.image] = [first.provider, first.network, first.image];
    // Pulumi starts a provider's plugin as it takes the provider's registration, and takes no other registration
    // meanwhile. Registered once the image is built, that start overlaps the network's creation instead of delaying
    // it; the containers wait for both.
    const dynamicProvider = new DynamicProvider(`${labName}-dynamic`, { parent: this, dependsOn: [first.image] });
    this.dynamic = { parent: this, provider: dynamicProvider };
    for (const side of this.sides.values()) this.sideRules(side, lab, spanned);
    this.engineOf = (host) => this.sides.get(args.placement?.[host] ?? engines[0].name)!;
    this.containers = new Map(
      this.spec.containers.map(
        (c) => [c.host, this.container(`${labName}-${c.host}`, c, this.engineOf(c.host))] as const,
      ),
    );
    this.provisioning = this.provisionings(lab);
    this.hosts = this.hostOutputs();
    this.registerOutputs({ hosts: this.hosts });
  }

  /** The lab's network(s), image and provider on one engine; `index` when the lab spans engines (names then carry
   * the engine's, and the network its own gateway and a lower MTU). */
  private side(e: EngineArgs, index: number | undefined, lab: Lab): EngineSide {
    const at = index === undefined ? '' : `-${e.name}`;
    const provider = new docker.Provider(
      `${this.labName}-engine${at}`,
      { host: e.client.host, sshOpts: e.client.sshOpts },
      { parent: this },
    );
    const on = { parent: this, provider };
    const net = (n: NetworkSpec) => (index === undefined ? n : spannedNetwork(n, lab, index));
    return {
      args: e,
      provider,
      network: this.labNetwork(`${this.labName}-network${at}`, net(this.spec.network), on),
      outside: this.spec.outside && this.labNetwork(`${this.labName}-outside-network${at}`, net(this.spec.outside), on),
      image: this.labImage(`${this.labName}-image${at}`, lab, on),
      rules: [],
    };
  }

  /** NAT's forwarded requests and a director pair's multicast (VRRP adverts to 224.0.0.18, IPVS sync to 224.0.0.81)
   * stay on the lab's bridge but fall outside its subnet, which Docker's isolation of internal networks drops; a lab
   * over several engines has its bridge stitched to the other engines'. */
  private sideRules(side: EngineSide, lab: Lab, spanned: boolean): void {
    const at = spanned ? `-${side.args.name}` : '';
    const bridge = this.spec.network.bridge;
    if (lab.forwarding === 'nat' || lab.ha)
      side.rules.push(
        new BridgeRule(
          `${this.labName}-bridge-rule${at}`,
          { engine: side.args.address, bridge, networkId: side.network.id },
          this.dynamic,
        ),
      );
    if (!spanned) return;
    const others = [...this.sides.values()].filter((o) => o !== side).map((o) => o.args.underlay!);
    side.rules.push(
      new Stitch(
        `${this.labName}-stitch${at}`,
        {
          engine: side.args.address,
          networkId: side.network.id,
          ...stitchOf(lab, side.args.underlay!, others, bridge),
        },
        this.dynamic,
      ),
    );
  }

  private provisionings(lab: Lab): Map<string, Provisioning> {
    return new Map(
      planLab(lab, { httpd: DOCKER_HTTPD }).hosts.map(({ host, steps }) => {
        const container = this.containers.get(host.name)!;
        const engine = this.engineOf(host.name).args.address;
        const inputs = { engine, host: host.name, container: container.name, containerId: container.id, steps };
        // What it changed lives in the container: removed with it, Pulumi skips its (empty) delete, and with it the
        // dynamic provider's start on `destroy`.
        const provisioning = new Provisioning(`${this.labName}-${host.name}-provisioning`, inputs, {
          ...this.dynamic,
          deletedWith: container,
        });
        return [host.name, provisioning] as const;
      }),
    );
  }

  /** internal: no NAT, no route off the bridge; the lab stays inside the engine's machine. */
  private labNetwork(id: string, n: NetworkSpec, on: pulumi.CustomResourceOptions): docker.Network {
    return new docker.Network(
      id,
      {
        name: n.name,
        driver: 'bridge',
        internal: true,
        ipamConfigs: [{ subnet: n.subnet, gateway: n.gateway }],
        options: {
          'com.docker.network.bridge.name': n.bridge,
          ...(n.mtu ? { 'com.docker.network.driver.mtu': String(n.mtu) } : {}),
        },
        labels: labelList(n.labels),
      },
      on,
    );
  }

  private labImage(id: string, lab: Lab, on: pulumi.CustomResourceOptions): docker.RemoteImage {
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
      on,
    );
  }

  private container(id: string, c: DockerLabSpec['containers'][number], side: EngineSide): docker.Container {
    // eth0 on the lab network (NAT's client: the outside one); NAT's director has eth1 on the outside network.
    // Named per endpoint (Docker 28's `ifname` option): the provider connects the networks in no fixed order, and
    // Docker 28 names interfaces in connection order. Engines before 28 ignore the option and name them in the
    // order of their networks' names, which gives the same: lvs-lab-X before lvs-lab-X-out.
    const ifname = (dev: string) => [`com.docker.network.endpoint.ifname=${dev}`];
    const networks = [
      {
        name: (c.network === 'outside' ? side.outside! : side.network).name,
        ipv4Address: c.ip,
        macAddress: c.mac,
        driverOpts: ifname('eth0'),
      },
      ...(c.outsideIp ? [{ name: side.outside!.name, ipv4Address: c.outsideIp, driverOpts: ifname('eth1') }] : []),
    ];
    return new docker.Container(
      id,
      {
        name: c.name,
        hostname: c.hostname,
        image: side.image.imageId,
        privileged: true,
        networksAdvanced: networks,
        labels: labelList(c.labels),
        sysctls: c.sysctls,
        mustRun: true,
        wait: false,
      },
      { parent: this, provider: side.provider, dependsOn: side.rules },
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
        engine: this.engineOf(c.host).args.name,
        ip: data.apply((d) => d?.ipAddress ?? ''),
        mac: data.apply((d) => d?.macAddress ?? ''),
      };
    });
  }
}
