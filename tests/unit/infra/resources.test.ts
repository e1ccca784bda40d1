// The dynamic providers as Pulumi runs them: serialized with their closure into the state, then loaded by a plain
// `node` (no tsx, no vitest) in the project. Their diff needs no engine, so it runs here for real.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as pulumi from '@pulumi/pulumi';
import { afterAll, describe, expect, it } from 'vitest';
import { $ } from 'zx';
import { providerFor } from '../../../infra/resources.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lvs-provider-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Serializes `kind`'s provider as a dynamic resource does, and calls its diff in a plain node process. */
async function diffInNode(kind: 'provisioning' | 'bridgeRule', olds: object, news: object): Promise<unknown> {
  const provider = providerFor(kind);
  const { text, exportName } = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: false });
  const file = join(dir, `${kind}.cjs`);
  writeFileSync(file, text);
  const script = `require(${JSON.stringify(file)}).${exportName}().diff('id', ${JSON.stringify(olds)}, ${JSON.stringify(news)})
    .then((r) => console.log(JSON.stringify(r)))`;
  const out = await $({ cwd: join(ROOT, 'infra'), quiet: true })`node -e ${script}`;
  return JSON.parse(out.stdout) as unknown;
}

describe('dynamic providers, serialized and run by plain node', () => {
  it('provisioning: new steps are applied in place, a new container replaces', async () => {
    const olds = { container: 'c1', steps: [{ command: 'a' }] };
    expect(await diffInNode('provisioning', olds, { ...olds, steps: [{ command: 'b' }] })).toEqual({
      changes: true,
      replaces: [],
    });
    expect(await diffInNode('provisioning', olds, { ...olds, container: 'c2' })).toEqual({
      changes: true,
      replaces: ['container'],
    });
  });

  it('bridge rule: any change replaces it, the old one first', async () => {
    const olds = { engine: 'vm', bridge: 'lvs-a', networkId: 'n1' };
    expect(await diffInNode('bridgeRule', olds, olds)).toEqual({
      changes: false,
      replaces: [],
      deleteBeforeReplace: true,
    });
    expect(await diffInNode('bridgeRule', olds, { ...olds, bridge: 'lvs-b' })).toEqual({
      changes: true,
      replaces: ['bridge'],
      deleteBeforeReplace: true,
    });
  });
});
