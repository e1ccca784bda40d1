// The Docker engine a Docker lab runs on: this host's own, or one inside an lvs-lab VM. Containers share their
// engine's kernel, so on a host whose kernel has no IPVS (this kind of machine, Docker Desktop, WSL2) the VM's
// engine, on Debian's kernel, is the one that can run a director.
import { which } from 'zx';
import { UserError } from '../model/errors.js';
import { LocalShell, mustExec, RemoteShell, shq, type ExecResult, type Shell } from '../provision/shell.js';
import { dockerSocket, engineMachine, engineVmName, engineVmRunning, readEngineState } from './engine-vm.js';
import type { Lab } from '../model/topology.js';
import { segmentsOf, type EngineChoice, type EngineSpec, type StackSettings } from '../model/stack.js';
import { dockerTransport } from '../provision/transport.js';
import type { HostPower, LabAccess, Transport } from '../provision/transport.js';
import { BASE_IMAGE_LOCAL, containerName, DOCKER_HTTPD } from './spec.js';
import { kernelHasIpvs } from '../provision/host-needs.js';
import { PreflightError } from '../model/errors.js';

export type EngineKind = 'local' | 'vm' | 'ssh';
/**
 * Which engine, as a stack names it (model/stack.ts): auto, local, vm (the engine VM), vm:NAME (another engine VM of
 * the kit) or ssh://user@host[:port] (a Docker host of yours). Stored in the lab's Pulumi state as it was written.
 */
export type EngineAddress = EngineChoice | `vm:${string}` | `ssh://${string}`;

/** How a Docker client (the Pulumi Docker provider) reaches an engine: its DOCKER_HOST (ssh options for an ssh:// one). */
export interface DockerClientAddress {
  host?: string;
  sshOpts?: string[];
}

export interface DockerEngine {
  kind: EngineKind;
  /** How the stack named it: local, vm, vm:NAME, ssh://... (never auto). */
  address: EngineAddress;
  /** Its address on the network between engines, where it has one (an engine VM's underlay). */
  underlay?: string;
  /**
   * Runs `docker` against this engine. For the VM's engine that is this host's CLI through the forwarded socket when
   * this host has one: the VM's own CLI is slow to start under emulation, for every command.
   */
  docker: Shell;
  /** The engine's machine, for what is not Docker's (its kernel, iptables): this host, or the VM over SSH, opened on
   * first use. */
  machine(): Promise<Shell>;
  /** The base image labs on this engine build from by default. */
  defaultBase?: string;
  /** For the Pulumi Docker provider. */
  client: DockerClientAddress;
  close(): Promise<void>;
}

const HOW_TO_USE_VM =
  'start the VM engine with `npm run lab -- engine up` and set `pulumi config set lvs-lab:engine vm`';

/** auto: the engine VM when it runs, else this host's engine. */
export async function resolveEngine(choice: EngineChoice): Promise<'local' | 'vm'> {
  if (choice !== 'auto') return choice;
  return (await engineVmRunning()) ? 'vm' : 'local';
}

/** Opens the engine; `undefined` when it is an engine VM that is not running (nothing of a lab survives then). */
export async function openEngine(choice: EngineAddress): Promise<DockerEngine | undefined> {
  if (choice === 'auto') return openEngine(await resolveEngine(choice));
  if (choice === 'local') {
    const shell = new LocalShell();
    return {
      kind: 'local',
      address: 'local',
      docker: shell,
      machine: () => Promise.resolve(shell),
      client: { host: process.env.DOCKER_HOST },
      close: () => shell.close(),
    };
  }
  if (choice.startsWith('ssh://')) return sshEngine(choice as `ssh://${string}`);
  const name = choice.startsWith('vm:') ? choice.slice(3) : undefined;
  if (!(await engineVmRunning(name))) return undefined;
  // The Docker client reaches the VM's engine through its socket, forwarded on the VM's SSH master connection (its
  // key, its host key pinned), made again if it went away; the VM's own commands are sessions on it too.
  const machine = await engineMachine(name);
  const host = `unix://${dockerSocket(name)}`;
  const docker = (await which('docker', { nothrow: true }))
    ? new LocalShell({ DOCKER_HOST: host }, `${engineVmName(name)} (its Docker socket, ${dockerSocket(name)})`)
    : machine;
  return {
    kind: 'vm',
    address: choice,
    underlay: (await readEngineState(name))?.underlay,
    docker,
    machine: () => Promise.resolve(machine),
    defaultBase: BASE_IMAGE_LOCAL,
    client: { host },
    // The host CLI's resident `docker exec` shells end with it.
    close: async () => {
      await docker.close();
      await machine.close();
    },
  };
}

