// The VM image: Debian bookworm by debootstrap, with Debian's kernel (it ships the ip_vs modules) and the lab's
// tools. Built once and cached under a hash of everything that goes into it; a lab boots a throwaway overlay of it.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { $ } from 'zx';
import { cacheDir } from '../paths.js';

const SUITE = 'bookworm';
export const VM_PACKAGES = [
  'linux-image-amd64', 'kmod', 'iproute2', 'net-tools', 'ipvsadm', 'apache2', 'curl', 'tcpdump',
  'iputils-arping', 'iputils-ping', 'openssh-server', 'procps', 'tini',
  // Vagrant machines address their management NIC by DHCP.
  'isc-dhcp-client',
  // The health-checking variant's director.
  'keepalived',
  // The benchmark's load generator, run in a lab's client namespace.
  'wrk',
  // The Docker engine for Docker labs on hosts whose kernel lacks IPVS; started only by `lab engine up`.
  'docker.io',
];
const DISK_SIZE = '4G'; // sparse; room for logs and captures in the overlay
const FORMAT = 1; // bump when the build steps below change in a way the inputs do not show

const initScript = fileURLToPath(new URL('./init.sh', import.meta.url));

export interface VmImage {
  dir: string;
  disk: string;
  kernel: string;
  initrd: string;
  kernelVersion: string;
  /** sshd's ed25519 host key blob, pinned by the SSH transport. */
  hostKey: string;
}

const mirror = (): string => process.env.LVS_LAB_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';

async function imageKey(): Promise<string> {
  const h = createHash('sha256');
  h.update(JSON.stringify({ FORMAT, SUITE, VM_PACKAGES, DISK_SIZE, mirror: mirror() }));
  h.update(await readFile(initScript));
  return h.digest('hex').slice(0, 16);
}

export async function imageDir(): Promise<string> {
  return join(cacheDir(), 'images', `${SUITE}-${await imageKey()}`);
}

async function readImage(dir: string): Promise<VmImage | undefined> {
  const manifest = join(dir, 'manifest.json');
  if (!existsSync(manifest)) return undefined;
  const m = JSON.parse(await readFile(manifest, 'utf8'));
  return { dir, disk: join(dir, 'disk.raw'), kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img'), kernelVersion: m.kernelVersion, hostKey: m.hostKey };
}

/** Returns the cached image, building it first when its inputs changed or it was never built (~90 s). */
export async function ensureImage(log: (msg: string) => void = () => {}): Promise<VmImage> {
  const dir = await imageDir();
  const cached = await readImage(dir);
  if (cached) {
    log(`VM image cached: ${dir}`);
    return cached;
  }
  for (const tool of ['debootstrap', 'mkfs.ext4']) {
    if ((await $({ nothrow: true, quiet: true })`command -v ${tool}`).exitCode !== 0)
      throw new Error(`building the VM image needs ${tool}: run testbed/install-deps.sh (or apt-get install debootstrap e2fsprogs)`);
  }
  // Build beside the final place and rename at the end: an interrupted build never looks like a cached image.
  const work = `${dir}.building-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const rootfs = join(work, 'rootfs');
  try {
    log(`VM image: debootstrap ${SUITE} with ${VM_PACKAGES.length} packages from ${mirror()} (about 90 s)`);
    await $({ quiet: true })`debootstrap --variant=minbase --include=${VM_PACKAGES.join(',')} ${SUITE} ${rootfs} ${mirror()}`;
    await configureRootfs(rootfs);

    const boot = await readdir(join(rootfs, 'boot'));
    const vmlinuz = boot.find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new Error('debootstrap installed no kernel in /boot');
    const kernelVersion = vmlinuz.slice('vmlinuz-'.length);
    await copyFile(join(rootfs, 'boot', vmlinuz), join(work, 'vmlinuz'));
    await copyFile(join(rootfs, 'boot', `initrd.img-${kernelVersion}`), join(work, 'initrd.img'));
    const hostKey = (await readFile(join(rootfs, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8')).split(' ')[1];

    log('VM image: mkfs.ext4 from the root filesystem');
    await $({ quiet: true })`mkfs.ext4 -q -F -L lvsroot -d ${rootfs} ${join(work, 'disk.raw')} ${DISK_SIZE}`;
    await rm(rootfs, { recursive: true, force: true });
    await writeFile(join(work, 'manifest.json'), JSON.stringify({ suite: SUITE, packages: VM_PACKAGES, kernelVersion, hostKey, builtAt: new Date().toISOString() }, null, 2));
    await rm(dir, { recursive: true, force: true });
    await rename(work, dir);
  } catch (err) {
    await rm(work, { recursive: true, force: true });
    throw err;
  }
  return (await readImage(dir))!;
}

async function configureRootfs(rootfs: string): Promise<void> {
  await copyFile(initScript, join(rootfs, 'sbin/lvs-lab-init'));
  await $`chmod 755 ${join(rootfs, 'sbin/lvs-lab-init')}`;
  await writeFile(
    join(rootfs, 'etc/ssh/sshd_config.d/lvs-lab.conf'),
    'PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\nMaxSessions 64\nMaxStartups 64\n',
  );
  await writeFile(join(rootfs, 'etc/hostname'), 'lvs-lab-vm\n');
  await writeFile(join(rootfs, 'etc/hosts'), '127.0.0.1 localhost lvs-lab-vm\n');
  // What the lab never reads: package caches, docs, translations (a few hundred MB less to copy into the image).
  for (const path of ['var/cache/apt/archives', 'usr/share/doc', 'usr/share/man', 'usr/share/locale', 'var/lib/apt/lists'])
    await $`rm -rf ${join(rootfs, path)} && mkdir -p ${join(rootfs, path)}`;
}
