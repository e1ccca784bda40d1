// The Docker engine a Docker lab runs on: this host's own, or one inside an lvs-lab VM. Containers share their
// engine's kernel, so on a host whose kernel has no IPVS (this kind of machine, Docker Desktop, WSL2) the VM's
// engine, on Debian's kernel, is the one that can run a director.
import { which } from 'zx';
import { UserError } from '../model/errors.js';
import { LocalShell, mustExec, shq, type Shell } from '../provision/shell.js';
import { dockerSocket, engineMachine, engineVmRunning } from './engine-vm.js';
import type { EngineChoice } from '../model/stack.js';
import type { Lab } from '../model/topology.js';
import { dockerTransport } from '../provision/transport.js';
import type { HostPower, LabAccess } from '../provision/transport.js';
import { BASE_IMAGE_LOCAL, containerName, DOCKER_HTTPD } from './spec.js';
import { kernelHasIpvs } from '../provision/host-needs.js';
import { PreflightError } from '../model/errors.js';

export type EngineKind = 'local' | 'vm';
// The choice of engine (auto, local, vm) is the stack's setting: model/stack.ts.

/** How a Docker client (the Pulumi Docker provider) reaches an engine: its DOCKER_HOST (ssh options for an ssh:// one). */
export interface DockerClientAddress {
  host?: string;
  sshOpts?: string[];
}

export interface DockerEngine {
  kind: EngineKind;
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
export async function resolveEngine(choice: EngineChoice): Promise<EngineKind> {
  if (choice !== 'auto') return choice;
  return (await engineVmRunning()) ? 'vm' : 'local';
}

/** Opens the engine; `undefined` when it is the VM engine and that VM is not running (nothing of a lab survives then). */
export async function openEngine(choice: EngineChoice): Promise<DockerEngine | undefined> {
  const kind = await resolveEngine(choice);
  if (kind === 'local') {
    const shell = new LocalShell();
    return {
      kind,
      docker: shell,
      machine: () => Promise.resolve(shell),
      client: { host: process.env.DOCKER_HOST },
      close: () => shell.close(),
    };
  }
  if (!(await engineVmRunning())) return undefined;
  // The Docker client reaches the VM's engine through its socket, forwarded on the VM's SSH master connection (its
  // key, its host key pinned), made again here if it went away; the VM's own commands are sessions on it too.
  const machine = await engineMachine();
  const host = `unix://${dockerSocket()}`;
  const docker = (await which('docker', { nothrow: true }))
    ? new LocalShell({ DOCKER_HOST: host }, `the engine VM (its Docker socket, ${dockerSocket()})`)
    : machine;
  return {
    kind,
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
 * What keeps a Docker lab off this engine: no answer from it, or a kernel without IPVS (containers share it).
 * Read-only. A local engine's kernel is this host's; a remote DOCKER_HOST is trusted to have IPVS.
 */
export async function engineProblems(engine: DockerEngine): Promise<string[]> {
  const answers = async () => {
    const version = await engine.docker.exec("docker version --format '{{.Server.Version}}'", { timeoutMs: 20_000 });
    if (version.code === 0) return [];
    const why = (version.stderr.trim().split('\n').pop() ?? '').slice(0, 200) || `exit ${version.code}`;
    return [`docker: no Docker engine answers on ${engine.docker.where} (${why}); start dockerd, or ${HOW_TO_USE_VM}`];
  };
  const hasIpvs = async () => {
    if (engine.kind !== 'vm' && process.env.DOCKER_HOST) return [];
    const machine = await engine.machine();
    if (await kernelHasIpvs(machine)) return [];
    const kernel = (await machine.exec('uname -r')).stdout.trim();
    return [
      `kernel: the Docker engine's kernel (${kernel} on ${machine.where}) has no IPVS, and containers share it, so the ` +
        `director could not balance; ${HOW_TO_USE_VM} (it runs Debian's kernel, which has IPVS)`,
    ];
  };
  // Side by side: on the VM one is a Docker API call, the other an SSH connection.
  return (await Promise.all([answers(), hasIpvs()])).flat();
}

/** Opens the engine and checks it before anything is created; throws PreflightError with every problem. */
export async function preflightEngine(choice: EngineChoice): Promise<DockerEngine> {
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

/** Access to a running Docker lab's hosts for the verifier and the tests: the docker transport on its engine. */
export async function connectDockerLab(
  lab: Lab,
  choice: EngineChoice,
): Promise<LabAccess & { engine: DockerEngine; close(): Promise<void> }> {
  const engine = await openEngine(choice);
  if (!engine) throw new UserError(`lab ${lab.name}: the lvs-lab engine VM is not running, so neither is the lab`);
  const transport = dockerTransport(engine.docker, (host) => containerName(lab.name, host));
  const power = dockerPower(engine.docker, (host) => containerName(lab.name, host));
  return { lab, transport, httpd: DOCKER_HTTPD, engine, power, close: () => engine.close() };
}

const must = (shell: Shell, command: string) => mustExec(shell, command, 'a host stop or start', 60_000);

/** A Docker lab's hosts stopped and started: their containers paused and unpaused (`docker`: the engine's CLI). */
function dockerPower(docker: Shell, containerOf: (host: string) => string): HostPower {
  return {
    stop: async (host) => void (await must(docker, `docker pause ${shq(containerOf(host))}`)),
    start: async (host) => void (await must(docker, `docker unpause ${shq(containerOf(host))}`)),
    stopped: async (host) =>
      (await must(docker, `docker inspect -f '{{.State.Paused}}' ${shq(containerOf(host))}`)).trim() === 'true',
  };
}
