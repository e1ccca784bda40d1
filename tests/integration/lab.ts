// The lab the integration suite builds once per run (global-setup.ts) and every file connects to.
import { validateLab } from '../../model/topology.js';
import type { Shell } from '../../provision/shell.js';
import type { LabSession, TestbedChoice } from '../../testbed/lab.js';

/** The reference lab under another name, so a run never touches a lab the user has up. */
export const TEST_LAB = validateLab({ name: 'itest' }, 'integration lab');

export const testbedChoice = (process.env.LVS_LAB_TESTBED ?? 'auto') as TestbedChoice;

/** The machine the test lab's namespaces share (this host or the VM): side labs are built on it. */
export function machineOf(s: LabSession): Shell {
  if (!s.machine) throw new Error(`the integration suite needs a netns-based testbed (netns or vm), not ${s.testbed}`);
  return s.machine;
}