/**
 * A Docker host of the user's over SSH, as Docker's own ssh:// client reaches it (this machine's `ssh`, its config
 * and agent): `docker` with DOCKER_HOST set (the host's own `docker` where this machine has none), and the host's own
 * commands (its kernel, links, iptables) through `ssh`.
 */
async function sshEngine(address: `ssh://${string}`): Promise<DockerEngine> {
  const url = new URL(address);
  const ssh = ['ssh', '-o', 'BatchMode=yes', ...(url.port ? ['-p', url.port] : []), `${url.username}@${url.hostname}`];
  const machine = new RemoteShell(ssh, address);
  const docker = (await which('docker', { nothrow: true }))
    ? new LocalShell({ DOCKER_HOST: address }, address)
    : machine;
  return {
    kind: 'ssh',
    address,
    docker,
    machine: () => Promise.resolve(machine),
    client: { host: address, sshOpts: ['-o', 'BatchMode=yes'] },
    close: async () => {
      await docker.close();
      await machine.close();
    },
  };
}

/**
 * What keeps a Docker lab off this engine: no answer from it, or a kernel without IPVS (containers share it).
 * Read-only. A local engine's kernel is this host's; a remote DOCKER_HOST is trusted to have IPVS.
 */
export async function engineProblems(engine: DockerEngine): Promise<string[]> {
  const remedy =
    engine.kind === 'ssh'
      ? `check that \`ssh ${engine.address} docker version\` works from here without a prompt ` +
        '(a key or an agent: Docker and the kit run ssh in BatchMode) and that Docker runs there'
      : `start dockerd, or ${HOW_TO_USE_VM}`;
  const lastLine = (res: ExecResult) => (res.stderr.trim().split('\n').pop() ?? '').slice(0, 200) || `exit ${res.code}`;
  const answers = async () => {
    const version = await engine.docker.exec("docker version --format '{{.Server.Version}}'", { timeoutMs: 20_000 });
    if (version.code === 0) return [];
    return [`docker: no Docker engine answers on ${engine.docker.where} (${lastLine(version)}); ${remedy}`];
  };
  const hasIpvs = async () => {
    if (engine.kind === 'local' && process.env.DOCKER_HOST) return [];
    const machine = await engine.machine();
    if (await kernelHasIpvs(machine)) return [];
    // Only now the kernel's name: a command that fails here says the host was not reached at all.
    const uname = await machine.exec('uname -r', { timeoutMs: 20_000 });
    if (uname.code !== 0) return [`ssh: cannot run a command on ${machine.where} (${lastLine(uname)}); ${remedy}`];
    return [
      `kernel: the Docker engine's kernel (${uname.stdout.trim()} on ${machine.where}) has no IPVS, and containers ` +
        `share it, so the director could not balance; ${HOW_TO_USE_VM} (it runs Debian's kernel, which has IPVS)`,
    ];
  };
  // Side by side: on the VM one is a Docker API call, the other an SSH connection.
  return (await Promise.all([answers(), hasIpvs()])).flat();
}

