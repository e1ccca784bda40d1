// The Vagrant suite's labs, and what the machine holds of Vagrant labs, as a listing that names anything left behind.
import { validateLab } from '../../model/topology.js';
import { footprint as machineFootprint, LIBVIRT_OWNER } from '../../lab/footprint.js';

/** The reference lab under its own name, so a run never touches a lab the user has up. */
export const VAGRANT_LAB = validateLab({ name: 'vtest' }, 'vagrant suite lab');

declare module 'vitest' {
  export interface ProvidedContext {
    footprintBefore: string[];
  }
}

/** The suite's two labs. */
export const VAGRANT_LABS = [VAGRANT_LAB.name, 'vnat'];

/**
 * What the machine holds of the suite's labs and the kit's libvirtd (domains, networks, volumes, its namespace and
 * daemons, qemu, lab state) and of nobody known: the footprint of labs that other suites run beside is not compared.
 */
export const footprint = (): Promise<string[]> => machineFootprint({ of: [...VAGRANT_LABS, LIBVIRT_OWNER] });
