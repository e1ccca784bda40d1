// Saved booted VMs: a VM is booted from the image once, prepared, and its memory and devices saved (qemu migration
// to a file) together with its disk at that moment. A lab then starts by restoring that state over a throwaway
// overlay of the saved disk: SSH answers in a fraction of a boot's time under software emulation. Cached beside the
// image, under a hash of everything the state depends on (the image, the qemu command line and version, what was
// prepared); a restored VM gets its own SSH key, clock and random seed before anyone uses it (machine.ts).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { $ } from 'zx';
import { CommandError, TimeoutError } from '../model/errors.js';
import { newSshKeyPair, type SshShell } from '../provision/ssh.js';
import { sleep, waitFor } from '../base/wait.js';
import { kitProcessAlive } from '../base/process.js';
import type { VmImage } from './image.js';
import { Qmp } from './qmp.js';
import { bootVm, chooseAccel, freeLoopbackPort, qemuArgs, stopVm, vmFiles } from './qemu.js';
import { LAB_TOOLS } from '../provision/host-needs.js';
import { seconds } from '../base/log.js';

const SAVE_FORMAT = 3; // bump when how a state is saved or resumed changes in a way the key does not show

/** What kind of VM is saved: a bare lab VM, or one prepared further (the Docker engine VM with dockerd running). */
export interface VmFlavour {
  name: string;
  /** Shell scripts run in order on the booted VM before it is saved; part of the cache key. */
  prepare?: string[];
  /** Commands whose programs and libraries stay in the saved page cache (read back in after it is dropped). */
  cached?: string[];
  /** A second NIC for an underlay between VMs (underlay.ts): part of the saved device set. */
  underlay?: boolean;
}

/**
 * What labs run stays cached: after a restore, the first start of each program would otherwise read it from disk
 * , and a lab starts a dozen of them.
 */
export const LAB_VM: VmFlavour = {
  name: 'lab',
  // Every lab's network is a bridge with veths: their modules loaded before the save, not by the first lab.
  prepare: ['modprobe -a bridge veth'],
  cached: [
    ...LAB_TOOLS,
    ...['keepalived', 'sh', 'bash', 'cat', 'mkdir', 'cmp', 'grep', 'sleep', 'timeout', 'seq', 'id'],
    ...['date', 'taskset', 'modprobe', 'tini-static', 'unshare'],
  ],
};

/** Reads the programs and the libraries they link (and apache2's modules) into the page cache. */
const cacheScript = (commands: string[]) =>
  [
    // (command -v names a builtin by its name: only paths are read)
    `for c in ${commands.join(' ')}; do p=$(command -v $c) || continue; case $p in /*) echo $p; ldd $p 2>/dev/null | grep -o '/[^ ]*' ;; esac; done |`,
    '  sort -u | xargs cat >/dev/null',
    'cat /usr/lib/apache2/modules/*.so >/dev/null 2>&1',
    'true',
  ].join('\n');

export interface SavedVm {
  dir: string;
  /** The disk as it was when the memory was saved: a qcow2 over the image's disk. */
  disk: string;
  /** qemu's migration stream: the device state (the memory is `ram`'s). */
  state: string;
  /** The guest's memory when it was saved: mapped copy-on-write by every VM restored from it, never written. */
  ram: string;
  /** The key the saved guest authorizes (replaced in each restored VM) and its public blob. */
  keyFile: string;
  publicKey: string;
}

/** Common to every flavour: IPVS modules loaded (booting loads them in the background), the page cache dropped so
 * the saved memory is small, everything on disk. */
const BEFORE_SAVE = [
  "for i in $(seq 100); do grep -q '^ip_vs ' /proc/modules && break; sleep 0.1; done",
  'sync',
  'echo 3 > /proc/sys/vm/drop_caches',
].join('\n');

/** Every script a flavour's VM runs before it is saved, in order: what the saved state is made of. */
const preparation = (flavour: VmFlavour): string[] => [
  ...(flavour.prepare ?? []),
  BEFORE_SAVE,
  ...(flavour.cached ? [cacheScript(flavour.cached)] : []),
];

const qemuVersion = async (): Promise<string> =>
  (await $({ quiet: true })`qemu-system-x86_64 --version`).stdout.split('\n')[0];

