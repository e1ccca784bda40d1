// What the lab's Pulumi resources do, run by Pulumi's dynamic-provider process (see resources.ts): each create,
// diff, update and delete of a network, image, container or host's provisioning, against the chosen Docker engine.
// The docker command lines come from testbed/docker/commands.ts; provisioning is the plan's steps for one host,
// run by provision/apply.ts through the docker transport.
import { runSteps } from '../provision/apply.js';
import type { Step } from '../provision/plan.js';
import { dockerTransport } from '../provision/transport.js';
import { containerRemove, containerRun, imageBuild, imageRemove, networkConnect, networkCreate, networkRemove } from '../testbed/docker/commands.js';
import { openEngine, type DockerEngine, type EngineKind } from '../testbed/docker/engine.js';
import type { ContainerSpec, ImageSpec, NetworkSpec } from '../testbed/docker/spec.js';

export interface NetworkInputs { engine: EngineKind; spec: NetworkSpec }
export interface ImageInputs { engine: EngineKind; spec: ImageSpec }
/** `network` is the network of the container's eth0; `outside` NAT's outside network, for the director's eth1. */
export interface ContainerInputs { engine: EngineKind; spec: ContainerSpec; network: string; image: string; outside?: string }
export interface ProvisioningInputs { engine: EngineKind; host: string; container: string; containerId: string; steps: Step[] }

interface DiffResult { changes: boolean; replaces?: string[]; deleteBeforeReplace?: boolean }
interface CreateResult { id: string; outs: Record<string, unknown> }

export interface Operations<I> {
  create(inputs: I): Promise<CreateResult>;
  diff(id: string, olds: I, news: I): Promise<DiffResult>;
  update?(id: string, olds: I, news: I): Promise<{ outs: Record<string, unknown> }>;
  delete(id: string, props: I): Promise<void>;
}

async function withEngine<T>(kind: EngineKind, fn: (engine: DockerEngine) => Promise<T>): Promise<T> {
  const engine = await openEngine(kind);
  if (!engine) throw new Error('the lvs-lab engine VM is not running: `npm run lab -- engine up` starts it');
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}

/** Deleting from a VM engine that is gone succeeds: the VM took the object with it. */
async function removeWith(kind: EngineKind, command: string, what: string): Promise<void> {
  const engine = await openEngine(kind);
  if (!engine) return;
  try {
    const res = await engine.shell.exec(command);
    if (res.code !== 0) throw new Error(`removing ${what} failed on ${engine.shell.where}: ${res.stderr.trim() || `exit ${res.code}`}`);
  } finally {
    await engine.close();
  }
}

async function docker(engine: DockerEngine, command: string, what: string, stdin?: string): Promise<string> {
  const res = await engine.shell.exec(command, { stdin, timeoutMs: 600_000 });
  if (res.code !== 0) throw new Error(`${what} failed on ${engine.shell.where} (exit ${res.code}): ${res.stderr.trim()}\n  command: ${command}`);
  return res.stdout.trim();
}

/**
 * The inputs that differ. `olds` are the previous outputs (inputs plus what create added), so only the new inputs'
 * keys count; `__provider` is Pulumi's serialized provider, which changes with the code, not with the lab.
 */
const changedKeys = <I extends object>(olds: I, news: I): string[] =>
  Object.keys(news).filter((k) => k !== '__provider' && JSON.stringify((olds as never)[k]) !== JSON.stringify((news as never)[k]));

/** Docker objects carry fixed names, so any change is a replacement, and the old one must go first. */
const replaceOnChange = async <I extends object>(_id: string, olds: I, news: I): Promise<DiffResult> => {
  const replaces = changedKeys(olds, news);
  return { changes: replaces.length > 0, replaces, deleteBeforeReplace: true };
};

export const network: Operations<NetworkInputs> = {
  create: (inputs) =>
    withEngine(inputs.engine, async (e) => ({
      id: (await docker(e, networkCreate(inputs.spec), `creating network ${inputs.spec.name}`)).split('\n')[0],
      outs: { ...inputs, name: inputs.spec.name },
    })),
  diff: replaceOnChange,
  delete: (_id, props) => removeWith(props.engine, networkRemove(props.spec), `network ${props.spec.name}`),
};

export const image: Operations<ImageInputs> = {
  create: (inputs) =>
    withEngine(inputs.engine, async (e) => ({
      id: await docker(e, imageBuild(inputs.spec), `building image ${inputs.spec.tag} from ${inputs.spec.base}`, inputs.spec.dockerfile),
      outs: { ...inputs, tag: inputs.spec.tag },
    })),
  diff: replaceOnChange,
  delete: (_id, props) => removeWith(props.engine, imageRemove(props.spec.tag), `image ${props.spec.tag}`),
};

export const container: Operations<ContainerInputs> = {
  create: (inputs) =>
    withEngine(inputs.engine, async (e) => {
      const { spec } = inputs;
      const id = await docker(e, containerRun(spec, inputs.network, inputs.image), `starting container ${spec.name}`);
      if (spec.outsideIp && inputs.outside)
        await docker(e, networkConnect(inputs.outside, spec.name, spec.outsideIp), `connecting ${spec.name} to ${inputs.outside}`);
      // Read back what Docker assigned, so the stack outputs state facts, not intentions.
      const [ip, mac] = (
        await docker(e, `docker inspect -f '{{with index .NetworkSettings.Networks "${inputs.network}"}}{{.IPAddress}} {{.MacAddress}}{{end}}' ${id}`, `inspecting ${spec.name}`)
      ).split(' ');
      return { id, outs: { ...inputs, name: spec.name, ip, mac } };
    }),
  diff: replaceOnChange,
  delete: (_id, props) => removeWith(props.engine, containerRemove(props.spec.name), `container ${props.spec.name}`),
};

async function provision(inputs: ProvisioningInputs): Promise<Record<string, unknown>> {
  return withEngine(inputs.engine, async (e) => {
    const transport = dockerTransport(e.shell, () => inputs.container);
    const outcomes = await runSteps(inputs.host, inputs.steps, (cmd) => transport.run(inputs.host, cmd));
    return {
      ...inputs,
      // What this run changed, in the words of the plan: the record `pulumi up` shows for the host.
      ran: outcomes.filter((o) => o.result === 'ran').map((o) => o.command),
      inPlace: outcomes.filter((o) => o.result === 'in-place').length,
      shown: outcomes.filter((o) => o.result === 'shown').map((o) => o.output).join(''),
    };
  });
}

export const provisioning: Operations<ProvisioningInputs> = {
  create: async (inputs) => ({ id: `${inputs.container}-provisioning`, outs: await provision(inputs) }),
  // A new container starts from scratch; new steps on the same container are applied in place.
  diff: async (_id, olds, news) => {
    const changed = changedKeys(olds, news);
    return { changes: changed.length > 0, replaces: changed.filter((k) => k !== 'steps') };
  },
  update: async (_id, _olds, news) => ({ outs: await provision(news) }),
  // What provisioning changed lives in the container, which its own delete removes.
  delete: async () => {},
};

export const operations = { network, image, container, provisioning };
export type OperationKind = keyof typeof operations;
