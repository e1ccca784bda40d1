// A minimal client for qemu's machine protocol (QMP) on a unix socket: what saving and restoring a booted VM needs
// (stop, migrate, query-migrate, cont, quit). One command at a time; asynchronous events are skipped.
import type { Socket } from 'node:net';
import { waitFor } from '../base/wait.js';
import { connectUnix } from './unix-socket.js';
import { TimeoutError } from '../model/errors.js';

export class QmpError extends Error {}

export class Qmp {
  private buffer = '';
  private waiting: ((line: Record<string, unknown>) => void)[] = [];
  private lines: Record<string, unknown>[] = [];
  private closed?: Error;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as Record<string, unknown>;
        if ('event' in msg) continue;
        const next = this.waiting.shift();
        if (next) next(msg);
        else this.lines.push(msg);
      }
    });
    const fail = (err: Error) => {
      this.closed = err;
      for (const w of this.waiting.splice(0)) w({ error: { desc: err.message } });
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new QmpError('QMP connection closed')));
  }

  /**
   * Connects, reads qemu's greeting and leaves capabilities negotiation, retrying while qemu creates the socket;
   * gives up at once when `running` says qemu is gone.
   */
  static async connect(path: string, timeoutMs = 10_000, running: () => boolean = () => true): Promise<Qmp> {
    let last = 'no attempt';
    return waitFor(
      async () => {
        if (!running()) throw new QmpError('qemu exited');
        let qmp: Qmp | undefined;
        try {
          const socket = await connectUnix(path);
          qmp = new Qmp(socket);
          await qmp.next(); // the greeting
          await qmp.execute('qmp_capabilities');
          return qmp;
        } catch (err) {
          qmp?.close();
          last = (err as Error).message;
          return undefined; // qemu has not created the socket yet, or is still starting
        }
      },
      {
        within: timeoutMs,
        every: 50,
        timedOut: () => new TimeoutError(`no QMP on ${path} within ${timeoutMs} ms: ${last}`, timeoutMs),
      },
    );
  }

  private next(): Promise<Record<string, unknown>> {
    const queued = this.lines.shift();
    if (queued) return Promise.resolve(queued);
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    this.socket.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) }) + '\n');
    const reply = await this.next();
    if ('error' in reply)
      throw new QmpError(`QMP ${command}: ${(reply.error as { desc?: string }).desc ?? JSON.stringify(reply.error)}`);
    return reply.return as T;
  }

  /** Polls `query-migrate` until the migration (outgoing or incoming) completed; throws when it failed. */
  async migrationDone(timeoutMs: number): Promise<void> {
    let status: string | undefined;
    await waitFor(
      async () => {
        ({ status } = await this.execute<{ status?: string }>('query-migrate'));
        if (status === 'failed' || status === 'cancelled') throw new QmpError(`migration ${status}`);
        return status === 'completed' ? status : undefined;
      },
      {
        within: timeoutMs,
        every: 50,
        timedOut: () =>
          new TimeoutError(`migration not completed within ${timeoutMs} ms (status ${status})`, timeoutMs),
      },
    );
  }

  close(): void {
    this.socket.destroy();
  }
}
