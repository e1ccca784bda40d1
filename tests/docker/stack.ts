// The Docker lab the docker suite builds once per run with a real `pulumi up` (global-setup.ts), and how the tests
// reach it: the Pulumi CLI through infra/pulumi.sh, exactly as a user runs it.
import { fileURLToPath } from 'node:url';
import { $ } from 'zx';
import { validateLab } from '../../model/topology.js';
import type { EngineKind } from '../../testbed/docker/engine.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const STACK = 'dockertest';
/** The reference lab under its own name, so the run never touches a stack or lab of the user's. */
export const DOCKER_LAB = validateLab({ name: 'dtest' }, 'docker suite lab');

declare module 'vitest' {
  export interface ProvidedContext {
    engine: EngineKind;
    outputs: StackOutputs;
  }
}

export interface StackOutputs {
  vip: string;
  engineKind: EngineKind;
  hosts: Array<{ name: string; role: string; ip: string; mac: string }>;
  verify: string;
}

export async function pulumi(args: string[], { nothrow = false } = {}) {
  return $({ cwd: ROOT, quiet: true, nothrow })`bash infra/pulumi.sh ${args}`;
}

export async function stackOutputs(stack = STACK): Promise<StackOutputs> {
  return JSON.parse((await pulumi(['stack', 'output', '--json', '--stack', stack])).stdout) as StackOutputs;
}

/** The part of `pulumi stack export` the tests read. */
export interface StackExport {
  deployment: { resources?: Array<{ type: string; urn: string; outputs?: Record<string, unknown> }> };
}

export async function stackResources(stack = STACK) {
  const exported = JSON.parse((await pulumi(['stack', 'export', '--stack', stack])).stdout) as StackExport;
  return exported.deployment.resources ?? [];
}
