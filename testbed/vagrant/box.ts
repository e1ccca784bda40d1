// The Vagrant box, built offline from the vm testbed's cached image: its ext4 disk as qcow2 (no partition table, no
// bootloader: the kernel boots directly, see vagrantfile.ts), metadata.json, added with `vagrant box add` from a local
// file. Keyed by the image's hash, so a new image is a new box; nothing ever asks Vagrant Cloud.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { $ } from 'zx';
import { cacheDir } from '../../base/paths.js';
import { virsh } from './libvirt.js';
import type { VmImage } from '../../machine/image.js';
import { seconds, type Log } from '../../base/log.js';

export interface Box {
  name: string;
  /** bookworm-<hash of the image's inputs> */
  key: string;
  file: string;
  /** Kernel and initrd where libvirt's qemu user (libvirt-qemu) can read them; /root is not such a place. */
  kernel: string;
  initrd: string;
}

/** libvirt boxes are a tar of box.img, metadata.json and an optional Vagrantfile. virtual_size is in whole GB. */
export const boxMetadata = (virtualSizeGb: number) => ({
  provider: 'libvirt',
  format: 'qcow2',
  virtual_size: virtualSizeGb,
});

/** The box of the image cached in `imageDir` (it need not be built yet: `plan`-time previews name it too). */
export function boxFor(imageDir: string): Box {
  const key = basename(imageDir); // bookworm-<hash of the image's inputs>
  const boot = join(BOOT, key);
  return {
    name: `lvs-lab/${key}`,
    key,
    file: join(cacheDir(), 'boxes', `${key}.box`),
    kernel: join(boot, 'vmlinux'),
    initrd: join(boot, 'initrd.img'),
  };
}

const vagrant = (args: string[]) =>
  $({ quiet: true, env: { ...process.env, VAGRANT_CHECKPOINT_DISABLE: '1' } })`vagrant ${args}`;

/** The box for this image, built and added when missing; the kernel and initrd copied where qemu reads them. */
export async function ensureBox(image: VmImage, log: Log): Promise<Box> {
  const box = boxFor(image.dir);
  if (!existsSync(box.kernel) || !existsSync(box.initrd)) {
    await mkdir(join(box.kernel, '..'), { recursive: true });
    for (const [from, to] of [
      [image.kernel, box.kernel],
      [image.initrd, box.initrd],
    ]) {
      await copyFile(from, `${to}.part`);
      await rename(`${to}.part`, to);
    }
  }
  const listed = (await vagrant(['box', 'list', '--machine-readable'])).stdout.includes(`,box-name,${box.name}`);
  if (listed) return box;
  const t0 = Date.now();
  if (!existsSync(box.file)) {
    // Built beside and renamed at the end: an interrupted build never passes for a box.
    const work = `${box.file}.building-${process.pid}`;
    await rm(work, { recursive: true, force: true });
    await mkdir(work, { recursive: true });
    try {
      await $({ quiet: true })`qemu-img convert -O qcow2 ${image.disk} ${join(work, 'box.img')}`;
      const info = JSON.parse((await $({ quiet: true })`qemu-img info --output=json ${image.disk}`).stdout) as {
        'virtual-size': number;
      };
      await writeFile(
        join(work, 'metadata.json'),
        JSON.stringify(boxMetadata(Math.ceil(info['virtual-size'] / 2 ** 30))),
      );
      await $({ quiet: true })`tar -C ${work} -cf ${`${box.file}.part`} metadata.json box.img`;
      await rename(`${box.file}.part`, box.file);
    } finally {
      await rm(work, { recursive: true, force: true });
      await rm(`${box.file}.part`, { force: true });
    }
  }
  await vagrant(['box', 'add', '--force', '--name', box.name, box.file]);
  log(`Vagrant box ${box.name} built from the VM image and added (${seconds(t0)} s)`);
  return box;
}

const BOOT = '/var/lib/libvirt/boot/lvs-lab';

/**
 * Removes what boxes of other images left (a new image makes a new box): the Vagrant boxes, the libvirt volume each
 * was uploaded to (vagrant-libvirt names it after the box), the box files and the kernels. Needs libvirtd.
 */
export async function pruneBoxes(current: Box, log: Log): Promise<void> {
  const boxes = [
    ...(await vagrant(['box', 'list', '--machine-readable'])).stdout.matchAll(/,box-name,(lvs-lab\/\S+)/g),
  ].map((m) => m[1]);
  const stale = [...new Set(boxes)].filter((b) => b !== current.name);
  for (const b of stale) await vagrant(['box', 'remove', '--force', '--all', b]);
  const volumes = (await virsh(['vol-list', 'default'])).stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]);
  const staleVolumes = volumes.filter((v) => v?.startsWith('lvs-lab-VAGRANTSLASH-') && !v.includes(current.key));
  for (const v of staleVolumes) await virsh(['vol-delete', '--pool', 'default', v]);
  const files = existsSync(join(cacheDir(), 'boxes')) ? await readdir(join(cacheDir(), 'boxes')) : [];
  for (const f of files.filter((f) => f !== basename(current.file)))
    await rm(join(cacheDir(), 'boxes', f), { recursive: true, force: true });
  const kernels = existsSync(BOOT) ? await readdir(BOOT) : [];
  for (const k of kernels.filter((k) => k !== current.key)) await rm(join(BOOT, k), { recursive: true, force: true });
  if (stale.length + staleVolumes.length > 0)
    log(`removed boxes of older images: ${[...stale, ...staleVolumes].join(', ')}`);
}
