// The libvirtd Vagrant labs run on. A machine that has one running (a workstation) keeps using it. Where none runs
// (CI, machines without systemd), the kit starts its own, inside a network namespace of its own: every bridge, tap
// and dnsmasq of every lab then lives there, no lab or management address exists in the host's root namespace, and
// SSH reaches the guests through that namespace. One such libvirtd serves all labs; the last lab's `down` stops it.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { $, retry } from 'zx';
import { processArgs, stopProcess } from '../../base/process.js';
import { CommandError, UserError } from '../../model/errors.js';
import { LocalShell, shq } from '../../provision/shell.js';
import { stateDir } from '../../base/paths.js';
import { PreflightError } from '../../model/errors.js';
import { readJson, writeJson } from '../../base/json-file.js';
import { seconds, type Log } from '../../base/log.js';

/** A libvirtd that runs on this machine already (a workstation's) is reached at its usual address. */
const SYSTEM_URI = 'qemu:///system';
export const LIBVIRT_NETNS = 'lvs-lab-libvirt';
const RUN = '/run/lvs-lab/libvirt';
/** The kit's own libvirtd listens here alone, root only: a directory of mode 0700 and sockets of 0700. */
export const KIT_SOCKET = `${RUN}/sock/libvirt-sock`;
const KIT_URI = `${SYSTEM_URI}?socket=${KIT_SOCKET}`;
/** The kit's libvirtd's own configuration: its sockets in RUN/sock, root only; no polkit, no group access. */
const KIT_CONFIG = [
  `unix_sock_dir = "${RUN}/sock"`,
  'unix_sock_group = "root"',
  'unix_sock_ro_perms = "0700"',
  'unix_sock_rw_perms = "0700"',
  'unix_sock_admin_perms = "0700"',
  'auth_unix_ro = "none"',
  'auth_unix_rw = "none"',
].join('\n');

/** The libvirtd the kit talks to: its own when it runs one, else the machine's. */
export const libvirtUri = (): string => (existsSync(KIT_SOCKET) ? KIT_URI : SYSTEM_URI);

interface DaemonState {
  netns: string;
  libvirtd: number;
  virtlogd: number;
  startedAt: string;
  /** Whether /run/libvirt was there before: if not, it goes when the daemon stops. */
  runDirExisted: boolean;
}

/** The command that carries an SSH connection into the kit's namespace. A guest that has its DHCP lease but not yet
 * its address drops the SYN: give up after 3 s and let the caller retry, instead of waiting out TCP's backoff. */
export const namespaceProxy = (netns: string, host = '%h', port = '%p'): string[] => [
  'ip',
  'netns',
  'exec',
  netns,
  'socat',
  '-',
  `TCP:${host}:${port},connect-timeout=3`,
];

const daemonFile = () => join(stateDir(), 'libvirt', 'daemon.json');
const local = new LocalShell();

/** `virsh` on the kit's libvirtd, each word quoted (names read back from libvirt included). */
export async function virsh(words: string[], timeoutMs = 60_000) {
  return local.exec(`virsh -c ${shq(libvirtUri())} -q ${words.map(shq).join(' ')}`, { timeoutMs });
}

/** `virsh` that must succeed: a CommandError saying what it was for otherwise; its stdout. */
export async function mustVirsh(words: string[], what?: string): Promise<string> {
  const res = await virsh(words);
  if (res.code !== 0)
    throw new CommandError('libvirt', `virsh ${words.map(shq).join(' ')}`, res.code, res.stderr, what);
  return res.stdout;
}

/** Defines and starts the network of an XML file (virsh net-define, net-start). */
export async function startNetwork(name: string, file: string): Promise<void> {
  await mustVirsh(['net-define', file], `network ${name}`);
  await mustVirsh(['net-start', name], `network ${name}`);
}

const answers = async () => (await virsh(['version'], 10_000)).code === 0;

/** True when pid runs the program `name` (never signal a recycled pid). */
function runs(pid: number, name: string): boolean {
  return processArgs(pid)?.[0].endsWith(name) ?? false;
}

/** The kit's own libvirtd when it runs. */
async function ours(): Promise<DaemonState | undefined> {
  const d = await readJson<DaemonState>(daemonFile());
  return d && runs(d.libvirtd, 'libvirtd') ? d : undefined;
}

export async function checkLibvirtTools(): Promise<void> {
  const tools = ['vagrant', 'virsh', 'qemu-img', 'socat', 'ip'];
  const daemonNeeded = !(await ours()) && !(await answers());
  if (daemonNeeded) tools.push('libvirtd', 'virtlogd');
  const missing: string[] = [];
  for (const t of tools) if ((await local.exec(`command -v ${t}`)).code !== 0) missing.push(t);
  const problems = missing.map((t) => `tool: ${t} is not installed (testbed/install-deps.sh vagrant installs it)`);
  if (daemonNeeded && process.getuid?.() !== 0)
    problems.push('root: starting libvirtd in a network namespace needs root');
  if (problems.length > 0) throw new PreflightError('localhost', problems);
}

