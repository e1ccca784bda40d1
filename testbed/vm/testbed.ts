// The vm testbed: for hosts whose kernel has no IPVS. One qemu VM with Debian's kernel per lab, and inside it the
// same netns lab as on a host with IPVS, reached over SSH.
import { labStateDir } from '../paths.js';
import { instanceLayout, netnsSession } from '../netns.js';
import { UserError } from '../../model/errors.js';
import type { Testbed } from '../testbed.js';
import type { Lab } from '../../model/topology.js';
import { bootMachine, checkVmHostTools, openMachine, stopMachine, vmRunning } from './machine.js';
import { stopVm, vmPidsNamed } from './qemu.js';

const vmName = (lab: string) => `lvs-lab-${lab}`;

/**
 * Stops every VM of this lab found by its name, recorded or not (a run killed between qemu's start and recording
 * it leaves one that no state names; the lab's lock makes any such VM a leftover). Returns what it stopped.
 */
async function stopNamed(lab: Lab): Promise<string[]> {
  const name = vmName(lab.name);
  const pids = await vmPidsNamed(name);
  for (const pid of pids) await stopVm(pid, name);
  return pids.map((pid) => `qemu pid ${pid} (${name})`);
}

export const vmTestbed: Testbed = {
  kind: 'vm',
  httpdLayout: instanceLayout,
  checkHost: () => checkVmHostTools(),
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
      await stopMachine(state.vm);
      log(`removed lab ${state.lab.name}: VM (qemu pid ${state.vm.pid}) and its overlay`);
    }
    const strays = await stopNamed(state.lab);
    if (strays.length > 0)
      log(`removed lab ${state.lab.name}'s VM that its state did not record: ${strays.join(', ')}`);
  },
  leftovers: async (state) =>
    (await vmPidsNamed(vmName(state.lab.name))).map((pid) => `qemu pid ${pid} (${vmName(state.lab.name)})`),
  sweep: (lab) => stopNamed(lab),
  describe: (s) =>
    s.vm
      ? `vm qemu pid ${s.vm.pid} (${vmRunning(s.vm) ? 'running' : 'NOT running'}${s.vm.restored ? ', restored from the saved booted VM' : ''}), ssh 127.0.0.1:${s.vm.sshPort}`
      : 'vm (not booted)',
};
