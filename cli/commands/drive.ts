// Driving a running lab: load on the VIP, and faults on its hosts.
import { applyFault, faultsInForce, formatFaults } from '../../drive/fault.js';
import { FAULT_USAGE, parseFault } from '../../model/fault.js';
import { checkLoadOptions, formatLoad, runLoad } from '../../drive/load.js';
import { hostNamed } from '../../inside/hosts.js';
import { UserError } from '../../model/errors.js';
import { shown } from '../../model/topology.js';
import { mistakeNamed, MISTAKE_NAMES, victimOf } from '../../drive/mistakes.js';
import { formatWhatif, whatif as runWhatif } from '../../drive/whatif.js';
import { trapInterrupts } from '../../lab/interrupt.js';
import { post } from '../../view/board.js';
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
      const { name } = access.lab;
      const result = await runLoad(access, options, (n) => {
        if (!v.json) ctx.log(`load: ${n} responses so far`);
        void post(name, 'load', `load running: ${n} responses so far`); // a running view shows it
      });
      const text = formatLoad(access.lab, result, options.clients);
      await post(name, 'load', text);
      console.log(v.json ? JSON.stringify(result, null, 2) : text);
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

const whatif: Command = {
  name: 'whatif',
  usage: `whatif M [H]     make one classic mistake on the running lab, show what follows, restore the lab and verify it:
                  ${MISTAKE_NAMES.join(', ')} (H: the realserver, for the one-realserver mistakes; --json)`,
  run: (ctx) => {
    const [name, host, ...more] = ctx.values.args;
    const mistake = mistakeNamed(name); // refused before the lab is reached
    if (more.length > 0) throw new UserError(`whatif: one mistake and at most one host; ${shown(more[0])} is extra`);
    return withLab(ctx, async (access) => {
      const victim = victimOf(access.lab, mistake, host);
      // With --json, stdout holds the JSON alone: the progress goes to stderr.
      const say = ctx.values.json ? (l: string) => console.error(l) : ctx.log;
      const interrupts = trapInterrupts(say, 'the mistake may be left: `npm run lab -- up` re-applies the plan');
      try {
        const w = await runWhatif(access, mistake, victim, {
          interrupted: () => interrupts.interrupted,
          log: say,
        });
        console.log(ctx.values.json ? JSON.stringify(w, null, 2) : formatWhatif(access.lab, w));
        if (interrupts.interrupted) return 130;
        return w.verify.passed === w.verify.total ? 0 : 1;
      } finally {
        interrupts.dispose();
      }
    });
  },
};

export const DRIVE_COMMANDS = [load, fault, whatif];
