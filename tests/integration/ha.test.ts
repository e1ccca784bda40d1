// The director pair on a side lab beside the test lab (namespaces in the same machine): see tests/suites/ha.ts.
import { afterAll, beforeAll } from 'vitest';
import { withPreset } from '../../model/presets.js';
import { type LabSession } from '../../lab/lifecycle.js';
import { labs } from '../labs.js';
import { haSuite } from '../suites/ha.js';
import { TEST_LAB, machineOf } from './lab.js';
import { sideLab } from './side-lab.js';

let s: LabSession;
beforeAll(async () => {
  s = await labs.connect(TEST_LAB.name);
});
afterAll(async () => s?.close());

haSuite(sideLab(() => machineOf(s), withPreset('dr-ha', { name: 'hapair' }, 'test')));
