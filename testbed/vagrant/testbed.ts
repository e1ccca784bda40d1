// The vagrant testbed: one Vagrant machine (a libvirt domain with its own kernel, ARP table and sysctls) per host,
// on isolated libvirt networks, provisioned over SSH with node-ssh. Vagrant creates and destroys the machines from
// the generated Vagrantfile; everything else (network addresses, the plan, the verifier) is the same as elsewhere.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { $, retry, type Duration, type ProcessOutput } from 'zx';
import { waitFor } from '../../base/wait.js';
import { UserError, TimeoutError } from '../../model/errors.js';
import { hostsOf, type Lab } from '../../model/topology.js';
import { runSteps } from '../../provision/apply.js';
import type { HttpdLayout } from '../../provision/httpd.js';
import type { ExecOptions, Shell } from '../../provision/shell.js';
import { newSshKeyPair, SshShell } from '../../provision/ssh.js';
import { sshTransport, type HostPower } from '../../provision/transport.js';
import { addressSteps } from '../netns.js';
import { labStateDir } from '../../base/paths.js';
import { preflightMachine } from '../preflight.js';
import { seconds, type Log } from '../../base/log.js';
import type { Testbed, TestbedSession } from '../testbed.js';
import { ensureImage } from '../../machine/image.js';
import { ownHostKey, vmKeyFile } from '../../machine/machine.js';
import { vagrantDir } from '../names.js';
import { chooseAccel } from '../../machine/qemu.js';
import { ensureBox, pruneBoxes } from './box.js';
import { previewVagrantfile } from './preview.js';
import {
  checkLibvirtTools,
  ensureLibvirtd,
  libvirtUri,
  libvirtdLeftovers,
  namespaceProxy,
  startNetwork,
  stopLibvirtdIfUnused,
  mustVirsh,
  virsh,
} from './libvirt.js';
import { VAGRANT_STATE, type VagrantState } from './state.js';
import { parsedWith } from '../../base/json-file.js';
import {
  domainPrefix,
  labNetworkName,
  labNics,
  mgmtMac,
  mgmtNetworkName,
  mgmtNetworkXml,
  outsideNetworkName,
  vagrantfile,
} from './vagrantfile.js';

/** Each machine's own apache2, started the Debian way. */
const HTTPD: HttpdLayout = { kind: 'system' };

export { vagrantDir } from '../names.js';

/** `vagrant` on the lab's project, with nothing that reaches out (no version checkpoint, no box update check). */
export function vagrant(dir: string, args: string[], { timeoutMs = 1_800_000 } = {}) {
  return $({
    quiet: true,
    nothrow: true,
    timeout: timeoutMs,
    env: {
      ...process.env,
      VAGRANT_CWD: dir,
      VAGRANT_DEFAULT_PROVIDER: 'libvirt',
      VAGRANT_CHECKPOINT_DISABLE: '1',
      VAGRANT_BOX_UPDATE_CHECK_DISABLE: '1',
      LIBVIRT_DEFAULT_URI: libvirtUri(),
    },
  })`vagrant ${args}`;
}

