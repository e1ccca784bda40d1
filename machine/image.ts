// The VM image: Debian bookworm by debootstrap, with Debian's kernel (it ships the ip_vs modules) and the lab's
// tools. Built once and cached under a hash of everything that goes into it; a lab boots a throwaway overlay of it.
import { UserError } from '../model/errors.js';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { $ } from 'zx';
import { kitProcessAlive, processesUsing } from '../base/process.js';
import { cacheDir } from '../base/paths.js';
import { debianMirror } from './mirror.js';

const SUITE = 'bookworm';
export const VM_PACKAGES = [
  'linux-image-amd64',
  'kmod',
  'iproute2',
  'net-tools',
  'ipvsadm',
  'apache2',
  'curl',
  'tcpdump',
  'iputils-arping',
  'iputils-ping',
  'openssh-server',
  'procps',
  // The initramfs's shell, insmod, mount and switch_root (static: the initramfs holds no libraries), and the DHCP
  // client of Vagrant machines' management NIC.
  'busybox-static',
  // The health-checking variant's director.
  'keepalived',
  // The benchmark's load generator, run in a lab's client namespace.
  'wrk',
  // What forky's docker.io needs for its docker group (sysusers), instead of all of systemd.
  'systemd-standalone-sysusers',
];
/**
 * The Docker engine for Docker labs on hosts whose kernel lacks IPVS (started only by `lab engine up`), from Debian's
 * next suite rather than bookworm's 20.10: from Docker 28 on, a container's start no longer runs the
 * `libnetwork-setkey` prestart hook, which under software emulation was a new dockerd process and most of each
 * container's start (README, "Docker labs with Pulumi"). Only these packages come from there; everything they
 * need that bookworm has (libc, runc, iptables) stays bookworm's.
 */
const DOCKER_SUITE = 'forky';
// tini-static is docker.io's, and PID 1's reaper in every VM too (init.sh): it replaces bookworm's tini package.
export const DOCKER_PACKAGES = ['docker.io', 'docker-cli', 'docker-buildx', 'containerd', 'tini-static'];
/** The oldest dockerd without the prestart hook (moby 28.0). */
const DOCKER_MIN_MAJOR = 28;
/** The keys Debian signs its archive with (the debian-archive-keyring package). */
export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
/** How long after its Date the next suite's Release file is taken (apt's Min-ValidTime): its own Valid-Until is a
 * week away, which a mirror or snapshot a few weeks behind has passed; the check stays on, with this bound. */
export const RELEASE_VALID_DAYS = 90;
const DISK_SIZE = '4G'; // sparse; room for logs and captures in the overlay
const FORMAT = 3; // bump when the build steps below change in a way the inputs do not show

const initScript = fileURLToPath(new URL('./init.sh', import.meta.url));
const initramfsInit = fileURLToPath(new URL('./initramfs-init.sh', import.meta.url));
/** What the initramfs loads (with their dependencies, from modules.dep): the root disk, and the devices that udev
 * would otherwise have loaded drivers for (there is no udev in these guests). virtio-rng seeds the kernel's RNG at
 * once, so sshd does not wait seconds for entropy under emulation. */
const INITRAMFS_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_net', 'virtio-rng', 'crc32c_generic', 'ext4'];

export interface VmImage {
  dir: string;
  disk: string;
  kernel: string;
  initrd: string;
  kernelVersion: string;
  /** sshd's ed25519 host key blob, pinned by the SSH transport. */
  hostKey: string;
}

const mirror = (): string => debianMirror().url;

async function imageKey(): Promise<string> {
  const h = createHash('sha256');
  h.update(JSON.stringify({ FORMAT, SUITE, VM_PACKAGES, DOCKER_SUITE, DOCKER_PACKAGES, DISK_SIZE, mirror: mirror() }));
  h.update(JSON.stringify(INITRAMFS_MODULES));
  // Hashed whole, comments too: editing the init scripts' text rebuilds the image on every machine.
  h.update(await readFile(initScript));
  h.update(await readFile(initramfsInit));
  return h.digest('hex').slice(0, 16);
}

export async function imageDir(): Promise<string> {
  return join(cacheDir(), 'images', `${SUITE}-${await imageKey()}`);
}

async function readImage(dir: string): Promise<VmImage | undefined> {
  const manifest = join(dir, 'manifest.json');
  if (!existsSync(manifest)) return undefined;
  const m = JSON.parse(await readFile(manifest, 'utf8')) as Pick<VmImage, 'kernelVersion' | 'hostKey'>;
  return {
    dir,
    disk: join(dir, 'disk.raw'),
    kernel: join(dir, 'vmlinux'),
    initrd: join(dir, 'initrd.img'),
    kernelVersion: m.kernelVersion,
    hostKey: m.hostKey,
  };
}

