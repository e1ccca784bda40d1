import { labs } from '../labs.js';
import { teardownOnSignal } from '../../lab/interrupt.js';
import { TEST_LAB, testbedChoice } from './lab.js';
import { seconds } from '../../base/log.js';

const log = (msg: string) => console.log(`[integration lab ${TEST_LAB.name}] ${msg}`);

export default async function setup(): Promise<() => Promise<void>> {
  await labs.down(TEST_LAB.name, { log, fallback: TEST_LAB }); // left by a run that was killed
  const teardown = async () => {
    const t1 = Date.now();
    await labs.down(TEST_LAB.name, { log });
    log(`down in ${seconds(t1)} s`);
  };
  const untrap = teardownOnSignal(`lab ${TEST_LAB.name}`, teardown, log);
  const t0 = Date.now();
  const { session } = await labs.up(TEST_LAB, { testbed: testbedChoice, log });
  await session.close();
  log(`up in ${seconds(t0)} s`);
  return async () => {
    untrap();
    await teardown();
  };
}
