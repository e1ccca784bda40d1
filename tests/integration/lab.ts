// The lab the integration suite builds once per run (global-setup.ts) and every file connects to.
import { validateLab } from '../../model/topology.js';
import type { TestbedChoice } from '../../testbed/lab.js';

/** The reference lab under another name, so a run never touches a lab the user has up. */
export const TEST_LAB = validateLab({ name: 'itest' }, 'integration lab');

export const testbedChoice = (process.env.LVS_LAB_TESTBED ?? 'auto') as TestbedChoice;
