// A VM's one SSH connection for its whole life: an OpenSSH ControlMaster started when the VM comes up (or by the first
// command that finds none) and ended with the VM. Every command of this process and of later ones (verify, exec, an
// `up` again) is then a session on it, cheap where a connection of its own pays a whole
// handshake (sshd's re-exec and the key exchange, in the emulated guest). Nothing records its pid: it is found by its
// control path, which is in its command line.
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError, TimeoutError } from '../model/errors.js';
import { LocalShell, shq } from '../provision/shell.js';
import { opensshOptions, OpensshShell, type SshTarget } from '../provision/ssh.js';
import { pollFor, waitFor } from '../base/wait.js';
import { processArgs, processesUsing, stopProcess } from '../base/process.js';
import { SOCKET_PATH_MAX, socketAnswers } from './unix-socket.js';

const files = (dir: string) => ({ socket: join(dir, 'ssh.ctl'), log: join(dir, 'ssh.log') });

// ssh first binds a master's control socket as `<ControlPath>.<16 random characters>`.
const CONTROL_PATH_ROOM = SOCKET_PATH_MAX - 17;

/** Why ssh could not make the control socket of a VM whose files are in `dir`, if it could not (its path too long). */
export function controlPathProblem(dir: string): string | undefined {
  const { socket } = files(dir);
  const bytes = Buffer.byteLength(socket);
  if (bytes <= CONTROL_PATH_ROOM) return undefined;
  return `state directory: ${socket}, the VM's SSH control socket, would be ${bytes} bytes long and ssh takes at most ${CONTROL_PATH_ROOM}; set LVS_LAB_STATE_DIR to a shorter directory`;
}

const isMaster = (pid: number, dir: string) => {
  const args = processArgs(pid);
  return args?.[0] === 'ssh' && args.includes('ControlMaster=yes') && args.includes(`ControlPath=${files(dir).socket}`);
};

/** The live master processes of the VM whose files are in `dir`. */
export const masterPids = (dir: string): number[] => processesUsing(dir).filter((pid) => isMaster(pid, dir));

export interface MasterOptions {
  /** How long to keep trying while the VM's sshd does not answer yet (a booting VM), in ms. */
  within: number;
  /** Whether the VM still runs: an attempt on a VM that exited fails at once, with `exited()` as its message. */
  vmAlive: () => boolean;
  exited?: () => Promise<string>;
  /** Keys offered before the target's own: a restored VM still takes the saved state's key alone at first. */
  firstKeys?: string[];
}

/**
 * Starts the VM's master connection and returns its shell once it takes sessions; tries again while the VM's sshd
 * refuses or closes connections (a VM still booting). For a VM just started, which can have none yet (openMasterShell
 * otherwise). The master is detached from this process: later commands use it, and it ends when the VM does (its
 * connection closes) or by stopMasters.
 */
export async function startMaster(target: SshTarget, dir: string, o: MasterOptions): Promise<OpensshShell> {
  const { socket, log } = files(dir);
  const args = [
    ...(o.firstKeys ?? []).flatMap((k) => ['-i', k]),
    ...(await opensshOptions(target)),
    '-E',
    log,
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=5',
    '-o',
    'ServerAliveInterval=15',
    '-o',
    'ControlMaster=yes',
    '-o',
    `ControlPath=${socket}`,
    '-N',
    '-p',
    String(target.port),
    `${target.username}@${target.host}`,
  ];
  let child: ReturnType<typeof spawn> | undefined;
  let tries = 0;
  const lastError = async () => (await readFile(log, 'utf8').catch(() => '')).trim().split('\n').pop() ?? '';
  const failed = (why: string) =>
    new CommandError('localhost', `ssh ${args.join(' ')}`, 255, why, 'connecting to the VM');
  const late = new TimeoutError('late', o.within);
  await waitFor(
    async () => {
      if (!o.vmAlive()) throw new Error((await o.exited?.()) ?? 'the VM exited');
      if (child && child.exitCode === null && child.signalCode === null)
        return (await socketAnswers(socket)) || undefined;
      // A try that ended: sshd not listening yet (a VM still booting) is tried again, a refusal is final.
      const why = child ? await lastError() : '';
      if (/Permission denied|Host key verification failed/.test(why)) throw failed(why);
      await rm(socket, { force: true });
      await rm(log, { force: true });
      child = spawn('ssh', args, { detached: true, stdio: 'ignore' });
      child.unref();
      tries++;
      return undefined;
    },
    { within: o.within, every: 50, timedOut: () => late },
  ).catch(async (err: unknown) => {
    if (child?.pid !== undefined && isMaster(child.pid, dir)) child.kill();
    if (err !== late) throw err;
    throw failed(`no SSH connection within ${o.within / 1000} s (${tries} tries; last: ${(await lastError()) || '-'})`);
  });
  return new OpensshShell(target, socket);
}

/** A running VM's commands over its master connection (started again when it is gone): no handshake when it is up. */
export async function openMasterShell(target: SshTarget, dir: string, o: MasterOptions): Promise<OpensshShell> {
  const { socket } = files(dir);
  const answers = async () => (await socketAnswers(socket)) || undefined;
  // A master process whose socket does not answer yet may be another command's, starting: given time before it is
  // taken for one that no longer answers and replaced.
  const up =
    (await answers()) ??
    (masterPids(dir).length > 0 ? await pollFor(answers, { within: 10_000, every: 100 }) : undefined);
  if (up) return new OpensshShell(target, socket);
  await stopMasters(dir);
  return startMaster(target, dir, o);
}

/**
 * Adds a forward to the master (`ssh -O forward`): the engine VM's Docker socket, at `local` on this host. A forward
 * the master already has is cancelled first: the master takes a second request for it as done, and would not bind
 * `local` again were its socket file gone.
 */
export async function forwardOnMaster(dir: string, local: string, remote: string): Promise<void> {
  // The destination is only the command line's: with -S, ssh asks the master, which knows where it is connected.
  const mux = (op: string) =>
    ['ssh', '-S', files(dir).socket, '-O', op, '-L', `${local}:${remote}`, 'vm'].map(shq).join(' ');
  const shell = new LocalShell();
  await shell.exec(mux('cancel')); // none to cancel is no failure
  await rm(local, { force: true });
  const res = await shell.exec(mux('forward'));
  if (res.code !== 0)
    throw new CommandError('localhost', mux('forward'), res.code, res.stderr.trim(), 'forwarding a socket');
}

/** Ends the VM's master connections, by pid (each checked to be one before every signal). */
export async function stopMasters(dir: string): Promise<number[]> {
  const pids = masterPids(dir);
  for (const pid of pids) await stopProcess(pid, () => isMaster(pid, dir), 2_000);
  return pids;
}
