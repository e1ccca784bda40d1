// One VM as a machine to run commands on: start it (restored from a saved booted VM, or booted) with a fresh SSH key,
// wait for its sshd, reconnect to it later from its saved state, stop it. Labs (the vm testbed) and the Docker engine VM both use it.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { $ } from 'zx';
import { z } from 'zod';
import { waitFor } from '../base/wait.js';
import { CommandError, TimeoutError } from '../model/errors.js';
import { LOGIN_SHELL, withResidents } from '../provision/resident.js';
import { mustExec, type Shell } from '../provision/shell.js';
import { newSshKeyPair, SshShell, type SshTarget } from '../provision/ssh.js';
import { seconds, type Log } from '../base/log.js';
import { PreflightError } from '../model/errors.js';
import { ensureImage, imageDir, type VmImage } from './image.js';
import { controlPathProblem, openMasterShell, startMaster, stopMasters, type MasterOptions } from './master.js';
import { bootVm, freeLoopbackPort, isOurVm, stopVm, VCPUS, vmFiles, type BootOptions } from './qemu.js';
import {
  discardSaved,
  findSaved,
  LAB_VM,
  resumeRestored,
  saveVm,
  sweepInterruptedSaves,
  type SavedVm,
  type VmFlavour,
} from './saved.js';

/** A base64 key blob as sshd prints it: nothing a command could take for more. */
export const KEY_BLOB = z.string().regex(/^[A-Za-z0-9+/]{16,}={0,2}$/, 'must be a base64 key blob');

/** A booted VM as recorded: root signals its pid and pins its key, so a record read back is checked. */
export const VM_STATE = z.strictObject({
  name: z.string(),
  pid: z
    .number()
    .int()
    .min(2)
    .max(2 ** 22),
  sshPort: z.number().int().min(1).max(65535),
  hostKey: KEY_BLOB,
  accel: z.string().regex(/^[a-z]{0,8}$/),
  /** Started from the saved booted VM rather than booted. */
  restored: z.boolean().optional(),
});
export type VmState = z.infer<typeof VM_STATE>;

export type { Log };

export const vmKeyFile = (dir: string): string => join(dir, 'id_ed25519');

/**
 * Fails before anything starts when this host lacks qemu (or, for a first image build, debootstrap or root), or when
 * the VM's directory `dir` is too deep for its SSH control socket.
 */
export async function checkVmHostTools(dir: string): Promise<void> {
  const needBuild = !existsSync(join(await imageDir(), 'manifest.json'));
  const tools = ['qemu-system-x86_64', 'qemu-img', ...(needBuild ? ['debootstrap', 'mkfs.ext4'] : [])];
  const missing: string[] = [];
  for (const t of tools) if ((await $({ nothrow: true, quiet: true })`command -v ${t}`).exitCode !== 0) missing.push(t);
  const problems = missing.map((t) => `tool: ${t} is not installed (testbed/install-deps.sh vm installs it)`);
  if (needBuild && process.getuid?.() !== 0) problems.push('root: building the VM image with debootstrap needs root');
  const tooDeep = controlPathProblem(dir);
  if (tooDeep) problems.push(tooDeep);
  if (problems.length > 0) throw new PreflightError('localhost', problems);
}

/** Why a VM that exited while starting did: its console's last lines. */
async function exitedWhileStarting(dir: string): Promise<string> {
  const consoleLog = await readFile(vmFiles(dir).console, 'utf8').catch(() => '');
  return `the VM exited while starting; last console lines:\n${consoleLog.split('\n').slice(-15).join('\n')}`;
}

/** An SSH session of its own on a VM being saved (saved.ts): closed before its memory is saved. */
async function waitForSsh(
  vm: VmState,
  dir: string,
  privateKey: string,
  keyFile: string,
  timeoutMs = 300_000,
): Promise<SshShell> {
  let lastError = 'no attempt';
  return waitFor(
    async () => {
      if (!isOurVm(vm.pid, vm.name)) throw new Error(await exitedWhileStarting(dir));
      try {
        return await SshShell.connect(
          { host: '127.0.0.1', port: vm.sshPort, username: 'root', privateKey, hostKey: vm.hostKey, keyFile },
          5_000,
        );
      } catch (err) {
        lastError = (err as Error).message;
        return undefined; // sshd not up yet
      }
    },
    {
      within: timeoutMs,
      every: 250,
      timedOut: () =>
        new TimeoutError(`no SSH from the VM within ${timeoutMs / 1000} s (last error: ${lastError})`, timeoutMs),
    },
  );
}

/** A VM as its users get it: commands over its master connection (master.ts), its own ones in one resident login
 * shell, so they pay for one SSH session channel (sshd's fork and root's bash under software emulation) rather than
 * one each. */
