// The engine VM: an lvs-lab VM (Debian's kernel, with IPVS) running dockerd, for Docker labs on hosts whose kernel
// has no IPVS. Its lifecycle only (`npm run lab -- engine up|down|status`); choosing and opening an engine is engine.ts.
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { CommandError } from '../../model/errors.js';
import type { Shell } from '../../provision/shell.js';
import { opensshOptions, OpensshShell, type SshTarget } from '../../provision/ssh.js';
import { waitFor } from '../../provision/wait.js';
import { processArgs } from '../process.js';
import { stateDir } from '../paths.js';
import { seconds } from '../testbed.js';
import { readJson, writeJson } from '../state.js';
import type { VmFlavour } from '../vm/saved.js';
import {
  bootMachine,
  checkVmHostTools,
  machineTarget,
  stopMachine,
  vmRunning,
  type Log,
  type MachineShell,
  type VmState,
} from '../vm/machine.js';
import { BASE_IMAGE_LOCAL, DOCKERFILE } from './spec.js';

interface EngineState {
  version: 1;
  createdAt: string;
  vm?: VmState;
  /** The ssh process forwarding the engine's Docker socket to this host (dockerSocket()). */
  forwarder?: { pid: number };
}

// A dash after "lvs-lab-": no lab's VM (lvs-lab-<name>, names of a-z and 0-9) can have this name, so a lab named
// "engine" never takes the engine VM for one of its own.
const ENGINE_VM = 'lvs-lab-docker-engine';
export const engineDir = (): string => join(stateDir(), 'engine');
const stateFile = () => join(engineDir(), 'state.json');

export const readEngineState = () => readJson<EngineState>(stateFile());
/** The engine VM's Docker socket on this host: ssh binds it for root alone (mode 0600). */
export const dockerSocket = (): string => join(engineDir(), 'docker.sock');
/** The forwarder's SSH connection, shared by OpenSSH clients (ControlPath): the engine machine's commands use it. */
const controlSocket = (): string => join(engineDir(), 'ssh.ctl');
const writeEngineState = (state: EngineState) => writeJson(stateFile(), state);

async function must(shell: Shell, command: string, what: string, timeoutMs?: number): Promise<string> {
  const res = await shell.exec(command, { timeoutMs });
  if (res.code !== 0)
    throw new CommandError(shell.where, command, res.code, res.stderr.trim() || res.stdout.trim(), what);
  return res.stdout;
}

/** dockerd's socket inside the VM: asked there directly, and forwarded to dockerSocket() on this host. */
const VM_DOCKER_SOCKET = '/var/run/docker.sock';

/** A GET of dockerd's API in the VM that succeeds when it answers 2xx. Asked with curl rather than the docker CLI: a
 * 46 MB Go program takes 1-2 s a run under emulation. */
const dockerApi = (path: string) => `curl -sf --unix-socket ${VM_DOCKER_SOCKET} http://docker${path} >/dev/null`;

/** dockerd inside the VM, detached from the SSH session; waits until it answers. */
const START_DOCKERD = [
  // Containers cannot load modules; the engine host loads what labs use: IPVS schedulers, and ipip for TUN.
  'modprobe -a ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_sh ip_vs_dh ipip 2>/dev/null',
  `answers() { ${dockerApi('/_ping')} 2>&1; }`,
  'answers && exit 0',
  'setsid dockerd --log-level warn </dev/null >/var/log/dockerd.log 2>&1 &',
  'for i in $(seq 120); do answers && exit 0; sleep 0.5; done',
  'tail -n 20 /var/log/dockerd.log >&2; exit 1',
].join('\n');

/**
 * The VM's own root filesystem (debootstrap bookworm with the lab's packages) as a base image, so the Dockerfile
 * needs no registry. Kernel, modules, the engine itself and SSH keys stay out of it.
 */
const IMPORT_BASE = [
  `${dockerApi(`/images/${BASE_IMAGE_LOCAL}/json`)} && exit 0`,
  'tar -C / --one-file-system -c' +
    ' --exclude=./boot --exclude=./lib/modules --exclude=./usr/lib/modules --exclude=./var/lib/docker' +
    ' --exclude=./var/lib/containerd --exclude=./usr/bin/dockerd --exclude=./usr/sbin/dockerd --exclude=./usr/bin/containerd* --exclude=./usr/bin/ctr' +
    ' --exclude=./usr/bin/docker --exclude=./usr/libexec/docker' +
    ' --exclude=./root/.ssh --exclude="./etc/ssh/ssh_host_*" --exclude=./var/log/dockerd.log .' +
    ` | docker import - ${BASE_IMAGE_LOCAL} >/dev/null`,
].join('\n');

/**
 * The lab host image's shared layers, built once with the same Dockerfile and base as every lab's and with BuildKit,
 * as the Pulumi provider builds (its "legacy" build still asks for BuildKit from any engine of API 1.39 or later, and
 * BuildKit does not reuse the legacy builder's cache): a lab's image build then reuses them and only adds its label.
 */
const BUILD_LAYERS = [
  `DOCKER_BUILDKIT=1 docker build -q -t lvs-lab/node-layers:bookworm --build-arg BASE=${BASE_IMAGE_LOCAL} - >/dev/null <<'EOF'`,
  DOCKERFILE.trimEnd(),
  'EOF',
].join('\n');

/** The engine VM is saved booted with dockerd running, the base image imported and the lab image's layers built: a
 * restored one is ready at once. */
const ENGINE_FLAVOUR: VmFlavour = { name: 'engine', prepare: [START_DOCKERD, IMPORT_BASE, BUILD_LAYERS] };

