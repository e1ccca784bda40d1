// What an interrupted save of a booted VM leaves is removed by the next start; a save still running is left alone.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmImage } from '../../testbed/vm/image.js';
import { sweepInterruptedSaves } from '../../testbed/vm/saved.js';

const dir = mkdtempSync(join(tmpdir(), 'lvs-lab-saved-'));
afterEach(() => rmSync(join(dir, 'saved'), { recursive: true, force: true }));
const image = { dir } as VmImage;

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
