// The DR suite against the netns lab that global-setup.ts built (on this host, or inside the VM).
import { labs } from '../labs.js';
import { drSuite } from '../suites/dr.js';
import { TEST_LAB } from './lab.js';

drSuite(TEST_LAB, () => labs.connect(TEST_LAB.name));
