// The lab lifecycle the integration, Docker and Vagrant suites compose, on the kit's own testbeds.
import { lifecycle } from '../lab/lifecycle.js';
import { TESTBEDS } from '../testbed/all.js';

export const labs = lifecycle(TESTBEDS);
