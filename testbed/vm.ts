// The vm testbed: for hosts whose kernel has no IPVS. One qemu VM with Debian's kernel per lab, and inside it the
// same netns lab as on a host with IPVS, reached over SSH.
import { vmName } from './names.js';
import { labStateDir } from '../base/paths.js';
import { instanceLayout, netnsSession } from './netns.js';
import { UserError } from '../model/errors.js';
import type { Testbed } from './testbed.js';
import type { Lab } from '../model/topology.js';
import { parsedWith } from '../base/json-file.js';
import {
  bootMachine,
  ensureSavedVm,
  checkVmHostTools,
  openMachine,
  stopMachine,
  VM_STATE,
  vmRunning,
  type VmState,
} from '../machine/machine.js';
import { ensureImage } from '../machine/image.js';
import { masterPids, stopMasters } from '../machine/master.js';
import { LAB_VM } from '../machine/saved.js';
import { stopVm, vmPidsNamed } from '../machine/qemu.js';

const described = (name: string, qemus: number[], masters: number[]) => [
  ...qemus.map((pid) => `qemu pid ${pid} (${name})`),
  ...masters.map((pid) => `ssh pid ${pid} (the VM's master connection)`),
];

/** What of this lab runs on this host: its VM, found by its name, and the VM's SSH master connection. */
const running = async (lab: Lab) =>
  described(vmName(lab.name), await vmPidsNamed(vmName(lab.name)), masterPids(labStateDir(lab.name)));

/**
 * Stops every VM of this lab found by its name, recorded or not (a run killed between qemu's start and recording
 * it leaves one that no state names; the lab's lock makes any such VM a leftover), and its master connection.
 * Returns what it stopped.
 */
async function stopNamed(lab: Lab): Promise<string[]> {
  const name = vmName(lab.name);
  const qemus = await vmPidsNamed(name);
  for (const pid of qemus) await stopVm(pid, name);
  return described(name, qemus, await stopMasters(labStateDir(lab.name)));
}

export const vmTestbed: Testbed<VmState> = {
  kind: 'vm',
  // Second in the registry: chosen when the host's kernel has no IPVS, as Debian's kernel in the VM has.
  suits: () => Promise.resolve("this host's kernel has no IPVS, so the lab runs inside a VM with Debian's kernel"),
  readOwn: (raw, lab) => {
    const vm = parsedWith(VM_STATE, raw);
    if (vm.name !== vmName(lab.name)) throw new Error(`name: is not ${vmName(lab.name)}`);
    return vm;
  },
  httpdLayout: instanceLayout,
  checkHost: (lab) => checkVmHostTools(labStateDir(lab.name)),
  create: async (lab, { dir, log, save }) => {
    const strays = await stopNamed(lab);
    if (strays.length > 0) log(`removed leftovers of lab ${lab.name} (vm): ${strays.join(', ')}`);
    return netnsSession(await bootMachine(vmName(lab.name), dir, log, save), lab);
  },
  open: async (lab, vm) => {
    if (!vmRunning(vm))
      throw new UserError(
        `lab ${lab.name}: its VM is not running; \`npm run lab -- down --name ${lab.name}\` clears it`,
      );
    return netnsSession(await openMachine(vm, labStateDir(lab.name)), lab);
  },
  // Everything of the lab lives inside the VM; stopping it and dropping its overlay removes all of it.
  destroy: async (lab, vm, log) => {
    if (vm) {
      await stopMachine(vm, labStateDir(lab.name));
      log(`removed lab ${lab.name}: VM (qemu pid ${vm.pid}) and its overlay`);
    }
    const strays = await stopNamed(lab);
    if (strays.length > 0) log(`removed lab ${lab.name}'s VM that its state did not record: ${strays.join(', ')}`);
  },
  leftovers: (lab) => running(lab),
  sweep: (lab) => stopNamed(lab),
  describe: (_lab, vm) =>
    vm
      ? `vm qemu pid ${vm.pid} (${vmRunning(vm) ? 'running' : 'NOT running'}${vm.restored ? ', restored from the saved booted VM' : ''}), ssh 127.0.0.1:${vm.sshPort}`
      : 'vm (not booted)',
  commands: {
    image: {
      usage: 'build the VM image and save a booted lab VM now (otherwise done on first use; both cached)',
      run: async (_lab, _vm, log) => {
        // The vm testbed's image (and the Vagrant box's source), built now if it is not cached.
        const image = await ensureImage(log);
        log(`VM image ready: ${image.dir} (kernel ${image.kernelVersion})`);
        // And the booted lab VM that labs start from (restored in seconds instead of booted).
        if (process.env.LVS_LAB_COLD_BOOT !== '1')
          log(`saved booted VM ready: ${(await ensureSavedVm(image, LAB_VM, log)).dir}`);
        return undefined;
      },
    },
  },
};
