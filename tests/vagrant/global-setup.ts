// The Vagrant suite's lab: the reference lab as four Vagrant machines, built once per run. What the machine held
// before it is recorded first, so the suite's last test can compare after `down`.
import type { TestProject } from 'vitest/node';
import { labs } from '../labs.js';
import { teardownOnSignal } from '../../lab/interrupt.js';
import { footprint, VAGRANT_LAB, VAGRANT_LABS } from './lab.js';
import { seconds } from '../../base/log.js';

const log = (msg: string) => console.log(`[vagrant lab ${VAGRANT_LAB.name}] ${msg}`);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await labs.down(VAGRANT_LAB.name, { log, fallback: VAGRANT_LAB }); // left by a run that was killed
  project.provide('footprintBefore', await footprint());
  // The suite's own labs are the global one and the NAT one its tests build.
  const untrap = teardownOnSignal(
    `the suite's Vagrant labs`,
    async () => {
      for (const name of VAGRANT_LABS) await labs.down(name, { log });
    },
    log,
  );
  const t0 = Date.now();
  const { session } = await labs.up(VAGRANT_LAB, { testbed: 'vagrant', log });
  await session.close();
  log(`up in ${seconds(t0)} s`);
  // The suite removes its labs itself (and checks what is left); this catches a run that failed before it did.
  return async () => {
    untrap();
    await labs.down(VAGRANT_LAB.name, { log });
  };
}