/** What building the image needs on this host, refused with how to install it. */
async function checkBuildTools(): Promise<void> {
  for (const tool of ['debootstrap', 'mkfs.ext4', 'xz']) {
    if ((await $({ nothrow: true, quiet: true })`command -v ${tool}`).exitCode !== 0)
      throw new UserError(
        `building the VM image needs ${tool}: run testbed/install-deps.sh (or apt-get install debootstrap e2fsprogs xz-utils)`,
      );
  }
  // debootstrap checks the Release file's signature only against a keyring it is given.
  if (!existsSync(DEBIAN_KEYRING))
    throw new UserError(
      `building the VM image needs Debian's archive keyring (${DEBIAN_KEYRING}) to check what debootstrap downloads: ` +
        'run testbed/install-deps.sh (or apt-get install debian-archive-keyring)',
    );
}

/** The kernel, initramfs and disk made from the installed root filesystem `rootfs`, and the manifest beside them. */
async function finishImage(work: string, rootfs: string, dockerVersion: string, log: (msg: string) => void) {
  const boot = await readdir(join(rootfs, 'boot'));
  const vmlinuz = boot.find((f) => f.startsWith('vmlinuz-'));
  if (!vmlinuz) throw new Error('debootstrap installed no kernel in /boot');
  const kernelVersion = vmlinuz.slice('vmlinuz-'.length);
  await uncompressedKernel(join(rootfs, 'boot', vmlinuz), join(work, 'vmlinux'));
  await buildInitramfs(rootfs, kernelVersion, join(work, 'initrd.img'));
  const hostKey = (await readFile(join(rootfs, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8')).split(' ')[1];

  log('VM image: mkfs.ext4 from the root filesystem');
  await $({ quiet: true })`mkfs.ext4 -q -F -L lvsroot -d ${rootfs} ${join(work, 'disk.raw')} ${DISK_SIZE}`;
  await rm(rootfs, { recursive: true, force: true });
  await writeFile(
    join(work, 'manifest.json'),
    JSON.stringify(
      {
        suite: SUITE,
        packages: VM_PACKAGES,
        docker: { suite: DOCKER_SUITE, packages: DOCKER_PACKAGES, version: dockerVersion },
        kernelVersion,
        hostKey,
        builtAt: new Date().toISOString(),
      },
      null,
      2,
    ),
  );
}

/** Returns the cached image, building it first when its inputs changed or it was never built. */
export async function ensureImage(log: (msg: string) => void = () => {}): Promise<VmImage> {
  const dir = await imageDir();
  const cached = await readImage(dir);
  if (cached) {
    log(`VM image cached: ${dir}`);
    return cached;
  }
  await checkBuildTools();
  // Build beside the final place and rename at the end: an interrupted build never looks like a cached image, and
  // what one left (its owner gone) is removed here.
  for (const d of await sweepInterruptedBuilds()) log(`VM image: removed an interrupted build (${d})`);
  const work = `${dir}.building-${process.pid}`;
  await removeBuild(work);
  await mkdir(work, { recursive: true });
  const rootfs = join(work, 'rootfs');
  try {
    const source = debianMirror();
    log(
      `VM image: debootstrap ${SUITE} with ${VM_PACKAGES.length} packages from ${source.url} (from ${source.from}; about 3 min)`,
    );
    await $({
      quiet: true,
    })`debootstrap --keyring=${DEBIAN_KEYRING} --variant=minbase --include=${VM_PACKAGES.join(',')} ${SUITE} ${rootfs} ${source.url}`;
    log(`VM image: ${DOCKER_PACKAGES.join(', ')} from ${DOCKER_SUITE}`);
    const dockerVersion = await installDocker(rootfs, source.url);
    await configureRootfs(rootfs);

    await finishImage(work, rootfs, dockerVersion, log);
    await rm(dir, { recursive: true, force: true });
    await rename(work, dir);
  } catch (err) {
    await removeBuild(work);
    throw err;
  }
  for (const d of await sweepStaleImages(dir)) log(`VM image: removed an image of older inputs (${d})`);
  return (await readImage(dir))!;
}

/** Removes the builds (`<image>.building-<pid>`) whose process is gone, and returns their names. */
export async function sweepInterruptedBuilds(images = join(cacheDir(), 'images')): Promise<string[]> {
  const removed: string[] = [];
  for (const d of existsSync(images) ? await readdir(images) : []) {
    const owner = /\.building-(\d+)$/.exec(d)?.[1];
    if (owner && !kitProcessAlive(Number(owner))) {
      await removeBuild(join(images, d));
      removed.push(d);
    }
  }
  return removed;
}

/**
 * Removes the cached images other than `current` (those of older inputs: an earlier kit's, another mirror's) that no
 * running VM uses, and returns their names. Each is gigabytes with its saved VMs, and a new image leaves them unused,
 * as a new box leaves the old boxes (testbed/vagrant/box.ts). A VM started from one keeps it until the next build.
 */
export async function sweepStaleImages(current: string, images = join(cacheDir(), 'images')): Promise<string[]> {
  const removed: string[] = [];
  for (const d of existsSync(images) ? await readdir(images) : []) {
    const path = join(images, d);
    if (path === current || !/^[a-z]+-[0-9a-f]{16}$/.test(d) || processesUsing(path).length > 0) continue;
    await removeBuild(path);
    removed.push(d);
  }
  return removed;
}

/** The mount points at or under `dir`, deepest first (/proc/self/mounts escapes spaces and such as octal). */
async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mounts', 'utf8');
  return text
    .split('\n')
    .map((line) =>
      (line.split(' ')[1] ?? '').replace(/\\([0-7]{3})/g, (_, octal: string) =>
        String.fromCharCode(parseInt(octal, 8)),
      ),
    )
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Removes a build directory, first detaching what debootstrap mounted in its root filesystem (proc, sysfs, and in a
 * container /dev binds such as /dev/shm): a killed build leaves them mounted, and a recursive remove would walk into
 * them and delete the host's files. Refuses to remove anything while a mount remains.
 */
async function removeBuild(dir: string): Promise<void> {
  for (const m of await mountsUnder(dir)) await $({ quiet: true, nothrow: true })`umount -l ${m}`;
  const left = await mountsUnder(dir);
  if (left.length > 0) throw new Error(`${dir}: not removed, still mounted there: ${left.join(', ')}`);
  await rm(dir, { recursive: true, force: true });
}

/**
 * DOCKER_PACKAGES from DOCKER_SUITE into the bookworm root filesystem, with apt in a chroot: that suite pinned below
 * bookworm, so apt takes from it only what is named here or exists nowhere else. No service starts (policy-rc.d) and
 * nothing of that suite stays configured in the image. Returns dockerd's version, refused when older than
 * DOCKER_MIN_MAJOR.
 */
async function installDocker(rootfs: string, mirrorUrl: string): Promise<string> {
  const added = {
    'etc/apt/sources.list.d/lvs-lab-docker.list': `deb ${mirrorUrl} ${DOCKER_SUITE} main\n`,
    'etc/apt/preferences.d/lvs-lab-docker': `Package: *\nPin: release n=${DOCKER_SUITE}\nPin-Priority: 100\n`,
    'usr/sbin/policy-rc.d': '#!/bin/sh\nexit 101\n',
  };
  // (debootstrap left this host's resolv.conf in the root filesystem, so apt there resolves the mirror.)
  for (const [path, text] of Object.entries(added))
    await writeFile(join(rootfs, path), text, { mode: path.endsWith('policy-rc.d') ? 0o755 : 0o644 });
  const chroot = $({ quiet: true, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' } });
  await chroot`mount -t proc proc ${join(rootfs, 'proc')}`;
  try {
    // Signatures are checked, and the Release file's age is bounded by RELEASE_VALID_DAYS.
    const update = await chroot({
      nothrow: true,
    })`chroot ${rootfs} apt-get -o Acquire::Min-ValidTime=${RELEASE_VALID_DAYS * 86400} update`;
    if (update.exitCode !== 0 || new RegExp(`^W: Failed to fetch .*\\b${DOCKER_SUITE}\\b`, 'm').test(update.stderr))
      throw new UserError(
        `building the VM image: the mirror ${mirrorUrl} did not serve a current ${DOCKER_SUITE} (signed, at most ` +
          `${RELEASE_VALID_DAYS} days old), where the engine VM's Docker comes from (set LVS_LAB_DEBIAN_MIRROR to a ` +
          `Debian mirror that has it): ${update.stderr.trim().split('\n').pop()}`,
      );
    await chroot`chroot ${rootfs} apt-get install -y --no-install-recommends ${DOCKER_PACKAGES.map((p) => `${p}/${DOCKER_SUITE}`)}`;
    const version = (await chroot`chroot ${rootfs} dockerd --version`).stdout.trim();
    const major = Number(/version (\d+)\./i.exec(version)?.[1]);
    if (!(major >= DOCKER_MIN_MAJOR))
      throw new Error(
        `${DOCKER_SUITE}'s docker.io gave "${version}": the engine VM needs dockerd ${DOCKER_MIN_MAJOR} or later`,
      );
    return version;
  } finally {
    await $({ quiet: true, nothrow: true })`umount ${join(rootfs, 'proc')}`;
    for (const path of Object.keys(added)) await rm(join(rootfs, path), { force: true });
  }
}

async function configureRootfs(rootfs: string): Promise<void> {
  await copyFile(initScript, join(rootfs, 'sbin/lvs-lab-init'));
  await $`chmod 755 ${join(rootfs, 'sbin/lvs-lab-init')}`;
  await writeFile(
    join(rootfs, 'etc/ssh/sshd_config.d/lvs-lab.conf'),
    // No PAM, motd or lastlog: root logs in by key only, and each of these costs every login time under emulation.
    'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\nMaxSessions 64\nMaxStartups 64\nUsePAM no\nPrintMotd no\nPrintLastLog no\n',
  );
  await writeFile(join(rootfs, 'etc/hostname'), 'lvs-lab-vm\n');
  await writeFile(join(rootfs, 'etc/hosts'), '127.0.0.1 localhost lvs-lab-vm\n');
  // What the lab never reads: package caches, docs, translations (a few hundred MB less to copy into the image).
  for (const path of [
    'var/cache/apt/archives',
    'usr/share/doc',
    'usr/share/man',
    'usr/share/locale',
    'var/lib/apt/lists',
  ])
    await $`rm -rf ${join(rootfs, path)} && mkdir -p ${join(rootfs, path)}`;
}

/** The kernel's ELF image, out of Debian's xz-compressed bzImage: qemu boots it directly (PVH entry), which saves the
 * time the in-guest decompressor takes under software emulation. */
async function uncompressedKernel(bzImage: string, out: string): Promise<void> {
  const data = await readFile(bzImage);
  const at = data.indexOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])); // the xz stream's magic
  if (at < 0) throw new Error(`${bzImage}: no xz-compressed kernel inside (Debian's amd64 kernels are xz)`);
  // From a file: xz stops reading at the stream's end, and input still being piped to it would fail with EPIPE.
  await writeFile(`${out}.xz`, data.subarray(at));
  try {
    await $({ quiet: true })`xz -dc --single-stream ${`${out}.xz`} > ${out}`;
  } finally {
    await rm(`${out}.xz`, { force: true });
  }
  const elf = await readFile(out);
  if (elf.subarray(0, 4).toString('latin1') !== '\x7fELF')
    throw new Error(`${bzImage}: what xz gave is not an ELF kernel`);
}

/** Modules in load order: each one's dependencies (modules.dep) before it; built-in ones are not listed there. */
export function moduleLoadOrder(modulesDep: string, wanted: string[]): string[] {
  const deps = new Map<string, string[]>();
  for (const line of modulesDep.split('\n').filter(Boolean)) {
    const [path, rest] = line.split(':');
    deps.set(path, rest.trim().split(/\s+/).filter(Boolean));
  }
  const byName = new Map(
    [...deps.keys()].map((p) => [
      p
        .split('/')
        .pop()!
        .replace(/\.ko(\.\w+)?$/, ''),
      p,
    ]),
  );
  const order: string[] = [];
  const visit = (path: string) => {
    if (order.includes(path)) return;
    for (const d of deps.get(path) ?? []) visit(d);
    order.push(path);
  };
  for (const name of wanted) {
    const path = byName.get(name);
    if (!path) throw new Error(`initramfs: module ${name} is not in modules.dep`);
    visit(path);
  }
  return order;
}

/** A small uncompressed initramfs: static busybox, the modules of INITRAMFS_MODULES and initramfs-init.sh. */
async function buildInitramfs(rootfs: string, kernelVersion: string, out: string): Promise<void> {
  const modDir = join(rootfs, 'lib/modules', kernelVersion);
  const order = moduleLoadOrder(await readFile(join(modDir, 'modules.dep'), 'utf8'), INITRAMFS_MODULES);
  const tree = `${out}.tree`;
  await rm(tree, { recursive: true, force: true });
  for (const d of ['bin', 'dev', 'proc', 'root', 'lib/modules']) await mkdir(join(tree, d), { recursive: true });
  await copyFile(join(rootfs, 'bin/busybox'), join(tree, 'bin/busybox'));
  await copyFile(initramfsInit, join(tree, 'init'));
  await $`chmod 755 ${join(tree, 'init')} ${join(tree, 'bin/busybox')}`;
  const names = order.map((p) => p.split('/').pop()!.replace(/\.ko$/, ''));
  for (const [i, p] of order.entries()) await copyFile(join(modDir, p), join(tree, 'lib/modules', `${names[i]}.ko`));
  await writeFile(join(tree, 'modules'), names.join('\n') + '\n');
  // The image's own static busybox writes the archive: nothing more needed on the host.
  await $({ quiet: true, cwd: tree })`find . | ${join(rootfs, 'bin/busybox')} cpio -o -H newc > ${out}`;
  await rm(tree, { recursive: true, force: true });
}
