// A lab's life: its plan, `up` (build or re-apply, then verify), `verify`, `status` and `down`.
import { applyFault, faultsInForce, faultText, type InForce } from '../../drive/fault.js';
import { trapInterrupts } from '../../lab/interrupt.js';
import type { LabSession } from '../../lab/lifecycle.js';
import { UserError } from '../../model/errors.js';
import { REFERENCE_LAB, type Lab } from '../../model/topology.js';
import { formatPlan, planLab } from '../../provision/plan.js';
import { formatChecks, verifyLab } from '../../verify/report.js';
import type { Command, Context } from '../context.js';

/** The command that removes `lab`, as the learner would type it. */
const downCommand = (lab: Lab) =>
  `\`npm run lab -- down${lab.name === REFERENCE_LAB.name ? '' : ` --name ${lab.name}`}\``;

/** One line of a running lab's faults for `status`, read from its hosts; a lab that cannot be reached says so. */
async function faultsLine(ctx: Context, name: string): Promise<string> {
  try {
    const session = await ctx.labs.connect(name);
    try {
      const faults = await faultsInForce(session);
      return faults.length === 0 ? 'faults: none' : `faults: ${faults.map(faultText).join('; ')}`;
    } finally {
      await session.close();
    }
  } catch (err) {
    return `faults: not read (${(err as Error).message.split('\n')[0]})`;
  }
}

/**
 * A re-apply would undo a stopped httpd, a link down or a stopped host (netem it leaves alone): with faults of those
 * kinds in force it is refused, unless `--clear-faults` clears them first.
 */
async function faultsBeforeReapply(ctx: Context, session: LabSession): Promise<void> {
  const faults: InForce[] = await faultsInForce(session);
  const undone = faults.filter((f) => f.kind !== 'netem');
  if (undone.length === 0) return;
  if (!ctx.values.clearFaults)
    throw new UserError(
      `lab ${session.lab.name} has faults in force that re-applying its plan would undo (${undone.map(faultText).join('; ')}): ` +
        '`fault <host> clear` them, or `up --clear-faults`',
    );
  for (const host of new Set(undone.map((f) => f.host)))
    console.log(await applyFault(session, host, { kind: 'clear' }));
}

/** `up` once the lab is built or re-applied: its checks, unless --no-verify; the exit code. */
async function upAndVerify(ctx: Context, lab: Lab, interrupted: () => boolean, onInterrupt: () => Promise<number>) {
  const { session } = await ctx.labs.up(lab, {
    testbed: ctx.values.testbed,
    log: ctx.log,
    beforeReapply: (session) => faultsBeforeReapply(ctx, session),
    onStep: (o) => {
      if (o.result === 'shown') console.log(o.output.trimEnd().replace(/^/gm, `        ${o.host}| `));
    },
  });
  try {
    if (interrupted()) return await onInterrupt();
    if (ctx.values.noVerify) return 0;
    ctx.log('verifying');
    const checks = await verifyLab(session);
    if (interrupted()) return await onInterrupt();
    console.log(formatChecks(checks));
    ctx.log(`${checks.filter((c) => c.ok).length}/${checks.length} checks passed; ${downCommand(lab)} removes the lab`);
    return checks.every((c) => c.ok) ? 0 : 1;
  } finally {
    await session.close();
  }
}

const up: Command = {
  name: 'up',
  usage:
    'up       build the lab, provision it with the plan, and verify it (re-running re-applies; changes nothing if in place)',
  run: async (ctx) => {
    const lab = await ctx.model();
    const { log } = ctx;
    log(
      `lab ${lab.name}: ${lab.forwarding.toUpperCase()}, ${lab.service.scheduler}, VIP ${lab.vip}:${lab.service.port}, ${lab.realservers.length} realservers`,
    );
    // Interrupted, a run that built this lab removes it; one that re-applied to a running lab leaves it up.
    const existing = await ctx.labs.state(lab.name);
    const signals = trapInterrupts(log, `${downCommand(lab)} removes what is left`);
    const onInterrupt = async () => {
      if (!existing) {
        await ctx.labs.down(lab.name, { log });
        log(`interrupted: removed lab ${lab.name}, which this run had started to build`);
      } else log(`interrupted: lab ${lab.name} was up before this run and stays up`);
      return 130;
    };
    try {
      return await upAndVerify(ctx, lab, () => signals.interrupted, onInterrupt);
    } catch (err) {
      // The lifecycle's own failure path has removed what it created; say why it failed.
      if (signals.interrupted) return await onInterrupt();
      throw err;
    } finally {
      signals.dispose();
    }
  },
};

const status: Command = {
  name: 'status',
  usage: 'status   list the labs that are up',
  run: async (ctx) => {
    const { states, unreadable } = await ctx.labs.list();
    if (states.length === 0 && unreadable.length === 0) console.log('no labs are up');
    for (const u of unreadable) console.log(`${u.name}: state unreadable (${u.problem}); \`down --name\` sweeps it`);
    for (const s of states) {
      const where = ctx.labs.testbeds[s.testbed].describe(s.lab, s.testbedState);
      const since = s.starting ? 'starting (or its start was killed: `up` removes it) since' : 'up since';
      const { lab } = s;
      console.log(
        `${lab.name}: ${lab.forwarding} ${lab.service.scheduler} VIP ${lab.vip}:${lab.service.port}, ${lab.realservers.length} realservers; ${where}; ${since} ${s.createdAt}`,
      );
      if (!s.starting) console.log(`  ${await faultsLine(ctx, lab.name)}`);
    }
    return 0;
  },
};

const plan: Command = {
  name: 'plan',
  usage: 'plan     print the exact commands each host runs (--guards adds the idempotency checks)',
  run: async (ctx) => {
    const lab = await ctx.model();
    // The plan of the testbed the lab would run on: realservers' httpd files differ between shared and own filesystems.
    const { testbeds } = ctx.labs;
    const testbed = ctx.values.testbed === 'auto' ? Object.values(testbeds)[0] : testbeds[ctx.values.testbed];
    console.log(formatPlan(planLab(lab, { httpd: testbed.httpdLayout(lab) }), { guards: ctx.values.guards }));
    return 0;
  },
};

const down: Command = {
  name: 'down',
  usage: 'down     remove everything the lab created',
  run: async (ctx) => {
    const lab = await ctx.model();
    const name = ctx.values.name ?? lab.name;
    if (!(await ctx.labs.down(name, { log: ctx.log, fallback: lab })))
      ctx.log(`no lab named "${name}" is up; nothing to remove`);
    return 0;
  },
};

export const LIFECYCLE_COMMANDS = [up, status, plan, down];
