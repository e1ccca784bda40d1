// Labs started from the saved booted VM (machine/saved.ts): two restored from one saved state share nothing (VM,
// key, disk, clock, randomness), and a saved state that fails to restore gives a cold boot that says so. These run
// on the vm testbed whatever the suite's own testbed is: restoring is what that testbed does.
import { randomBytes } from 'node:crypto';
import { copyFile, link, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateLab } from '../../model/topology.js';
import type { Shell } from '../../provision/shell.js';
import { SshShell } from '../../provision/ssh.js';
import { waitFor } from '../../base/wait.js';
import { type LabSession } from '../../lab/lifecycle.js';
import { labs } from '../labs.js';
import { labStateDir } from '../../base/paths.js';
import { ensureImage } from '../../machine/image.js';
import { bootMachine, ensureSavedVm, stopMachine, vmKeyFile, type VmState } from '../../machine/machine.js';
import { masterPids } from '../../machine/master.js';
import { LAB_VM, savedDir, type VmFlavour } from '../../machine/saved.js';
import { fetchSequence } from '../../verify/probes.js';

const twoLabs = ['rsta', 'rstb'].map((name) => validateLab({ name }, 'restore test'));

describe('two labs restored from one saved booted VM', () => {
  const sessions: LabSession[] = [];
  // The saved memory file, as the labs found it: both map it, and neither may ever write it.
  const ramFile = async () => {
    const saved = await ensureSavedVm(await ensureImage(), LAB_VM, () => {});
    const { size, blocks, mtimeMs, ctimeMs } = await stat(saved.ram);
    return { size, blocks, mtimeMs, ctimeMs };
  };
  let ramBefore: Awaited<ReturnType<typeof ramFile>>;
  beforeAll(async () => {
    ramBefore = await ramFile();
    // Side by side, as two users would.
    for (const { session } of await Promise.all(twoLabs.map((lab) => labs.up(lab, { testbed: 'vm' }))))
      sessions.push(session);
  });
  afterAll(async () => {
    for (const s of sessions) await s.close();
    for (const lab of twoLabs) await labs.down(lab.name);
  });

  const vms = async () =>
    Promise.all(twoLabs.map(async (lab) => (await labs.state(lab.name))!.testbedState as VmState));
  const run = async (i: number, command: string) => (await sessions[i].machine!.exec(command)).stdout.trim();

  it('are two VMs of their own, each restored, on ports and overlays of their own', async () => {
    const [a, b] = await vms();
    expect(a.restored && b.restored).toBe(true);
    expect(a.pid).not.toBe(b.pid);
    expect(a.sshPort).not.toBe(b.sshPort);
    const overlay = (lab: string) => join(labStateDir(lab), 'overlay.qcow2');
    // Each overlay sits on the saved disk, never on the image itself or on the other lab's overlay.
    const image = await ensureImage();
    const saved = await ensureSavedVm(image, LAB_VM, () => {});
    for (const lab of twoLabs) expect((await readFile(overlay(lab.name))).includes(saved.disk)).toBe(true);
    await sessions[0].machine!.exec('echo only-in-a > /root/marker');
    expect(await run(1, 'cat /root/marker 2>/dev/null || echo absent')).toBe('absent');
  });

  it('each keeps its memory to itself: the saved memory file both map copy-on-write is never written', async () => {
    // tmpfs lives in the guest's memory: what one VM writes there, the other never sees.
    await sessions[0].machine!.exec('echo only-in-a > /run/marker');
    expect(await run(1, 'cat /run/marker 2>/dev/null || echo absent')).toBe('absent');
    expect(await run(0, 'cat /run/marker')).toBe('only-in-a');
    // Both VMs have booted their labs' namespaces and httpds by now, on memory restored from the file.
    expect(await ramFile()).toEqual(ramBefore);
  });

  it('each VM has one SSH connection for its life, its master: a later session rides it, and one comes back if it went away', async () => {
    const dir = labStateDir(twoLabs[0].name);
    // A session's parent in the VM is the sshd process of the connection it came on.
    const sshdOf = async (shell: Shell) => (await shell.exec('ps -o ppid= -p $$')).stdout.trim();
    const connections = async () =>
      (await run(0, "ps -eo pid=,args= | grep '[s]shd: root@'")).split('\n').map((l) => l.trim().split(/\s+/)[0]);
    const first = await sshdOf(sessions[0].machine!);
    expect(first).toMatch(/^\d+$/);
    expect(await connections()).toEqual([first]);
    expect(masterPids(dir)).toHaveLength(1);
    // A second session on the running lab (another `lab` command, say) opens no connection of its own.
    const later = await labs.connect(twoLabs[0].name);
    try {
      expect(await sshdOf(later.machine!)).toBe(first);
      expect(await connections()).toEqual([first]);
    } finally {
      await later.close();
    }
    // The master gone, the next session connects again (the lab's own key) and leaves a master for those after it.
    const [pid] = masterPids(dir);
    process.kill(pid);
    await waitFor(() => (masterPids(dir).length === 0 ? true : undefined), {
      within: 5_000,
      every: 100,
      timedOut: () => new Error(`the master (pid ${pid}) did not exit`),
    });
    const again = await labs.connect(twoLabs[0].name);
    try {
      const second = await sshdOf(again.machine!);
      expect(second).not.toBe(first);
      expect(await sshdOf(again.machine!)).toBe(second);
    } finally {
      await again.close();
    }
    expect(masterPids(dir)).toHaveLength(1);
    expect(masterPids(dir)[0]).not.toBe(pid);
  });

  it("each accepts its own key only: not the other lab's, not the saved state's", async () => {
    const [a, b] = await vms();
    const image = await ensureImage();
    const saved = await ensureSavedVm(image, LAB_VM, () => {});
    const keyOf = (lab: string) => readFile(vmKeyFile(labStateDir(lab)), 'utf8');
    const [keyA, keyB, savedKey] = await Promise.all([keyOf('rsta'), keyOf('rstb'), readFile(saved.keyFile, 'utf8')]);
    expect(keyA).not.toBe(keyB);
    const login = (vm: VmState, privateKey: string) =>
      SshShell.connect({ host: '127.0.0.1', port: vm.sshPort, username: 'root', privateKey, hostKey: vm.hostKey }).then(
        async (s) => (await s.close(), 'accepted'),
        () => 'refused',
      );
    expect(await login(a, keyA)).toBe('accepted');
    expect(await login(a, keyB)).toBe('refused');
    expect(await login(b, keyA)).toBe('refused');
    expect(await login(a, savedKey)).toBe('refused');
    expect(await login(b, savedKey)).toBe('refused');
  });

  it("each has a host key of its own, pinned: not the image's (every VM's), not the other lab's", async () => {
    const [a, b] = await vms();
    const image = await ensureImage();
    expect(a.hostKey).not.toBe(b.hostKey);
    for (const vm of [a, b]) expect(vm.hostKey).not.toBe(image.hostKey);
    const privateKey = await readFile(vmKeyFile(labStateDir('rsta')), 'utf8');
    const pinned = (hostKey: string) =>
      SshShell.connect({ host: '127.0.0.1', port: a.sshPort, username: 'root', privateKey, hostKey }).then(
        async (s) => (await s.close(), 'accepted'),
        () => 'refused',
      );
    expect(await pinned(a.hostKey)).toBe('accepted');
    expect(await pinned(image.hostKey)).toBe('refused'); // sshd no longer offers the image's key
    expect(await pinned(b.hostKey)).toBe('refused');
  });

  it("have the host's time, not the saved VM's, and draw different random numbers", async () => {
    for (const i of [0, 1]) expect(Math.abs(Number(await run(i, 'date +%s')) - Date.now() / 1000)).toBeLessThan(5);
    const [ra, rb] = await Promise.all(
      [0, 1].map((i) => run(i, 'head -c 16 /dev/urandom | od -An -tx1 | tr -d " \\n"')),
    );
    expect(ra).toMatch(/^[0-9a-f]{32}$/);
    expect(ra).not.toBe(rb);
    // The kernel saw the VM generation change at restore and reseeded.
    expect(await run(0, 'dmesg | grep -c "crng reseeded due to virtual machine fork" || true')).not.toBe('0');
  });

  it('are each a working lab, and one going down leaves the other serving', async () => {
    for (const s of sessions)
      expect(new Set(await fetchSequence(s, 4))).toEqual(new Set(s.lab.realservers.map((r) => `from ${r.ip}`)));
    await sessions[0].close();
    sessions.shift();
    expect(await labs.down('rsta')).toBe(true);
    expect(masterPids(labStateDir('rsta'))).toEqual([]); // the lab's master connection ended with it
    expect(new Set(await fetchSequence(sessions[0], 4))).toEqual(
      new Set(twoLabs[1].realservers.map((r) => `from ${r.ip}`)),
    );
  });
});

