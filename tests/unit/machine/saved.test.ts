// What an interrupted save of a booted VM leaves is removed by the next start; a save still running is left alone.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmImage } from '../../../machine/image.js';
import { findSaved, LAB_VM, savedDir, sweepInterruptedSaves } from '../../../machine/saved.js';

const dir = mkdtempSync(join(tmpdir(), 'lvs-lab-saved-'));
afterEach(() => rmSync(join(dir, 'saved'), { recursive: true, force: true }));
const image = { dir, disk: '/img/disk.raw', kernel: '/img/vmlinux', initrd: '/img/initrd.img' } as VmImage;

describe('interrupted saves', () => {
  it('removes a save whose process is gone, keeps one whose process runs, never touches a finished one', async () => {
    const saved = join(dir, 'saved');
    const gone = join(saved, 'lab-0123456789abcdef.saving-4000000'); // above the kernel's pid limit: never a process
    const running = join(saved, `lab-0123456789abcdef.saving-${process.pid}`);
    const finished = join(saved, 'lab-0123456789abcdef');
    for (const d of [gone, running, finished]) mkdirSync(d, { recursive: true });
    // A pid file naming a process that is not that VM: the sweep must not signal it.
    writeFileSync(join(gone, 'qemu.pid'), `${process.pid}\n`);
    expect(await sweepInterruptedSaves(image)).toEqual([gone]);
    expect([gone, running, finished].map((d) => existsSync(d))).toEqual([false, true, true]);
  });
});

describe('a saved state', () => {
  const files = ['manifest.json', 'disk.qcow2', 'state', 'ram', 'id_ed25519'];
  const write = async (except?: string) => {
    const d = await savedDir(LAB_VM, image);
    mkdirSync(d, { recursive: true });
    for (const f of files.filter((f) => f !== except))
      writeFileSync(join(d, f), f === 'manifest.json' ? JSON.stringify({ publicKey: 'AAAAkey' }) : 'x');
    return d;
  };

  it('is found when whole, with its memory file beside its device state', async () => {
    const d = await write();
    expect(await findSaved(LAB_VM, image)).toMatchObject({ dir: d, ram: join(d, 'ram'), state: join(d, 'state') });
  });

  it.each(['ram', 'state', 'disk.qcow2', 'id_ed25519'])(
    'with its %s gone is no saved state, and is removed so the next start saves a whole one',
    async (gone) => {
      const d = await write(gone);
      expect(await findSaved(LAB_VM, image)).toBeUndefined();
      expect(existsSync(d)).toBe(false);
    },
  );
});
