// The Pulumi program: this stack's config -> the topology model -> preflight -> a provisioned Docker lab.
import * as pulumi from '@pulumi/pulumi';
import { UserError } from '../model/errors.js';
import { preflightEngine } from '../docker/engine.js';
import { BASE_IMAGE_DEFAULT } from '../docker/spec.js';
import { settingsFromConfig } from '../model/stack.js';
import { DockerLab } from './docker-lab.js';

const stack = pulumi.getStack();
const config = new pulumi.Config();

async function main() {
  try {
    const settings = settingsFromConfig(
      { lab: config.getObject('lab'), engine: config.get('engine'), baseImage: config.get('baseImage') },
      stack,
    );
    // Before any resource: the engine answers and its kernel has IPVS.
    const engine = await preflightEngine(settings.engine);
    await engine.close();
    return {
      settings,
      engine: engine.kind,
      client: engine.client,
      baseImage: settings.baseImage ?? engine.defaultBase ?? BASE_IMAGE_DEFAULT,
    };
  } catch (err) {
    // Model and preflight errors are messages for the user, not crashes: no stack trace.
    if (err instanceof UserError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

const { settings, engine, client, baseImage } = await main();
const lab = new DockerLab(settings.lab.name, { lab: settings.lab, engine, client, baseImage });

export const vip = `${settings.lab.vip}:${settings.lab.service.port}`;
export const engineKind = engine;
export const hosts = lab.hosts;
export const verify = `npm run lab -- verify --stack ${stack}`;
