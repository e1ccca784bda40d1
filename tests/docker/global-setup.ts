// One Docker lab per run, built by a real `pulumi up` of the test stack and removed by `pulumi destroy`. On a host
// whose kernel has IPVS and a Docker engine, the host's engine runs it; elsewhere the lvs-lab engine VM does.
import type { TestProject } from 'vitest/node';
import { LocalShell } from '../../provision/shell.js';
import { engineDown, engineUp, engineVmRunning } from '../../docker/engine-vm.js';
import { teardownOnSignal } from '../../lab/interrupt.js';
import { DOCKER_LAB, ensurePulumiEngine, pulumi, STACK, stackOutputs, type EngineKind } from './stack.js';
import { kernelHasIpvs } from '../../provision/host-needs.js';
import { seconds } from '../../base/log.js';

const log = (msg: string) => console.log(`[docker lab ${STACK}] ${msg}`);

async function chooseEngine(): Promise<EngineKind> {
  const forced = process.env.LVS_LAB_DOCKER_ENGINE as EngineKind | undefined;
  if (forced) return forced;
  const local = new LocalShell();
  const dockerd = (await local.exec('docker version --format "{{.Server.Version}}"')).code === 0;
  return dockerd && (await kernelHasIpvs(local)) ? 'local' : 'vm';
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const engine = await chooseEngine();
  const ownEngine = engine === 'vm' && !(await engineVmRunning());
  const untrap = teardownOnSignal(`stack ${STACK}${ownEngine ? ' and the engine VM' : ''}`, () => teardown(), log);
  let t0 = Date.now();
  if (engine === 'vm') await engineUp(log);
  log(`engine: ${engine}${ownEngine ? ` (VM started in ${seconds(t0)} s)` : ''}`);

  await ensurePulumiEngine(log);
  await pulumi(['stack', 'select', '--create', STACK, '--non-interactive']);
  await pulumi(['destroy', '--yes', '--skip-preview', '--non-interactive', '--stack', STACK]); // left by a killed run
  await pulumi(['config', 'set', '--stack', STACK, 'lvs-lab:lab', JSON.stringify({ name: DOCKER_LAB.name })]);
  await pulumi(['config', 'set', '--stack', STACK, 'lvs-lab:engine', engine]);
  t0 = Date.now();
  const up = await pulumi(['up', '--yes', '--skip-preview', '--non-interactive', '--stack', STACK], { nothrow: true });
  if (up.exitCode !== 0) {
    await teardown();
    throw new Error(`pulumi up failed:\n${up.stdout.slice(-4000)}\n${up.stderr.slice(-2000)}`);
  }
  log(`pulumi up in ${seconds(t0)} s`);
  project.provide('engine', engine);
  project.provide('outputs', await stackOutputs());

  async function teardown() {
    const t1 = Date.now();
    await pulumi(['destroy', '--yes', '--skip-preview', '--non-interactive', '--stack', STACK], { nothrow: true });
    await pulumi(['stack', 'rm', '--yes', '--force', '--non-interactive', STACK], { nothrow: true });
    log(`pulumi destroy in ${seconds(t1)} s`);
    if (ownEngine) await engineDown(log);
  }
  return async () => {
    untrap();
    await teardown();
  };
}
