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

function gatewayFor(lab: Lab, subnet = lab.subnet): string {
  const used = new Set([lab.vip, ...hostsOf(lab).map((h) => h.ip), ...(lab.outside ? [lab.outside.directorIp] : [])]);
  const n = ipToNumber(ipaddr.IPv4.broadcastAddressFromCIDR(subnet).toString());
  for (let candidate = n - 1; ; candidate--) {
    const ip = numberToIp(candidate);
    if (!used.has(ip)) return ip; // the model keeps at least one free (hosts are far fewer than addresses)
  }
}

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
