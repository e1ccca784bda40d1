// What every command is handed: the checked options, the lab lifecycle on the kit's testbeds, the progress log, and
// the ways to the lab it acts on (its model, or the running lab: by name, or a Docker lab by its stack).
import type { Log } from '../base/log.js';
import { connectStack } from '../docker/engine.js';
import type { Labs } from '../lab/lifecycle.js';
import { UserError } from '../model/errors.js';
import { loadLab } from '../model/load.js';
import { readStackSettings } from '../model/stack.js';
import type { Lab } from '../model/topology.js';
import type { LabAccess } from '../provision/transport.js';
import type { CliOptions } from './options.js';

/** A running lab a command acts on: a testbed's session, or a Docker lab's containers. */
export type OpenLab = LabAccess & { close(): Promise<void> };

export interface Context {
  values: CliOptions;
  labs: Labs;
  log: Log;
  /** The lab the options describe (--file, --preset, --name), validated; nothing runs yet. */
  model(): Promise<Lab>;
  /** The running lab: with --stack the Docker lab of that stack, else the lab of this name (or the one that is up). */
  open(): Promise<OpenLab>;
  /** --requests, checked, or `fallback`. */
  requests(fallback: number): number;
}

/** A command of `npm run lab`: its name, its lines of the usage, and what it does (its exit code). */
export interface Command {
  name: string;
  usage: string;
  run(ctx: Context): Promise<number>;
}

/**
 * The running lab a command acts on when none is named: the default lab's when it is up, else the one lab that is up
 * (said on stderr); with several and none named, a refusal that lists them.
 */
async function runningLabName(ctx: Context): Promise<string> {
  const { values } = ctx;
  const model = await ctx.model();
  if (values.name || values.file || values.preset) return model.name;
  const up = (await ctx.labs.list()).states.map((s) => s.lab.name);
  if (up.includes(model.name) || up.length === 0) return model.name;
  if (up.length === 1) {
    console.error(`(lab ${up[0]}: the one lab that is up)`);
    return up[0];
  }
  throw new UserError(`--name: ${up.length} labs are up (${up.join(', ')}); say which with --name`);
}

export function context(values: CliOptions, labs: Labs, log: Log): Context {
  const ctx: Context = {
    values,
    labs,
    log,
    // --name is one more lab-file field: checked by the same schema, with the lab file's other rules.
    model: () => loadLab(values.file, values.preset, values.name),
    open: async () => {
      if (!values.stack) return labs.connect(await runningLabName(ctx));
      return connectStack(await readStackSettings(values.stack));
    },
    requests: (fallback) => {
      const n = values.requests === undefined ? fallback : Number(values.requests);
      if (!Number.isInteger(n) || n < 1 || n > 1000)
        throw new UserError(`--requests: "${values.requests}" is not a whole number from 1 to 1000`);
      return n;
    },
  };
  return ctx;
}

/** Runs `use` on the running lab, closing it afterwards whatever happens. */
export async function withLab<T>(ctx: Context, use: (lab: OpenLab) => Promise<T>): Promise<T> {
  const access = await ctx.open();
  try {
    return await use(access);
  } finally {
    await access.close();
  }
}
