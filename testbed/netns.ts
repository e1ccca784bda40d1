// The netns testbed: a Linux bridge as the lab's switch and one network namespace per host, its interface named
// eth0 so the seed's commands apply as written. Nothing connects it to the machine's own network: the bridge has
// no address and no namespace has a route out.
import { macFor } from '../model/addressing.js';
import { hostsOf, type Lab } from '../model/topology.js';
import type { HttpdLayout } from '../provision/httpd.js';
import { runSteps } from '../provision/apply.js';
import type { Step } from '../provision/plan.js';
import { LocalShell, shq, sideBySideScript, type Shell } from '../provision/shell.js';
import { netnsTransport, type Transport } from '../provision/transport.js';
import { preflightMachine } from './preflight.js';
import { netnsPower } from './netns-power.js';
import { netnsNames, type NetnsNames } from './names.js';
import type { Testbed, TestbedSession } from './testbed.js';
import { kernelHasIpvs } from '../provision/host-needs.js';

/**
 * `ip -batch` fed the lines of `lines` (a shell list that echoes them): one process for several changes, each costs
 * time under software emulation. Lines behind `[ -e ... ] ||` are only for what is missing, so a network left half
 * built (an interrupted `up`) is completed rather than refused.
 */
const ipBatch = (lines: string[], ns?: string) =>
  `{\n${lines.map((l) => `  ${l}`).join('\n')}\n} | ip${ns ? ` -n ${ns}` : ''} -batch -`;

/** Interface `dev` (of namespace `ns`, or the machine's own where `ns` is empty) addressed `cidr` and up. */
export function addressSteps(ns: string, dev: string, cidr: string): Step[] {
  const ip = ns ? `ip -n ${ns}` : 'ip';
  return [
    {
      command: `${ip} addr add ${cidr} dev ${dev}`,
      unless: `${ip} -4 -o addr show dev ${dev} | grep -q ' inet ${cidr} '`,
    },
    { command: `${ip} link set ${dev} up` },
  ];
}

interface Nic {
  veth: string;
  dev: string;
  bridge: string;
  ip: string;
  prefix: number;
}

/**
 * The commands that build the lab's L2 network: first, in one `ip -batch`, the bridges and each host's namespace with
 * veths from the bridges (a veth is created with its peer already in the namespace); then inside every namespace
 * at once the addresses and links up (`addr replace` and `link set` change nothing when in place). Hosts in model order:
 * client, director, realservers. With NAT the client sits on a second bridge, which the director also reaches
 * through its eth1.
 */
/** Each host's namespace and its NICs: eth0 on its bridge; with NAT, the client on the outside bridge and the
 * director's eth1 there too. */
function namespacesOf(lab: Lab): Array<{ ns: string; nics: Nic[] }> {
  const n = netnsNames(lab);
  const outside = lab.forwarding === 'nat' && lab.outside ? lab.outside : undefined;
  return hostsOf(lab).map((host, i) => {
    const onOutside = outside && host.role === 'client';
    const eth0: Nic = {
      veth: n.veth(i),
      dev: 'eth0',
      bridge: onOutside ? n.outsideBridge : n.bridge,
      ip: host.ip,
      prefix: onOutside ? lab.outsidePrefixLength! : lab.prefixLength,
    };
    const eth1: Nic[] =
      outside && host.role === 'director'
        ? [
            {
              veth: n.outsideVeth,
              dev: 'eth1',
              bridge: n.outsideBridge,
              ip: outside.directorIp,
              prefix: lab.outsidePrefixLength!,
            },
          ]
        : [];
    return { ns: n.namespace(host.name), nics: [eth0, ...eth1] };
  });
}

