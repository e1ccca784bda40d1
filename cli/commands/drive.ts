// Driving a running lab: load on the VIP, and faults on its hosts.
import { applyFault, faultsInForce, formatFaults } from '../../drive/fault.js';
import { FAULT_USAGE, parseFault } from '../../model/fault.js';
import { checkLoadOptions, formatLoad, runLoad } from '../../drive/load.js';
import { hostNamed } from '../../inside/hosts.js';
import { UserError } from '../../model/errors.js';
import { withLab, type Command } from '../context.js';

/** A whole number given for `--flag`, or undefined when not given. */
function whole(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UserError(`--${flag}: ${JSON.stringify(v.slice(0, 40))} must be a whole number`);
  return Number(v);
}

const load: Command = {
  name: 'load',
  usage: `load            requests to the VIP from the client, bounded (--requests N | --duration S, --concurrency C, --rate R,
                  --clients K, --path P, --json): errors, latency, the share per realserver beside the predicted one`,
  run: (ctx) => {
    const v = ctx.values;
    // Every number checked before the lab is reached.
    const options = checkLoadOptions({
      requests: whole('requests', v.requests),
      duration: whole('duration', v.duration),
      concurrency: whole('concurrency', v.concurrency) ?? 4,
      rate: whole('rate', v.rate),
      clients: whole('clients', v.clients) ?? 1,
      path: v.path ?? '/',
    });
    return withLab(ctx, async (access) => {
      const result = await runLoad(access, options, (n) => {
        if (!v.json) ctx.log(`load: ${n} responses so far`);
      });
      console.log(v.json ? JSON.stringify(result, null, 2) : formatLoad(access.lab, result, options.clients));
      return 0;
    });
  },
};

const fault: Command = {
  name: 'fault',
  usage: `fault H F       inject a fault on host H: delay 200ms [jitter 20ms], loss 10%, rate 1mbit, corrupt 1%, link down|up,
                  httpd stop|start, host stop|start; \`fault H clear\` undoes them; \`fault --list\` shows what is in force`,
  run: (ctx) => {
    const [host, ...words] = ctx.values.args;
    const listing = ctx.values.list || host === undefined;
    if (!listing && words.length === 0)
      throw new UserError(
        `fault: usage: fault <host> <fault>, fault <host> clear, fault --list; a fault is one of:\n  ${FAULT_USAGE.join('\n  ')}`,
      );
    const parsed = listing ? undefined : parseFault(words); // refused before anything is reached
    return withLab(ctx, async (access) => {
      if (parsed) console.log(await applyFault(access, hostNamed(access.lab, host).name, parsed));
      console.log(formatFaults(access.lab, await faultsInForce(access)));
      return 0;
    });
  },
};

export const DRIVE_COMMANDS = [load, fault];
