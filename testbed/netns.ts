// The netns testbed: a Linux bridge as the lab's switch and one network namespace per host, its interface named
// eth0 so the seed's commands apply as written. Nothing connects it to the machine's own network: the bridge has
// no address and no namespace has a route out.
import { hostsOf, type Lab } from '../model/topology.js';
import type { HttpdLayout } from '../provision/httpd.js';
import { runSteps } from '../provision/apply.js';
import type { Step } from '../provision/plan.js';
import { shq, type Shell } from '../provision/shell.js';
import { netnsTransport, type Transport } from '../provision/transport.js';

export interface NetnsNames {
  bridge: string;
  namespace: (host: string) => string;
  /** The host-side end of a host's veth pair; the other end is eth0 in its namespace. */
  veth: (index: number) => string;
  /** httpd instances, captures and other files of the lab's hosts. */
  runDir: string;
}

export function netnsNames(lab: Lab): NetnsNames {
  return {
    bridge: `${lab.name}-br`,
    namespace: (host) => `${lab.name}-${host}`,
    veth: (index) => `${lab.name}-v${index}`,
    runDir: `/run/lvs-lab/${lab.name}`,
  };
}

/** Locally administered MACs that spell the host's IPv4 address, so captures read at a glance. */
export function macFor(ip: string): string {
  return ['02', '00', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

/** The commands that build the lab's L2 network. Hosts attach in model order: client, director, realservers. */
export function networkSteps(lab: Lab): Step[] {
  const n = netnsNames(lab);
  const steps: Step[] = [
    { command: `ip link add ${n.bridge} type bridge`, unless: `ip link show ${n.bridge} >/dev/null 2>&1` },
    { command: `ip link set ${n.bridge} up` },
  ];
  hostsOf(lab).forEach((host, i) => {
    const ns = n.namespace(host.name);
    const veth = n.veth(i);
    const cidr = `${host.ip}/${lab.prefixLength}`;
    steps.push(
      { command: `ip netns add ${ns}`, unless: `test -e /run/netns/${ns}` },
      {
        command: `ip link add ${veth} type veth peer name eth0 address ${macFor(host.ip)} netns ${ns}`,
        unless: `ip link show ${veth} >/dev/null 2>&1`,
      },
      { command: `ip link set ${veth} master ${n.bridge} up` },
      { command: `ip -n ${ns} link set lo up` },
      { command: `ip -n ${ns} addr add ${cidr} dev eth0`, unless: `ip -n ${ns} -4 -o addr show dev eth0 | grep -q ' inet ${cidr} '` },
      { command: `ip -n ${ns} link set eth0 up` },
    );
  });
  return steps;
}

/** One script that removes everything networkSteps and the lab's hosts created, tolerating parts already gone. */
export function teardownScript(lab: Lab): string {
  const n = netnsNames(lab);
  const namespaces = hostsOf(lab).map((h) => n.namespace(h.name));
  const veths = hostsOf(lab).map((_, i) => n.veth(i));
  return [
    // A namespace outlives `ip netns del` while a process (httpd) still runs in it, so end those first.
    `for ns in ${namespaces.join(' ')}; do`,
    `  [ -e /run/netns/$ns ] || continue`,
    `  pids=$(ip netns pids $ns); [ -n "$pids" ] && kill $pids 2>/dev/null`,
    `  i=0; while [ -n "$(ip netns pids $ns)" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done`,
    `  pids=$(ip netns pids $ns); [ -n "$pids" ] && kill -9 $pids 2>/dev/null`,
    `  ip netns del $ns`,
    `done`,
    `for link in ${veths.join(' ')} ${n.bridge}; do ip link show $link >/dev/null 2>&1 && ip link del $link; done`,
    `rm -rf ${shq(n.runDir)}`,
    `true`,
  ].join('\n');
}

/** What of this lab exists on the machine: namespaces, links, run dir. Empty means fully gone. */
export function leftoversScript(lab: Lab): string {
  const n = netnsNames(lab);
  const namespaces = hostsOf(lab).map((h) => n.namespace(h.name));
  const links = [...hostsOf(lab).map((_, i) => n.veth(i)), n.bridge];
  return [
    `for ns in ${namespaces.join(' ')}; do [ -e /run/netns/$ns ] && echo "namespace $ns"; done`,
    `for link in ${links.join(' ')}; do ip link show $link >/dev/null 2>&1 && echo "link $link"; done`,
    `[ -e ${shq(n.runDir)} ] && echo "directory ${n.runDir}"`,
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
    this.httpd = { kind: 'instance', root: this.names.runDir };
    this.transport = netnsTransport(machine, this.names.namespace);
  }

  async build(): Promise<void> {
    await runSteps('machine', networkSteps(this.lab), (cmd) => this.machine.exec(cmd));
  }

  async teardown(): Promise<void> {
    const res = await this.machine.exec(teardownScript(this.lab));
    const left = await this.leftovers();
    if (left.length > 0) throw new Error(`lab ${this.lab.name}: teardown left ${left.join(', ')} (${res.stderr.trim()})`);
  }

  async leftovers(): Promise<string[]> {
    const res = await this.machine.exec(leftoversScript(this.lab));
    return res.stdout.split('\n').filter(Boolean);
  }

  async exists(): Promise<boolean> {
    return (await this.machine.exec(`ip link show ${this.names.bridge} >/dev/null 2>&1`)).code === 0;
  }
}