export function networkSteps(lab: Lab): Step[] {
  const n = netnsNames(lab);
  const hosts = namespacesOf(lab);
  const bridges = [n.bridge, ...(lab.forwarding === 'nat' && lab.outside ? [n.outsideBridge] : [])];
  return [
    {
      command: ipBatch([
        ...bridges.flatMap((b) => [
          `[ -e /sys/class/net/${b} ] || echo 'link add ${b} type bridge'`,
          `echo 'link set ${b} up'`,
        ]),
        ...hosts.flatMap(({ ns, nics }) => [
          `[ -e /run/netns/${ns} ] || echo 'netns add ${ns}'`,
          ...nics.flatMap((nic) => [
            `[ -e /sys/class/net/${nic.veth} ] || echo 'link add ${nic.veth} type veth peer name ${nic.dev} address ${macFor(nic.ip)} netns ${ns}'`,
            `echo 'link set ${nic.veth} master ${nic.bridge} up'`,
          ]),
        ]),
      ]),
    },
    {
      // One namespace's `ip` does not wait for another's: they run side by side.
      command: sideBySideScript(
        hosts.map(({ ns, nics }) =>
          ipBatch(
            [
              "echo 'link set lo up'",
              ...nics.flatMap((nic) => [
                `echo 'addr replace ${nic.ip}/${nic.prefix} dev ${nic.dev}'`,
                `echo 'link set ${nic.dev} up'`,
              ]),
            ],
            ns,
          ),
        ),
      ),
    },
  ];
}

/** Every link of the lab on the machine: host veths, NAT's director veth, the bridges. */
const labLinks = (lab: Lab, n: NetnsNames) => [
  ...hostsOf(lab).map((_, i) => n.veth(i)),
  n.outsideVeth,
  n.bridge,
  n.outsideBridge,
];

/** `ip -force -batch` fed one line per namespace in `$live`: one process for all of them. */
const perNamespace = (line: string) => `for ns in $live; do echo "${line} $ns"; done | ip -force -batch - 2>/dev/null`;

/**
 * One script that removes everything networkSteps and the lab's hosts created, tolerating parts already gone. All
 * namespaces at once: their processes (httpd) are signalled together and awaited together, and each `ip` reads or
 * changes them all (a process is slow to start under software emulation).
 */
export function teardownScript(lab: Lab): string {
  const n = netnsNames(lab);
  const namespaces = hostsOf(lab).map((h) => n.namespace(h.name));
  return [
    `live=$(for ns in ${namespaces.join(' ')}; do [ -e /run/netns/$ns ] && echo $ns; done)`,
    `if [ -n "$live" ]; then`,
    // A namespace outlives `ip netns del` while a process (httpd) still runs in it, so end those first.
    `  pids() { ${perNamespace('netns pids')}; }`,
    // A host stopped by `fault ... host stop` (SIGSTOP) acts on SIGTERM only once continued.
    `  p=$(pids); [ -n "$p" ] && { kill -CONT $p; kill $p; } 2>/dev/null`,
    `  i=0; while [ -n "$(pids)" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done`,
    `  p=$(pids); [ -n "$p" ] && kill -9 $p 2>/dev/null`,
    `  ${perNamespace('netns del')}`,
    `fi`,
    `for link in ${labLinks(lab, n).join(' ')}; do [ -e /sys/class/net/$link ] && ip link del $link; done`,
    `rm -rf ${shq(n.runDir)}`,
    `true`,
  ].join('\n');
}

/** What of this lab exists on the machine: namespaces, links, run dir. Empty means fully gone. */
export function leftoversScript(lab: Lab): string {
  const n = netnsNames(lab);
  const namespaces = hostsOf(lab).map((h) => n.namespace(h.name));
  const links = labLinks(lab, n);
  return [
    `for ns in ${namespaces.join(' ')}; do [ -e /run/netns/$ns ] && echo "namespace $ns"; done`,
    `for link in ${links.join(' ')}; do [ -e /sys/class/net/$link ] && echo "link $link"; done`,
    `[ -e ${shq(n.runDir)} ] && echo "directory ${n.runDir}"`,
    // The hosts' httpd instances run from the run dir: a namespace deleted under a live one would hide it. "[/]"
    // matches "/" but not itself, so the shell running this script (its text in a `sh -c`) is not taken for one.
    `pgrep -f ${shq(`[/]${n.runDir.slice(1)}/`)} >/dev/null && echo "processes under ${n.runDir}"`,
    `true`,
  ].join('\n');
}

/** A netns lab on one machine (this host, or the VM over SSH). */
export class NetnsLab {
  readonly names: NetnsNames;
  readonly httpd: HttpdLayout;
  readonly transport: Transport;

