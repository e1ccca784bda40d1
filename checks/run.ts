// Runs a lab's declared checks in order: each one's `given` made, its action observed and judged until it passes or
// its `within` is over, then the `given` undone, whatever happened (a failure, an error, Ctrl-C).
import type { Check } from '../model/checks.js';
import type { LabAccess } from '../provision/transport.js';
import { applyGiven, type Undo } from './given.js';
import { judge, type Verdict } from './judge.js';
import { observeCheck } from './observe.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  /** The check's pass or fail text (its description when it has none). */
  text: string;
  verdicts: Verdict[];
  /** What the `given` did, then what undid it. */
  given: string[];
  undone: string[];
  attempts: number;
  seconds: number;
  /** The action or an undo that failed, in words. */
  error?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0];

/** Observes and judges until every verdict passes or the deadline is past (once, without `within`). */
async function attempt(access: LabAccess, check: Check, interrupted: () => boolean) {
  const deadline = Date.now() + (check.within ?? 0) * 1000;
  for (let attempts = 1; ; attempts++) {
    let verdicts: Verdict[] = [];
    let error: string | undefined;
    try {
      verdicts = judge(check.expect, await observeCheck(access, check));
    } catch (err) {
      error = firstLine(err);
    }
    const ok = !error && verdicts.every((v) => v.ok);
    if (ok || Date.now() >= deadline || interrupted()) return { ok, verdicts, error, attempts };
    await sleep(1_000);
  }
}

export async function runCheck(access: LabAccess, check: Check, interrupted = () => false): Promise<CheckResult> {
  const t0 = Date.now();
  const undos: Undo[] = [];
  const given: string[] = [];
  const undone: string[] = [];
  let outcome: Awaited<ReturnType<typeof attempt>> = { ok: false, verdicts: [], attempts: 0, error: undefined };
  try {
    for (const g of check.given) {
      const made = await applyGiven(access, g);
      undos.unshift(made.undo);
      given.push(made.did);
    }
    outcome = await attempt(access, check, interrupted);
  } catch (err) {
    outcome = { ...outcome, error: `given: ${firstLine(err)}` };
  } finally {
    for (const undo of undos) {
      try {
        undone.push(await undo());
      } catch (err) {
        outcome = { ...outcome, ok: false, error: `could not undo what it changed: ${firstLine(err)}` };
      }
    }
  }
  const text = (outcome.ok ? check.pass : check.fail) ?? check.description ?? '';
  return { name: check.name, text, given, undone, ...outcome, seconds: (Date.now() - t0) / 1000 };
}

/** Each check in order (`only`: those named), reported as it finishes; stops early once `interrupted` says so. */
export async function runChecks(
  access: LabAccess,
  checks: Check[],
  { onResult, interrupted = () => false }: { onResult?: (r: CheckResult) => void; interrupted?: () => boolean } = {},
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of checks) {
    if (interrupted()) break;
    const r = await runCheck(access, check, interrupted);
    results.push(r);
    onResult?.(r);
  }
  return results;
}

/** One check's lines for the console: PASS/FAIL with its text, then what it changed and each verdict. */
export function formatCheckResult(r: CheckResult): string {
  const lines = [`${r.ok ? 'PASS' : 'FAIL'}  ${r.name}${r.text ? ` — ${r.text}` : ''}`];
  for (const g of r.given) lines.push(`      given: ${g}`);
  for (const v of r.verdicts)
    lines.push(`      ${v.ok ? 'ok' : 'not'} ${v.what}: seen ${v.seen}; expected ${v.expected}`);
  if (r.error) lines.push(`      error: ${r.error}`);
  if (r.attempts > 1) lines.push(`      (${r.attempts} attempts in ${r.seconds.toFixed(1)} s)`);
  return lines.join('\n');
}