describe('a saved state that does not restore', () => {
  // A flavour of its own, so the state every other lab restores from is never touched.
  const flavour: VmFlavour = { name: 'broken-test' };
  const dir = join(labStateDir('rstbad'));
  let vm: VmState | undefined;
  afterAll(async () => {
    if (vm) await stopMachine(vm, dir);
    await rm(dir, { recursive: true, force: true });
  });

  it('gives a cold boot that says so, and the broken state is discarded', async () => {
    const image = await ensureImage();
    const good = await ensureSavedVm(image, LAB_VM, () => {});
    const broken = await savedDir(flavour, image);
    await mkdir(broken, { recursive: true });
    for (const f of ['disk.qcow2', 'id_ed25519', 'manifest.json']) await copyFile(join(good.dir, f), join(broken, f));
    await link(good.ram, join(broken, 'ram')); // its memory is whole; discarding the state removes this link alone
    await writeFile(join(broken, 'state'), randomBytes(4096)); // not a migration stream
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const lines: string[] = [];
    const shell = await bootMachine(
      'lvs-lab-rstbad',
      dir,
      (l) => lines.push(l),
      (v) => Promise.resolve(void (vm = v)),
      flavour,
    );
    try {
      expect((await shell.exec('echo up')).stdout.trim()).toBe('up');
    } finally {
      await shell.close();
    }
    expect(lines.join('\n')).toMatch(
      /restoring the saved VM failed \(.*\): booting instead; that saved state is discarded/,
    );
    expect(lines.join('\n')).toMatch(/VM up: booted/);
    expect(vm!.restored).toBeUndefined();
    expect(existsSync(broken)).toBe(false);
    expect(existsSync(good.ram)).toBe(true);
  });
});
