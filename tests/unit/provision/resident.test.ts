// Resident shells, for real: a `sh` of this machine (LocalShell.spawn) stands for a host's, and every result is
// compared with what a one-shot `sh -c` of the same command gives.
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runSteps, StepFailed } from '../../../provision/apply.js';
import { ResidentShells, RESIDENTS_PER_HOST, withResidents } from '../../../provision/resident.js';
import { LocalShell, type ExecOptions } from '../../../provision/shell.js';
import { processArgs } from '../../../base/process.js';
import { rejection } from '../../rejection.js';

let shell: LocalShell;
afterEach(() => shell?.close());

/** Resident shells over `sh` on this machine, counting the one-shot runs and the shells started. */
function residents(spawnCommand = 'sh') {
  shell = new LocalShell();
  const counts = { oneShot: 0, spawned: 0 };
  const r = new ResidentShells({
    spawn: (_host) => {
      counts.spawned++;
      return shell.spawn(spawnCommand);
    },
    oneShot: (_host, command, options?: ExecOptions) => {
      counts.oneShot++;
      return shell.exec(command, options);
    },
  });
  return { r, counts };
}

const alive = (pid: number) => processArgs(pid) !== undefined;

const cases = [
  'echo out; echo err >&2; exit 7',
  `printf '%s' 'no newline at the end'`,
  `[ "$(echo 1)" = 1 ] && printf 'it'"'"'s\\n'`,
  'cat <<EOF\nLogFormat "%h %l" common\nEOF',
  'head -c 300000 /dev/zero | tr "\\0" x',
  'true',
];

