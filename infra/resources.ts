// The lab's Pulumi resources: dynamic resources whose provider runs infra/operations.ts. Pulumi serializes a
// dynamic provider's functions into the state and runs them in a plain `node` process, so each function here only
// loads operations.ts through tsx and calls it: the real code stays ordinary, typed, tested TypeScript.
import * as pulumi from '@pulumi/pulumi';
import type { ContainerInputs, ImageInputs, NetworkInputs, OperationKind, ProvisioningInputs } from './operations.js';

const OPERATIONS_URL = new URL('./operations.ts', import.meta.url).href;
const TSX_API_URL = import.meta.resolve('tsx/esm/api'); // the ESM entry: the provider process imports it

function providerFor(kind: OperationKind): pulumi.dynamic.ResourceProvider {
  const operationsUrl = OPERATIONS_URL;
  const tsxUrl = TSX_API_URL;
  const load = async () => {
    // import() through Function: bundlers and test runners rewrite an import() expression into a helper of their
    // own, which Pulumi's closure serializer cannot carry into the provider process.
    const importUrl = new Function('url', 'return import(url)') as (url: string) => Promise<any>;
    const g = globalThis as { lvsLabTsx?: boolean };
    if (!g.lvsLabTsx) {
      (await importUrl(tsxUrl)).register();
      g.lvsLabTsx = true;
    }
    return (await importUrl(operationsUrl)).operations[kind];
  };
  return {
    create: async (inputs) => (await load()).create(inputs),
    diff: async (id, olds, news) => (await load()).diff(id, olds, news),
    update: async (id, olds, news) => (await load()).update(id, olds, news),
    delete: async (id, props) => (await load()).delete(id, props),
  };
}

type Inputs<T> = { [K in keyof T]: pulumi.Input<T[K]> };

export class DockerNetwork extends pulumi.dynamic.Resource {
  declare readonly name: pulumi.Output<string>;
  constructor(name: string, args: Inputs<NetworkInputs>, opts?: pulumi.CustomResourceOptions) {
    super(providerFor('network'), name, { name: undefined, ...args }, opts, 'lvs-lab', 'DockerNetwork');
  }
}

export class DockerImage extends pulumi.dynamic.Resource {
  declare readonly tag: pulumi.Output<string>;
  constructor(name: string, args: Inputs<ImageInputs>, opts?: pulumi.CustomResourceOptions) {
    super(providerFor('image'), name, { tag: undefined, ...args }, opts, 'lvs-lab', 'DockerImage');
  }
}

export class DockerContainer extends pulumi.dynamic.Resource {
  declare readonly name: pulumi.Output<string>;
  declare readonly ip: pulumi.Output<string>;
  declare readonly mac: pulumi.Output<string>;
  constructor(name: string, args: Inputs<ContainerInputs>, opts?: pulumi.CustomResourceOptions) {
    super(providerFor('container'), name, { name: undefined, ip: undefined, mac: undefined, ...args }, opts, 'lvs-lab', 'DockerContainer');
  }
}

/** One host's steps of the plan, applied through the docker transport; changed steps are re-applied in place. */
export class Provisioning extends pulumi.dynamic.Resource {
  declare readonly ran: pulumi.Output<string[]>;
  declare readonly inPlace: pulumi.Output<number>;
  declare readonly shown: pulumi.Output<string>;
  constructor(name: string, args: Inputs<ProvisioningInputs>, opts?: pulumi.CustomResourceOptions) {
    super(providerFor('provisioning'), name, { ran: undefined, inPlace: undefined, shown: undefined, ...args }, opts, 'lvs-lab', 'Provisioning');
  }
}
