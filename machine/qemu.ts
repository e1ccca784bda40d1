// Boots the lab VM: qemu with Debian's kernel, a throwaway qcow2 overlay over the cached image, and user-mode
// networking with restrict=on, so the guest reaches nothing but the one loopback port forwarded to its sshd.
import { CommandError } from '../model/errors.js';
import { existsSync, readFileSync } from 'node:fs';
import { open, readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { $ } from 'zx';
import { processArgs, stopProcess } from '../base/process.js';
import type { VmImage } from './image.js';
import { joinUnderlay, UNDERLAY_NIC_MAC } from './underlay.js';

export interface Accel {
  name: 'kvm' | 'tcg';
  args: string[];
}

/**
 * KVM when /dev/kvm is usable and the CPU exposes hardware virtualisation; otherwise software emulation.
 * (A /dev/kvm without vmx/svm is a paravirtual backend that Debian's stock kernel does not boot on.)
 */
export function chooseAccel(): Accel {
  const forced = process.env.LVS_LAB_ACCEL;
  const kvmUsable = () => {
    try {
      return existsSync('/dev/kvm') && /\b(vmx|svm)\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
    } catch {
      return false;
    }
  };
  if (forced === 'kvm' || (forced !== 'tcg' && kvmUsable()))
    return { name: 'kvm', args: ['-accel', 'kvm', '-cpu', 'host'] };
  // qemu64 boots faster than -cpu max under TCG.
  return { name: 'tcg', args: ['-accel', 'tcg', '-cpu', 'qemu64'] };
}

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** vCPUs of every lab VM (each one a host thread under software emulation; this kind of machine has 2 cores). */
export const VCPUS = 2;

/**
 * The kernel command line every VM of the kit boots with (the vm testbed's, the engine VM's, each Vagrant machine's),
 * before its own `lvslab.*` settings. Two settings only save boot time under software emulation (bench/HISTORY.md has
 * the figures): `acpi=noirq` routes PCI interrupts by the BIOS's table instead of running the ACPI link methods,
 * interpreted per PCI device; `cryptomgr.notests` skips the crypto self-tests.
 */
export const KERNEL_ARGS =
  'console=ttyS0 quiet root=/dev/vda rw net.ifnames=0 panic=-1 acpi=noirq cryptomgr.notests init=/sbin/lvs-lab-init';

export interface VmFiles {
  overlay: string;
  pidFile: string;
  console: string;
  /** qemu's machine protocol: saving a booted VM, resuming a restored one, and a clean quit. */
  qmp: string;
}

const QMP_SOCKET = 'qmp.sock';

export const vmFiles = (dir: string): VmFiles => ({
  overlay: join(dir, 'overlay.qcow2'),
  pidFile: join(dir, 'qemu.pid'),
  console: join(dir, 'console.log'),
  qmp: join(dir, QMP_SOCKET),
});

/**
 * qemu has the VM's directory open as its fd 3 and makes its QMP socket through `/proc/self/fd/3/`: a unix socket's
 * address holds 107 bytes, and the directory of a VM being saved alone sits ~90 characters below the cache directory,
 * so a home longer than /root did not fit.
 */
const DIR_FD = 3;

export interface BootOptions {
  /** Shown in `ps` as the qemu process name, and checked before we ever signal a pid. */
  name: string;
  image: VmImage;
  dir: string;
  sshPort: number;
  /** Base64 blob of the lab's ed25519 public key. */
  publicKey: string;
  memoryMb?: number;
  /** Booting a VM to save (saved.ts): its RAM is this file, mapped shared, so the file holds the guest's memory. */
  saveRamTo?: string;
  /** Start from a saved booted VM (saved.ts) instead of booting: its disk becomes the overlay's backing file, its RAM
   * file is mapped copy-on-write. */
  restore?: { disk: string; ram: string };
  /** A second NIC, for an underlay between VMs (underlay.ts): on the tap named (made by qemu), or, while a VM is saved,
   * on a hub port that leads nowhere; the device is the same either way, as a restore needs. */
  underlay?: { tap?: string };
}

const underlayNic = (u: BootOptions['underlay']): string[] =>
  u
    ? [
        '-netdev',
        u.tap ? `tap,id=u0,ifname=${u.tap},script=no,downscript=no` : 'hubport,id=u0,hubid=0',
        '-device',
        `virtio-net-pci,netdev=u0,mac=${UNDERLAY_NIC_MAC}`,
      ]
    : [];

/**
 * The guest's RAM as a file, for saved VMs: while a VM is saved it is `share=on` (the guest writes into the file), and
 * a restored VM maps the saved file `share=off`, copy-on-write, as its overlay sits on the saved disk: what it writes
 * stays its own, the file never changes, and pages it never touches are never read. With the x-ignore-shared
 * capability (saved.ts sets it at both ends, over QMP) qemu's migration stream leaves shared RAM out, so the state
 * holds the devices alone and a restore loads no memory: the engine VM's memory is never copied.
 */
const ramFile = (o: BootOptions, mb: number): string[] => {
  const file = o.restore ? { path: o.restore.ram, share: 'off' } : o.saveRamTo && { path: o.saveRamTo, share: 'on' };
  if (!file) return [];
  return [
    '-object',
    `memory-backend-file,id=pc.ram,size=${mb}M,mem-path=${file.path},share=${file.share}`,
    '-machine',
    'memory-backend=pc.ram',
  ];
};

export function qemuArgs(o: BootOptions, accel: Accel): string[] {
  const f = vmFiles(o.dir);
  const memoryMb = o.memoryMb ?? 1024;
  return [
    '-name',
    `${o.name},process=${o.name}`,
    ...accel.args,
    '-smp',
    String(VCPUS),
    '-m',
    String(memoryMb),
    ...ramFile(o, memoryMb),
    '-kernel',
    o.image.kernel,
    '-initrd',
    o.image.initrd,
    '-append',
    `${KERNEL_ARGS} lvslab.key=${o.publicKey}`,
    '-drive',
    `file=${f.overlay},if=virtio,format=qcow2,cache=unsafe`,
    '-netdev',
    `user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:${o.sshPort}-:22`,
    '-device',
    'virtio-net-pci,netdev=n0',
    ...underlayNic(o.underlay),
    // Seeds the guest's RNG at once: sshd would otherwise wait seconds for entropy under emulation.
    '-device',
    'virtio-rng-pci',
    // A new generation ID at every start: a guest restored from a saved state sees it change and reseeds its RNG
    // (the kernel's vmgenid driver), so two labs restored from one state do not draw the same random numbers.
    '-device',
    'vmgenid,guid=auto',
    '-display',
    'none',
    '-monitor',
    'none',
    '-serial',
    `file:${f.console}`,
    '-qmp',
    `unix:/proc/self/fd/${DIR_FD}/${QMP_SOCKET},server=on,wait=off`,
    '-no-reboot',
    '-daemonize',
    '-pidfile',
    f.pidFile,
    // The saved state is loaded over QMP (resumeRestored), once the capability it was saved with is set.
    ...(o.restore ? ['-incoming', 'defer'] : []),
  ];
}

/** Starts qemu in the background and returns its pid; the guest is still booting. */
export async function bootVm(o: BootOptions): Promise<{ pid: number; accel: Accel }> {
  const f = vmFiles(o.dir);
  const accel = chooseAccel();
  // A restored VM's overlay sits on the disk as it was when its memory was saved, never on the pristine image.
  if (o.restore) await $({ quiet: true })`qemu-img create -q -f qcow2 -F qcow2 -b ${o.restore.disk} ${f.overlay}`;
  else await $({ quiet: true })`qemu-img create -q -f qcow2 -F raw -b ${o.image.disk} ${f.overlay}`;
  const args = qemuArgs(o, accel);
  const res = await runQemu(args, o.dir);
  if (res.code !== 0)
    throw new CommandError('localhost', `qemu-system-x86_64 ${args.join(' ')}`, res.code, res.stderr, 'starting qemu');
  const pid = Number((await readFile(f.pidFile, 'utf8')).trim());
  // Before the guest runs (a restored one waits for its state; a booting one is seconds from its first frame).
  if (o.underlay?.tap)
    await joinUnderlay(o.underlay.tap).catch(async (err: unknown) => {
      await stopVm(pid, o.name);
      throw err;
    });
  return { pid, accel };
}

/** Runs qemu with `dir` open as its fd 3 (DIR_FD) until it exits: with `-daemonize`, once the VM has started. */
export async function runQemu(args: string[], dir: string): Promise<{ code: number; stderr: string }> {
  const dirFd = await open(dir, 'r');
  try {
    return await new Promise((resolve, reject) => {
      const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe', dirFd.fd] });
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code: code ?? 1, stderr }));
    });
  } finally {
    await dirFd.close();
  }
}

/** True when these are the arguments of a qemu started under this name (`-name NAME,process=NAME`). */
const startedAs = (args: string[], name: string) =>
  (args[0] ?? '').includes('qemu-system') && args.includes(`${name},process=${name}`);

/** True when pid is a live qemu started under this name (never signal a recycled pid). */
export function isOurVm(pid: number, name: string): boolean {
  return startedAs(processArgs(pid) ?? [], name);
}

/** The pids of every running qemu started under this name: found without any state or pid file. */
export async function vmPidsNamed(name: string): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry)).map(Number);
  return pids.filter((pid) => isOurVm(pid, name));
}

export async function stopVm(pid: number, name: string): Promise<void> {
  await stopProcess(pid, () => isOurVm(pid, name));
}
