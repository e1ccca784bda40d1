// A Shell runs one command line on one machine (this one, or a VM over SSH) and never throws on a non-zero exit:
// callers decide what a failure means. Transports build on it.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { $ } from 'zx';
import { CommandError } from '../model/errors.js';

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface ExecOptions {
  /** Written to the command's standard input. */
  stdin?: string;
  timeoutMs?: number;
  /** Called with output as it comes (it is also in the result): `exec` streams a long command's output. */
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

/** A long-running command's standard streams: a host's resident shell (provision/resident.ts). */
export interface Stream {
  readonly stdout: Readable;
  readonly stderr: Readable;
  write(data: string): void;
  /** Resolves once the command has ended. */
  readonly ended: Promise<void>;
  /** Closes its input, and ends it where it is a process of ours. */
  close(): void;
  /** Whether it keeps this process alive: while a command runs on it, not while it idles. */
  hold?(busy: boolean): void;
}

export interface Shell {
  /** What this shell reaches, for messages: "localhost", "vm lvs (127.0.0.1:40022)". */
  readonly where: string;
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
  /** Starts `command` with its input and output as a stream, until it ends or `close` is called. */
  spawn?(command: string): Promise<Stream>;
  /** The command line that runs `command` on this machine with a terminal of its own (an interactive shell). */
  interactive(command: string): Promise<string[]>;
  close(): Promise<void>;
}

/** POSIX single quoting: the word reaches the shell on the other side unchanged. */
export function shq(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Succeeds when the daemon whose pid file this is runs (so a re-apply starts no second one). */
export function daemonRunning(pidFile: string): string {
  // The shell's own read and kill: no process started (each is slow to start under software emulation).
  // (`read` fails on a last line without a newline, so its status is not the test: an empty $pid is.)
  return `{ pid=; read pid < ${shq(pidFile)}; } 2>/dev/null; [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null`;
}

/**
 * `commands` side by side as background jobs of one script, which fails (exit 1) when any of them does: for
 * independent commands on one machine whose own start-up dominates under emulation (each `ip`), on 2 vCPUs.
 */
export function sideBySideScript(commands: string[]): string {
  return [
    'pids=',
    ...commands.map((c) => `( ${c} ) & pids="$pids $!"`),
    'rc=0; for p in $pids; do wait $p || rc=1; done; exit $rc',
  ].join('\n');
}

/** `p`, or the error `timedOut` makes once `ms` have passed (the one timeout race of SSH commands, steps and probes). */
export function withTimeout<T>(p: Promise<T>, ms: number, timedOut: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timedOut()), ms);
    }),
  ]);
}

/** `run`, bounded by `options.timeoutMs` when it has one (the error names the command). */
export function commandTimeout<T>(run: Promise<T>, options: ExecOptions, command: string): Promise<T> {
  const ms = options.timeoutMs;
  return ms ? withTimeout(run, ms, () => new Error(`timed out after ${ms} ms: ${command}`)) : run;
}

/** Runs commands on this machine with zx; `env` is added to each command's environment (a DOCKER_HOST, say). */
export class LocalShell implements Shell {
  /** What `spawn` started and is still running: `close` ends it (by pid, each a process of ours). */
  private readonly children = new Set<ChildProcess>();

  constructor(
    private readonly env: Readonly<Record<string, string>> = {},
    readonly where = 'localhost',
  ) {}

  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const p = $({
      quiet: true,
      nothrow: true,
      input: options.stdin,
      timeout: options.timeoutMs,
      env: { ...process.env, ...this.env },
    })`sh -c ${command}`;
    if (options.onStdout) p.stdout.on('data', options.onStdout);
    if (options.onStderr) p.stderr.on('data', options.onStderr);
    const out = await p;
    return { stdout: out.stdout, stderr: out.stderr, code: out.exitCode ?? 1 };
  }

  /** `command` is one simple command: it replaces the shell (`exec`), so `close` ends that very process. */
  spawn(command: string): Promise<Stream> {
    const child = spawn('sh', ['-c', `exec ${command}`], { env: { ...process.env, ...this.env }, stdio: 'pipe' });
    this.children.add(child);
    const ended = new Promise<void>((resolve) =>
      child.on('close', () => {
        this.children.delete(child);
        resolve();
      }),
    );
    child.stdin.on('error', () => {}); // written after it ended: `ended` reports that
    const handles = [child, child.stdin, child.stdout, child.stderr] as unknown as { ref(): void; unref(): void }[];
    return Promise.resolve({
      stdout: child.stdout,
      stderr: child.stderr,
      write: (data) => void child.stdin.write(data),
      ended,
      close: () => {
        child.stdin.end();
        child.kill();
      },
      hold: (busy) => handles.forEach((h) => (busy ? h.ref() : h.unref())),
    });
  }

  interactive(command: string): Promise<string[]> {
    const env = Object.entries(this.env).map(([k, v]) => `${k}=${v}`);
    return Promise.resolve([...(env.length > 0 ? ['env', ...env] : []), 'sh', '-c', command]);
  }

  close(): Promise<void> {
    for (const child of this.children) child.kill();
    return Promise.resolve();
  }
}

/** Another machine through a program that runs one command line there (`ssh user@host`): its stdin, output and exit
 * status come back as the command's. */
export class RemoteShell implements Shell {
  private readonly local = new LocalShell();

  constructor(
    private readonly via: readonly string[],
    readonly where: string,
  ) {}

  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    return this.local.exec(`${this.via.map(shq).join(' ')} ${shq(command)}`, options);
  }

  interactive(command: string): Promise<string[]> {
    return Promise.resolve([this.via[0], '-t', ...this.via.slice(1), command]);
  }

  close(): Promise<void> {
    return this.local.close();
  }
}

/** Runs `command` on `shell` and returns its stdout; a non-zero exit is a CommandError saying what it was for. */
export async function mustExec(shell: Shell, command: string, what?: string, timeoutMs?: number): Promise<string> {
  const res = await shell.exec(command, { timeoutMs });
  if (res.code !== 0)
    throw new CommandError(shell.where, command, res.code, res.stderr.trim() || res.stdout.trim(), what);
  return res.stdout;
}
