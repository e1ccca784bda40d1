// `verify`: the built-in DR checks, then the checks the lab file declares, each printed as it finishes; a summary
// line ("7/8 checks passed"), JUnit XML on request; exit 0 when all passed, 1 when one failed.
import { writeFile } from 'node:fs/promises';
import { junitXml } from '../../checks/junit.js';
import { formatCheckResult, runChecks, type CheckResult } from '../../checks/run.js';
import { faultsInForce, formatFaults } from '../../drive/fault.js';
import { trapInterrupts } from '../../lab/interrupt.js';
import type { Check } from '../../model/checks.js';
import { UserError } from '../../model/errors.js';
import { formatChecks, verifyLab, type Check as BuiltinCheck } from '../../verify/report.js';
import { withLab, type Command, type Context } from '../context.js';

/** The declared checks to run: the lab file's when one is named, else the running lab's; `--only` picks by name. */
function selected(ctx: Context, checks: Check[]): Check[] {
  if (!ctx.values.only) return checks;
  const names = ctx.values.only.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !checks.some((c) => c.name === n));
  if (unknown.length > 0)
    throw new UserError(
      `--only: no check named ${unknown.map((n) => JSON.stringify(n)).join(', ')} (${checks.map((c) => c.name).join(', ') || 'the lab declares none'})`,
    );
  return checks.filter((c) => names.includes(c.name));
}

const listing = (checks: Check[]) =>
  checks.length === 0
    ? 'the lab declares no checks (a `checks:` list in its file)'
    : checks.map((c) => `${c.name}${c.description ? ` — ${c.description}` : ''}`).join('\n');

/** One line for the whole run, as `up` prints it: how many of the checks passed. */
function summary(builtin: BuiltinCheck[], declared: CheckResult[]): string {
  const all = [...builtin.map((c) => c.ok), ...declared.map((r) => r.ok)];
  return `${all.filter(Boolean).length}/${all.length} checks passed`;
}

export const VERIFY_COMMAND: Command = {
  name: 'verify',
  usage:
    'verify          run the DR checks, then the checks the lab file declares, against a running lab\n' +
    '                  (--only NAME,NAME: those declared checks alone; --skip-builtin; --list; --junit FILE.xml)',
  run: async (ctx) => {
    const fromFile = ctx.values.file || ctx.values.preset ? (await ctx.model()).checks : undefined;
    if (ctx.values.list && fromFile) {
      console.log(listing(fromFile));
      return 0;
    }
    return withLab(ctx, async (access) => {
      const declared = selected(ctx, fromFile ?? access.lab.checks ?? []);
      if (ctx.values.list) {
        console.log(listing(declared));
        return 0;
      }
      const builtinToo = !ctx.values.skipBuiltin && !ctx.values.only;
      if (!builtinToo && declared.length === 0) throw new UserError('verify: nothing to run (no declared checks)');
      // Faults a user made explain the checks they fail: said first.
      const faults = await faultsInForce(access);
      if (faults.length > 0) console.log(formatFaults(access.lab, faults));
      const builtin = builtinToo ? await verifyLab(access) : [];
      if (builtin.length > 0) console.log(formatChecks(builtin));
      const signals = trapInterrupts(ctx.log, 'what a check changed is undone before it exits');
      let results: CheckResult[];
      try {
        results = await runChecks(access, declared, {
          onResult: (r) => console.log(formatCheckResult(r)),
          interrupted: () => signals.interrupted,
        });
      } finally {
        signals.dispose();
      }
      if (ctx.values.junit) await writeFile(ctx.values.junit, junitXml(access.lab.name, builtin, results));
      ctx.log(summary(builtin, results));
      if (signals.interrupted) return 130;
      return [...builtin, ...results].every((c) => c.ok) ? 0 : 1;
    });
  },
};
