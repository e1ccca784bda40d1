// A Shell runs one command line on one machine (this one, or a VM over SSH) and never throws on a non-zero exit:
// callers decide what a failure means. Transports build on it.
import { $ } from 'zx';

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

export interface Shell {
  /** What this shell reaches, for messages: "localhost", "vm lvs (127.0.0.1:40022)". */
  readonly where: string;
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
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
  // The shell's own read and kill: no process started (each costs ~0.1 s under software emulation).
  // (`read` fails on a last line without a newline, so its status is not the test: an empty $pid is.)
  return `{ pid=; read pid < ${shq(pidFile)}; } 2>/dev/null; [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null`;
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

/** Runs commands on this machine with zx; `env` is added to each command's environment (a DOCKER_HOST, say). */
export class LocalShell implements Shell {
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

  interactive(command: string): Promise<string[]> {
    const env = Object.entries(this.env).map(([k, v]) => `${k}=${v}`);
    return Promise.resolve([...(env.length > 0 ? ['env', ...env] : []), 'sh', '-c', command]);
  }

  async close(): Promise<void> {}
}
