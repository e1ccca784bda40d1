import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';
import { newSshKeyPair } from '../../../provision/ssh.js';
import { LocalShell, shq, sideBySideScript, type ExecOptions, type Shell } from '../../../provision/shell.js';
import { dockerTransport, netnsTransport, sshTransport } from '../../../provision/transport.js';

class RecordingShell implements Shell {
  readonly where = 'fake';
  readonly commands: string[] = [];
  exec(command: string, _options?: ExecOptions) {
    this.commands.push(command);
    return Promise.resolve({ stdout: 'ok', stderr: '', code: 0 });
  }
  interactive(command: string) {
    return Promise.resolve(['tty', command]);
  }
  async close() {}
}

// Commands with every quoting hazard the plan produces: redirections, $(...), quotes, heredocs.
const hazards = [
  'echo 1 > /proc/sys/net/ipv4/conf/eth0/arp_ignore',
  `echo 'from 192.168.170.102' > /tmp/x/index.html`,
  `[ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ]`,
  `printf '%s\\n' 'it'"'"'s' | grep -q -- '-> 1.2.3.4:80 '`,
  'cat > /tmp/c <<\'EOF\'\nLogFormat "%h %l" common\nEOF',
];

describe('shell quoting', () => {
  it.each(hazards)('delivers %j to the far shell unchanged', async (cmd) => {
    // Through a real sh: the quoted word must come out as the original text.
    const res = await new LocalShell().exec(`printf '%s' ${shq(cmd)}`);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(cmd);
  });

  it('reports exit code and stderr without throwing', async () => {
    const res = await new LocalShell().exec('echo out; echo err >&2; exit 7');
    expect(res).toEqual({ stdout: 'out\n', stderr: 'err\n', code: 7 });
  });

  it('feeds stdin', async () => {
    expect((await new LocalShell().exec('tr a-z A-Z', { stdin: 'lvs' })).stdout).toBe('LVS');
  });

  it('runs commands side by side in one script, which fails when any of them does', async () => {
    const sh = new LocalShell();
    // Each job waits for the other's file: one after the other this would never end.
    const t = `/tmp/lvs-lab-side-${process.pid}`;
    const both = await sh.exec(
      sideBySideScript([
        `touch ${t}.a; until [ -e ${t}.b ]; do sleep 0.05; done; echo a`,
        `touch ${t}.b; until [ -e ${t}.a ]; do sleep 0.05; done; echo b`,
      ]),
      { timeoutMs: 10_000 },
    );
    await sh.exec(`rm -f ${t}.a ${t}.b`);
    expect(both.code).toBe(0);
    expect(both.stdout.split('\n').filter(Boolean).sort()).toEqual(['a', 'b']);
    for (const failing of [
      ['true', 'exit 3'],
      ['echo no >&2; false', 'true'],
    ]) {
      const res = await sh.exec(sideBySideScript(failing));
      expect(res.code, failing.join(' & ')).toBe(1);
    }
    expect((await sh.exec(sideBySideScript(['echo no >&2; false', 'true']))).stderr).toBe('no\n');
  });

  it("adds a local shell's environment to each command, and to its interactive command line", async () => {
    const shell = new LocalShell({ DOCKER_HOST: 'unix:///run/x.sock' });
    expect((await shell.exec('echo "$DOCKER_HOST" "${PATH:+path kept}"')).stdout).toBe(
      'unix:///run/x.sock path kept\n',
    );
    expect(await shell.interactive('docker exec -it c bash')).toEqual([
      'env',
      'DOCKER_HOST=unix:///run/x.sock',
      'sh',
      '-c',
      'docker exec -it c bash',
    ]);
    expect(await new LocalShell().interactive('bash')).toEqual(['sh', '-c', 'bash']);
  });
});

describe('transports', () => {
  it('netns enters the host namespace and runs the command under sh -c', async () => {
    const shell = new RecordingShell();
    const t = netnsTransport(shell, (h) => `lvs-${h}`);
    await t.run('rs1', hazards[2]);
    expect(shell.commands).toEqual([`ip netns exec lvs-rs1 sh -c ${shq(hazards[2])}`]);
  });

  it('docker execs into the host container, with -i only when there is stdin', async () => {
    const shell = new RecordingShell();
    const t = dockerTransport(shell, (h) => `lvs-${h}`);
    await t.run('director', 'ipvsadm -ln');
    await t.run('director', 'cat', { stdin: 'x' });
    expect(shell.commands).toEqual([
      "docker exec lvs-director sh -c 'ipvsadm -ln'",
      'docker exec -i lvs-director sh -c cat',
    ]);
  });

  it('ssh runs on the connection of the named host, and refuses an unknown host', async () => {
    const a = new RecordingShell();
    const b = new RecordingShell();
    const t = sshTransport(
      new Map([
        ['rs1', a],
        ['rs2', b],
      ]),
    );
    await t.run('rs2', 'hostname');
    expect([a.commands, b.commands]).toEqual([[], ['hostname']]);
    await expect(t.run('rs9', 'hostname')).rejects.toThrow(/no connection for host "rs9"/);
  });
});

describe('SSH keys', () => {
  it('every generated key pair parses, private and public (ssh2 alone makes a broken one about 1 time in 100)', () => {
    for (let i = 0; i < 300; i++) {
      const keys = newSshKeyPair();
      expect(ssh2.utils.parseKey(keys.private)).not.toBeInstanceOf(Error);
      expect(Buffer.from(keys.public.split(' ')[1], 'base64').length).toBe(51); // type string + 32-byte key
    }
  });
});
