// A lab as Docker containers: the model's Docker spec (testbed/docker/spec.ts) and plan (provision/plan.ts) turned
// into resources. network -> image -> one container per host -> that host's provisioning.
import * as pulumi from '@pulumi/pulumi';
import type { Lab } from '../model/topology.js';
import { planLab } from '../provision/plan.js';
import type { EngineKind } from '../testbed/docker/engine.js';
import { DOCKER_HTTPD, dockerLabSpec, type DockerLabSpec } from '../testbed/docker/spec.js';
import { DockerContainer, DockerImage, DockerNetwork, Provisioning } from './resources.js';

export interface DockerLabArgs {
  lab: Lab;
  engine: EngineKind;
  baseImage: string;
}

export interface HostOutput {
  name: string;
  role: string;
  ip: pulumi.Output<string>;
  mac: pulumi.Output<string>;
}

export class DockerLab extends pulumi.ComponentResource {
  readonly spec: DockerLabSpec;
  readonly network: DockerNetwork;
  readonly outside?: DockerNetwork;
  readonly image: DockerImage;
  readonly containers: Map<string, DockerContainer>;
  readonly provisioning: Map<string, Provisioning>;
  readonly hosts: HostOutput[];

  constructor(name: string, args: DockerLabArgs, opts?: pulumi.ComponentResourceOptions) {
    super('lvs-lab:index:DockerLab', name, {}, opts);
    const { lab, engine } = args;
    this.spec = dockerLabSpec(lab, args.baseImage);
    const parent = { parent: this };

    this.network = new DockerNetwork(`${name}-network`, { engine, spec: this.spec.network }, parent);
    this.outside = this.spec.outside && new DockerNetwork(`${name}-outside-network`, { engine, spec: this.spec.outside }, parent);
    this.image = new DockerImage(`${name}-image`, { engine, spec: this.spec.image }, parent);
    const outside = this.outside?.name;
    this.containers = new Map(
      this.spec.containers.map((spec) => [
        spec.host,
        new DockerContainer(
          `${name}-${spec.host}`,
          {
            engine,
            spec,
            network: spec.network === 'outside' ? outside! : this.network.name,
            image: this.image.tag,
            ...(spec.outsideIp ? { outside: outside! } : {}),
          },
          parent,
        ),
      ]),
    );

    const plan = planLab(lab, { httpd: DOCKER_HTTPD });
    this.provisioning = new Map(
      plan.hosts.map(({ host, steps }) => {
        const container = this.containers.get(host.name)!;
        return [
          host.name,
          new Provisioning(
            `${name}-${host.name}-provisioning`,
            { engine, host: host.name, container: container.name, containerId: container.id, steps },
            { parent: this, dependsOn: [container] },
          ),
        ];
      }),
    );

    this.hosts = this.spec.containers.map((c) => ({ name: c.host, role: c.role, ip: this.containers.get(c.host)!.ip, mac: this.containers.get(c.host)!.mac }));
    this.registerOutputs({ hosts: this.hosts });
  }
}
