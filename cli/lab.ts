// npm run lab -- <command> [options]: the options parsed and checked, the command looked up in the table, run.
import { lifecycle } from '../lab/lifecycle.js';
import { UserError } from '../model/errors.js';
import { PRESET_NAMES } from '../model/presets.js';
import { TESTBEDS } from '../testbed/all.js';
import { DRIVE_COMMANDS } from './commands/drive.js';
import { VIEW_COMMANDS } from './commands/view.js';
import { ENGINE_COMMAND } from './commands/engine.js';
import { INSIDE_COMMANDS } from './commands/inside.js';
import { LIFECYCLE_COMMANDS } from './commands/lifecycle.js';
import { VERIFY_COMMAND } from './commands/verify.js';
import { context, type Command } from './context.js';
import { parseCli } from './options.js';

/** The testbeds' own commands (`image`, `vagrantfile`), handed the lab the options name and its state if it is up. */
const testbedCommands: Command[] = Object.values(TESTBEDS).flatMap((testbed) =>
  Object.entries(testbed.commands ?? {}).map(([name, command]) => ({
    name,
    usage: `${name}  ${command.usage}`,
    run: async (ctx) => {
      const lab = await ctx.model();
      const state = await ctx.labs.state(ctx.values.name ?? lab.name);
      const own = state?.testbed === testbed.kind ? state : undefined;
      const text = await command.run(own?.lab ?? lab, own?.testbedState, ctx.log);
      if (text) console.log(text);
      return 0;
    },
  })),
);

const [UP, ...LIFECYCLE_REST] = LIFECYCLE_COMMANDS;
const COMMANDS: Command[] = [
  UP,
  VERIFY_COMMAND,
  ...LIFECYCLE_REST,
  ...INSIDE_COMMANDS,
  ...DRIVE_COMMANDS,
  ...VIEW_COMMANDS,
  ...testbedCommands,
  ENGINE_COMMAND,
];

/** A command's usage with its words in one column and what it does in the next, as `--help` lists them. */
function usageLine(usage: string): string {
  const [, head, rest] = /^(\S+(?: \S+)*?)\s{2,}([\s\S]*)$/.exec(usage) ?? [usage, usage, ''];
  return head.length < 16 ? `  ${head.padEnd(16)}${rest}` : `  ${head}\n${' '.repeat(18)}${rest}`;
}

const USAGE = `usage: npm run lab -- <command> [options]

commands:
${COMMANDS.map((c) => usageLine(c.usage)).join('\n')}

options:
  --file F        lab description (YAML or JSON); default: the reference LVS-DR lab
  --preset P      a named variant (its fields under the file's): ${PRESET_NAMES.join(', ')}
  --name N        lab name (default: the file's or preset's name field, or "lvs")
  --testbed T     auto (default) | ${Object.keys(TESTBEDS).join(' | ')}
  --stack S       with verify, exec, shell, observe, capture, graph, load, fault: the Docker lab of Pulumi stack S
  --all           with exec: on every host, each line prefixed with its host
  --requests N    with observe (default 6), capture (default 4) and load: requests to the VIP
  --hosts A,B     with capture: the hosts to capture on (default: client, director, the first realserver)
  --out PATH      with capture: the directory for the pcaps (default captures/); with graph: the SVG (default lab.svg)
  --no-verify     with up: skip the checks
  --clear-faults  with up: clear the faults in force (fault H clear) before re-applying the plan
  --guards        with plan: show each step's "already in place" check
  --debug         print stack traces with errors`;

const started = Date.now();
const log = (msg: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${msg}`);

async function main(argv: string[]): Promise<number> {
  const values = parseCli(argv, Object.keys(TESTBEDS));
  if (values.help || !values.command) {
    console.log(USAGE);
    return values.command || values.help ? 0 : 2;
  }
  const command = COMMANDS.find((c) => c.name === values.command);
  if (!command) {
    console.error(`unknown command "${values.command}"\n\n${USAGE}`);
    return 2;
  }
  return command.run(context(values, lifecycle(TESTBEDS), log));
}

/** Resolves once everything written to `stream` so far has left the process (a pipe's reader may be slow). */
const drained = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => stream.write('', () => resolve()));

async function exit(code: number): Promise<never> {
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}

const debug = process.argv.includes('--debug');

// A refusal (UserError) exits 2, a failure 1; the stack trace is for --debug, not for users.
main(process.argv.slice(2)).then(exit, async (err: unknown) => {
  console.error(debug ? err : `error: ${err instanceof Error ? err.message : String(err)}`);
  await exit(err instanceof UserError ? 2 : 1);
});
