// Resident shells: a long-lived `sh` entered into a host once (an SSH channel, `ip netns exec`, `docker exec -i`)
// that then runs the host's commands one after another, as Mininet keeps one shell per host. Under software
// emulation every process started is slow, and entering a host starts three or four (sshd's session, the login
// shell, ip netns exec, sh) before the command's own; a resident shell pays that once, and each command then costs
// one fork (a subshell). Results are the same as a one-shot `sh -c`: stdout, stderr and the exit code, each command
// in a subshell of its own (its `exit`, `cd` and variables stay its own), with /dev/null as its input.
import { randomBytes } from 'node:crypto';
import { commandTimeout, type ExecOptions, type ExecResult, type Shell, shq, type Stream } from './shell.js';

/** At most this many resident shells per host; a command beyond them runs one-shot. */
export const RESIDENTS_PER_HOST = 4;
/**
 * How long a command waits for a busy shell of its host before another is started: starting one (an SSH channel and
 * three programs in the VM, or a `docker exec`) takes longer under emulation than most commands do.
 */
export const WAIT_FOR_BUSY_MS = 250;

/** What `ResidentShells` needs of a transport: how to start a host's resident shell, and the one-shot way. */
export interface HostEntry {
  /** Starts `sh` in the host, its input and output the returned stream; undefined where the shell cannot. */
  spawn?(host: string): Promise<Stream>;
  oneShot(host: string, command: string, options?: ExecOptions): Promise<ExecResult>;
}

interface Pending {
  resolve(r: ExecResult): void;
  out: Half;
  err: Half;
  code?: number;
  errDone: boolean;
}

/**
 * One stream of a command's output as it comes: the part known to be the command's (handed on at once), and a tail
 * that may hold the start of the marker. A chunk costs its own length, not the length of the output before it.
 */
class Half {
  private readonly done: Buffer[] = [];
  private tail: Buffer = Buffer.alloc(0);

  constructor(
    private readonly mark: Buffer,
    private readonly emit?: (chunk: Buffer) => void,
  ) {}

  /** Takes a chunk; once the marker's line is complete, returns what follows the marker on it. */
  push(chunk: Buffer): string | undefined {
    this.tail = this.tail.length > 0 ? Buffer.concat([this.tail, chunk]) : chunk;
    const at = this.tail.indexOf(this.mark);
    // Hand on all but what may be the start of the marker (a step's outcome line must not wait for more output).
    const cut = at >= 0 ? at : this.tail.length - this.markPrefixAtEnd();
    if (cut > 0) {
      const out = this.tail.subarray(0, cut);
      this.done.push(out);
      this.emit?.(out);
      this.tail = this.tail.subarray(cut);
    }
    if (at < 0) return undefined;
    const end = this.tail.indexOf('\n'); // the tail starts with the marker now
    return end < 0 ? undefined : this.tail.subarray(this.mark.length, end).toString();
  }

  /** The command's output; `all` adds a tail that never became a marker (the shell ended under the command). */
  text(all = false): string {
    return Buffer.concat(all ? [...this.done, this.tail] : this.done).toString();
  }

  /** How many of the tail's last bytes are the start of the marker. */
  private markPrefixAtEnd(): number {
    const t = this.tail;
    for (let k = Math.min(this.mark.length - 1, t.length); k > 0; k--)
      if (t.subarray(t.length - k).equals(this.mark.subarray(0, k))) return k;
    return 0;
  }
}

/** One resident shell: runs one command at a time, each delimited on both streams by a marker of its own. */
class Resident {
  private readonly mark = `@@lvs-lab-${randomBytes(8).toString('hex')}`;
  private readonly markBuf = Buffer.from(this.mark);
  private pending?: Pending;
  alive = true;

  constructor(private readonly stream: Stream) {
    stream.hold?.(false);
    stream.stdout.on('data', (chunk: Buffer) => this.onOut(chunk));
    stream.stderr.on('data', (chunk: Buffer) => this.onErr(chunk));
    void stream.ended.then(() => {
      this.alive = false;
      const p = this.pending;
      this.pending = undefined;
      p?.resolve({
        stdout: p.out.text(true),
        stderr: `${p.err.text(true)}(the host's shell ended before the command finished)\n`,
        code: 255,
      });
    });
  }

  /** Sends `command` (empty: only the markers, to learn that the shell runs) and resolves with its result. */
  run(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    if (this.pending || !this.alive) throw new Error('resident shell busy or gone');
    this.stream.hold?.(true);
    return new Promise<ExecResult>((resolve) => {
      this.pending = {
        resolve,
        out: new Half(this.markBuf, options.onStdout),
        err: new Half(this.markBuf, options.onStderr),
        errDone: false,
      };
      const body = command ? `( eval ${shq(command)} ) </dev/null; ` : 'true; ';
      this.stream.write(`${body}printf '%s %d\\n' ${this.mark} $?; printf '%s\\n' ${this.mark} >&2\n`);
    });
  }

  close(): void {
    this.alive = false;
    this.stream.close();
  }