/** Where the saved state for this flavour, image and qemu lives; a changed input is a new place. */
export async function savedDir(flavour: VmFlavour, image: VmImage): Promise<string> {
  const template = qemuArgs(
    {
      name: 'NAME',
      image,
      dir: 'DIR',
      sshPort: 0,
      publicKey: 'KEY',
      saveRamTo: 'DIR/ram',
      underlay: flavour.underlay ? {} : undefined,
    },
    chooseAccel(),
  );
  const key = createHash('sha256')
    .update(
      JSON.stringify({ SAVE_FORMAT, template, qemu: await qemuVersion(), flavour, scripts: preparation(flavour) }),
    )
    .digest('hex')
    .slice(0, 16);
  return join(image.dir, 'saved', `${flavour.name}-${key}`);
}

/** A saved state's files in its directory (written by saveVm, read by readSaved); the manifest is written last. */
const savedFiles = (dir: string) => ({
  disk: join(dir, 'disk.qcow2'),
  state: join(dir, 'state'),
  ram: join(dir, 'ram'),
  keyFile: join(dir, 'id_ed25519'),
});
const manifestFile = (dir: string) => join(dir, 'manifest.json');

async function readSaved(dir: string): Promise<SavedVm | undefined> {
  const manifest = manifestFile(dir);
  if (!existsSync(manifest)) return undefined;
  const { publicKey } = JSON.parse(await readFile(manifest, 'utf8')) as { publicKey: string };
  const files = savedFiles(dir);
  // One with a file gone (removed by hand) is no saved state: without its memory file qemu would make an empty one,
  // and the guest would resume on zeroed memory. Removed, so the next start saves a whole one.
  if (!Object.values(files).every((f) => existsSync(f))) {
    await rm(dir, { recursive: true, force: true });
    return undefined;
  }
  return { dir, ...files, publicKey };
}

export const findSaved = async (flavour: VmFlavour, image: VmImage): Promise<SavedVm | undefined> =>
  readSaved(await savedDir(flavour, image));

/**
 * Removes what a save killed midway left (`<dir>.saving-<pid>` of a process that is gone): its VM, stopped by the pid
 * qemu wrote there (checked to be that VM), and the directory. Returns what it removed.
 */
export async function sweepInterruptedSaves(image: VmImage): Promise<string[]> {
  const root = join(image.dir, 'saved');
  const left = existsSync(root) ? (await readdir(root)).filter((d) => /\.saving-\d+$/.test(d)) : [];
  const removed: string[] = [];
  for (const d of left) {
    if (kitProcessAlive(Number(d.split('.saving-')[1]))) continue;
    const pid = Number((await readFile(vmFiles(join(root, d)).pidFile, 'utf8').catch(() => '')).trim());
    const flavour = d.split('-')[0];
    if (pid) await stopVm(pid, `lvs-lab-save-${flavour}`);
    await rm(join(root, d), { recursive: true, force: true });
    removed.push(join(root, d));
  }
  return removed;
}

/** Drops a saved state that failed to restore, so the next start saves a new one. */
export const discardSaved = (saved: SavedVm): Promise<void> => rm(saved.dir, { recursive: true, force: true });

/** Prepares the booted VM for its flavour over `shell`, then stops it and writes its state to `stateFile`. */
async function prepareAndStop(flavour: VmFlavour, shell: SshShell, work: string, stateFile: string): Promise<void> {
  try {
    for (const script of preparation(flavour)) {
      const res = await shell.exec(script, { timeoutMs: 600_000 });
      if (res.code !== 0)
        throw new CommandError(
          shell.where,
          script,
          res.code,
          res.stderr || res.stdout,
          `preparing the ${flavour.name} VM to save`,
        );
    }
  } finally {
    await shell.close();
  }
  // Let the guest settle before it is stopped: the SSH session's teardown runs on in its kernel for a moment, and a
  // vCPU saved midway through kernel work can spin forever once restored (seen once: CPU 0 stuck in sshd).
  await sleep(2_000);
  const qmp = await Qmp.connect(vmFiles(work).qmp);
  try {
    // Stopped first, so the disk is final before the memory is written; the restored guest then resumes from here.
    await qmp.execute('stop');
    await qmp.execute('migrate-set-capabilities', { capabilities: [IGNORE_SHARED] });
    await qmp.execute('migrate', { uri: `exec:cat > '${stateFile}'` });
    await qmp.migrationDone(120_000);
    await qmp.execute('quit').catch(() => {});
  } finally {
    qmp.close();
  }
}

