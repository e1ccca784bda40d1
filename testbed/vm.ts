// The vm testbed: for hosts whose kernel has no IPVS. One qemu VM with Debian's kernel per lab, and inside it the
// same netns lab as on a host with IPVS, reached over SSH.
import { vmName } from './names.js';
import { labStateDir } from '../base/paths.js';
import { instanceLayout, netnsSession } from './netns.js';
import { UserError } from '../model/errors.js';
import type { Testbed } from './testbed.js';
import type { Lab } from '../model/topology.js';
import { bootMachine, checkVmHostTools, openMachine, stopMachine, vmRunning } from '../machine/machine.js';
import { masterPids, stopMasters } from '../machine/master.js';
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

export const vmTestbed: Testbed = {
  kind: 'vm',
  httpdLayout: instanceLayout,
  checkHost: (lab) => checkVmHostTools(labStateDir(lab.name)),
  create: async (lab, { dir, log, save }) => {
    const strays = await stopNamed(lab);
    if (strays.length > 0) log(`removed leftovers of lab ${lab.name} (vm): ${strays.join(', ')}`);
    return netnsSession(await bootMachine(vmName(lab.name), dir, log, (vm) => save({ vm })), lab);
  },
  open: async (state) => {
    if (!vmRunning(state.vm))
      throw new UserError(
        `lab ${state.lab.name}: its VM is not running; \`npm run lab -- down --name ${state.lab.name}\` clears it`,
      );
    return netnsSession(await openMachine(state.vm, labStateDir(state.lab.name)), state.lab);
  },
  // Everything of the lab lives inside the VM; stopping it and dropping its overlay removes all of it.
  destroy: async (state, log) => {
    if (state.vm) {
      await stopMachine(state.vm, labStateDir(state.lab.name));
      log(`removed lab ${state.lab.name}: VM (qemu pid ${state.vm.pid}) and its overlay`);
    }
    const strays = await stopNamed(state.lab);
    if (strays.length > 0)
      log(`removed lab ${state.lab.name}'s VM that its state did not record: ${strays.join(', ')}`);
  },
  leftovers: (state) => running(state.lab),
  sweep: (lab) => stopNamed(lab),
  describe: (s) =>
    s.vm
      ? `vm qemu pid ${s.vm.pid} (${vmRunning(s.vm) ? 'running' : 'NOT running'}${s.vm.restored ? ', restored from the saved booted VM' : ''}), ssh 127.0.0.1:${s.vm.sshPort}`
      : 'vm (not booted)',
};