  constructor(
    readonly machine: Shell,
    readonly lab: Lab,
  ) {
    this.names = netnsNames(lab);
    this.httpd = instanceLayout(lab);
    this.transport = netnsTransport(machine, this.names.namespace);
  }

  async build(): Promise<void> {
    await runSteps('machine', networkSteps(this.lab), (cmd, options) => this.machine.exec(cmd, options));
  }

  async teardown(): Promise<void> {
    const res = await this.machine.exec(teardownScript(this.lab));
    const left = await this.leftovers();
    if (left.length > 0)
      throw new Error(`lab ${this.lab.name}: teardown left ${left.join(', ')} (${res.stderr.trim()})`);
  }

  async leftovers(): Promise<string[]> {
    const res = await this.machine.exec(leftoversScript(this.lab));
    return res.stdout.split('\n').filter(Boolean);
  }

  async exists(): Promise<boolean> {
    return (await this.machine.exec(`ip link show ${this.names.bridge} >/dev/null 2>&1`)).code === 0;
  }
}

/** Realservers sharing one filesystem: one apache2 instance each, under the lab's run directory. */
export const instanceLayout = (lab: Lab): HttpdLayout => ({ kind: 'instance', root: netnsNames(lab).runDir });

/** Script lines printing `exists: ...` for each name the lab would take on its machine that is taken already. */
function freeNameChecks(lab: Lab): string[] {
  const n = netnsNames(lab);
  return [
    ...hostsOf(lab).map(
      (h) =>
        `[ -e /run/netns/${n.namespace(h.name)} ] && echo "exists: namespace ${n.namespace(h.name)} is already there"`,
    ),
    ...[n.bridge, ...(lab.forwarding === 'nat' ? [n.outsideBridge] : [])].map(
      (b) => `[ -e /sys/class/net/${b} ] && echo "exists: link ${b} is already there"`,
    ),
  ];
}

/** Throws PreflightError unless `machine` can host this netns lab (tools, IPVS, the lab's names free). */
export const netnsPreflight = (machine: Shell, lab: Lab, { rebuilding = false } = {}): Promise<void> =>
  preflightMachine(machine, lab, { rebuilding, nameChecks: freeNameChecks(lab) });

/** A session on a netns lab on `machine`: this host (the netns testbed), or the VM over SSH (the vm testbed). */
export function netnsSession(machine: Shell, lab: Lab): TestbedSession {
  const netns = new NetnsLab(machine, lab);
  return {
    where: machine.where,
    transport: netns.transport,
    httpd: netns.httpd,
    machine,
    preflight: ({ rebuilding }) => netnsPreflight(machine, lab, { rebuilding }),
    power: netnsPower(machine, lab),
    buildNetwork: async () => {
      await netns.build();
      return `bridge ${netns.names.bridge}, ${hostsOf(lab).length} namespaces on ${machine.where}`;
    },
    close: () => machine.close(),
  };
}

/** The netns testbed: the lab's hosts are namespaces on this host, whose kernel must have IPVS. */
export const netnsTestbed: Testbed<undefined> = {
  kind: 'netns',
  suits: async () => ((await kernelHasIpvs(new LocalShell())) ? "this host's kernel has IPVS" : undefined),
  readOwn: (raw) => {
    if (raw !== undefined) throw new Error('(record): a netns lab records nothing of its own');
    return undefined;
  },
  httpdLayout: instanceLayout,
  // The session's preflight checks everything (tools, kernel, free names) before anything is created.
  checkHost: async () => {},
  create: (lab) => Promise.resolve(netnsSession(new LocalShell(), lab)),
  open: (lab) => Promise.resolve(netnsSession(new LocalShell(), lab)),
  destroy: async (lab, _own, log) => {
    await new NetnsLab(new LocalShell(), lab).teardown();
    log(`removed lab ${lab.name}: namespaces, links and httpd processes`);
  },
  leftovers: (lab) => new NetnsLab(new LocalShell(), lab).leftovers(),
  sweep: async (lab) => {
    const netns = new NetnsLab(new LocalShell(), lab);
    const left = await netns.leftovers();
    if (left.length > 0) await netns.teardown();
    return left;
  },
  describe: () => 'netns on this host',
};
