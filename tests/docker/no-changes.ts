// What the docker suite's stacks assert of Pulumi: kept apart from stack.ts, which the global setup loads outside a
// test (where vitest's expect has no test to report to).
import { expect } from 'vitest';
import { pulumi } from './stack.js';

/** The stack is in sync with its engines: a preview and a refresh, each with --expect-no-changes, exit 0. */
export async function expectNoChanges(stack: string): Promise<void> {
  for (const args of [
    ['preview', '--expect-no-changes', '--non-interactive'],
    ['refresh', '--expect-no-changes', '--yes', '--skip-preview', '--non-interactive'],
  ]) {
    const res = await pulumi([...args, '--stack', stack], { nothrow: true });
    expect(res.exitCode, `${args[0]}: ${res.stdout.slice(-3000)}`).toBe(0);
  }
}
