// An ssh:// engine (a Docker host of the user's): how the kit reaches it, without a remote host. Docker itself through
// DOCKER_HOST=ssh://..., the host's own commands through this machine's `ssh` (RemoteShell), as one command line.
import { describe, expect, it } from 'vitest';
import { mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { engineProblems, openEngine } from '../../../docker/engine.js';
import { RemoteShell } from '../../../provision/shell.js';

describe('an ssh:// engine', () => {
  it("is reached as Docker's own ssh:// client reaches it: the provider's host, BatchMode, and `ssh` for the host", async () => {
    const engine = (await openEngine('ssh://lab@10.0.0.2:2222'))!;
    try {
      expect(engine.kind).toBe('ssh');
      expect(engine.address).toBe('ssh://lab@10.0.0.2:2222');
      expect(engine.client).toEqual({ host: 'ssh://lab@10.0.0.2:2222', sshOpts: ['-o', 'BatchMode=yes'] });
      expect(engine.docker.where).toBe('ssh://lab@10.0.0.2:2222');
      const machine = await engine.machine();
      expect(await machine.interactive('ip link')).toEqual([
        'ssh',
        '-t',
        '-o',
        'BatchMode=yes',
        '-p',
        '2222',
        'lab@10.0.0.2',
        'ip link',
      ]);
    } finally {
      await engine.close();
    }
  });

  it("runs a command line on the other side whole: its words, input, output and exit status come back as the command's", async () => {
    // `sh -c` stands in for `ssh host`: both take the command line as one word and run it in a shell there.
    const remote = new RemoteShell(['sh', '-c'], 'stand-in');
    const res = await remote.exec(`printf '%s|' "a  b" '$HOME' "it's"; cat; exit 3`, { stdin: 'in' });
    expect(res).toEqual({ stdout: "a  b|$HOME|it's|in", stderr: '', code: 3 });
    await remote.close();
  });

  it('runs `docker` on the host itself where this machine has no Docker CLI (the provider needs none)', async () => {
    const path = process.env.PATH;
    const empty = await mkdtemp(join(tmpdir(), 'lvs-lab-path-'));
    process.env.PATH = empty; // no docker CLI on it
    try {
      const engine = (await openEngine('ssh://lab@10.0.0.2'))!;
      expect(engine.docker).toBe(await engine.machine());
      expect(await engine.docker.interactive('docker ps')).toEqual([
        'ssh',
        '-t',
        '-o',
        'BatchMode=yes',
        'lab@10.0.0.2',
        'docker ps',
      ]);
      await engine.close();
    } finally {
      process.env.PATH = path;
      await rmdir(empty);
    }
  });

  it('one it cannot reach is refused for that, with what to try, not taken for a kernel without IPVS', async () => {
    const engine = (await openEngine('ssh://root@127.0.0.1:1'))!; // nothing listens on loopback's port 1
    try {
      const problems = await engineProblems(engine);
      expect(problems).toHaveLength(2);
      expect(problems[0]).toMatch(
        /^docker: no Docker engine answers on ssh:\/\/root@127\.0\.0\.1:1 \(.+\); check that/,
      );
      expect(problems[1]).toMatch(/^ssh: cannot run a command on ssh:\/\/root@127\.0\.0\.1:1 \(.*refused.*\)/);
      expect(problems.join('\n')).not.toMatch(/IPVS/);
    } finally {
      await engine.close();
    }
  });
});
