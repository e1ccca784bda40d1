// `npm run lab -- view`: the live page's server, Node's own http on a loopback address only. One snapshot a second
// goes to every open page as a server-sent event; the view stops by itself when the lab goes (`down`), or when
// its caller stops it (Ctrl-C). Read-only: nothing here changes the lab.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LabAccess } from '../provision/transport.js';
import { read } from './board.js';
import { pageHtml } from './page.js';
import { watcher, type Snapshot } from './snapshot.js';

export interface ViewOptions {
  /** A loopback address, checked by the caller. */
  host: string;
  /** 0: a free one. */
  port: number;
  /** The lab's picture (the graph command's SVG), inline in the page. */
  graphSvg: string;
  /** The board this view claimed (board.ts). */
  board: string;
  /** Whether the lab was taken down meanwhile. */
  gone?: () => Promise<boolean>;
  everyMs?: number;
}

export interface View {
  url: string;
  /** Resolves with why the view stopped. */
  stopped: Promise<string>;
  stop(why: string): Promise<void>;
}

/** Failed reads in a row after which the lab is taken as gone. */
const GIVE_UP = 5;

const sse = (res: ServerResponse, event: string, data: unknown) =>
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);

export async function startView(access: LabAccess, o: ViewOptions): Promise<View> {
  const clients = new Set<ServerResponse>();
  const snapshot = watcher(access, o.board);
  let last: Snapshot | undefined;
  const server = createServer((req, res) => {
    const { port } = server.address() as AddressInfo;
    // Only this machine's own names for the server: a page of another site cannot reach it by DNS rebinding.
    const host = req.headers.host ?? '';
    if (![`${o.host}:${port}`, `localhost:${port}`, `[${o.host}]:${port}`].includes(host)) {
      res.writeHead(403).end('forbidden: the view answers on its loopback address only\n');
      return;
    }
    void route(req.url ?? '/', res);
  });
  const route = async (url: string, res: ServerResponse) => {
    const path = url.split('?')[0];
    if (path === '/')
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(pageHtml(access.lab, o.graphSvg));
    else if (path === '/snapshot.json')
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(last ?? null));
    else if (path === '/explain.svg') {
      const svg = await read(o.board, 'ladder');
      if (svg) res.writeHead(200, { 'content-type': 'image/svg+xml' }).end(svg);
      else res.writeHead(404).end('no explain yet\n');
    } else if (path === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      clients.add(res);
      res.on('close', () => clients.delete(res));
      if (last) sse(res, 'snapshot', last);
    } else res.writeHead(404).end('not found\n');
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  let finish: (why: string) => void = () => {};
  const stopped = new Promise<string>((resolve) => (finish = resolve));
  let running = true;
  const stop = async (why: string) => {
    if (!running) return;
    running = false;
    for (const c of clients) {
      sse(c, 'stopped', `view stopped: ${why}`);
      c.end();
    }
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    finish(why);
  };
  void tick(
    snapshot,
    { clients, running: () => running, stop, gone: o.gone, every: o.everyMs ?? 1000 },
    (s) => (last = s),
  );
  const { port } = server.address() as AddressInfo;
  const shownHost = o.host.includes(':') ? `[${o.host}]` : o.host;
  return { url: `http://${shownHost}:${port}/`, stopped, stop };
}

/** Reads a snapshot, sends it to every page, and again `every` ms after, until stopped or the lab is gone. */
async function tick(
  next: () => Promise<Snapshot>,
  v: {
    clients: Set<ServerResponse>;
    running(): boolean;
    stop(why: string): Promise<void>;
    gone?: () => Promise<boolean>;
    every: number;
  },
  keep: (s: Snapshot) => void,
): Promise<void> {
  let failed = 0;
  while (v.running()) {
    if (await v.gone?.()) return v.stop('the lab was taken down');
    try {
      const s = await next();
      keep(s);
      failed = 0;
      for (const c of v.clients) sse(c, 'snapshot', s);
    } catch (err) {
      failed += 1;
      const why = `the lab could not be read: ${(err as Error).message.split('\n')[0]}`;
      for (const c of v.clients) sse(c, 'problem', why);
      if (failed >= GIVE_UP) return v.stop(`${why} (${GIVE_UP} times in a row)`);
    }
    await new Promise((r) => setTimeout(r, v.every));
  }
}
