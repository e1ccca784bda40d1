// Stack config -> the topology model (model side: the CLI and the Pulumi program both read it), through the same validation (and messages) as a lab file. A stack is a lab:
//
//   config:
//     lvs-lab:lab:            # the lab file's fields; omitted ones default to the reference lab
//       name: wrr
//       service: { scheduler: wrr }
//     lvs-lab:preset: dr-wrr  # a named variant under lab's fields; a stack named after a preset gets it anyway
//     lvs-lab:engine: vm      # auto (default) | local | vm: which Docker engine runs the containers
//     lvs-lab:baseImage: ...  # base of the node image; default: the engine's own (debian:bookworm, or the VM's import)
//     lvs-lab:engines:        # a lab over several Docker hosts, its segment stitched by VXLAN (docs/docker.md)
//       a: vm                 # the engine VM; vm:NAME another one; ssh://user@host[:port]; local
//       b: { host: "ssh://root@lab2", underlay: 10.0.0.2 }   # underlay: where the others send its tunnel's packets
//     lvs-lab:placement:      # host -> engine; hosts not named go on the first engine
//       rs1: b
//       rs2: b
import ipaddr from 'ipaddr.js';
import { UserError } from './errors.js';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { isPreset, withPreset } from './presets.js';
import { hostsOf, LabModelError, shown, validateLab, type Lab } from './topology.js';

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

/** More engine VMs beside the first, each its own Docker host: `engine up --engine NAME`, `vm:NAME` in a stack. */
export const ENGINE_NAME = /^[a-z][a-z0-9]{0,7}$/;
const ENGINE_NAME_RULE = '1-8 of a-z and 0-9, a letter first';
export function checkEngineName(name: string, field: string): string {
  if (!ENGINE_NAME.test(name))
    throw new UserError(`${field}: ${shown(name)} is not an engine VM's name (${ENGINE_NAME_RULE})`);
  return name;
}

/** Where one of a stack's engines is: `local`, `vm`, `vm:NAME` or `ssh://user@host[:port]` (EngineChoice's words
 * for the one engine of a stack that has no `engines`). */
export interface EngineSpec {
  name: string;
  address: string;
  /** Its address on the network between the engines, for an ssh:// engine (an engine VM's is its own). */
  underlay?: string;
}

export interface StackSettings {
  lab: Lab;
  engine: EngineChoice;
  baseImage?: string;
  /** Set when the lab spans several engines: each engine, and every host's engine by name. */
  engines?: EngineSpec[];
  placement?: Record<string, string>;
}

const SSH_ENGINE = /^ssh:\/\/[a-z_][a-z0-9_.-]{0,31}@([A-Za-z0-9][A-Za-z0-9.-]{0,252})(:[0-9]{1,5})?$/;
const isIpv4 = (v: unknown): v is string => typeof v === 'string' && ipaddr.IPv4.isValidFourPartDecimal(v);
export const MAX_ENGINES = 8;

/** One `engines` entry: its address checked, and an ssh:// engine's underlay given or read from an IP host. */
function engineSpec(name: string, value: unknown): { spec?: EngineSpec; problems: string[] } {
  const at = `engines.${name}`;
  if (!ENGINE_NAME.test(name))
    return { problems: [`${at}: ${shown(name)} is not an engine name (${ENGINE_NAME_RULE})`] };
  const obj = typeof value === 'string' ? { host: value } : value;
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    return { problems: [`${at}: must be an address (vm, vm:NAME, ssh://user@host, local) or { host, underlay }`] };
  const { host, underlay, ...rest } = obj as Record<string, unknown>;
  const problems = Object.keys(rest).map((k) => `${at}.${k}: not a field of an engine (host, underlay)`);
  if (typeof host !== 'string' || !(['local', 'vm'].includes(host) || /^vm:/.test(host) || SSH_ENGINE.test(host)))
    return { problems: [...problems, `${at}: ${shown(host)} is not vm, vm:NAME, ssh://user@host[:port] or local`] };
  if (host.startsWith('vm:') && !ENGINE_NAME.test(host.slice(3)))
    problems.push(`${at}: ${shown(host)} does not name an engine VM (vm:NAME, NAME ${ENGINE_NAME_RULE})`);
  const ipHost = SSH_ENGINE.exec(host)?.[1];
  const under = underlay ?? (isIpv4(ipHost) ? ipHost : undefined);
  if (under !== undefined && !isIpv4(under)) problems.push(`${at}.underlay: ${shown(under)} is not an IPv4 address`);
  if (host.startsWith('ssh://') && under === undefined)
    problems.push(`${at}.underlay: required when the host is a name (the address the other engines tunnel to)`);
  if (host === 'local' && under === undefined)
    problems.push(`${at}.underlay: required for the local engine (this machine's address the others tunnel to)`);
  return { spec: { name, address: host, ...(isIpv4(under) ? { underlay: under } : {}) }, problems };
}