/** Opens the engine and checks it before anything is created; throws PreflightError with every problem. */
export async function preflightEngine(choice: EngineAddress): Promise<DockerEngine> {
  const engine = await openEngine(choice);
  if (!engine)
    throw new PreflightError('the VM engine', [
      `engine: the lvs-lab engine VM is not running; ${HOW_TO_USE_VM.replace(' and set', ', with')}`,
    ]);
  const problems = await engineProblems(engine);
  if (problems.length > 0) {
    await engine.close();
    throw new PreflightError(`the ${engine.kind} Docker engine`, problems);
  }
  return engine;
}

export type DockerLabAccess = LabAccess & {
  /** The first engine; with `engines` and `engineOf` for a lab over several. */
  engine: DockerEngine;
  engines: ReadonlyMap<string, DockerEngine>;
  engineOf(host: string): DockerEngine;
  close(): Promise<void>;
};

/** A lab over several engines: each engine by name, and every host's engine by name. */
export interface EngineSpan {
  engines: EngineSpec[];
  placement: Record<string, string>;
}

/**
 * Access to a running Docker lab's hosts for the verifier and the tests: the docker transport on its engine, or on
 * each host's engine for a lab over several.
 */
export async function connectDockerLab(lab: Lab, choice: EngineAddress, span?: EngineSpan): Promise<DockerLabAccess> {
  const specs = span?.engines ?? [{ name: 'engine', address: choice }];
  const opened = await Promise.all(
    specs.map(async (s) => [s.name, await openEngine(s.address as EngineAddress)] as const),
  );
  const missing = opened.filter(([, e]) => !e).map(([name]) => name);
  const engines = new Map(opened.flatMap(([name, e]) => (e ? [[name, e] as const] : [])));
  const close = async () => void (await Promise.all([...engines.values()].map((e) => e.close())));
  if (missing.length > 0) {
    await close();
    const which = span ? `engine VM(s) ${missing.join(', ')}` : 'the lvs-lab engine VM';
    throw new UserError(`lab ${lab.name}: ${which} not running, so neither is the lab`);
  }
  const engineNameOf = (host: string) => span?.placement[host] ?? specs[0].name;
  const engineOf = (host: string) => engines.get(engineNameOf(host))!;
  const containerOf = (host: string) => containerName(lab.name, host);
  const transports = new Map([...engines].map(([name, e]) => [name, dockerTransport(e.docker, containerOf)] as const));
  const transportOf = (host: string) => transports.get(engineNameOf(host))!;
  const transport: Transport = {
    kind: 'docker',
    run: (host, command, options) => transportOf(host).run(host, command, options),
    interactive: (host, command) => transportOf(host).interactive(host, command),
  };
  const power = dockerPower((host) => engineOf(host).docker, containerOf);
  const segments = span && segmentsOf({ lab, ...span });
  const engine = engines.get(specs[0].name)!;
  return { lab, transport, httpd: DOCKER_HTTPD, engine, engines, engineOf, power, segments, close };
}

/** A stack's lab on its engine, or on each host's engine when the stack spans several. */
export const connectStack = (s: Pick<StackSettings, 'lab' | 'engine' | 'engines' | 'placement'>) =>
  connectDockerLab(s.lab, s.engine, s.engines && s.placement && { engines: s.engines, placement: s.placement });

const must = (shell: Shell, command: string) => mustExec(shell, command, 'a host stop or start', 60_000);

/** A Docker lab's hosts stopped and started: their containers paused and unpaused (`docker`: the engine's CLI). */
function dockerPower(dockerOf: (host: string) => Shell, containerOf: (host: string) => string): HostPower {
  const docker = (host: string, verb: string) => must(dockerOf(host), `docker ${verb} ${shq(containerOf(host))}`);
  return {
    stop: async (host) => void (await docker(host, 'pause')),
    start: async (host) => void (await docker(host, 'unpause')),
    stopped: async (host) => (await docker(host, "inspect -f '{{.State.Paused}}'")).trim() === 'true',
  };
}
