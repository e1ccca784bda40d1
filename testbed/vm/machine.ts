// One VM as a machine to run commands on: boot it from the cached image with a fresh SSH key, wait for its sshd,
// reconnect to it later from its saved state, stop it. Labs (the vm testbed) and the Docker engine VM both use it.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { $ } from 'zx';
import { SshShell } from '../../provision/ssh.js';
import { PreflightError } from '../preflight.js';
import { ensureImage, imageDir } from './image.js';
import { bootVm, freeLoopbackPort, isOurVm, stopVm, vmFiles } from './qemu.js';

export interface VmState {
  name: string;
  pid: number;
  sshPort: number;
  hostKey: string;
  accel: string;
}

export type Log = (message: string) => void;

export const vmKeyFile = (dir: string): string => join(dir, 'id_ed25519');

/** Fails before anything starts when this host lacks qemu (or, for a first image build, debootstrap or root). */
export async function checkVmHostTools(): Promise<void> {
  const needBuild = !existsSync(join(await imageDir(), 'manifest.json'));
  const tools = ['qemu-system-x86_64', 'qemu-img', ...(needBuild ? ['debootstrap', 'mkfs.ext4'] : [])];
  const missing: string[] = [];
  for (const t of tools) if ((await $({ nothrow: true, quiet: true })`command -v ${t}`).exitCode !== 0) missing.push(t);
  const problems = missing.map((t) => `tool: ${t} is not installed (testbed/install-deps.sh vm installs it)`);
  if (needBuild && process.getuid?.() !== 0) problems.push('root: building the VM image with debootstrap needs root');
  if (problems.length > 0) throw new PreflightError('localhost', problems);
}

async function waitForSsh(vm: VmState, dir: string, privateKey: string): Promise<SshShell> {
  const deadline = Date.now() + 300_000;
  let lastError = '';
  while (Date.now() < deadline) {
    if (!isOurVm(vm.pid, vm.name)) {
      const consoleLog = await readFile(vmFiles(dir).console, 'utf8').catch(() => '');
      throw new Error(`the VM exited while booting; last console lines:\n${consoleLog.split('\n').slice(-15).join('\n')}`);
    }
    try {
      return await SshShell.connect({ host: '127.0.0.1', port: vm.sshPort, username: 'root', privateKey, hostKey: vm.hostKey, keyFile: vmKeyFile(dir) }, 5_000);
    } catch (err) {
      lastError = (err as Error).message;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
  throw new Error(`no SSH from the VM within 300 s (last error: ${lastError})`);
}

/**
 * Boots a VM whose files live in `dir` and returns a shell on it. `booted` is called with the VM's state as soon
 * as qemu runs, before waiting on SSH, so the caller records something to clean up if the wait fails.
 */
export async function bootMachine(name: string, dir: string, log: Log, booted: (vm: VmState) => Promise<void>): Promise<SshShell> {
  const image = await ensureImage(log);
  const keys = ssh2.utils.generateKeyPairSync('ed25519');
  await writeFile(vmKeyFile(dir), keys.private, { mode: 0o600 });
  const sshPort = await freeLoopbackPort();
  const t0 = Date.now();
  const { pid, accel } = await bootVm({ name, image, dir, sshPort, publicKey: keys.public.split(' ')[1] });
  const vm: VmState = { name, pid, sshPort, hostKey: image.hostKey, accel: accel.name };
  await booted(vm);
  log(`VM booting (qemu pid ${pid}, ${accel.name}, kernel ${image.kernelVersion}, ssh on 127.0.0.1:${sshPort})`);
  const shell = await waitForSsh(vm, dir, keys.private);
  log(`VM up: SSH answered after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return shell;
}

export const vmRunning = (vm: VmState | undefined): vm is VmState => vm !== undefined && isOurVm(vm.pid, vm.name);

/** A new SSH session on a running VM booted by `bootMachine` (this process or another). */
export async function openMachine(vm: VmState, dir: string): Promise<SshShell> {
  const privateKey = await readFile(vmKeyFile(dir), 'utf8');
  return SshShell.connect({ host: '127.0.0.1', port: vm.sshPort, username: 'root', privateKey, hostKey: vm.hostKey, keyFile: vmKeyFile(dir) });
}

/** Stops the VM; everything inside it (namespaces, containers, images) goes with its overlay. */
export async function stopMachine(vm: VmState): Promise<void> {
  await stopVm(vm.pid, vm.name);
  if (isOurVm(vm.pid, vm.name)) throw new Error(`qemu pid ${vm.pid} (${vm.name}) did not stop`);
}
