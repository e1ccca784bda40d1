// The docker CLI command lines that create and remove a Docker lab's objects. Pure: the engine runs them.
import { shq } from '../../provision/shell.js';
import type { ContainerSpec, ImageSpec, NetworkSpec } from './spec.js';

const labelArgs = (labels: Record<string, string>) => Object.entries(labels).map(([k, v]) => `--label ${shq(`${k}=${v}`)}`);

export const networkCreate = (n: NetworkSpec): string =>
  // --internal: no NAT, no route off the bridge; the lab stays inside the engine's machine.
  ['docker network create --driver bridge --internal', `--subnet ${n.subnet} --gateway ${n.gateway}`, ...labelArgs(n.labels), shq(n.name)].join(' ');

export const networkRemove = (name: string): string => `docker network rm ${shq(name)} >/dev/null 2>&1 || ! docker network inspect ${shq(name)} >/dev/null 2>&1`;

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
