// The names and paths a lab's name derives on each testbed: its VM, its Vagrant project and libvirt objects. The
// testbeds create them by these, and a lab's state read back may hold these and no others (state.ts).
import { join } from 'node:path';
import type { Lab } from '../model/topology.js';
import { labStateDir } from '../base/paths.js';

/** The vm testbed's VM (qemu's -name). */
export const vmName = (lab: string): string => `lvs-lab-${lab}`;

/** The Vagrant project: the generated Vagrantfile and Vagrant's own .vagrant/. */
export const vagrantDir = (lab: string): string => join(labStateDir(lab), 'vagrant');
export const domainPrefix = (lab: Lab): string => `lvs-lab-${lab.name}-`;
export const labNetworkName = (lab: Lab): string => `lvs-lab-${lab.name}`;
export const outsideNetworkName = (lab: Lab): string => `lvs-lab-${lab.name}-out`;
export const mgmtNetworkName = (lab: Lab): string => `lvs-lab-${lab.name}-mgmt`;
