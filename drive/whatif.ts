// `npm run lab -- whatif <mistake>`: one classic mistake made on a running lab, what follows read from the lab, then
// the lab restored (the plan re-applied on the hosts changed) and proved with the same checks `verify` runs. The
// restore runs whatever happened in between: a failed observation or an interrupt leaves the lab as it was.
import type { Lab, Realserver } from '../model/topology.js';
import { applyPlanOn } from '../provision/apply.js';
import type { LabAccess } from '../provision/transport.js';
import { verifyLab, type Check } from '../verify/report.js';
import { flushClientNeighbors, must } from '../verify/probes.js';
import type { Seen } from './consequences.js';
import type { Change, Mistake } from './mistakes.js';

export interface Whatif {
  lab: string;
  mistake: string;
  what: string;
  seed: string;
  changed: Change[];
  /** Undefined when interrupted before it looked. */
  seen?: Seen;
  /** Plan steps the restore changed, per host. */
  restored: Record<string, number>;
  /** Each failing check with what it saw, so a restore that did not take says why. */
  verify: { passed: number; total: number; failed: Array<Pick<Check, 'name' | 'evidence'>> };
}

/** The plan re-applied on the hosts changed, and the client's neighbour table flushed (it may hold a wrong MAC). */
async function restore(access: LabAccess, hosts: Set<string>): Promise<Record<string, number>> {
  const report = await applyPlanOn(access, access.lab, (h) => hosts.has(h.name));
  await flushClientNeighbors(access);
  const changed: Record<string, number> = Object.fromEntries([...hosts].map((h) => [h, 0]));
  for (const o of report.outcomes) if (o.result === 'ran') changed[o.host] += 1;
  return changed;
}

/** Makes the mistake, observes it unless `interrupted`, restores the lab, and verifies it. */
export async function whatif(
  access: LabAccess,
  mistake: Mistake,
  victim: Realserver,
  { interrupted = () => false, log = () => {} }: { interrupted?: () => boolean; log?: (line: string) => void } = {},
): Promise<Whatif> {
  const { lab } = access;
  const changes = mistake.changes(lab, victim);
  const touched = new Set<string>();
  let seen: Seen | undefined;
  let restored: Record<string, number>;
  try {
    await flushClientNeighbors(access); // an entry left from before would send requests elsewhere
    for (const c of changes) {
      touched.add(c.host);
      await must(access, c.host, c.command);
      log(`changed ${c.host}: ${c.command}`);
    }
    if (!interrupted()) seen = await mistake.observe(access, victim);
  } catch (err) {
    if (!interrupted()) throw err; // else a command the interrupt cut short: restored below all the same
  } finally {
    restored = await restore(access, touched);
    log(`restored: the plan re-applied on ${[...touched].join(', ')}`);
  }
  const checks: Check[] = await verifyLab(access);
  return {
    lab: lab.name,
    mistake: mistake.name,
    what: mistake.what,
    seed: mistake.seed(lab),
    changed: changes,
    seen,
    restored,
    verify: {
      passed: checks.filter((c) => c.ok).length,
      total: checks.length,
      failed: checks.filter((c) => !c.ok).map(({ name, evidence }) => ({ name, evidence })),
    },
  };
}

export function formatWhatif(lab: Lab, w: Whatif): string {
  const out = [
    `whatif ${w.mistake}: ${w.what} (lab ${lab.name}, ${lab.forwarding.toUpperCase()})`,
    `  the seed:  ${w.seed}`,
    ...w.changed.map((c) => `  changed:   ${c.host}: ${c.command}`),
  ];
  if (w.seen) {
    out.push(`  ${w.seen.shown ? '[SEEN]' : '[NOT SEEN]'} ${w.seen.consequence}`);
    for (const e of w.seen.evidence) out.push(`      ${e}`);
  } else out.push('  interrupted before it looked');
  const steps = Object.entries(w.restored).map(([h, n]) => `${h} ${n} step${n === 1 ? '' : 's'}`);
  out.push(`  restored:  the plan re-applied (${steps.join(', ')} changed back); the client's neighbours flushed`);
  out.push(`  restored: verify ${w.verify.passed}/${w.verify.total}`);
  for (const f of w.verify.failed) out.push(`      [FAIL] ${f.name}: ${f.evidence}`);
  return out.join('\n');
}