/** `engines` and `placement`: every engine used by a host, each address once, every placed host in the lab. */
export function enginesFromConfig(
  rawEngines: unknown,
  rawPlacement: unknown,
  lab: Lab,
  stack: string,
): { engines: EngineSpec[]; placement: Record<string, string> } {
  const source = `stack ${stack} (config ${PROJECT}:engines, ${PROJECT}:placement)`;
  const mapping = (v: unknown, key: string) => {
    if (v === undefined) return {};
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
    throw new LabModelError(source, [`${key}: must be a mapping`]);
  };
  const entries = Object.entries(mapping(rawEngines, 'engines'));
  const problems: string[] = [];
  if (entries.length === 0) problems.push('engines: must name at least one engine');
  if (entries.length > MAX_ENGINES) problems.push(`engines: at most ${MAX_ENGINES}, not ${entries.length}`);
  const engines = entries.slice(0, MAX_ENGINES).flatMap(([name, value]) => {
    const r = engineSpec(name, value);
    problems.push(...r.problems);
    return r.spec ? [r.spec] : [];
  });
  const seen = new Map<string, string>();
  for (const e of engines) {
    if (seen.has(e.address)) problems.push(`engines.${e.name}: ${e.address} is engine ${seen.get(e.address)} already`);
    seen.set(e.address, e.name);
  }
  const hosts = hostsOf(lab).map((h) => h.name);
  const placement: Record<string, string> = {};
  for (const [host, engine] of Object.entries(mapping(rawPlacement, 'placement'))) {
    if (!hosts.includes(host)) problems.push(`placement.${host}: no host of that name in lab ${lab.name}`);
    else if (typeof engine !== 'string' || !engines.some((e) => e.name === engine))
      problems.push(
        `placement.${host}: ${shown(engine)} is not one of the engines (${engines.map((e) => e.name).join(', ')})`,
      );
    else placement[host] = engine;
  }
  for (const h of hosts) placement[h] ??= engines[0]?.name;
  for (const e of engines.slice(1))
    if (!Object.values(placement).includes(e.name)) problems.push(`engines.${e.name}: no host is placed on it`);
  if (problems.length > 0) throw new LabModelError(source, problems);
  return { engines, placement };
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
  if (raw.engines !== undefined && raw.engine !== undefined)
    throw new LabModelError(`stack ${stack} (config ${PROJECT}:engine)`, [
      'give lvs-lab:engine (one engine) or lvs-lab:engines (several), not both',
    ]);
  if (raw.placement !== undefined && raw.engines === undefined)
    throw new LabModelError(`stack ${stack} (config ${PROJECT}:placement)`, [
      'needs lvs-lab:engines to place hosts on',
    ]);
  const spread =
    raw.engines === undefined ? {} : enginesFromConfig(parsed(raw.engines), parsed(raw.placement), lab, stack);
  return { lab, engine, baseImage, ...spread };
}

/** The machines a lab over several engines spans, each with its hosts (none for a lab on one engine). */
export function segmentsOf(
  settings: Pick<StackSettings, 'lab' | 'engines' | 'placement'> | undefined,
): Array<{ where: string; hosts: string[] }> {
  if (!settings?.engines || !settings.placement) return [];
  const { lab, engines, placement } = settings;
  return engines.map((e) => ({
    where: `engine ${e.name}`,
    hosts: hostsOf(lab)
      .map((h) => h.name)
      .filter((h) => placement[h] === e.name),
  }));
}

/** Pulumi hands an object config value to the program as JSON text. */
const parsed = (v: unknown): unknown => {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return v;
  }
};

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
