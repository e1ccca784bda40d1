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
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { isPreset, withPreset } from './presets.js';
import { LabModelError, validateLab, type Lab } from './topology.js';

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
  const file = join(projectDir, `Pulumi.${stack}.yaml`);
  const text = await readFile(file, 'utf8').catch(() => {
    throw new UserError(`no stack file ${file} (stacks are Pulumi.<stack>.yaml beside Pulumi.yaml)`);
  });
  const config = (parse(text) as { config?: Record<string, unknown> } | null)?.config ?? {};
  const prefix = `${PROJECT}:`;
  const raw = Object.fromEntries(
    Object.entries(config)
      .filter(([k]) => k.startsWith(prefix))
      .map(([k, v]) => [k.slice(prefix.length), v]),
  );
  return settingsFromConfig(raw, stack);
}