describe('resident shells', () => {
  it.each(cases)('give %j the stdout, stderr and exit code of a one-shot sh -c', async (cmd) => {
    const { r, counts } = residents();
    const oneShot = await new LocalShell().exec(cmd);
    expect(await r.run('h', cmd)).toEqual(oneShot);
    expect(counts).toEqual({ oneShot: 0, spawned: 1 });
  });

  it('report a command that does not parse as sh -c does (exit 2), and go on', async () => {
    const { r } = residents();
    const res = await r.run('h', 'echo "unclosed');
    expect(res).toMatchObject({ stdout: '', code: 2 });
    expect(res.stderr).toContain('Unterminated quoted string');
    expect((await r.run('h', 'echo fine')).stdout).toBe('fine\n');
  });

  it('run commands one after another in one shell, each in a subshell of its own', async () => {
    const { r, counts } = residents();
    const pids = [];
    for (let i = 0; i < 3; i++) pids.push((await r.run('h', 'echo $$; cd /; x=1; exit 3')).stdout);
    expect(new Set(pids).size).toBe(1);
    // the last command's cd, variable and exit stayed its own
    expect(await r.run('h', 'echo "$PWD ${x:-unset}"')).toEqual({
      stdout: `${process.cwd()} unset\n`,
      stderr: '',
      code: 0,
    });
    expect(counts.spawned).toBe(1);
  });

  it('give a command beside a short one the same shell once it is free, rather than start another', async () => {
    const { r, counts } = residents();
    const results = await Promise.all([1, 2, 3].map(() => r.run('h', 'sleep 0.02; echo $$')));
    expect(new Set(results.map((x) => x.stdout)).size).toBe(1);
    expect(counts).toEqual({ spawned: 1, oneShot: 0 });
  });

  it('start another shell for a command beside a long one, per host, up to the cap; beyond it run one-shot', async () => {
    const { r, counts } = residents();
    const n = RESIDENTS_PER_HOST + 2;
    const results = await Promise.all(Array.from({ length: n }, () => r.run('h', 'sleep 1; echo $$')));
    expect(results.every((x) => x.code === 0)).toBe(true);
    expect(counts).toEqual({ spawned: RESIDENTS_PER_HOST, oneShot: 2 });
    expect(new Set(results.map((x) => x.stdout)).size).toBe(n);
    await r.run('g', 'true'); // another host: a shell of its own
    expect(counts.spawned).toBe(RESIDENTS_PER_HOST + 1);
  });

  it('stream output as it comes, without the markers', async () => {
    const { r } = residents();
    const [out, err]: Buffer[][] = [[], []];
    const res = await r.run('h', 'for i in 1 2 3; do echo line $i; echo e$i >&2; sleep 0.1; done', {
      onStdout: (c) => out.push(c),
      onStderr: (c) => err.push(c),
    });
    expect(Buffer.concat(out).toString()).toBe(res.stdout);
    expect(Buffer.concat(err).toString()).toBe(res.stderr);
    expect(res.stdout).toBe('line 1\nline 2\nline 3\n');
  });

  it('keep what a detached process writes later out of the next result', async () => {
    const { r } = residents();
    expect((await r.run('h', '(sleep 0.3; echo stray) & echo now')).stdout).toBe('now\n');
    await new Promise((done) => setTimeout(done, 600));
    expect(await r.run('h', 'echo next')).toEqual({ stdout: 'next\n', stderr: '', code: 0 });
  });

  it('report a shell that dies under its command (exit 255, saying so), and start a new one for the next', async () => {
    const { r, counts } = residents();
    const res = await r.run('h', 'echo before; kill -9 $$');
    expect(res.code).toBe(255);
    expect(res.stdout).toBe('before\n');
    expect(res.stderr).toContain("the host's shell ended before the command finished");
    expect((await r.run('h', 'echo again')).stdout).toBe('again\n');
    expect(counts.spawned).toBe(2);
  });

  it('drop a shell that was killed while idle (a teardown ends what runs in a namespace), and start a new one', async () => {
    const { r, counts } = residents();
    const pid = Number((await r.run('h', 'echo $$')).stdout);
    process.kill(pid, 'SIGKILL');
    await new Promise((done) => setTimeout(done, 200));
    const res = await r.run('h', 'echo $$');
    expect(res.code).toBe(0);
    expect(Number(res.stdout)).not.toBe(pid);
    expect(counts.spawned).toBe(2);
  });

  it('run one-shot where no shell starts (a namespace or container gone), so the caller gets its error as before', async () => {
    const { r, counts } = residents(`sh -c 'echo "Cannot open network namespace" >&2; exit 1'`);
    expect(await r.run('h', 'echo hi')).toEqual({ stdout: 'hi\n', stderr: '', code: 0 });
    expect(counts).toEqual({ spawned: 1, oneShot: 1 });
  });

  it('run a command with input one-shot (a resident shell reads its commands from its input)', async () => {
    const { r, counts } = residents();
    expect((await r.run('h', 'tr a-z A-Z', { stdin: 'lvs' })).stdout).toBe('LVS');
    expect(counts).toEqual({ spawned: 0, oneShot: 1 });
  });

  it('time a command out, and end the shell it held', async () => {
    const { r } = residents();
    const pid = Number((await r.run('h', 'echo $$')).stdout);
    await expect(r.run('h', 'sleep 5', { timeoutMs: 300 })).rejects.toThrow('timed out after 300 ms: sleep 5');
    await new Promise((done) => setTimeout(done, 200));
    expect(alive(pid)).toBe(false);
    expect((await r.run('h', 'echo $$')).stdout).not.toBe(`${pid}`);
  });

  it("end with the local shell's close", async () => {
    const { r } = residents();
    const pid = Number((await r.run('h', 'echo $$')).stdout);
    expect(alive(pid)).toBe(true);
    await shell.close();
    await new Promise((done) => setTimeout(done, 200));
    expect(alive(pid)).toBe(false);
  });

  it("stop a host script's hung step through a second shell (the script's pid is its own, not the shell's)", async () => {
    const { r } = residents();
    const steps = [{ command: 'echo one' }, { command: 'sleep 301' }, { command: 'echo never' }];
    const err = await rejection(
      runSteps('rs1', steps, (cmd, o) => r.run('rs1', cmd, o), { stepTimeoutSeconds: 1 }),
      StepFailed,
    );
    expect(err.message).toMatch(/command: sleep 301\n {2}stderr: timed out after 1 s/);
    expect((await new LocalShell().exec('pgrep -x -f "sleep 301"')).code).toBe(1);
  });

  it("withResidents: a machine's own commands share one resident shell, with one-shot results; input goes one-shot", async () => {
    shell = new LocalShell();
    const machine = withResidents(shell, 'sh');
    const pids = new Set<string>();
    for (const cmd of cases) {
      expect(await machine.exec(cmd)).toEqual(await new LocalShell().exec(cmd));
      pids.add((await machine.exec('echo $$')).stdout);
    }
    expect(pids.size).toBe(1); // every command a subshell of one resident shell
    const [pid] = [...pids].map(Number);
    expect(processArgs(pid)?.[0]).toBe('sh');
    const piped = await machine.exec('echo $$; cat', { stdin: 'in\n' });
    expect(piped.stdout).toMatch(/^\d+\nin\n$/);
    expect(piped.stdout.split('\n')[0]).not.toBe(String(pid));
    expect(machine.where).toBe(shell.where);
  });

  it('find the markers and hand on the output whatever the chunks: here every byte its own, a marker split too', async () => {
    // A scripted host shell: it answers each command line with output that looks like a marker's start, then the
    // markers, one byte per chunk.
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const dribble = (to: PassThrough, text: string) => {
      for (const byte of Buffer.from(text)) to.write(Buffer.from([byte]));
    };
    const stream = {
      stdout,
      stderr,
      ended: new Promise<void>(() => {}),
      close: () => {},
      write: (line: string) => {
        const mark = /printf '%s\\n' (\S+) >&2/.exec(line)![1];
        const probe = line.startsWith('true;'); // the new shell's first line: does it run?
        const body = probe ? ['', ''] : [`@@ not the marker ${mark.slice(0, 9)}\nend`, 'warn\n'];
        dribble(stdout, `${body[0]}${mark} ${probe ? 0 : 3}\n`);
        dribble(stderr, `${body[1]}${mark}\n`);
      },
    };
    const r = new ResidentShells({
      spawn: () => Promise.resolve(stream),
      oneShot: () => Promise.reject(new Error('no')),
    });
    const [out, err]: Buffer[][] = [[], []];
    const res = await r.run('h', 'anything', { onStdout: (c) => out.push(c), onStderr: (c) => err.push(c) });
    expect(res).toEqual({ stdout: '@@ not the marker @@lvs-lab\nend', stderr: 'warn\n', code: 3 });
    expect(Buffer.concat(out).toString()).toBe(res.stdout);
    expect(Buffer.concat(err).toString()).toBe(res.stderr);
  });
});
