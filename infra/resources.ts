// The lab's two Pulumi dynamic resources (everything else is @pulumi/docker's). Pulumi serializes a dynamic
// provider's functions into the state and runs them in a plain `node` process, so each function here only loads
// infra/operations.ts through tsx and calls it: the real code stays ordinary, typed, tested TypeScript. It is found
// from the provider process's working directory, in the project: the state records no path of this checkout, so a
// `pulumi destroy` from another clone runs that clone's code.
import * as pulumi from '@pulumi/pulumi';
import type {
  BridgeRuleInputs,
  OperationKind,
  ProvisioningInputs,
  ProvisioningOutputs,
  StitchInputs,
} from './operations.js';

/** import() of a module the caller names the type of (types are erased: nothing here reaches the serializer). */
type DynamicImport = <M>(specifier: string) => Promise<M>;
/** The four functions of one of infra/operations.ts's operations, typed with this resource's inputs and outputs. */
type Operation<I, O> = Required<Pick<pulumi.dynamic.ResourceProvider<I, O>, 'create' | 'diff' | 'update' | 'delete'>> &
  Pick<pulumi.dynamic.ResourceProvider<I, O>, 'read'>;

export function providerFor<I, O>(kind: OperationKind): pulumi.dynamic.ResourceProvider<I, O> {
  // Loaded once per provider process: every host's create runs in the same one, side by side, and each load compiles
  // and evaluates the whole module graph again (host CPU that the emulated engine VM is competing for).
  let loading: Promise<Operation<I, O>> | undefined;
  const load = (): Promise<Operation<I, O>> => (loading ??= loadOperation());
  const loadOperation = async (): Promise<Operation<I, O>> => {
    // import() through Function: bundlers and test runners rewrite an import() expression into a helper of their
    // own, which Pulumi's closure serializer cannot carry into the provider process.
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the one way to keep a real import() here
    const dynamicImport = new Function('specifier', 'return import(specifier)') as DynamicImport;
    const { createRequire } = await dynamicImport<typeof import('node:module')>('node:module');
    const { pathToFileURL } = await dynamicImport<typeof import('node:url')>('node:url');
    const { existsSync } = await dynamicImport<typeof import('node:fs')>('node:fs');
    const path = await dynamicImport<typeof import('node:path')>('node:path');
    // Pulumi starts providers in the program's directory (infra/): the project is where Pulumi.yaml is, above it.
    let dir: string = process.cwd();
    while (!existsSync(`${dir}/Pulumi.yaml`) && path.dirname(dir) !== dir) dir = path.dirname(dir);
    const root = pathToFileURL(`${dir}/`).href;
    // tsx/esm/api's ESM build (require resolution finds its .cjs twin beside it, which cannot load it from ESM).
    const tsxApi = createRequire(root)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs');
    const tsx = await dynamicImport<typeof import('tsx/esm/api')>(pathToFileURL(tsxApi).href);
    const loaded = (await tsx.tsImport('./infra/operations.ts', root)) as typeof import('./operations.js');
    return loaded.operations[kind] as unknown as Operation<I, O>;
  };
  return {
    create: async (inputs) => (await load()).create(inputs),
    diff: async (id, olds, news) => (await load()).diff(id, olds, news),
    update: async (id, olds, news) => (await load()).update(id, olds, news),
    delete: async (id, props) => (await load()).delete(id, props),
    // Refresh asks what is there; an operation without `read` keeps what the state says.
    read: async (id, props) => {
      const op = await load();
      return op.read ? op.read(id, props) : { id, props };
    },
  };
}

type Inputs<T> = { [K in keyof T]: pulumi.Input<T[K]> };

/**
 * The lab's own instance of Pulumi's dynamic-resource provider, so the lab decides when Pulumi starts its plugin
 * process (docker-lab.ts: beside the network's creation). As the default provider it started only once the first
 * host's provisioning could run, on the critical path under the emulated engine's load.
 */
export class DynamicProvider extends pulumi.ProviderResource {
  constructor(name: string, opts?: pulumi.ResourceOptions) {
    super('pulumi-nodejs', name, {}, opts);
  }
}

/** One host's steps of the plan, applied through the docker transport; changed steps are re-applied in place. */
export class Provisioning extends pulumi.dynamic.Resource {
  declare readonly ran: pulumi.Output<string[]>;
  declare readonly inPlace: pulumi.Output<number>;
  declare readonly shown: pulumi.Output<string>;
  constructor(name: string, args: Inputs<ProvisioningInputs>, opts?: pulumi.CustomResourceOptions) {
    super(
      providerFor<ProvisioningInputs, ProvisioningOutputs>('provisioning'),
      name,
      { ran: undefined, inPlace: undefined, shown: undefined, ...args },
      opts,
      'lvs-lab',
      'Provisioning',
    );
  }
}

/**
 * NAT and director pairs: frames that enter and leave the lab's own bridge are accepted. With br_netfilter, Docker's
 * isolation of internal networks drops bridged frames whose source or destination is outside the network's subnet:
 * NAT's forwarded requests (the client's address, on the realservers' bridge), and a pair's multicast (VRRP adverts
 * to 224.0.0.18, IPVS sync to 224.0.0.81), without which both directors would be MASTER. The rule goes in
 * DOCKER-USER, Docker's chain for such rules, on the engine's machine; nothing new can leave the bridge.
 */
export class BridgeRule extends pulumi.dynamic.Resource {
  constructor(name: string, args: Inputs<BridgeRuleInputs>, opts?: pulumi.CustomResourceOptions) {
    super(providerFor<BridgeRuleInputs, BridgeRuleInputs>('bridgeRule'), name, args, opts, 'lvs-lab', 'BridgeRule');
  }
}

/**
 * A lab over several engines: one engine's end of the VXLAN that makes the lab's bridges on all of them one segment
 * (a port of its bridge, a copy of every flood to each other engine), on the engine's machine. `refresh` looks for it
 * there, so a tunnel removed by hand is seen gone and `up --refresh` makes it again; `destroy` removes it.
 */
export class Stitch extends pulumi.dynamic.Resource {
  constructor(name: string, args: Inputs<StitchInputs>, opts?: pulumi.CustomResourceOptions) {
    super(providerFor<StitchInputs, StitchInputs>('stitch'), name, args, opts, 'lvs-lab', 'Stitch');
  }
}
