// A Transport runs a command on one lab host, by the host's name in the model. Each kind is a thin wrapper
// that says how to reach a host from a Shell: enter its network namespace, exec into its container, or SSH to it.
// Commands go through the host's resident shells (resident.ts) where the Shell can keep one open, else one-shot.
import type { Lab } from '../model/topology.js';
import type { HttpdLayout } from './httpd.js';
import { LOGIN_SHELL, ResidentShells, withResidents } from './resident.js';
import { shq, type ExecOptions, type ExecResult, type Shell } from './shell.js';

export interface Transport {
  readonly kind: 'netns' | 'docker' | 'ssh';
  run(host: string, command: string, options?: ExecOptions): Promise<ExecResult>;
  /** The command line (for this machine, with a terminal) that runs `command` on the host interactively. */
  interactive(host: string, command: string): Promise<string[]>;
}

/** Hosts are network namespaces on the shell's machine (the netns testbed, on this host or inside the VM). */
export function netnsTransport(shell: Shell, namespaceOf: (host: string) => string): Transport {
  const enter = (host: string) => `ip netns exec ${shq(namespaceOf(host))} sh`;
  const residents = new ResidentShells({
    spawn: shell.spawn && ((host) => shell.spawn!(enter(host))),
    oneShot: (host, command, options) => shell.exec(`${enter(host)} -c ${shq(command)}`, options),
  });
  return {
    kind: 'netns',
    run: (host, command, options) => residents.run(host, command, options),
    interactive: (host, command) => shell.interactive(`ip netns exec ${shq(namespaceOf(host))} ${command}`),
  };
}

/** Hosts are containers of the Docker engine the shell's `docker` talks to. */
export function dockerTransport(shell: Shell, containerOf: (host: string) => string): Transport {
  const residents = new ResidentShells({
    spawn: shell.spawn && ((host) => shell.spawn!(`docker exec -i ${shq(containerOf(host))} sh`)),
    oneShot: (host, command, options) =>
      shell.exec(
        `docker exec ${options?.stdin !== undefined ? '-i ' : ''}${shq(containerOf(host))} sh -c ${shq(command)}`,
        options,
      ),
  });
  return {
    kind: 'docker',
    run: (host, command, options) => residents.run(host, command, options),
    interactive: (host, command) => shell.interactive(`docker exec -it ${shq(containerOf(host))} ${command}`),
  };
}

/** Hosts are machines of their own, one SSH connection each (Vagrant boxes, bare metal). */
export function sshTransport(shells: ReadonlyMap<string, Shell>): Transport {
  const machines = new Map([...shells].map(([host, shell]) => [host, withResidents(shell, LOGIN_SHELL)]));
  const machineOf = (host: string) => {
    const machine = machines.get(host);
    if (!machine) throw new Error(`ssh transport: no connection for host "${host}"`);
    return machine;
  };
  return {
    kind: 'ssh',
    run: async (host, command, options) => machineOf(host).exec(command, options),
    interactive: async (host, command) => machineOf(host).interactive(command),
  };
}

/** What provisioning, probes and everything that works inside a running lab need of it: the model, a way to each host,
 * and where each realserver's httpd keeps its files. */
export interface LabAccess {
  lab: Lab;
  transport: Transport;
  httpd: HttpdLayout;
  /** Whole hosts stopped and started (`fault <host> host stop`), where the testbed can. */
  power?: HostPower;
  /** A lab whose segment spans machines (a Docker lab over several engines): each machine and the hosts on it. */
  segments?: ReadonlyArray<{ where: string; hosts: string[] }>;
}

/** Stops and starts a whole host, where its testbed can: the namespace's processes, the container, the machine. */
export interface HostPower {
  stop(host: string): Promise<void>;
  start(host: string): Promise<void>;
  stopped(host: string): Promise<boolean>;
}
