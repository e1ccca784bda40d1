// `npm run lab -- view`: the running lab, live, in the browser; served on a loopback address until Ctrl-C or `down`.
import ipaddr from 'ipaddr.js';
import { UserError } from '../../model/errors.js';
import { shown } from '../../model/topology.js';
import { macsOf } from '../../verify/probes.js';
import { claimBoard } from '../../view/board.js';
import { startView, type View } from '../../view/server.js';
import { withLab, type Command } from '../context.js';

/** --bind: a loopback address only (the view is for this machine's browser); 127.0.0.1 when not given. */
export function loopbackHost(bind: string | undefined): string {
  if (bind === undefined || bind === 'localhost') return '127.0.0.1';
  const refused = `--bind: ${shown(bind)} is not a loopback address (127.0.0.0/8 or ::1): the view serves this machine only`;
  if (!ipaddr.isValid(bind)) throw new UserError(refused);
  const addr = ipaddr.parse(bind);
  if (addr.range() !== 'loopback') throw new UserError(refused);
  return addr.toString();
}

/** --port: a whole number up to 65535; 0 or none: a free port. */
export function viewPort(port: string | undefined): number {
  if (port === undefined) return 0;
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535)
    throw new UserError(`--port: ${shown(port)} must be a port number (1-65535, or 0 for a free one)`);
  return Number(port);
}

const view: Command = {
  name: 'view',
  usage:
    'view            the running lab live in the browser: its picture, the VIP holder, the table and the share per\n' +
    '                  realserver, faults, the running load and the last explain (--port P, --bind a loopback address)',
  run: (ctx) => {
    const host = loopbackHost(ctx.values.bind);
    const port = viewPort(ctx.values.port);
    return withLab(ctx, async (access) => {
      const { name } = access.lab;
      const board = await claimBoard(name);
      let running: View | undefined;
      let interrupted = false;
      const onSignal = () => {
        interrupted = true;
        void running?.stop('Ctrl-C');
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        // Loaded here alone, as `graph` does: vega takes a second to import.
        const { renderGraph } = await import('../../inside/graph.js');
        const { svg } = await renderGraph(access.lab, await macsOf(access));
        const gone = ctx.values.stack ? undefined : async () => (await ctx.labs.state(name)) === undefined;
        running = await startView(access, { host, port, graphSvg: svg, board: board.dir, gone }).catch(
          (err: NodeJS.ErrnoException) => {
            if (err.code === 'EADDRINUSE') throw new UserError(`--port: ${port} is in use on ${host}`);
            throw err;
          },
        );
        console.log(`view of lab ${name}: ${running.url}  (Ctrl-C stops it)`);
        if (interrupted) await running.stop('Ctrl-C');
        ctx.log(`view stopped: ${await running.stopped}`);
        return 0;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await board.release();
      }
    });
  },
};

export const VIEW_COMMANDS = [view];
