// model -> the Docker objects of a Docker lab: one internal bridge network, one node image, one privileged
// container per host. Pure, so the Pulumi component, the CLI and the tests agree on every name and address.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import ipaddr from 'ipaddr.js';
import { hostsOf, type Lab, type Role } from '../model/topology.js';
import type { HttpdLayout } from '../provision/httpd.js';
import { ipToNumber, macFor, numberToIp } from '../model/addressing.js';

export const DOCKERFILE = readFileSync(new URL('./Dockerfile', import.meta.url), 'utf8');
/** The base where a registry is reachable; the engine VM imports its own root filesystem as BASE_IMAGE_LOCAL. */
export const BASE_IMAGE_DEFAULT = 'debian:bookworm';
export const BASE_IMAGE_LOCAL = 'lvs-lab/base:bookworm';
/** Containers each have a filesystem of their own, so realservers run Debian's stock apache2. */
export const DOCKER_HTTPD: HttpdLayout = { kind: 'system' };
export const LABEL = { lab: 'lvs-lab.lab', role: 'lvs-lab.role', host: 'lvs-lab.host' } as const;

export interface NetworkSpec {
  name: string;
  /** The Linux bridge's name on the engine's machine, set rather than generated so rules can name it. */
  bridge: string;
  subnet: string;
  /** Docker's IPAM needs one address for the bridge itself: the highest the lab does not use. */
  gateway: string;
  labels: Record<string, string>;
  /** The links' MTU, lowered when the segment is carried by VXLAN between engines. */
  mtu?: number;
}

export interface ImageSpec {
  /** The lab's name and a digest of Dockerfile and base: a new Dockerfile or base is a new image. */
  tag: string;
  labels: Record<string, string>;
  base: string;
  /** The build context, relative to the project (the Pulumi program's directory): it holds the Dockerfile. */
  context: string;
  dockerfile: string;
}

export interface ContainerSpec {
  host: string;
  role: Role;
  name: string;
  hostname: string;
  /** The network its eth0 is on: the lab's, or (NAT's client) the outside one. */
  network: 'lab' | 'outside';
  ip: string;
  mac: string;
  /** NAT's director: its address on the outside network, connected after start as eth1. */
  outsideIp?: string;
  labels: Record<string, string>;
  /**
   * Applied by Docker at create time. Only `all` and global keys: a per-interface (eth0) key fails there, since
   * Docker sets sysctls before it moves eth0 into the container (moby#33478); the plan sets those.
   */
  sysctls: Record<string, string>;
}

export interface DockerLabSpec {
  network: NetworkSpec;
  /** NAT only: the client's network behind the director. */
  outside?: NetworkSpec;
  image: ImageSpec;
  containers: ContainerSpec[];
}

export const containerName = (lab: string, host: string): string => `lvs-lab-${lab}-${host}`;

/** The highest address the lab does not use (`skip` more down: each engine's bridge of one segment its own). */
function gatewayFor(lab: Lab, subnet = lab.subnet, skip = 0): string {
  const used = new Set([lab.vip, ...hostsOf(lab).map((h) => h.ip), ...(lab.outside ? [lab.outside.directorIp] : [])]);
  const n = ipToNumber(ipaddr.IPv4.broadcastAddressFromCIDR(subnet).toString());
  for (let candidate = n - 1, free = 0; ; candidate--) {
    const ip = numberToIp(candidate);
    if (!used.has(ip) && free++ === skip) return ip; // the model keeps enough free (hosts are far fewer than addresses)
  }
}

/** VXLAN's 50 bytes (outer IPv4, UDP, VXLAN header, inner Ethernet) inside an underlay's 1500. */
export const SPANNED_MTU = 1450;

/** The lab's network on the `index`th engine of several: a gateway of its own (one segment, several bridges) and an
 * MTU the tunnel carries. */
export const spannedNetwork = (n: NetworkSpec, lab: Lab, index: number): NetworkSpec => ({
  ...n,
  gateway: gatewayFor(lab, n.subnet, index),
  mtu: SPANNED_MTU,
});

/** One engine's end of the tunnels that make the lab's bridges on several engines one segment. */
export interface StitchSpec {
  bridge: string;
  /** The VXLAN link on the engine's machine: one per lab. */
  device: string;
  /** One per lab, from its name: two labs' tunnels never carry each other's frames. */
  vni: number;
  /** This engine's underlay address, and the others' (head-end replication: a copy of each flood to each). */
  local: string;
  remotes: string[];
  mtu: number;
}

export const VXLAN_PORT = 4789;

