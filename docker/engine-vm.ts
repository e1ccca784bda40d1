// The engine VM: an lvs-lab VM (Debian's kernel, with IPVS) running dockerd, for Docker labs on hosts whose kernel
// has no IPVS. Its lifecycle only (`npm run lab -- engine up|down|status`); choosing and opening an engine is engine.ts.
import { readdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { mustExec, type Shell } from '../provision/shell.js';
import { stateDir } from '../base/paths.js';
import { forwardOnMaster, stopMasters } from '../machine/master.js';
import { socketAnswers } from '../machine/unix-socket.js';
import type { VmFlavour } from '../machine/saved.js';
import {
  bootMachine,
  checkVmHostTools,
  openMachine,
  stopMachine,
  vmRunning,
  type Log,
  type VmState,
} from '../machine/machine.js';
import { BASE_IMAGE_LOCAL, DOCKERFILE } from './spec.js';
import { seconds } from '../base/log.js';
import { readJson, writeJson } from '../base/json-file.js';
import { leaveUnderlayIfEmpty, UNDERLAY_BITS, UNDERLAY_PREFIX } from '../machine/underlay.js';
import { macFor } from '../model/addressing.js';
import { UserError } from '../model/errors.js';
import { ENGINE_NAME } from '../model/stack.js';

interface EngineState {
  version: 1;
  createdAt: string;
  vm?: VmState;
  /** Its address on the engine VMs' underlay (eth1), which a lab spanning engines tunnels over. */
  underlay?: string;
}

// A dash after "lvs-lab-": no lab's VM (lvs-lab-<name>, names of a-z and 0-9) can have this name, so a lab named
// "engine" never takes the engine VM for one of its own.
export const ENGINE_VM = 'lvs-lab-docker-engine';

/** The first engine VM is unnamed (`vm` in a stack); others are `vm:NAME`. */
export const engineVmName = (name?: string): string => (name ? `${ENGINE_VM}-${name}` : ENGINE_VM);
/** How messages name it, and how a stack's `engines` does. */
export const engineVmLabel = (name?: string): string => (name ? `engine VM ${name}` : 'engine VM');
export const engineVmAddress = (name?: string): string => (name ? `vm:${name}` : 'vm');
export const engineDir = (name?: string): string =>
  name ? join(stateDir(), 'engines', name) : join(stateDir(), 'engine');
const stateFile = (name?: string) => join(engineDir(name), 'state.json');
/** qemu's tap for the engine's underlay NIC (at most 15 characters). */
const underlayTap = (name?: string) => (name ? `lvs-ul-${name}` : 'lvs-ul0');

export const readEngineState = (name?: string) => readJson<EngineState>(stateFile(name));
/** The engine VM's Docker socket on this host: ssh binds it for root alone (mode 0600). */
export const dockerSocket = (name?: string): string => join(engineDir(name), 'docker.sock');
const writeEngineState = (state: EngineState, name?: string) => writeJson(stateFile(name), state);

/** The named engine VMs that have a state (running or not). */
export async function namedEngines(): Promise<string[]> {
  const names = await readdir(join(stateDir(), 'engines')).catch(() => [] as string[]);
  return names.filter((n) => ENGINE_NAME.test(n)).sort();
}

/** The lowest underlay address no other engine VM holds. */
async function freeUnderlayAddress(name?: string): Promise<string> {
  const others = [undefined, ...(await namedEngines())].filter((n) => n !== name);
  const taken = new Set((await Promise.all(others.map((n) => readEngineState(n)))).map((st) => st?.underlay));
  for (let n = 1; n < 255; n++) if (!taken.has(`${UNDERLAY_PREFIX}${n}`)) return `${UNDERLAY_PREFIX}${n}`;
  throw new UserError("engine: every address of the engine VMs' underlay is taken");
}

/** The guest's side of the underlay: its eth1 with its own MAC and address (idempotent). */
const underlayUp = (ip: string) =>
  [
    `ip -4 addr show dev eth1 | grep -q ' ${ip}/' && exit 0`,
    'ip link set eth1 down',
    `ip link set eth1 address ${macFor(ip)}`,
    'ip addr flush dev eth1',
    `ip addr add ${ip}/${UNDERLAY_BITS} dev eth1`,
    'ip link set eth1 up',
  ].join('\n');

/** dockerd's socket inside the VM: asked there directly, and forwarded to dockerSocket() on this host. */
const VM_DOCKER_SOCKET = '/var/run/docker.sock';

/** A GET of dockerd's API in the VM that succeeds when it answers 2xx. Asked with curl rather than the docker CLI: a
 * large Go program is slow to start under emulation. */
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
const ENGINE_FLAVOUR: VmFlavour = {
  name: 'engine',
  prepare: [START_DOCKERD, IMPORT_BASE, BUILD_LAYERS],
  underlay: true,
};

/** Waits for dockerd in the engine VM (starting it if needed) and imports the base image if it is missing: one
 * command, each script in a subshell of its own (a session channel is slow to open under emulation). */
async function engineReady(shell: Shell, log: Log, underlay: string): Promise<void> {
  const t = Date.now();
  await mustExec(
    shell,
    `(\n${START_DOCKERD}\n) && (\n${IMPORT_BASE}\n) && (\n${underlayUp(underlay)}\n)`,
    `starting dockerd, then the docker import of ${BASE_IMAGE_LOCAL}`,
    720_000,
  );
  log(`dockerd answers in the engine VM, base image ${BASE_IMAGE_LOCAL} in place (${seconds(t)} s)`);
}

/** Boots the engine VM `name` (the first when none; or finds it running), starts its dockerd, imports the base image
 * and puts it on the engine VMs' underlay. Idempotent. */
export async function engineUp(log: Log = () => {}, name?: string): Promise<void> {
  const which = engineVmLabel(name);
  const forwarded = () => log(`its Docker socket forwarded to ${dockerSocket(name)}`);
  const existing = await readEngineState(name);
  if (vmRunning(existing?.vm) && existing.underlay) {
    log(`${which} already running (qemu pid ${existing.vm.pid})`);
    // The checks run over the VM's master connection (started first if it went away): a running engine costs no SSH
    // handshake.
    const shell = await engineMachine(name);
    forwarded();
    try {
      await engineReady(shell, log, existing.underlay);
    } finally {
      await shell.close();
    }
    return;
  }
  if (existing) await engineDown(() => {}, name);
  await checkVmHostTools(engineDir(name));
  const state: EngineState = {
    version: 1,
    createdAt: new Date().toISOString(),
    underlay: await freeUnderlayAddress(name),
  };
  await writeEngineState(state, name);
  let shell: Shell;
  try {
    shell = await bootMachine(
      engineVmName(name),
      engineDir(name),
      log,
      (vm) => writeEngineState({ ...state, vm }, name),
      ENGINE_FLAVOUR,
      { underlay: { tap: underlayTap(name) } },
    );
  } catch (err) {
    await engineDown(log, name);
    throw err;
  }
  try {
    // The socket's forward beside the checks, both on the connection the VM came up with.
    await Promise.all([engineReady(shell, log, state.underlay!), forwardDockerSocket(name).then(forwarded)]);
    log(`${which} on the engine VMs' underlay as ${state.underlay}`);
  } finally {
    await shell.close();
  }
}

/** The engine's Docker socket forwarded to dockerSocket() over the VM's master connection, unless it is already. */
async function forwardDockerSocket(name?: string): Promise<void> {
  if (await socketAnswers(dockerSocket(name))) return;
  await forwardOnMaster(engineDir(name), dockerSocket(name), VM_DOCKER_SOCKET);
}

/**
 * The engine VM's own shell (its kernel, iptables; its `docker` where this host has none) over the VM's master
 * connection, with the VM's Docker socket forwarded to dockerSocket() on that same connection: the Docker provider's
 * API calls and this host's `docker` CLI then share it, where with ssh:// each connection started `ssh` here and
 * `docker system dial-stdio` in the VM. Either is made again if it went away.
 */
export async function engineMachine(name?: string): Promise<Shell> {
  const state = await readEngineState(name);
  if (!vmRunning(state?.vm)) throw new Error(`the ${engineVmLabel(name)} is not running`);
  const shell = await openMachine(state.vm, engineDir(name));
  await forwardDockerSocket(name);
  return shell;
}

/** Stops the engine VM: every container, network and image in it goes with its overlay, its underlay tap with qemu. */
export async function engineDown(log: Log = () => {}, name?: string): Promise<boolean> {
  const state = await readEngineState(name);
  if (!state) return false;
  if (state.vm) {
    await stopMachine(state.vm, engineDir(name));
    log(`removed the ${engineVmLabel(name)} (qemu pid ${state.vm.pid}) and everything in it`);
  }
  await stopMasters(engineDir(name)); // one left by a VM that was never recorded
  await rm(engineDir(name), { recursive: true, force: true });
  if (name) await rmdir(dirname(engineDir(name))).catch(() => {}); // the last named one's parent, once empty
  await leaveUnderlayIfEmpty();
  return true;
}

export async function engineVmRunning(name?: string): Promise<boolean> {
  return vmRunning((await readEngineState(name))?.vm);
}
