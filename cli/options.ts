// The CLI's options: parsed and checked once, before any command runs, so every bad flag is a refusal (exit 2)
// that names the flag, and nothing a user typed reaches a shell, a path or a config file unchecked.
import { parseArgs } from 'node:util';
import { UserError } from '../model/errors.js';
import { checkEngineName, checkStackName } from '../model/stack.js';
import { checkLabName, shown } from '../model/topology.js';

const OPTIONS = {
  file: { type: 'string' },
  preset: { type: 'string' },
  name: { type: 'string' },
  testbed: { type: 'string', default: 'auto' },
  stack: { type: 'string' },
  'no-verify': { type: 'boolean', default: false },
  'clear-faults': { type: 'boolean', default: false },
  all: { type: 'boolean', default: false },
  list: { type: 'boolean', default: false },
  only: { type: 'string' },
  'skip-builtin': { type: 'boolean', default: false },
  junit: { type: 'string' },
  svg: { type: 'string' },
  requests: { type: 'string' },
  duration: { type: 'string' },
  concurrency: { type: 'string' },
  rate: { type: 'string' },
  clients: { type: 'string' },
  path: { type: 'string' },
  json: { type: 'boolean', default: false },
  hosts: { type: 'string' },
  out: { type: 'string' },
  guards: { type: 'boolean', default: false },
  port: { type: 'string' },
  bind: { type: 'string' },
  engine: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
  debug: { type: 'boolean', default: false },
} as const;

export interface CliOptions {
  command?: string;
  /** What follows the command (and `--`): a host, the words of `exec`. */
  args: string[];
  file?: string;
  preset?: string;
  name?: string;
  /** auto, or a testbed's kind. */
  testbed: string;
  stack?: string;
  /** With engine: which engine VM beside the first. */
  engine?: string;
  noVerify: boolean;
  clearFaults: boolean;
  all: boolean;
  list: boolean;
  /** With verify: the declared checks to run, by name (comma-separated). */
  only?: string;
  skipBuiltin: boolean;
  /** With verify: where to write the JUnit XML report. */
  junit?: string;
  /** With explain: where to write the ladder diagram. */
  svg?: string;
  requests?: string;
  duration?: string;
  concurrency?: string;
  rate?: string;
  clients?: string;
  path?: string;
  json: boolean;
  hosts?: string;
  out?: string;
  guards: boolean;
  /** With view: the port (0, or unset: a free one) and the loopback address to serve on. */
  port?: string;
  bind?: string;
  help: boolean;
  debug: boolean;
}

/** Marks a positional word that starts with "-" and a digit, so parseArgs takes it for a positional. */
const NEGATIVE = '\u0000';

/** node's parseArgs messages, as `--flag: reason`. */
function parseError(err: { code?: string; message: string }): UserError {
  const flag = /'(-[^' ]+)/.exec(err.message)?.[1];
  const reason =
    err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
      ? 'unknown option (`npm run lab -- --help` lists them)'
      : err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE'
        ? 'needs a value'
        : err.message;
  return new UserError(flag ? `${flag}: ${reason}` : reason);
}

/** The command line, parsed and checked against the testbeds there are: a refusal (UserError) names the flag and the
 * reason. */
export function parseCli(argv: string[], testbeds: readonly string[]): CliOptions {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
  // A word like -5ms (`fault rs1 delay -5ms`) is a value to refuse with its own reason, never an option.
  const negative = (w: string) => /^-\d/.test(w);
  try {
    parsed = parseArgs({
      args: argv.map((w) => (negative(w) ? `${NEGATIVE}${w}` : w)),
      allowPositionals: true,
      options: OPTIONS,
    });
  } catch (err) {
    throw parseError(err as { code?: string; message: string });
  }
  const { values: v } = parsed;
  const positionals = parsed.positionals.map((w) => (w.startsWith(NEGATIVE) ? w.slice(NEGATIVE.length) : w));
  const testbed = v.testbed;
  if (!['auto', ...testbeds].includes(testbed))
    throw new UserError(`--testbed: ${shown(v.testbed)} is not one of auto, ${testbeds.join(', ')}`);
  if (v.name !== undefined) checkLabName(v.name, '--name');
  if (v.stack !== undefined) checkStackName(v.stack, '--stack');
  if (v.engine !== undefined) checkEngineName(v.engine, '--engine');
  if (v.file === '') throw new UserError('--file: must name a file');
  if (v.junit !== undefined && !/^[^\p{Cc}]+\.xml$/u.test(v.junit))
    throw new UserError(`--junit: ${shown(v.junit)} must be a file name ending in .xml`);
  return {
    command: positionals[0],
    args: positionals.slice(1),
    file: v.file,
    preset: v.preset,
    name: v.name,
    testbed,
    stack: v.stack,
    engine: v.engine,
    noVerify: v['no-verify'],
    clearFaults: v['clear-faults'],
    all: v.all,
    list: v.list,
    only: v.only,
    skipBuiltin: v['skip-builtin'],
    junit: v.junit,
    svg: v.svg,
    requests: v.requests,
    duration: v.duration,
    concurrency: v.concurrency,
    rate: v.rate,
    clients: v.clients,
    path: v.path,
    json: v.json,
    hosts: v.hosts,
    out: v.out,
    guards: v.guards,
    port: v.port,
    bind: v.bind,
    help: v.help,
    debug: v.debug,
  };
}