/** Waits for dockerd in the engine VM (starting it if needed) and imports the base image if it is missing: one
 * command, each script in a subshell of its own (a session channel costs ~0.2-0.5 s under emulation). */
async function engineReady(shell: Shell, log: Log): Promise<void> {
  const t = Date.now();
  await must(
    shell,
    `(\n${START_DOCKERD}\n) && (\n${IMPORT_BASE}\n)`,
    `starting dockerd, then the docker import of ${BASE_IMAGE_LOCAL}`,
    720_000,
  );
  log(`dockerd answers in the engine VM, base image ${BASE_IMAGE_LOCAL} in place (${seconds(t)} s)`);
}

/** Boots the engine VM (or finds it running), starts its dockerd and imports the base image. Idempotent. */
export async function engineUp(log: Log = () => {}): Promise<void> {
  const forwarded = () => log(`its Docker socket forwarded to ${dockerSocket()}`);
  const existing = await readEngineState();
  if (vmRunning(existing?.vm)) {
    log(`engine VM already running (qemu pid ${existing.vm.pid})`);
    // The checks run over the forwarder's connection (started first if it went away): a running engine costs no SSH
    // handshake (~1.2 s under emulation) when its forwarder is up.
    const shell = engineMachine(await ensureDockerForwarder());
    forwarded();
    try {
      await engineReady(shell, log);
    } finally {
      await shell.close();
    }
    return;
  }
  if (existing) await rm(engineDir(), { recursive: true, force: true });
  await checkVmHostTools();
  const state: EngineState = { version: 1, createdAt: new Date().toISOString() };
  await writeEngineState(state);
  let shell: MachineShell;
  try {
    shell = await bootMachine(ENGINE_VM, engineDir(), log, (vm) => writeEngineState({ ...state, vm }), ENGINE_FLAVOUR);
  } catch (err) {
    await engineDown(log);
    throw err;
  }
  try {
    // The forwarder's handshake beside the checks on the boot's own connection (the VM takes its key before this).
    await Promise.all([engineReady(shell, log), ensureDockerForwarder().then(forwarded)]);
  } finally {
    await shell.close();
  }
}

/** True when pid is the engine's socket forwarder (never signal a recycled pid). */
function isForwarder(pid: number): boolean {
  const args = processArgs(pid);
  return args?.[0] === 'ssh' && args.includes(`${dockerSocket()}:${VM_DOCKER_SOCKET}`);
}

const socketAnswers = (path: string) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection(path, () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

/**
 * One SSH connection forwarding the engine VM's Docker socket to dockerSocket() on this host, started once and kept
 * (engineDown ends it, by pid): the Docker provider's API calls and this host's `docker` CLI then share it, where with
 * ssh:// each connection started `ssh` here and `docker system dial-stdio` in the VM (~2.3 s each under software
 * emulation). It is also the master connection (controlSocket()) that `engineMachine`'s commands run over. Idempotent;
 * returns how to reach the VM.
 */
export async function ensureDockerForwarder(): Promise<SshTarget> {
  const state = await readEngineState();
  if (!state?.vm) throw new Error('the engine VM is not running');
  const target = await machineTarget(state.vm, engineDir());
  const sock = dockerSocket();
  // Up: both its sockets answer (one started before it shared its connection has no control socket, and is replaced).
  const up = async () => (await socketAnswers(sock)) && (await socketAnswers(controlSocket()));
  const pid = state.forwarder?.pid;
  const running = pid !== undefined && isForwarder(pid);
  if (running && (await up())) return target;
  if (running) process.kill(pid);
  await rm(sock, { force: true });
  await rm(controlSocket(), { force: true });
  const args = [
    ...(await opensshOptions(target)),
    '-o',
    'LogLevel=ERROR',
    '-o',
    'ExitOnForwardFailure=yes',
    '-o',
    'ServerAliveInterval=15',
    '-o',
    'ControlMaster=yes',
    '-o',
    `ControlPath=${controlSocket()}`,
    '-N',
    '-L',
    `${sock}:${VM_DOCKER_SOCKET}`,
    '-p',
    String(target.port),
    `${target.username}@${target.host}`,
  ];
  const child = spawn('ssh', args, { detached: true, stdio: 'ignore' });
  child.unref();
  await writeEngineState({ ...state, forwarder: { pid: child.pid! } });
  const failed = (why: string) =>
    new CommandError('localhost', `ssh ${args.join(' ')}`, 1, why, "forwarding the engine VM's Docker socket");
  await waitFor(
    async () => {
      if (await up()) return true;
      if (!isForwarder(child.pid!)) throw failed('the ssh forwarding the Docker socket exited');
      return undefined;
    },
    { within: 10_000, every: 100, timedOut: () => failed('the Docker socket forward did not come up within 10 s') },
  );
  return target;
}

/** The engine VM's own shell (its kernel, iptables) over the forwarder's connection: no new SSH handshake. */
export const engineMachine = (target: SshTarget): OpensshShell => new OpensshShell(target, controlSocket());

/** Stops the engine VM: every container, network and image in it goes with its overlay. */
export async function engineDown(log: Log = () => {}): Promise<boolean> {
  const state = await readEngineState();
  if (!state) return false;
  if (state.forwarder && isForwarder(state.forwarder.pid)) process.kill(state.forwarder.pid);
  if (state.vm) {
    await stopMachine(state.vm);
    log(`removed the engine VM (qemu pid ${state.vm.pid}) and everything in it`);
  }
  await rm(engineDir(), { recursive: true, force: true });
  return true;
}

export async function engineVmRunning(): Promise<boolean> {
  return vmRunning((await readEngineState())?.vm);
}
