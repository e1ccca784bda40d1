// The testbeds this kit ships, in order of preference for `--testbed auto`: the registry the CLI, the bench and the
// tests hand to the lab lifecycle (`lifecycle(TESTBEDS)`). A new testbed is one entry here.
import { netnsTestbed } from './netns.js';
import type { Testbeds } from './testbed.js';
import { vagrantTestbed } from './vagrant/testbed.js';
import { vmTestbed } from './vm.js';

export const TESTBEDS: Testbeds = { netns: netnsTestbed, vm: vmTestbed, vagrant: vagrantTestbed };