  private onOut(chunk: Buffer): void {
    const p = this.pending;
    if (!p || p.code !== undefined) return; // output of nothing we ran (a stray background process): not a result
    const status = p.out.push(chunk);
    if (status === undefined) return;
    p.code = Number(status.trim());
    this.settle();
  }

  private onErr(chunk: Buffer): void {
    const p = this.pending;
    if (!p || p.errDone) return;
    if (p.err.push(chunk) === undefined) return;
    p.errDone = true;
    this.settle();
  }

  private settle(): void {
    const p = this.pending;
    if (!p || p.code === undefined || !p.errDone) return;
    this.pending = undefined;
    this.stream.hold?.(false);
    p.resolve({ stdout: p.out.text(), stderr: p.err.text(), code: p.code });
  }
}

/** A transport's resident shells, per host: an idle one runs the next command, busy ones make another (up to a cap). */
export class ResidentShells {
  private readonly idle = new Map<string, Resident[]>();
  private readonly count = new Map<string, number>();
  /** Commands waiting for a busy shell of the host, first come first served. */
  private readonly waiting = new Map<string, Array<(r: Resident) => void>>();

  constructor(
    private readonly entry: HostEntry,
    private readonly perHost = RESIDENTS_PER_HOST,
    private readonly waitMs = WAIT_FOR_BUSY_MS,
  ) {}

  async run(host: string, command: string, options: ExecOptions = {}): Promise<ExecResult> {
    // A command that reads input gets it through a one-shot run: a resident shell's input is its command stream.
    if (options.stdin !== undefined || !this.entry.spawn) return this.entry.oneShot(host, command, options);
    const resident =
      this.takeIdle(host) ??
      ((this.count.get(host) ?? 0) > 0 ? await this.freed(host) : undefined) ??
      (await this.start(host));
    if (!resident) return this.entry.oneShot(host, command, options);
    const run = resident.run(command, options);
    try {
      const result = await commandTimeout(run, options, command);
      this.release(host, resident);
      return result;
    } catch (err) {
      resident.close(); // still running the command: of no further use
      this.release(host, resident);
      throw err;
    }
  }

  /** A new resident shell in `host`, ready; undefined at the cap, or when one cannot start there (the one-shot run
   * then gives the caller the same error as before, say a namespace or container that is gone). */
  private async start(host: string): Promise<Resident | undefined> {
    const n = this.count.get(host) ?? 0;
    if (n >= this.perHost) return undefined;
    this.count.set(host, n + 1);
    let resident: Resident | undefined;
    try {
      resident = new Resident(await this.entry.spawn!(host));
      const ready = await resident.run('');
      if (ready.code === 0 && resident.alive) return resident;
    } catch {
      // fall through: one-shot
    }
    resident?.close();
    this.count.set(host, (this.count.get(host) ?? 1) - 1);
    return undefined;
  }

  /** An idle shell of `host` that still runs (one killed while idle, say by a teardown, is dropped). */
  private takeIdle(host: string): Resident | undefined {
    const list = this.idle.get(host) ?? [];
    for (let r = list.pop(); r; r = list.pop()) {
      if (r.alive) return r;
      this.count.set(host, (this.count.get(host) ?? 1) - 1);
    }
    return undefined;
  }

  /** A shell of `host` that a command hands back within waitMs; undefined past that. */
  private freed(host: string): Promise<Resident | undefined> {
    const queue = this.waiting.get(host) ?? [];
    this.waiting.set(host, queue);
    return new Promise((resolve) => {
      const take = (r: Resident) => {
        clearTimeout(timer);
        resolve(r);
      };
      const timer = setTimeout(() => {
        queue.splice(queue.indexOf(take), 1);
        resolve(undefined);
      }, this.waitMs);
      queue.push(take);
    });
  }

  private release(host: string, resident: Resident): void {
    if (!resident.alive) {
      this.count.set(host, (this.count.get(host) ?? 1) - 1);
      return;
    }
    const next = this.waiting.get(host)?.shift();
    if (next) next(resident);
    else this.idle.set(host, [...(this.idle.get(host) ?? []), resident]);
  }
}

/** What enters an SSH machine's resident shell: its login shell, as sshd runs a one-shot command with. */
export const LOGIN_SHELL = 'exec "$SHELL"';

/**
 * `shell` with its own commands run in resident shells (`enter` starts one: its login shell, say), one-shot where
 * those cannot (a command with input). For a machine whose own commands come one after another over one
 * connection: the lab VM's preflight, network and teardown then pay for one SSH session channel, not one each.
 */
export function withResidents(shell: Shell, enter: string): Shell {
  const residents = new ResidentShells({
    spawn: shell.spawn && (() => shell.spawn!(enter)),
    oneShot: (_machine, command, options) => shell.exec(command, options),
  });
  return {
    where: shell.where,
    exec: (command, options) => residents.run('', command, options),
    spawn: shell.spawn && ((command) => shell.spawn!(command)),
    interactive: (command) => shell.interactive(command),
    close: () => shell.close(),
  };
}
