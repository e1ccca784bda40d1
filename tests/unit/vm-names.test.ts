// A lab's VM is found by its qemu name alone (a run killed before it recorded the VM): by the exact name, never a
// longer one that starts the same, and only a qemu process.
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { isOurVm, vmPidsNamed } from '../../testbed/vm/qemu.js';

/** A process whose command line reads as a qemu started under `name` (perl sleeping, renamed by bash's exec -a). */
function fakeQemu(name: string, argv0 = 'qemu-system-x86_64') {
  const child = spawn('bash', ['-c', `exec -a ${argv0} perl -e 'sleep 60' -- -name ${name},process=${name}`], {
    stdio: 'ignore',
  });
  return child;
}

const children: ReturnType<typeof fakeQemu>[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

describe('VMs by name', () => {
  it('finds the qemu of exactly this name', async () => {
    const [k9, k91, notQemu] = [fakeQemu('lvs-lab-k9'), fakeQemu('lvs-lab-k91'), fakeQemu('lvs-lab-k9', 'perl')];
    children.push(k9, k91, notQemu);
    await new Promise((r) => setTimeout(r, 300)); // each has exec'd
    expect(await vmPidsNamed('lvs-lab-k9')).toEqual([k9.pid]);
    expect(await vmPidsNamed('lvs-lab-k91')).toEqual([k91.pid]);
    expect(await vmPidsNamed('lvs-lab-k')).toEqual([]);
    expect(isOurVm(k9.pid!, 'lvs-lab-k9')).toBe(true);
    expect(isOurVm(k91.pid!, 'lvs-lab-k9')).toBe(false);
    expect(isOurVm(notQemu.pid!, 'lvs-lab-k9')).toBe(false);
  });
});