/**
 * The libvirtd to use: the kit's own if it runs, else one already answering (the user's), else the kit's own,
 * started now. Returns the network namespace SSH must go through (none for a user's libvirtd).
 */
export async function ensureLibvirtd(log: Log): Promise<{ netns?: typeof LIBVIRT_NETNS }> {
  const running = await ours();
  if (running) return { netns: LIBVIRT_NETNS };
  if (await answers()) {
    log(`libvirt: using the libvirtd that runs on this machine (${SYSTEM_URI})`);
    return {};
  }
  const t0 = Date.now();
  const runDirExisted = existsSync('/run/libvirt');
  const ns = LIBVIRT_NETNS;
  const kvm = `${RUN}/kvm`;
  // libvirt re-probes qemu every few seconds when "can the qemu user open /dev/kvm" disagrees with what its last
  // probe found, which a root-only /dev/kvm makes happen (minutes per `vagrant up`). The daemon's own mount
  // namespace gets a /dev/kvm node with Debian's usual owner and mode (root:kvm 0660); the host's stays as it is.
  const script = [
    'set -e',
    `mkdir -p ${RUN}`,
    `mkdir -p -m 0700 ${RUN}/sock`,
    `(umask 077; printf '%s\\n' ${shq(KIT_CONFIG)} > ${RUN}/libvirtd.conf)`,
    `[ -e /run/netns/${ns} ] || ip netns add ${ns}`,
    `ip -n ${ns} link set lo up`,
    `if [ -c /dev/kvm ]; then rm -f ${kvm}; mknod ${kvm} c 10 232; chgrp kvm ${kvm}; chmod 0660 ${kvm}; fi`,
    `ip netns exec ${ns} sh -c ${shq(
      `[ -c ${kvm} ] && mount --bind ${kvm} /dev/kvm; ` +
        `virtlogd -d -p ${RUN}/virtlogd.pid && libvirtd -d -f ${RUN}/libvirtd.conf -p ${RUN}/libvirtd.pid`,
    )}`,
  ].join('\n');
  const res = await local.exec(script, { timeoutMs: 60_000 });
  if (res.code !== 0) throw new UserError(`libvirt: could not start libvirtd in namespace ${ns}: ${res.stderr.trim()}`);
  const pid = async (name: string) =>
    retry(20, '250ms', async () => {
      const text = (await $({ quiet: true })`cat ${`${RUN}/${name}.pid`}`).stdout.trim();
      if (!/^\d+$/.test(text)) throw new Error(`no pid in ${RUN}/${name}.pid`);
      return Number(text);
    });
  const state: DaemonState = {
    netns: ns,
    libvirtd: await pid('libvirtd'),
    virtlogd: await pid('virtlogd'),
    startedAt: new Date().toISOString(),
    runDirExisted,
  };
  await writeJson(daemonFile(), state);
  await retry(120, '250ms', async () => {
    if (!(await answers())) throw new Error(`libvirtd (pid ${state.libvirtd}) does not answer on ${KIT_URI}`);
  });
  log(`libvirt: started libvirtd (pid ${state.libvirtd}) in network namespace ${ns} (${seconds(t0)} s)`);
  return { netns: ns };
}

async function stop(pid: number, name: string): Promise<void> {
  await stopProcess(pid, () => runs(pid, name));
}

/** Stops the kit's own libvirtd (and virtlogd) and removes its namespace, when `inUse` says no lab needs it. */
export async function stopLibvirtdIfUnused(inUse: boolean, log: Log): Promise<void> {
  const d = await readJson<DaemonState>(daemonFile());
  if (!d || inUse) return;
  await stop(d.libvirtd, 'libvirtd');
  await stop(d.virtlogd, 'virtlogd');
  // Whatever libvirtd started in the namespace (a network's dnsmasq) is ours too.
  await local.exec(
    `[ -e /run/netns/${d.netns} ] && { pids=$(ip netns pids ${d.netns}); [ -n "$pids" ] && kill $pids; sleep 0.2; ip netns del ${d.netns}; }; rm -rf ${RUN}; rmdir /run/lvs-lab 2>/dev/null; true`,
  );
  if (!d.runDirExisted) await rm('/run/libvirt', { recursive: true, force: true });
  await rm(daemonFile(), { force: true });
  log(`libvirt: stopped the kit's libvirtd (pid ${d.libvirtd}) and removed namespace ${d.netns}: no Vagrant lab is up`);
}

/** What of the kit's libvirtd exists: its processes and namespace (empty: nothing). */
export async function libvirtdLeftovers(): Promise<string[]> {
  const d = await readJson<DaemonState>(daemonFile());
  const left: string[] = [];
  if (d && runs(d.libvirtd, 'libvirtd')) left.push(`libvirtd pid ${d.libvirtd}`);
  if (d && runs(d.virtlogd, 'virtlogd')) left.push(`virtlogd pid ${d.virtlogd}`);
  if (existsSync(`/run/netns/${LIBVIRT_NETNS}`)) left.push(`namespace ${LIBVIRT_NETNS}`);
  return left;
}
