// What the lab's two Pulumi dynamic resources do, run by Pulumi's dynamic-provider process (see resources.ts):
// provisioning (one host's steps of the plan, through the docker transport; nothing in @pulumi/docker runs commands
// in a container), and NAT's bridge rule on the engine's machine. Network, image and containers are @pulumi/docker's.
import type * as pulumi from '@pulumi/pulumi';
import { CommandError, UserError } from '../model/errors.js';
import { runSteps } from '../provision/apply.js';
import type { Step } from '../provision/plan.js';
import { dockerTransport } from '../provision/transport.js';
import { openEngine, type DockerEngine, type EngineKind } from '../docker/engine.js';
import { bridgeRuleAdd, bridgeRuleRemove } from '../docker/spec.js';

export interface ProvisioningInputs {
  engine: EngineKind;
  host: string;
  container: string;
  /** The container's id: a new container (a replacement) is provisioned from scratch. */
  containerId: string;
  steps: Step[];
}

export interface ProvisioningOutputs extends ProvisioningInputs {
  /** What the last run changed, in the words of the plan: the record `pulumi up` shows for the host. */
  ran: string[];
  inPlace: number;
  /** The output of the plan's read-only steps (ipvsadm -ln). */
  shown: string;
}

export interface BridgeRuleInputs {
  engine: EngineKind;
  bridge: string;
  /** The network's id: a new network gets the rule anew. */
  networkId: string;
}

async function withEngine<T>(kind: EngineKind, fn: (engine: DockerEngine) => Promise<T>): Promise<T> {
  const engine = await openEngine(kind);
  if (!engine) throw new UserError('the lvs-lab engine VM is not running: `npm run lab -- engine up` starts it');
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

/** The inputs that differ between the last outputs and the new inputs (only the inputs' own keys count). */
const changedKeys = <I extends object>(olds: I, news: I): string[] =>
  (Object.keys(news) as Array<keyof I>)
    .filter((k) => k !== '__provider' && JSON.stringify(olds[k]) !== JSON.stringify(news[k]))
    .map(String);

async function provision(inputs: ProvisioningInputs): Promise<ProvisioningOutputs> {
  return withEngine(inputs.engine, async (e) => {
    const transport = dockerTransport(e.docker, () => inputs.container);
    const outcomes = await runSteps(inputs.host, inputs.steps, (cmd, options) =>
      transport.run(inputs.host, cmd, options),
    );
    return {
      ...inputs,
      ran: outcomes.filter((o) => o.result === 'ran').map((o) => o.command),
      inPlace: outcomes.filter((o) => o.result === 'in-place').length,
      shown: outcomes
        .filter((o) => o.result === 'shown')
        .map((o) => o.output)
        .join(''),
    };
  });
}

export const provisioning: pulumi.dynamic.ResourceProvider<ProvisioningInputs, ProvisioningOutputs> = {
  // A failed create records nothing: the steps ran in the container, which its own resource removes.
  create: async (inputs) => ({ id: `${inputs.container}-provisioning`, outs: await provision(inputs) }),
  // New steps on the same container are applied in place (only what changed runs); a new container starts over.
  diff: (_id, olds, news) => {
    const changed = changedKeys(olds, news);
    return Promise.resolve({ changes: changed.length > 0, replaces: changed.filter((k) => k !== 'steps') });
  },
  update: async (_id, _olds, news) => ({ outs: await provision(news) }),
  // What provisioning changed lives in the container, which its own delete removes.
  delete: async () => {},
};

export const bridgeRule: pulumi.dynamic.ResourceProvider<BridgeRuleInputs, BridgeRuleInputs> = {
  create: async (inputs) => {
    await withEngine(inputs.engine, async (e) => {
      const machine = await e.machine();
      const res = await machine.exec(bridgeRuleAdd(inputs.bridge));
      if (res.code !== 0)
        throw new CommandError(
          machine.where,
          bridgeRuleAdd(inputs.bridge),
          res.code,
          res.stderr,
          `adding the bridge rule for ${inputs.bridge}`,
        );
    });
    return { id: `${inputs.bridge}-within`, outs: inputs };
  },
  diff: (_id, olds, news) => {
    const changed = changedKeys(olds, news);
    return Promise.resolve({ changes: changed.length > 0, replaces: changed, deleteBeforeReplace: true });
  },
  // An engine VM that is gone took the rule with it.
  delete: async (_id, props) => {
    const engine = await openEngine(props.engine);
    if (!engine) return;
    try {
      await (await engine.machine()).exec(bridgeRuleRemove(props.bridge));
    } finally {
      await engine.close();
    }
  },
};

export const operations = { provisioning, bridgeRule };
export type OperationKind = keyof typeof operations;
