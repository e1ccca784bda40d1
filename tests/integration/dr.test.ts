// The DR suite against the netns lab that global-setup.ts built (on this host, or inside the VM).
import { connectLab } from '../../lab/lifecycle.js';
import { drSuite } from '../suites/dr.js';
import { TEST_LAB } from './lab.js';

drSuite(TEST_LAB, () => connectLab(TEST_LAB.name));
