// Addressing helpers every testbed shares: IPv4 as numbers, and the MAC scheme of lab hosts.
import ipaddr from 'ipaddr.js';

export const ipToNumber = (ip: string): number =>
  ipaddr.IPv4.parse(ip)
    .toByteArray()
    .reduce((acc, b) => acc * 256 + b, 0);
export const numberToIp = (n: number): string =>
  [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');

/** An IPv4 address's four octets, two hex digits each (lowercase): "192.168.170.100" → c0 a8 aa 64. */
export const hexOctets = (ip: string): string[] => ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'));

/** Locally administered MACs that spell the host's IPv4 address, so captures read at a glance. */
export function macFor(ip: string): string {
  return ['02', '00', ...hexOctets(ip)].join(':');
}
