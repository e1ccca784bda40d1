// The vm testbed: for hosts whose kernel has no IPVS. One qemu VM with Debian's kernel per lab, and inside it the
// same netns lab as on a host with IPVS, reached over SSH.
import { labStateDir } from '../paths.js';
import { instanceLayout, netnsSession } from '../netns.js';
import { UserError } from '../../model/errors.js';
import type { Testbed } from '../testbed.js';
import { bootMachine, checkVmHostTools, openMachine, stopMachine, vmRunning } from './machine.js';

const vmName = (lab: string) => `lvs-lab-${lab}`;

export const vmTestbed: Testbed = {
  kind: 'vm',
  httpdLayout: instanceLayout,
  checkHost: () => checkVmHostTools(),
  create: async (lab, { dir, log, save }) =>
    netnsSession(await bootMachine(vmName(lab.name), dir, log, (vm) => save({ vm })), lab),
  open: async (state) => {
    if (!vmRunning(state.vm))
      throw new UserError(
        `lab ${state.lab.name}: its VM is not running; \`npm run lab -- down --name ${state.lab.name}\` clears it`,
      );
    return netnsSession(await openMachine(state.vm, labStateDir(state.lab.name)), state.lab);
  },
  // Everything of the lab lives inside the VM; stopping it and dropping its overlay removes all of it.
  destroy: async (state, log) => {
    if (!state.vm) return;
    await stopMachine(state.vm);
    log(`removed lab ${state.lab.name}: VM (qemu pid ${state.vm.pid}) and its overlay`);
  },
  leftovers: (state) => Promise.resolve(vmRunning(state.vm) ? [`qemu pid ${state.vm.pid} (${state.vm.name})`] : []),
  describe: (s) =>
    s.vm
      ? `vm qemu pid ${s.vm.pid} (${vmRunning(s.vm) ? 'running' : 'NOT running'}${s.vm.restored ? ', restored from the saved booted VM' : ''}), ssh 127.0.0.1:${s.vm.sshPort}`
      : 'vm (not booted)',
};
