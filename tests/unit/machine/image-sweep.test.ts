// What a killed image build leaves: its `.building-<pid>` directory, and inside it what debootstrap had mounted
// (proc; in a container, binds of the host's /dev entries). The next build's sweep detaches those mounts before it
// removes the directory, so the host's files behind a bind are never deleted; a live build is left alone. And what a
// new image leaves: the images of older inputs, removed unless a running VM was started from one.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { $ } from 'zx';
import { sweepInterruptedBuilds, sweepStaleImages } from '../../../machine/image.js';
import { waitFor } from '../../../base/wait.js';

const root = mkdtempSync(join(tmpdir(), 'lvs-images-'));
const mounts = () =>
  readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((m) => m?.startsWith(root));
afterAll(async () => {
  for (const m of mounts().reverse()) await $({ nothrow: true })`umount -l ${m}`;
  rmSync(root, { recursive: true, force: true });
});

describe.skipIf(process.getuid?.() !== 0)('an interrupted image build', () => {
  it('is removed with its mounts detached first; the host files behind a bind stay; a live build stays', async () => {
    const images = join(root, 'images');
    const deadPid = spawnSync('true').pid; // exited: no process has this pid now
    const killed = join(images, `bookworm-0123.building-${deadPid}`);
    const live = join(images, `bookworm-4567.building-${process.pid}`);
    const cached = join(images, 'bookworm-89ab');
    for (const d of [join(killed, 'rootfs/proc'), join(killed, 'rootfs/dev/shm'), live, cached])
      mkdirSync(d, { recursive: true });
    writeFileSync(join(cached, 'manifest.json'), '{}');
    // The host side of a /dev bind debootstrap makes in a container, with a file that must survive.
    const host = join(root, 'host-shm');
    mkdirSync(host);
    writeFileSync(join(host, 'keep'), 'the host file\n');
    await $`mount -t proc proc ${join(killed, 'rootfs/proc')}`;
    await $`mount --bind ${host} ${join(killed, 'rootfs/dev/shm')}`;
    expect(mounts()).toHaveLength(2);

    expect(await sweepInterruptedBuilds(images)).toEqual([`bookworm-0123.building-${deadPid}`]);
    expect(mounts()).toEqual([]);
    expect(existsSync(killed)).toBe(false);
    expect(readFileSync(join(host, 'keep'), 'utf8')).toBe('the host file\n');
    expect(existsSync(live)).toBe(true);
    expect(existsSync(join(cached, 'manifest.json'))).toBe(true);
  });
});

describe('images of older inputs', () => {
  it('are removed after a new build, except one a running VM uses; builds and other files stay', async () => {
    const images = join(root, 'stale');
    const [current, stale, inUse] = ['a', 'b', 'c'].map((c) => join(images, `bookworm-${c.repeat(16)}`));
    const building = join(images, `bookworm-${'d'.repeat(16)}.building-${process.pid}`);
    const other = join(images, 'notes');
    for (const d of [current, stale, inUse, building, other]) mkdirSync(join(d, 'saved'), { recursive: true });
    // A VM restored from `inUse`: its qemu names the image's kernel and saved state (perl stands in for qemu).
    const vm = spawn('perl', [
      '-e',
      'sleep 60',
      '--',
      '-kernel',
      `${inUse}/vmlinux`,
      '-incoming',
      `exec:cat '${inUse}/saved/state'`,
    ]);
    try {
      // It has exec'd once its command line names the image (bash's own does not).
      await waitFor(
        () => (readFileSync(`/proc/${vm.pid}/cmdline`, 'utf8').includes(`${inUse}/vmlinux`) ? true : undefined),
        { within: 5_000, every: 10, timedOut: () => new Error('the fake qemu did not start') },
      );
      expect(await sweepStaleImages(current, images)).toEqual([`bookworm-${'b'.repeat(16)}`]);
      for (const d of [current, inUse, building, other]) expect(existsSync(d), d).toBe(true);
      expect(existsSync(stale)).toBe(false);
    } finally {
      vm.kill('SIGKILL');
    }
  });
});
