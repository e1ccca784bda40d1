// SSH transport for machines we do not share a kernel with: the lab VM, Vagrant boxes, bare metal.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { Duplex } from 'node:stream';
import { NodeSSH } from 'node-ssh';
import ssh2 from 'ssh2';
import {
  commandTimeout,
  LocalShell,
  shq,
  type ExecOptions,
  type ExecResult,
  type Shell,
  type Stream,
} from './shell.js';

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  privateKey: string;
  /** The server's public key blob (base64, as in a .pub file): pinned, so a process squatting the port is refused. */
  hostKey?: string;
  /**
   * A command whose standard input and output are the connection to host:port, as OpenSSH's ProxyCommand: Vagrant
   * machines of the kit's libvirtd are reached through its network namespace (`ip netns exec NS socat - TCP:h:p`).
   */
  proxy?: string[];
  /** The private key's file, for the `ssh` client of an interactive session (node-ssh takes the key itself). */
  keyFile?: string;
}

/**
 * A fresh ed25519 key pair in OpenSSH format. ssh2's generator drops a leading zero byte of the public key about one
 * time in a hundred, and such a key parses nowhere: generate again until it parses.
 */
export function newSshKeyPair(): { private: string; public: string } {
  for (;;) {
    const keys = ssh2.utils.generateKeyPairSync('ed25519');
    if (!(ssh2.utils.parseKey(keys.private) instanceof Error)) return keys;
  }
}

/**
 * Options for an OpenSSH client to `t`: the same key, the host key pinned (in a known_hosts file beside the key) and
 * the same proxy. For interactive sessions, the engine VM's Docker socket forward and commands over its connection.
 */
export async function opensshOptions(t: SshTarget): Promise<string[]> {
  if (!t.keyFile || !t.hostKey) throw new Error(`${t.host}:${t.port}: no key file or host key for an OpenSSH client`);
  const knownHosts = `${t.keyFile}.known_hosts`;
  await writeFile(knownHosts, `${t.port === 22 ? t.host : `[${t.host}]:${t.port}`} ssh-ed25519 ${t.hostKey}\n`);
  return [
    '-i',
    t.keyFile,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    // OpenSSH 9's default key exchange adds sntrup761, which costs the emulated guest's CPU on every handshake;
    // these are the kit's own machines, on loopback or their own network.
    '-o',
    'KexAlgorithms=curve25519-sha256,curve25519-sha256@libssh.org',
    ...(t.proxy ? ['-o', `ProxyCommand=${t.proxy.join(' ')}`] : []),
  ];
}

/**
 * Commands through an OpenSSH master connection that is already up (its ControlPath): each is a new session on that
 * connection under software emulation, where a new connection pays a whole handshake. Should the master be
 * gone, `ssh` connects anew with the same key and pinned host key.
 */
export class OpensshShell implements Shell {
  readonly where: string;
  private readonly local = new LocalShell();
  /** The client's arguments, made once (they write the known_hosts file). */
  private argsOnce?: Promise<string[]>;

  constructor(
    private readonly target: SshTarget,
    private readonly controlPath: string,
  ) {
    this.where = `${target.username}@${target.host}:${target.port}`;
  }

  private args(): Promise<string[]> {
    return (this.argsOnce ??= this.makeArgs());
  }

  private async makeArgs(): Promise<string[]> {
    const t = this.target;
    return [
      '-q',
      '-p',
      String(t.port),
      ...(await opensshOptions(t)),
      '-o',
      `ControlPath=${this.controlPath}`,
      '-o',
      'ControlMaster=no',
      '-o',
      'BatchMode=yes',
      `${t.username}@${t.host}`,
    ];
  }

  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    // -n: no input is /dev/null there, never this process's own (a terminal, when the CLI runs in one).
    const noInput = options.stdin === undefined ? ['-n'] : [];
    return this.local.exec(['exec', 'ssh', ...noInput, ...(await this.args()), command].map(shq).join(' '), options);
  }

  /** `command` in a session of its own on the connection, with its streams (a resident shell's). */
  async spawn(command: string): Promise<Stream> {
    return this.local.spawn(['ssh', ...(await this.args()), command].map(shq).join(' '));
  }

  async interactive(command: string): Promise<string[]> {
    return ['ssh', '-t', ...(await this.args()), command];
  }

  close(): Promise<void> {
    return this.local.close();
  }
}

export class SshShell implements Shell {
  readonly where: string;

  private constructor(
    private readonly ssh: NodeSSH,
    private readonly target: SshTarget,
  ) {
    this.where = `${target.username}@${target.host}:${target.port}`;
  }

  static async connect(target: SshTarget, timeoutMs = 10_000): Promise<SshShell> {
    const ssh = new NodeSSH();
    const proxy = target.proxy && spawn(target.proxy[0], target.proxy.slice(1), { stdio: ['pipe', 'pipe', 'ignore'] });
    try {
      await ssh.connect({
        host: target.host,
        port: target.port,
        username: target.username,
        privateKey: target.privateKey,
        readyTimeout: timeoutMs,
        hostVerifier: target.hostKey ? (key: Buffer) => key.toString('base64') === target.hostKey : undefined,
        ...(proxy ? { sock: Duplex.from({ readable: proxy.stdout, writable: proxy.stdin }) } : {}),
      });
    } catch (err) {
      proxy?.kill();
      throw err;
    }
    // The proxy ends with the connection (socat exits at EOF); kill it if the connection drops first.
    if (proxy) ssh.connection?.once('close', () => proxy.kill());
    // A machine that goes away (a lab torn down while this session is open) closes the connection under it: that is
    // an error for the next command, not a crash of the process.
    ssh.connection?.on('error', () => {});
    // node-ssh adds a listener to the connection per running command, and a lab runs one per host side by side.
    ssh.connection?.setMaxListeners(256);
    return new SshShell(ssh, target);
  }

  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const run = this.ssh.execCommand(command, {
      stdin: options.stdin,
      onStdout: options.onStdout,
      onStderr: options.onStderr,
    });
    const result = await commandTimeout(run, options, command);
    return { stdout: result.stdout, stderr: result.stderr, code: result.code ?? 1 };
  }

  /** A session channel running `command` (the connection keeps this process alive, as for every command). */
  spawn(command: string): Promise<Stream> {
    const connection = this.ssh.connection;
    if (!connection) return Promise.reject(new Error(`${this.where}: not connected`));
    return new Promise((resolve, reject) =>
      connection.exec(command, (err, channel) => {
        if (err) return reject(err);
        channel.on('error', () => {}); // a connection lost under it: `ended` reports that
        resolve({
          stdout: channel,
          stderr: channel.stderr,
          write: (data) => void channel.write(data),
          ended: new Promise((done) => channel.once('close', () => done())),
          close: () => channel.close(),
        });
      }),
    );
  }

  /** OpenSSH with a terminal, running `command` there. */
  async interactive(command: string): Promise<string[]> {
    return [
      'ssh',
      '-t',
      '-q',
      '-p',
      String(this.target.port),
      ...(await opensshOptions(this.target)),
      `${this.target.username}@${this.target.host}`,
      command,
    ];
  }

  close(): Promise<void> {
    this.ssh.dispose();
    return Promise.resolve();
  }
}
