// Stack config -> the topology model (model side: the CLI and the Pulumi program both read it), through the same validation (and messages) as a lab file. A stack is a lab:
//
//   config:
//     lvs-lab:lab:            # the lab file's fields; omitted ones default to the reference lab
//       name: wrr
//       service: { scheduler: wrr }
//     lvs-lab:preset: dr-wrr  # a named variant under lab's fields; a stack named after a preset gets it anyway
//     lvs-lab:engine: vm      # auto (default) | local | vm: which Docker engine runs the containers
//     lvs-lab:baseImage: ...  # base of the node image; default: the engine's own (debian:bookworm, or the VM's import)
import { UserError } from './errors.js';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { isPreset, withPreset } from './presets.js';
import { LabModelError, shown, validateLab, type Lab } from './topology.js';

/** Pulumi's rule for a stack name (letters, digits, "-", "_", "."), and not a dot first: the name is the file
 * Pulumi.<stack>.yaml beside Pulumi.yaml, never a path. */
export const STACK_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$/;

export function checkStackName(stack: unknown, field = '--stack'): string {
  if (typeof stack !== 'string' || !STACK_PATTERN.test(stack))
    throw new UserError(
      `${field}: ${shown(stack)} is not a stack name (1-100 letters, digits, "-", "_" and ".", not starting with ".")`,
    );
  return stack;
}

/** A stack file larger than this is not a stack's config (and is not read whole). */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** A Docker image reference as `docker build --build-arg` takes it: no spaces, quotes or shell syntax. */
const IMAGE_REF = /^[a-z0-9][A-Za-z0-9._/:@-]{0,254}$/;

export const PROJECT = 'lvs-lab';
/** Which Docker engine runs a stack's containers: this host's, the engine VM, or whichever fits (auto). */
export const ENGINES = ['auto', 'local', 'vm'] as const;
export type EngineChoice = (typeof ENGINES)[number];

export interface StackSettings {
  lab: Lab;
  engine: EngineChoice;
  baseImage?: string;
}

/** `raw` maps config keys without the project prefix (lab, preset, engine, baseImage) to their values. */
export function settingsFromConfig(raw: Record<string, unknown>, stack: string): StackSettings {
  const source = `stack ${stack} (config ${PROJECT}:lab)`;
  let labInput: unknown = raw.lab ?? {};
  if (typeof labInput === 'string') {
    try {
      labInput = JSON.parse(labInput) as unknown;
    } catch {
      throw new LabModelError(source, ['must be an object (YAML mapping or JSON), like a lab file']);
    }
  }
  const preset =
    raw.preset !== undefined ? configString(raw.preset, stack, 'preset') : isPreset(stack) ? stack : undefined;
  const lab = preset ? withPreset(preset, labInput, source) : validateLab(labInput, source);
  const engine = (raw.engine ?? 'auto') as EngineChoice;
  if (!ENGINES.includes(engine))
    throw new LabModelError(`stack ${stack} (config ${PROJECT}:engine)`, [`must be one of ${ENGINES.join(', ')}`]);
  const baseImage = raw.baseImage === undefined ? undefined : configString(raw.baseImage, stack, 'baseImage');
  if (baseImage !== undefined && !IMAGE_REF.test(baseImage))
    throw new LabModelError(`stack ${stack} (config ${PROJECT}:baseImage)`, [
      `${shown(baseImage)} is not an image reference (like debian:bookworm or registry.example/team/base:1)`,
    ]);
  return { lab, engine, baseImage };
}

/** A config value that must be one string (a YAML mapping or list there is a mistake, not "[object Object]"). */
function configString(value: unknown, stack: string, key: string): string {
  if (typeof value === 'string') return value;
  throw new LabModelError(`stack ${stack} (config ${PROJECT}:${key})`, [
    `must be a string, not ${JSON.stringify(value)}`,
  ]);
}

/** Reads Pulumi.<stack>.yaml beside Pulumi.yaml, for commands that work on a stack's lab without the Pulumi CLI. */
export async function readStackSettings(stack: string, projectDir = process.cwd()): Promise<StackSettings> {
  const file = join(projectDir, `Pulumi.${checkStackName(stack, 'stack')}.yaml`);
  const size = await stat(file).then(
    (st) => st.size,
    () => {
      throw new UserError(`no stack file ${file} (stacks are Pulumi.<stack>.yaml beside Pulumi.yaml)`);
    },
  );
  if (size > MAX_CONFIG_BYTES)
    throw new LabModelError(file, [`${size} bytes is too large for a stack's config (at most ${MAX_CONFIG_BYTES})`]);
  let doc: unknown;
  try {
    doc = parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new LabModelError(file, [`not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  if (doc !== null && (typeof doc !== 'object' || Array.isArray(doc)))
    throw new LabModelError(file, ['must hold a mapping (config: ...)']);
  const configValue = (doc as { config?: unknown } | null)?.config ?? {};
  if (typeof configValue !== 'object' || configValue === null || Array.isArray(configValue))
    throw new LabModelError(file, ['config: must be a mapping of keys to values']);
  const config = configValue as Record<string, unknown>;
  const prefix = `${PROJECT}:`;
  const raw = Object.fromEntries(
    Object.entries(config)
      .filter(([k]) => k.startsWith(prefix))
      .map(([k, v]) => [k.slice(prefix.length), v]),
  );
  return settingsFromConfig(raw, stack);
}
