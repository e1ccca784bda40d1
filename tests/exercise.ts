// The exercises under labs/, for the suites that run them on a lab they already have of the same kind (a side lab,
// the test lab, a Docker stack): every declared check must pass there, as `verify` runs them.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { parse } from 'yaml';
import { formatCheckResult, runChecks } from '../checks/run.js';
import { validateLab, type Lab } from '../model/topology.js';
import type { LabAccess } from '../provision/transport.js';

const LABS = fileURLToPath(new URL('../labs', import.meta.url));

export const EXERCISES = readdirSync(LABS)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

/** An exercise's lab under another name (the lab it runs on): its checks validated against that lab's hosts. */
export const exerciseLab = (file: string, name: string): Lab =>
  validateLab({ ...(parse(readFileSync(join(LABS, file), 'utf8')) as object), name }, `labs/${file}`);

/** Runs the exercise's checks on `access` (a lab of the same shape) and expects every one to pass. */
export async function expectExercisePasses(access: LabAccess, file: string): Promise<void> {
  const checks = exerciseLab(file, access.lab.name).checks!;
  const results = await runChecks(access, checks);
  expect(results.map(formatCheckResult).join('\n')).not.toMatch(/^FAIL/m);
  expect(results).toHaveLength(checks.length);
}
