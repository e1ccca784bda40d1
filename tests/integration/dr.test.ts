// The DR suite against the netns lab that global-setup.ts built (on this host, or inside the VM).
import { connectLab } from '../../testbed/lab.js';
import { drSuite } from './dr-suite.js';
import { TEST_LAB } from './lab.js';

drSuite(TEST_LAB, () => connectLab(TEST_LAB.name));