const machineShell = (shell: Shell): Shell => withResidents(shell, LOGIN_SHELL);

/** What a master connection to `vm` is started with: its pid to check, its console for a VM that exited. */
const masterOptions = (vm: VmState, dir: string, within: number): MasterOptions => ({
  within,
  vmAlive: () => isOurVm(vm.pid, vm.name),
  exited: () => exitedWhileStarting(dir),
});

/**
 * Shell text that gives a started VM an SSH host key of its own (the image's is every VM's, and its private half is in
 * the image and the saved state) and makes sshd load it; prints the new key's public blob. The connection it runs on
 * stays up; every later one is pinned to the new key.
 */
export const OWN_HOST_KEY =
  "rm -f /etc/ssh/ssh_host_* && ssh-keygen -q -t ed25519 -N '' -C lvs-lab -f /etc/ssh/ssh_host_ed25519_key && " +
  'read -r p < /run/sshd.pid && kill -HUP "$p" && cut -d" " -f2 /etc/ssh/ssh_host_ed25519_key.pub';

/** The host key blob OWN_HOST_KEY printed (its last line), checked. */
export function ownHostKeyOf(stdout: string, where: string): string {
  const key = stdout.trim().split('\n').pop() ?? '';
  if (!/^AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]+={0,2}$/.test(key))
    throw new Error(`${where}: no ed25519 host key came back from ssh-keygen: ${JSON.stringify(stdout.slice(-200))}`);
  return key;
}

/** Gives the machine `shell` reaches a host key of its own (OWN_HOST_KEY) and returns the key's blob. */
export const ownHostKey = async (shell: Shell, timeoutMs: number): Promise<string> =>
  ownHostKeyOf(await mustExec(shell, OWN_HOST_KEY, 'giving the machine its own host key', timeoutMs), shell.where);

/** Gives the VM its own host key, records it (so later connections pin it) and returns the shell. */
async function withOwnHostKey(shell: Shell, vm: VmState, booted: (vm: VmState) => Promise<void>): Promise<Shell> {
  try {
    vm.hostKey = await ownHostKey(shell, 20_000);
  } catch (err) {
    await shell.close();
    throw err;
  }
  await booted(vm);
  return shell;
}

/** The saved booted VM of this flavour, saving one first when there is none (about one cold boot, once per image). */
export async function ensureSavedVm(image: VmImage, flavour: VmFlavour, log: Log): Promise<SavedVm> {
  for (const d of await sweepInterruptedSaves(image)) log(`removed an interrupted save: ${d} (and its VM)`);
  return (
    (await findSaved(flavour, image)) ??
    saveVm(
      flavour,
      image,
      (pid, name, sshPort, dir, key) =>
        waitForSsh({ name, pid, sshPort, hostKey: image.hostKey, accel: '' }, dir, key, vmKeyFile(dir)),
      log,
    )
  );
}

/**
 * Starts a VM whose files live in `dir` and returns a shell on it: restored from the saved booted VM of its flavour
 * (saving one first when there is none), or booted when LVS_LAB_COLD_BOOT=1 or a restore fails (said in the log).
 * `booted` is called with the VM's state as soon as qemu runs, before waiting on SSH, so the caller records
 * something to clean up if the wait fails.
 */
export async function bootMachine(
  name: string,
  dir: string,
  log: Log,
  booted: (vm: VmState) => Promise<void>,
  flavour: VmFlavour = LAB_VM,
  {
    coldBoot = process.env.LVS_LAB_COLD_BOOT === '1',
    underlay,
  }: { coldBoot?: boolean; underlay?: BootOptions['underlay'] } = {},
): Promise<Shell> {
  const image = await ensureImage(log);
  const keys = newSshKeyPair();
  await writeFile(vmKeyFile(dir), keys.private, { mode: 0o600 });
  const publicKey = keys.public.split(' ')[1];
  if (!coldBoot) {
    let saved: SavedVm | undefined;
    try {
      saved = await ensureSavedVm(image, flavour, log);
      return await restoreMachine({ name, underlay }, dir, image, saved, publicKey, log, booted);
    } catch (err) {
      const what = saved ? 'restoring the saved VM' : 'saving a booted VM';
      log(
        `${what} failed (${(err as Error).message.split('\n')[0]}): booting instead${saved ? '; that saved state is discarded' : ''}`,
      );
      if (saved) await discardSaved(saved);
      const f = vmFiles(dir);
      for (const file of [f.overlay, f.qmp, f.pidFile]) await rm(file, { force: true });
    }
  }
  const sshPort = await freeLoopbackPort();
  const t0 = Date.now();
  const { pid, accel } = await bootVm({ name, image, dir, sshPort, publicKey, underlay });
  const vm: VmState = { name, pid, sshPort, hostKey: image.hostKey, accel: accel.name };
  await booted(vm);
  log(`VM booting (qemu pid ${pid}, ${accel.name}, kernel ${image.kernelVersion}, ssh on 127.0.0.1:${sshPort})`);
  const shell = machineShell(await startMaster(await machineTarget(vm, dir), dir, masterOptions(vm, dir, 300_000)));
  await withOwnHostKey(shell, vm, booted);
  log(`VM up: booted, SSH answered after ${seconds(t0)} s`);
  return shell;
}

