// What the lab's two Pulumi dynamic resources do, run by Pulumi's dynamic-provider process (see resources.ts):
// provisioning (one host's steps of the plan, through the docker transport; nothing in @pulumi/docker runs commands
// in a container), and NAT's bridge rule on the engine's machine. Network, image and containers are @pulumi/docker's.
import type * as pulumi from '@pulumi/pulumi';
import { UserError } from '../model/errors.js';
import { mustExec, type ExecResult } from '../provision/shell.js';
import { runSteps } from '../provision/apply.js';
import type { Step } from '../provision/plan.js';
import { dockerTransport } from '../provision/transport.js';
import { openEngine, type DockerEngine, type EngineAddress } from '../docker/engine.js';
import { bridgeRuleAdd, bridgeRuleRemove, stitchDown, stitchThere, stitchUp, type StitchSpec } from '../docker/spec.js';

export interface ProvisioningInputs {
  engine: EngineAddress;
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
  engine: EngineAddress;
  bridge: string;
  /** The network's id: a new network gets the rule anew. */
  networkId: string;
}

export interface StitchInputs extends StitchSpec {
  engine: EngineAddress;
  /** The network's id: a new network (its bridge made again) gets the tunnel anew. */
  networkId: string;
}

async function withEngine<T>(kind: EngineAddress, fn: (engine: DockerEngine) => Promise<T>): Promise<T> {
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

/** Runs `command` on the engine's machine; a failure is a CommandError saying what it was for. */
const onMachine = (engine: EngineAddress, command: string, what: string) =>
  withEngine(engine, async (e) => mustExec(await e.machine(), command, what, 60_000));

/** Runs `command` on the engine's machine when the engine is there (an engine VM that is gone took everything with
 * it); undefined when it is not. */
async function onMachineIfUp(engine: EngineAddress, command: string): Promise<ExecResult | undefined> {
  const e = await openEngine(engine);
  if (!e) return undefined;
  try {
    return await (await e.machine()).exec(command, { timeoutMs: 60_000 });
  } finally {
    await e.close();
  }
}

/** Any changed input makes the thing anew, the old one removed first (both use the same names). */
const replaceOnChange = <I extends object>(_id: string, olds: I, news: I) => {
  const changed = changedKeys(olds, news);
  return Promise.resolve({ changes: changed.length > 0, replaces: changed, deleteBeforeReplace: true });
};

export const bridgeRule: pulumi.dynamic.ResourceProvider<BridgeRuleInputs, BridgeRuleInputs> = {
  create: async (inputs) => {
    await onMachine(inputs.engine, bridgeRuleAdd(inputs.bridge), `adding the bridge rule for ${inputs.bridge}`);
    return { id: `${inputs.bridge}-within`, outs: inputs };
  },
  diff: replaceOnChange,
  delete: async (_id, props) => void (await onMachineIfUp(props.engine, bridgeRuleRemove(props.bridge))),
};

export const stitch: pulumi.dynamic.ResourceProvider<StitchInputs, StitchInputs> = {
  create: async (inputs) => {
    const what = `stitching ${inputs.bridge} to the other engines (${inputs.device}, VNI ${inputs.vni})`;
    await onMachine(inputs.engine, stitchUp(inputs), what);
    return { id: `${inputs.device}@${inputs.local}`, outs: inputs };
  },
  diff: replaceOnChange,
  // Seen gone (removed by hand, or its engine's bridge made anew without it): refresh drops it, the next up makes it.
  read: async (id, props) =>
    props && (await onMachineIfUp(props.engine, stitchThere(props)))?.code === 0 ? { id, props } : {},
  delete: async (_id, props) => void (await onMachineIfUp(props.engine, stitchDown(props))),
};

export const operations = { provisioning, bridgeRule, stitch };
export type OperationKind = keyof typeof operations;