/** States of this flavour saved under other inputs (an older qemu command line, qemu, save format) are stale now. */
async function removeStaleStates(flavour: VmFlavour, image: VmImage, final: string): Promise<void> {
  const root = join(image.dir, 'saved');
  for (const d of await readdir(root))
    if (d.startsWith(`${flavour.name}-`) && join(root, d) !== final && !d.includes('.saving-'))
      await rm(join(root, d), { recursive: true, force: true });
}

/**
 * Boots a VM of this flavour from the image, prepares it and saves it (about a cold boot, once per
 * image and qemu). `connect` waits for the booted VM's sshd (machine.ts owns SSH waits). Built beside its final
 * place and renamed: an interrupted save never looks like a saved state, and of two processes saving at once one wins.
 */
export async function saveVm(
  flavour: VmFlavour,
  image: VmImage,
  connect: (pid: number, name: string, sshPort: number, dir: string, privateKey: string) => Promise<SshShell>,
  log: (message: string) => void,
): Promise<SavedVm> {
  const final = await savedDir(flavour, image);
  const work = `${final}.saving-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true, mode: 0o700 });
  const name = `lvs-lab-save-${flavour.name}`;
  const files = savedFiles(work);
  let pid = 0;
  try {
    const t0 = Date.now();
    const keys = newSshKeyPair();
    await writeFile(files.keyFile, keys.private, { mode: 0o600 });
    const publicKey = keys.public.split(' ')[1];
    const sshPort = await freeLoopbackPort();
    const underlay = flavour.underlay ? {} : undefined;
    ({ pid } = await bootVm({ name, image, dir: work, sshPort, publicKey, saveRamTo: files.ram, underlay }));
    log(`saving a booted ${flavour.name} VM for fast starts (once per image; qemu pid ${pid})`);
    await prepareAndStop(flavour, await connect(pid, name, sshPort, work, keys.private), work, files.state);
    await stopVm(pid, name);
    await rename(vmFiles(work).overlay, files.disk);
    for (const f of [vmFiles(work).console, vmFiles(work).pidFile]) await rm(f, { force: true });
    // On disk before the manifest says the state is whole (the memory file alone is up to the VM's size).
    await $({ quiet: true })`sync ${[files.disk, files.state, files.ram]}`;
    await writeFile(
      manifestFile(work),
      JSON.stringify({ flavour, publicKey, savedAt: new Date().toISOString() }, null, 2),
    );
    await rename(work, final).catch(async (err) => {
      if (!existsSync(manifestFile(final))) throw err;
      await rm(work, { recursive: true, force: true }); // another process saved it first
    });
    await removeStaleStates(flavour, image, final);
    log(`saved the booted ${flavour.name} VM in ${seconds(t0)} s: ${final}`);
    return (await readSaved(final))!;
  } catch (err) {
    if (pid) await stopVm(pid, name);
    await rm(work, { recursive: true, force: true });
    throw err;
  }
}

/** The guest's RAM (a file of its own, qemu.ts) stays out of the migration stream, at both ends. */
const IGNORE_SHARED = { capability: 'x-ignore-shared', state: true };

/** After a restore's qemu started (`-incoming defer`): loads the saved state, then resumes the guest. */
export async function resumeRestored(
  dir: string,
  state: string,
  running: () => boolean,
  timeoutMs = 60_000,
): Promise<void> {
  const qmp = await Qmp.connect(vmFiles(dir).qmp, timeoutMs, running).catch((err: Error) => {
    throw new Error(`${err.message} (qemu refused the saved state?)`);
  });
  try {
    await qmp.execute('migrate-set-capabilities', { capabilities: [IGNORE_SHARED] });
    await qmp.execute('migrate-incoming', { uri: `exec:cat '${state}'` });
    // "inmigrate" while qemu reads the state; then paused (resumed here), or running already.
    const status = await waitFor(
      async () => {
        const { status } = await qmp.execute<{ status: string }>('query-status');
        return status === 'inmigrate' ? undefined : status;
      },
      {
        within: timeoutMs,
        every: 25,
        timedOut: () => new TimeoutError(`qemu still loading the saved state after ${timeoutMs} ms`, timeoutMs),
      },
    );
    if (status === 'running') return;
    if (!['paused', 'postmigrate', 'prelaunch'].includes(status))
      throw new Error(`qemu is ${status} after loading the saved state`);
    await qmp.execute('cont');
  } finally {
    qmp.close();
  }
}