/**
 * Restores the saved VM into `dir` and makes it this VM's own before returning: until then it is a copy of the saved
 * guest, with the saved key, a clock stopped at the save and the saved random state. Throws (the caller boots
 * instead) when qemu refuses the state or the guest does not answer.
 */
async function restoreMachine(
  { name, underlay }: Pick<BootOptions, 'name' | 'underlay'>,
  dir: string,
  image: VmImage,
  saved: SavedVm,
  publicKey: string,
  log: Log,
  booted: (vm: VmState) => Promise<void>,
): Promise<Shell> {
  const sshPort = await freeLoopbackPort();
  const t0 = Date.now();
  const { pid, accel } = await bootVm({
    name,
    image,
    dir,
    sshPort,
    publicKey: saved.publicKey,
    restore: saved,
    underlay,
  });
  const vm: VmState = { name, pid, sshPort, hostKey: image.hostKey, accel: accel.name, restored: true };
  await booted(vm);
  try {
    await resumeRestored(dir, saved.state, () => isOurVm(pid, name));
    // The master logs in with the saved key; from here on the VM accepts only its own (the target's key file).
    const shell = machineShell(
      await startMaster(await machineTarget(vm, dir), dir, {
        ...masterOptions(vm, dir, 30_000),
        firstKeys: [saved.keyFile],
      }),
    );
    // taskset is the image's static busybox: under emulation it starts several times faster than Debian's dynamically
    // linked one, and this is on the way to every lab's first command. (busybox's date takes whole seconds.)
    const own = [
      `printf 'ssh-ed25519 %s lvs-lab\\n' '${publicKey}' > /root/.ssh/authorized_keys`,
      `date -s @${(Date.now() / 1000).toFixed(3)} >/dev/null`,
      `printf %s ${randomBytes(64).toString('hex')} > /dev/urandom`,
      // Every vCPU runs a task: one stuck since the restore (a soft lockup) fails the restore here, not the lab later.
      ...Array.from({ length: VCPUS }, (_, cpu) => `busybox taskset -c ${cpu} busybox true`),
      OWN_HOST_KEY,
    ].join(' && ');
    const res = await shell.exec(own, { timeoutMs: 10_000 });
    if (res.code !== 0) {
      await shell.close();
      throw new CommandError(
        shell.where,
        own.split(' && ')[0],
        res.code,
        res.stderr,
        'giving the restored VM its own key',
      );
    }
    vm.hostKey = ownHostKeyOf(res.stdout, shell.where);
    await booted(vm);
    log(
      `VM up: restored a saved booted VM (qemu pid ${pid}, ${accel.name}, ssh on 127.0.0.1:${sshPort}), SSH answered after ${seconds(t0)} s`,
    );
    return shell;
  } catch (err) {
    await stopVm(pid, name);
    await stopMasters(dir);
    throw err;
  }
}

export const vmRunning = (vm: VmState | undefined): vm is VmState => vm !== undefined && isOurVm(vm.pid, vm.name);

/** How to reach a running VM booted by `bootMachine` (this process or another) over SSH: its key, its pinned host key. */
export async function machineTarget(vm: VmState, dir: string): Promise<SshTarget> {
  return {
    host: '127.0.0.1',
    port: vm.sshPort,
    username: 'root',
    privateKey: await readFile(vmKeyFile(dir), 'utf8'),
    hostKey: vm.hostKey,
    keyFile: vmKeyFile(dir),
  };
}

/** A running VM booted by `bootMachine` (this process or another), over its master connection: started anew when
 * there is none (a handshake, once), so a lab whose master went away gets one back. */
export async function openMachine(vm: VmState, dir: string): Promise<Shell> {
  return machineShell(await openMasterShell(await machineTarget(vm, dir), dir, masterOptions(vm, dir, 30_000)));
}

/** Stops the VM and its master connection; everything inside it (namespaces, containers, images) goes with its
 * overlay. */
export async function stopMachine(vm: VmState, dir: string): Promise<void> {
  await stopVm(vm.pid, vm.name);
  if (isOurVm(vm.pid, vm.name)) throw new Error(`qemu pid ${vm.pid} (${vm.name}) did not stop`);
  // It ends by itself when its connection closes with qemu; this is for one that has not noticed yet.
  await stopMasters(dir);
}
