// The docker CLI command lines that create and remove a Docker lab's objects. Pure: the engine runs them.
import { shq } from '../../provision/shell.js';
import type { ContainerSpec, ImageSpec, NetworkSpec } from './spec.js';

const labelArgs = (labels: Record<string, string>) => Object.entries(labels).map(([k, v]) => `--label ${shq(`${k}=${v}`)}`);

/**
 * --internal: no NAT, no route off the bridge; the lab stays inside the engine's machine. Then one rule: with
 * br_netfilter, Docker's isolation drops bridged frames whose source is outside the network's subnet, which is what
 * NAT's forwarded requests are (the client's address, on the realservers' bridge). Frames that enter and leave the
 * lab's own bridge are accepted, in DOCKER-USER, Docker's chain for such rules; nothing new can leave the bridge.
 */
export const networkCreate = (n: NetworkSpec): string =>
  [
    [
      'docker network create --driver bridge --internal',
      `--subnet ${n.subnet} --gateway ${n.gateway} -o com.docker.network.bridge.name=${n.bridge}`,
      ...labelArgs(n.labels),
      shq(n.name),
    ].join(' '),
    `{ iptables -C ${withinBridge(n.bridge)} 2>/dev/null || iptables -I ${withinBridge(n.bridge)}; }`,
  ].join(' && ');

const withinBridge = (bridge: string) => `DOCKER-USER -i ${bridge} -o ${bridge} -j ACCEPT`;

export const networkRemove = (n: Pick<NetworkSpec, 'name' | 'bridge'>): string =>
  `while iptables -D ${withinBridge(n.bridge)} 2>/dev/null; do :; done; ` +
  `docker network rm ${shq(n.name)} >/dev/null 2>&1 || ! docker network inspect ${shq(n.name)} >/dev/null 2>&1`;

/** The Dockerfile goes on standard input: it needs no build context, so the engine may be on another machine. */
export const imageBuild = (i: ImageSpec): string =>
  ['docker build -q', `--build-arg BASE=${shq(i.base)}`, ...labelArgs(i.labels), `-t ${shq(i.tag)} -`].join(' ');

export const imageRemove = (tag: string): string => `docker rmi ${shq(tag)} >/dev/null 2>&1 || ! docker image inspect ${shq(tag)} >/dev/null 2>&1`;

export const containerRun = (c: ContainerSpec, network: string, image: string): string =>
  [
    'docker run -d --privileged',
    `--name ${shq(c.name)} --hostname ${shq(c.hostname)}`,
    `--network ${shq(network)} --ip ${c.ip} --mac-address ${c.mac}`,
    ...labelArgs(c.labels),
    ...Object.entries(c.sysctls).map(([k, v]) => `--sysctl ${k}=${v}`),
    shq(image),
  ].join(' ');

export const containerRemove = (name: string): string => `docker rm -f ${shq(name)} >/dev/null 2>&1 || ! docker container inspect ${shq(name)} >/dev/null 2>&1`;

/** NAT's director: its second interface (eth1) on the outside network, after the container started. */
export const networkConnect = (network: string, container: string, ip: string): string =>
  `docker network connect --ip ${ip} ${shq(network)} ${shq(container)}`;
