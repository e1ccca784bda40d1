// What a killed image build leaves: its `.building-<pid>` directory, and inside it what debootstrap had mounted
// (proc; in a container, binds of the host's /dev entries). The next build's sweep detaches those mounts before it
// removes the directory, so the host's files behind a bind are never deleted; a live build is left alone.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { $ } from 'zx';
import { sweepInterruptedBuilds } from '../../testbed/vm/image.js';

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
