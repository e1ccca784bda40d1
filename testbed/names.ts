// The names and paths a lab's name derives on each testbed: its namespaces and links, its VM, its Vagrant project
// and libvirt objects. The
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

export interface NetnsNames {
  bridge: string;
  /** NAT: the client's network behind the director, a second bridge; the director's eth1 is on it. */
  outsideBridge: string;
  outsideVeth: string;
  namespace: (host: string) => string;
  /** The host-side end of a host's veth pair; the other end is eth0 in its namespace. */
  veth: (index: number) => string;
  /** httpd instances, captures and other files of the lab's hosts. */
  runDir: string;
}

export function netnsNames(lab: Lab): NetnsNames {
  return {
    bridge: `${lab.name}-br`,
    outsideBridge: `${lab.name}-bro`,
    outsideVeth: `${lab.name}-vo`,
    namespace: (host) => `${lab.name}-${host}`,
    veth: (index) => `${lab.name}-v${index}`,
    runDir: `/run/lvs-lab/${lab.name}`,
  };
}
