// Connecting to the kit's unix sockets (qemu's QMP socket, a VM's SSH control socket, the forwarded Docker socket):
// a socket's address holds a path of at most 107 bytes, and a VM's directory can sit deeper than that allows.
import { open } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { basename, dirname } from 'node:path';

/** The longest path a unix socket's address holds (sun_path: 108 bytes with its NUL). */
export const SOCKET_PATH_MAX = 107;

/**
 * Connects to a unix socket through its directory's file descriptor (`/proc/self/fd/N/NAME`, which the kernel resolves
 * to the same file), so the socket's own path may be longer than SOCKET_PATH_MAX.
 */
export async function connectUnix(path: string): Promise<Socket> {
  const dir = await open(dirname(path), 'r');
  try {
    return await new Promise<Socket>((resolve, reject) => {
      const s = createConnection(`/proc/self/fd/${dir.fd}/${basename(path)}`, () => resolve(s));
      s.once('error', reject);
    });
  } finally {
    await dir.close();
  }
}

/** Whether a unix socket takes connections (a master's control socket, a forwarded Docker socket). */
export const socketAnswers = (path: string): Promise<boolean> =>
  connectUnix(path).then(
    (s) => (s.destroy(), true),
    () => false,
  );
