// The Pulumi program: this stack's config -> the topology model -> preflight of every engine -> a provisioned Docker
// lab on them.
import * as pulumi from '@pulumi/pulumi';
import { UserError } from '../model/errors.js';
import { preflightEngine, type EngineAddress } from '../docker/engine.js';
import { BASE_IMAGE_DEFAULT } from '../docker/spec.js';
import { settingsFromConfig, type EngineSpec, type StackSettings } from '../model/stack.js';
import { DockerLab, type EngineArgs } from './docker-lab.js';

const stack = pulumi.getStack();
const config = new pulumi.Config();

/** Before any resource: each engine answers and its kernel has IPVS; a lab over several needs each one's underlay. */
async function engineArgs(spec: EngineSpec, settings: StackSettings, spanned: boolean): Promise<EngineArgs> {
  const engine = await preflightEngine(spec.address as EngineAddress);
  await engine.close();
  const underlay = spec.underlay ?? engine.underlay;
  if (spanned && !underlay)
    throw new UserError(
      `engines.${spec.name}: ${spec.address} has no underlay address for the tunnel; give { host, underlay }`,
    );
  return {
    name: spec.name,
    address: engine.address,
    client: engine.client,
    baseImage: settings.baseImage ?? engine.defaultBase ?? BASE_IMAGE_DEFAULT,
    ...(underlay ? { underlay } : {}),
  };
}

async function main() {
  try {
    const settings = settingsFromConfig(
      {
        lab: config.getObject('lab'),
        preset: config.get('preset'),
        engine: config.get('engine'),
        baseImage: config.get('baseImage'),
        engines: config.getObject('engines'),
        placement: config.getObject('placement'),
      },
      stack,
    );
    const specs = settings.engines ?? [{ name: 'engine', address: settings.engine }];
    const engines = await Promise.all(specs.map((spec) => engineArgs(spec, settings, specs.length > 1)));
    return { settings, engines };
  } catch (err) {
    // Model and preflight errors are messages for the user, not crashes: no stack trace.
    if (err instanceof UserError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

const { settings, engines } = await main();
const lab = new DockerLab(settings.lab.name, { lab: settings.lab, engines, placement: settings.placement });

export const vip = `${settings.lab.vip}:${settings.lab.service.port}`;
export const engineKind = engines[0].address;
export const hosts = lab.hosts;
export const verify = `npm run lab -- verify --stack ${stack}`;