/** Names libvirt lists (`virsh <args>`), one per line; none when libvirtd does not answer. */
async function libvirtNames(...args: string[]): Promise<string[]> {
  return (await virsh(args)).stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** Other Vagrant labs' management networks, as libvirt has them (not as their state files say). */
const otherMgmtNetworks = async (lab: Lab) =>
  (await libvirtNames('net-list', '--all', '--name')).filter(
    (n) => /^lvs-lab-[a-z0-9]+-mgmt$/.test(n) && n !== mgmtNetworkName(lab),
  );

/** A management subnet no other Vagrant lab of this machine uses: 10.249.<n>.0/24, asked of libvirt. */
async function freeMgmtSubnet(lab: Lab): Promise<string> {
  const used = new Set<string>();
  for (const net of await otherMgmtNetworks(lab)) {
    const xml = (await virsh(['net-dumpxml', net])).stdout;
    for (const m of xml.matchAll(/<ip address=["']10\.249\.(\d+)\.\d+["']/g)) used.add(`10.249.${m[1]}.0/24`);
  }
  for (let n = 0; n < 256; n++) if (!used.has(`10.249.${n}.0/24`)) return `10.249.${n}.0/24`;
  throw new UserError('vagrant: 256 Vagrant labs are up; `down` one first');
}

/** Each machine's management address, from the DHCP leases of its management network by its fixed MAC; undefined
 * until every machine has one. */
async function mgmtAddresses(lab: Lab): Promise<Record<string, string> | undefined> {
  const res = await virsh(['net-dhcp-leases', mgmtNetworkName(lab)]);
  const leases = new Map(
    [...res.stdout.matchAll(/([0-9a-f:]{17})\s+ipv4\s+(\d+\.\d+\.\d+\.\d+)\//g)].map((m) => [m[1], m[2]]),
  );
  const addresses = Object.fromEntries(hostsOf(lab).map((h) => [h.name, leases.get(mgmtMac(h.ip))]));
  return Object.values(addresses).every(Boolean) ? (addresses as Record<string, string>) : undefined;
}

/** An SSH shell on one machine, by its management address (through the kit's libvirt namespace when there is one). */
async function connectHost(lab: Lab, v: VagrantState, host: string, tries: number, delay: Duration = '1s') {
  const privateKey = await readFile(vmKeyFile(labStateDir(lab.name)), 'utf8');
  const address = v.mgmt.addresses[host];
  const target = {
    host: address,
    port: 22,
    username: 'root',
    privateKey,
    hostKey: v.hostKeys?.[host] ?? v.hostKey,
    proxy: v.netns ? namespaceProxy(v.netns, address, '22') : undefined,
    keyFile: vmKeyFile(labStateDir(lab.name)),
  };
  // A login takes seconds while four emulated machines boot: let a slow handshake finish rather than restart it.
  return retry(tries, delay, () => SshShell.connect(target, 30_000));
}

async function connectHosts(
  lab: Lab,
  v: VagrantState,
  tries: number,
  delay: Duration = '1s',
): Promise<Map<string, SshShell>> {
  const shells = await Promise.allSettled(
    hostsOf(lab).map(async (h) => [h.name, await connectHost(lab, v, h.name, tries, delay)] as const),
  );
  const failed = shells.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  const open = shells.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  if (failed) {
    await Promise.all(open.map(([, s]) => s.close()));
    throw failed.reason;
  }
  return new Map(open);
}

/** A machine's libvirt domain: the Vagrantfile's prefix and the host's name. */
const domainOf = (lab: Lab, host: string) => `${domainPrefix(lab)}${host}`;

/** Whole machines stopped and started: their domains suspended and resumed (the guest keeps its state, as a paused
 * container does). */
function vagrantPower(lab: Lab): HostPower {
  return {
    stop: async (host) => void (await mustVirsh(['suspend', domainOf(lab, host)], `stopping ${host}`)),
    start: async (host) => void (await mustVirsh(['resume', domainOf(lab, host)], `starting ${host}`)),
    stopped: async (host) => (await virsh(['domstate', domainOf(lab, host)])).stdout.trim() === 'paused',
  };
}

/**
 * A machine's shell connected on first use, so a lab opens while one of its machines is stopped; a command for a
 * stopped machine fails at once, saying so, rather than waiting out SSH.
 */
function lazyShell(lab: Lab, v: VagrantState, host: string, power: HostPower): Shell {
  let shell: Promise<SshShell> | undefined;
  const connected = async () => {
    if (!shell) {
      if (await power.stopped(host))
        throw new UserError(`${host} is stopped: \`npm run lab -- fault ${host} host start\` starts it`);
      shell = connectHost(lab, v, host, 3).catch((err: unknown) => {
        shell = undefined;
        throw err;
      });
    }
    return shell;
  };
  return {
    where: `${host} (${v.mgmt.addresses[host]})`,
    exec: async (command, options) => (await connected()).exec(command, options),
    spawn: async (command) => (await connected()).spawn(command),
    interactive: async (command) => (await connected()).interactive(command),
    close: async () => {
      const open = await shell?.catch(() => undefined);
      await open?.close();
    },
  };
}

/** Gives each machine a host key of its own (the box's is every machine's); returns them by machine. */
async function ownHostKeys(shells: Map<string, SshShell>): Promise<Record<string, string>> {
  const keys = await Promise.all([...shells].map(async ([name, shell]) => [name, await ownHostKey(shell, 60_000)]));
  return Object.fromEntries(keys) as Record<string, string>;
}

function session(lab: Lab, v: VagrantState, shells: Map<string, Shell>, settle?: () => Promise<void>): TestbedSession {
  // Every phase goes through the transport, so one resident shell per machine serves preflight, addressing and the
  // plan: a session channel costs a guest sshd's fork and root's bash, slow under emulation.
  const transport = sshTransport(shells);
  const on = (host: string) => ({
    where: shells.get(host)!.where,
    exec: (command: string, options?: ExecOptions) => transport.run(host, command, options),
  });
  return {
    settle,
    power: vagrantPower(lab),
    where: `${shells.size} Vagrant machines (libvirt${v.netns ? ` in namespace ${v.netns}` : ''})`,
    transport,
    httpd: HTTPD,
    preflight: async ({ rebuilding }) => {
      await Promise.all(hostsOf(lab).map((host) => preflightMachine(on(host.name), lab, { rebuilding, host })));
    },
    buildNetwork: async () => {
      // The lab NICs carry no address until now (auto_config: false): the testbed addresses them, as netns does.
      await Promise.all(
        hostsOf(lab).map((h) =>
          runSteps(
            h.name,
            labNics(lab, h).flatMap((nic) => addressSteps('', nic.dev, `${nic.ip}/${nic.prefix}`)),
            on(h.name).exec,
          ),
        ),
      );
      const networks = [labNetworkName(lab), ...(lab.forwarding === 'nat' ? [outsideNetworkName(lab)] : [])];
      return `libvirt networks ${networks.join(', ')} (isolated, no DHCP, no host address), ${shells.size} machines addressed`;
    },
    close: async () => {
      await Promise.all([...shells.values()].map((s) => s.close()));
    },
  };
}

/** The lab's domains, networks and volumes in libvirt, by the names the Vagrantfile gives them. */
async function libvirtObjects(lab: Lab): Promise<{ domains: string[]; networks: string[]; volumes: string[] }> {
  const prefix = domainPrefix(lab);
  const names = libvirtNames;
  const domains = (await names('list', '--all', '--name')).filter((d) => d.startsWith(prefix));
  const labNets = [labNetworkName(lab), outsideNetworkName(lab), mgmtNetworkName(lab)];
  const networks = (await names('net-list', '--all', '--name')).filter((n) => labNets.includes(n));
  const pools = await names('pool-list', '--all', '--name');
  const volumes = (
    await Promise.all(pools.map(async (p) => (await names('vol-list', p)).map((l) => [p, l.split(/\s+/)[0]] as const)))
  )
    .flat()
    .filter(([, v]) => v.startsWith(prefix))
    .map(([p, v]) => `${p}/${v}`);
  return { domains, networks, volumes };
}

const listed = (o: Awaited<ReturnType<typeof libvirtObjects>>) => [
  ...o.domains.map((d) => `domain ${d}`),
  ...o.networks.map((n) => `network ${n}`),
  ...o.volumes.map((v) => `volume ${v}`),
];

/** Removes what `vagrant destroy` did not (or could not: a killed `vagrant up`), by name. */
async function removeLibvirtObjects(lab: Lab): Promise<string[]> {
  const o = await libvirtObjects(lab);
  for (const d of o.domains) {
    await virsh(['destroy', d]);
    await virsh(['undefine', d, '--remove-all-storage']);
  }
  for (const n of o.networks) {
    await virsh(['net-destroy', n]);
    await virsh(['net-undefine', n]);
  }
  for (const v of o.volumes) await virsh(['vol-delete', '--pool', v.split('/')[0], v.split('/')[1]]);
  await $({ quiet: true, nothrow: true })`sh -c ${`rm -f /var/log/libvirt/qemu/${domainPrefix(lab)}*.log`}`;
  return listed(o);
}

/** Whether another Vagrant lab runs on the kit's libvirtd (its machines or networks there), which then stays. */
const otherVagrantLabs = async (lab: Lab) =>
  (await otherMgmtNetworks(lab)).length > 0 ||
  (await libvirtNames('list', '--all', '--name')).some(
    (d) => d.startsWith('lvs-lab-') && !d.startsWith(domainPrefix(lab)),
  );

/** The box, the kit's libvirtd and the lab's own key made ready, and the Vagrantfile written: the lab's state. */
async function writeProject(lab: Lab, dir: string, log: Log): Promise<VagrantState> {
  const image = await ensureImage(log);
  const box = await ensureBox(image, log);
  const { netns } = await ensureLibvirtd(log);
  await pruneBoxes(box, log);
  const keys = newSshKeyPair();
  await writeFile(vmKeyFile(dir), keys.private, { mode: 0o600 });
  const v: VagrantState = {
    dir: vagrantDir(lab.name),
    box: box.name,
    mgmt: { name: mgmtNetworkName(lab), subnet: await freeMgmtSubnet(lab), addresses: {} },
    netns,
    hostKey: image.hostKey,
  };
  await mkdir(v.dir, { recursive: true });
  const file = vagrantfile(lab, {
    box: box.name,
    boxUrl: `file://${box.file}`,
    kernel: box.kernel,
    initrd: box.initrd,
    publicKey: keys.public.split(' ')[1],
    privateKeyPath: vmKeyFile(dir),
    mgmtSubnet: v.mgmt.subnet,
    netns,
    driver: chooseAccel().name === 'kvm' ? 'kvm' : 'qemu',
    memoryMb: lab.vagrant?.memory,
    cpus: lab.vagrant?.cpus,
  });
  await writeFile(join(v.dir, 'Vagrantfile'), file);
  return v;
}

/**
 * `vagrant up`, watched: Vagrant creates and starts the machines, then polls for their leases and SSH every 5-10 s;
 * the kit watches the leases and SSH itself and provisions meanwhile. The session's `settle` waits for Vagrant.
 */
async function startMachines(
  lab: Lab,
  v: VagrantState,
  dir: string,
  save: (v: VagrantState) => Promise<void>,
  log: Log,
): Promise<TestbedSession> {
  const t0 = Date.now();
  log(`vagrant up: ${hostsOf(lab).length} machines from box ${v.box} (${v.dir})`);
  const up = vagrant(v.dir, ['up', '--no-provision']);
  let exited: ProcessOutput | undefined;
  const finished = up.then(async (out) => {
    exited = out;
    await writeFile(join(dir, 'vagrant-up.log'), out.stdout + out.stderr);
  });
  const failed = () =>
    exited && exited.exitCode !== 0
      ? new Error(
          `vagrant up failed (exit ${exited.exitCode}); last lines:\n${(exited.stdout + exited.stderr).trim().split('\n').slice(-15).join('\n')}`,
        )
      : undefined;
  let shells: Map<string, SshShell>;
  try {
    shells = await reachMachines(lab, v, failed, save, log, t0);
  } catch (err) {
    // Vagrant stops cleanly on an interrupt; `down` removes what it made (a refusal: it has just exited).
    if (!exited) await up.kill('SIGINT').catch(() => undefined);
    await finished;
    throw err;
  }
  log(`vagrant: ${shells.size} machines up and answering SSH, each with its own host key (${seconds(t0)} s)`);
  return session(lab, v, shells, async () => {
    const t1 = Date.now();
    await finished;
    const err = failed();
    if (err) throw err;
    log(`vagrant up: finished its own readiness checks (${seconds(t1)} s after provisioning)`);
  });
}

/** Every machine's management address (ending at once when `vagrant up` failed), SSH, and a host key of its own. */
async function reachMachines(
  lab: Lab,
  v: VagrantState,
  failed: () => Error | undefined,
  save: (v: VagrantState) => Promise<void>,
  log: Log,
  t0: number,
): Promise<Map<string, SshShell>> {
  v.mgmt.addresses = await waitFor(
    async () => {
      const err = failed();
      if (err) throw err;
      return mgmtAddresses(lab);
    },
    {
      within: 900_000,
      every: 250,
      timedOut: () =>
        new TimeoutError(`vagrant: not every machine had a DHCP lease on ${v.mgmt.name} within 900 s`, 900_000),
    },
  );
  await save(v);
  log(`vagrant: every machine has its management address (${seconds(t0)} s)`);
  const shells = await connectHosts(lab, v, 240, '500ms');
  try {
    v.hostKeys = await ownHostKeys(shells);
    await save(v);
  } catch (err) {
    await Promise.all([...shells.values()].map((s) => s.close()));
    throw err;
  }
  return shells;
}

export const vagrantTestbed: Testbed<VagrantState> = {
  kind: 'vagrant',
  readOwn: (raw, lab) => {
    const v = parsedWith(VAGRANT_STATE, raw);
    if (v.dir !== vagrantDir(lab.name)) throw new Error("dir: is not the lab's own");
    if (v.mgmt.name !== mgmtNetworkName(lab)) throw new Error(`mgmt.name: is not ${mgmtNetworkName(lab)}`);
    return v;
  },
  httpdLayout: () => HTTPD,
  checkHost: () => checkLibvirtTools(),

  create: async (lab, { dir, log, save }) => {
    const v = await writeProject(lab, dir, log);
    await save(v);
    // Before `vagrant up`, which takes the management network as it finds it: fixed addresses, leases at once.
    await writeFile(join(v.dir, 'mgmt-network.xml'), mgmtNetworkXml(lab, v.mgmt.subnet));
    await startNetwork(v.mgmt.name, join(v.dir, 'mgmt-network.xml'));
    return startMachines(lab, v, dir, save, log);
  },

  // Each machine is connected to on its first command: a stopped one does not keep the others from being reached.
  open: (lab, v) => {
    if (!v)
      return Promise.reject(
        new UserError(
          `lab ${lab.name}: its Vagrant machines were never created; \`npm run lab -- down --name ${lab.name}\` clears it`,
        ),
      );
    const power = vagrantPower(lab);
    return Promise.resolve(
      session(lab, v, new Map(hostsOf(lab).map((h) => [h.name, lazyShell(lab, v, h.name, power)]))),
    );
  },

  destroy: async (lab, v, log) => {
    if (v?.netns) await ensureLibvirtd(log); // to remove what a killed run left, libvirtd must answer
    if (v && existsSync(join(v.dir, 'Vagrantfile'))) {
      const res = await vagrant(v.dir, ['destroy', '-f']);
      if (res.exitCode !== 0) log(`vagrant destroy: exit ${res.exitCode}; removing the lab's libvirt objects by name`);
    }
    const swept = await removeLibvirtObjects(lab);
    if (swept.length > 0) log(`removed what vagrant destroy left: ${swept.join(', ')}`);
    log(`removed lab ${lab.name}: ${hostsOf(lab).length} Vagrant machines, their volumes and networks`);
    await stopLibvirtdIfUnused(await otherVagrantLabs(lab), log);
    if (v) await rm(v.dir, { recursive: true, force: true });
  },

  leftovers: async (lab) => {
    const answers = (await virsh(['version'], 10_000)).code === 0;
    return [
      ...(answers ? listed(await libvirtObjects(lab)) : []),
      ...(answers && (await otherVagrantLabs(lab)) ? [] : await libvirtdLeftovers()),
    ];
  },

  sweep: async (lab) => ((await virsh(['version'], 10_000)).code === 0 ? removeLibvirtObjects(lab) : []),

  describe: (lab, v) => `vagrant, ${hostsOf(lab).length} machines (${v?.dir ?? 'not created'})`,
  commands: {
    vagrantfile: {
      usage: "print the lab's Vagrantfile (the running lab's, or the one `up --testbed vagrant` would write)",
      run: (lab, v) => (v ? previewVagrantfile(lab, v) : previewVagrantfile(lab)),
    },
  },
};