export function stitchOf(lab: Lab, local: string, remotes: string[], bridge: string): StitchSpec {
  const vni = (createHash('sha256').update(lab.name).digest().readUInt32BE(0) % 0xfffffe) + 1;
  return { bridge, device: `lvsvx-${lab.name}`, vni, local, remotes: [...remotes].sort(), mtu: SPANNED_MTU };
}

/** Makes the engine's end anew (a learning VXLAN port of the lab's bridge, an all-zero FDB entry per other engine). */
export const stitchUp = (s: StitchSpec): string =>
  [
    `{ ip link del ${s.device} 2>/dev/null || true; }`,
    `ip link add ${s.device} type vxlan id ${s.vni} local ${s.local} dstport ${VXLAN_PORT} learning`,
    ...s.remotes.map((r) => `bridge fdb append 00:00:00:00:00:00 dev ${s.device} dst ${r}`),
    `ip link set ${s.device} mtu ${s.mtu} master ${s.bridge} up`,
  ].join(' && ');

export const stitchDown = (s: Pick<StitchSpec, 'device'>): string => `ip link del ${s.device} 2>/dev/null; true`;

/** Exit 0 when the engine's end is there as specified: the link with its VNI, on the bridge, and each remote. */
export const stitchThere = (s: StitchSpec): string =>
  [
    `ip -d link show ${s.device} | grep -q 'vxlan id ${s.vni} '`,
    `[ "$(basename "$(readlink /sys/class/net/${s.device}/master)")" = ${s.bridge} ]`,
    ...s.remotes.map((r) => `bridge fdb show dev ${s.device} | grep -q '^00:00:00:00:00:00 dst ${r} '`),
  ].join(' && ');

/**
 * What Docker can set at create time; NAT's realservers need none of the VIP-hiding keys. Every host but a director
 * gets ip_forward 0, as a host has it: a container's namespace would inherit the engine's 1 (Docker's own), and a
 * realserver handed a packet that is not for it would route it back out instead of dropping it.
 */
function sysctlsFor(role: Role, lab: Lab): Record<string, string> {
  if (role === 'director') return { 'net.ipv4.ip_forward': '1' };
  if (role === 'realserver' && lab.forwarding !== 'nat')
    return {
      'net.ipv4.ip_forward': '0',
      'net.ipv4.conf.all.arp_ignore': '1',
      'net.ipv4.conf.all.arp_announce': '2',
      'net.ipv4.conf.all.rp_filter': '0',
    };
  return { 'net.ipv4.ip_forward': '0' };
}

/** `context`: where docker/ is, relative to the directory the image is built from (the Pulumi program's). */
export function dockerLabSpec(lab: Lab, base = BASE_IMAGE_DEFAULT, context = 'docker'): DockerLabSpec {
  const labels = { [LABEL.lab]: lab.name };
  const digest = createHash('sha256').update(base).update('\0').update(DOCKERFILE).digest('hex').slice(0, 12);
  const nat = lab.forwarding === 'nat' ? lab.outside : undefined;
  return {
    network: {
      name: `lvs-lab-${lab.name}`,
      bridge: `lvs-${lab.name}`,
      subnet: lab.subnet,
      gateway: gatewayFor(lab),
      labels,
    },
    ...(nat
      ? {
          outside: {
            name: `lvs-lab-${lab.name}-out`,
            bridge: `lvs-${lab.name}-o`,
            subnet: nat.subnet,
            gateway: gatewayFor(lab, nat.subnet),
            labels,
          },
        }
      : {}),
    image: { tag: `lvs-lab/node:${lab.name}-${digest}`, labels, base, context, dockerfile: DOCKERFILE },
    containers: hostsOf(lab).map((h) => ({
      host: h.name,
      role: h.role,
      name: containerName(lab.name, h.name),
      hostname: h.name,
      network: nat && h.role === 'client' ? 'outside' : 'lab',
      ip: h.ip,
      mac: macFor(h.ip),
      ...(nat && h.role === 'director' ? { outsideIp: nat.directorIp } : {}),
      labels: { ...labels, [LABEL.role]: h.role, [LABEL.host]: h.name },
      sysctls: sysctlsFor(h.role, lab),
    })),
  };
}

const withinBridge = (bridge: string) => `DOCKER-USER -i ${bridge} -o ${bridge} -j ACCEPT`;
/** NAT's rule on the engine's machine (see infra/resources.ts, BridgeRule): added once, removed every time. */
export const bridgeRuleAdd = (bridge: string): string =>
  `iptables -C ${withinBridge(bridge)} 2>/dev/null || iptables -I ${withinBridge(bridge)}`;
export const bridgeRuleRemove = (bridge: string): string =>
  `while iptables -D ${withinBridge(bridge)} 2>/dev/null; do :; done`;
