// The Docker lab the docker suite builds once per run with a real `pulumi up` (global-setup.ts), and how the tests
// reach it: the Pulumi CLI through infra/pulumi.sh, exactly as a user runs it.
import { fileURLToPath } from 'node:url';
import { $ } from 'zx';
import { validateLab } from '../../model/topology.js';
export type EngineKind = 'local' | 'vm';

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

/**
 * Builds the Pulumi engine when it is not cached (infra/install-pulumi.sh: Go, about 10 minutes on a fresh machine),
 * saying what it builds as it goes and that it still does every minute, so a first run does not look stuck.
 */
export async function ensurePulumiEngine(log: (msg: string) => void): Promise<void> {
  const t0 = Date.now();
  const build = $({ cwd: ROOT, quiet: true, nothrow: true })`bash infra/install-pulumi.sh`;
  let building = false;
  build.stderr.on('data', (chunk: Buffer) => {
    for (const line of chunk
      .toString()
      .split('\n')
      .filter((l) => l.startsWith('install-pulumi: '))) {
      building = true;
      log(line);
    }
  });
  const beat = setInterval(() => {
    if (building) log(`still building the Pulumi engine (${Math.round((Date.now() - t0) / 1000)} s so far)`);
  }, 60_000);
  try {
    const out = await build;
    if (out.exitCode !== 0) throw new Error(`infra/install-pulumi.sh failed:\n${out.stderr.slice(-3000)}`);
    if (building) log(`Pulumi engine built in ${Math.round((Date.now() - t0) / 1000)} s`);
  } finally {
    clearInterval(beat);
  }
}

export async function pulumi(args: string[], { nothrow = false } = {}) {
  return $({ cwd: ROOT, quiet: true, nothrow })`bash infra/pulumi.sh ${args}`;
}

export async function stackOutputs(stack = STACK): Promise<StackOutputs> {
  return JSON.parse((await pulumi(['stack', 'output', '--json', '--stack', stack])).stdout) as StackOutputs;
}

/** The part of `pulumi stack export` the tests read. */
export interface StackExport {
  deployment: {
    resources?: Array<{ type: string; urn: string; outputs?: Record<string, unknown>; sourcePosition?: string }>;
  };
}

export async function stackResources(stack = STACK) {
  const exported = JSON.parse((await pulumi(['stack', 'export', '--stack', stack])).stdout) as StackExport;
  return exported.deployment.resources ?? [];
}
