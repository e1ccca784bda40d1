// The kit's unix sockets in directories deeper than a socket's address holds (107 bytes), as a VM being saved sits
// under a home longer than /root: qemu's QMP socket (real qemu, with no guest: `-machine none`) and ssh's control
// socket.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pollFor } from '../../../base/wait.js';
import { controlPathProblem } from '../../../machine/master.js';
import { Qmp } from '../../../machine/qmp.js';
import { isOurVm, qemuArgs, runQemu, stopVm, vmFiles } from '../../../machine/qemu.js';

const root = mkdtempSync(join(tmpdir(), 'lvs-lab-qmp-'));
const dir = join(
  root,
  'a-home-longer-than-root/.cache/lvs-lab/images/bookworm-0123456789abcdef/saved/lab-0123.saving-1',
);
const name = `lvs-lab-qmptest${process.pid}`;
const files = vmFiles(dir);
let pid = 0;
afterAll(async () => {
  if (pid) await stopVm(pid, name);
  rmSync(root, { recursive: true, force: true });
});

/** The `-qmp` argument every VM of the kit gets. */
function kitQmpArg(): string {
  const image = { dir: '/i', disk: '/i/d', kernel: '/i/k', initrd: '/i/r', kernelVersion: '6.1', hostKey: 'x' };
  const args = qemuArgs({ name, image, dir, sshPort: 1, publicKey: 'k' }, { name: 'tcg', args: ['-accel', 'tcg'] });
  return args[args.indexOf('-qmp') + 1];
}

const qemu = (qmp: string) =>
  runQemu(
    ['-name', `${name},process=${name}`, '-machine', 'none', '-nodefaults', '-display', 'none'].concat([
      '-qmp',
      qmp,
      '-daemonize',
      '-pidfile',
      files.pidFile,
    ]),
    dir,
  );

describe("a VM's QMP socket", () => {
  it('works in a directory whose path is too long for a socket address of its own', async () => {
    mkdirSync(dir, { recursive: true });
    expect(Buffer.byteLength(files.qmp)).toBeGreaterThan(107);
    // The socket's own path is refused by the kernel's limit: how saving a VM failed under HOME=/work/fresh-home.
    const plain = await qemu(`unix:${files.qmp},server=on,wait=off`);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toMatch(/too long/);
    // The kit's argument makes it in the VM's directory, through the directory's descriptor, and its client talks
    // to qemu there.
    const started = await qemu(kitQmpArg());
    expect(started.code, started.stderr).toBe(0);
    pid = Number(readFileSync(files.pidFile, 'utf8').trim());
    const qmp = await Qmp.connect(files.qmp, 5_000);
    try {
      expect(await qmp.execute('query-status')).toHaveProperty('status', 'running');
      await qmp.execute('quit');
    } finally {
      qmp.close();
    }
    expect(await pollFor(() => !isOurVm(pid, name) || undefined, { within: 5_000, every: 50 })).toBe(true);
  });
});

describe("a VM's SSH control socket", () => {
  // Measured with OpenSSH 9.2: a 90-byte ControlPath works, 91 bytes fail with "unix_listener: path ... too long"
  // (ssh binds `<ControlPath>.<16 random characters>` first).
  const dirFor = (socketBytes: number) => '/' + 'd'.repeat(socketBytes - '/ssh.ctl'.length - 1);
  it('fits in 90 bytes, and a state directory too deep for it is refused before a VM starts, naming the way out', () => {
    expect(controlPathProblem(dirFor(90))).toBeUndefined();
    expect(controlPathProblem(dirFor(91))).toMatch(
      /^state directory: \/d+\/ssh\.ctl, the VM's SSH control socket, would be 91 bytes long and ssh takes at most 90; set LVS_LAB_STATE_DIR/,
    );
  });
});
