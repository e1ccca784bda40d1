// tcpdump's lines (-tt -e -n) as frames: who sent each (MAC), to whom, what it carried (ARP, TCP with its flags, or
// TCP inside IP-in-IP), on which host and interface it was seen, and when.
export interface SeenFrame {
  /** Seconds since the epoch, as tcpdump -tt prints them (one clock for namespaces and containers of one kernel). */
  t: number;
  host: string;
  dev: string;
  srcMac: string;
  dstMac: string;
  kind: 'arp' | 'tcp';
  /** ARP: who-has (request) or is-at (reply), the address asked for, and the MAC a reply gives. */
  arp?: { op: 'request' | 'reply'; target: string; mac?: string; sender?: string };
  /** TCP: addresses and ports, flags as tcpdump writes them (S, S., ., P., F.), payload length. */
  tcp?: { src: string; sport: number; dst: string; dport: number; flags: string; length: number };
  /** IP-in-IP: the outer header around the TCP segment. */
  outer?: { src: string; dst: string };
  line: string;
}

const HEAD =
  /^(\d+\.\d+) ([0-9a-f:]{17}) > ([0-9a-f:]{17}), ethertype (ARP|IPv4) \(0x0[0-9a-f]{3}\), length \d+: (.*)$/;
const ARP_REQUEST = /^Request who-has (\S+) tell (\S+),/;
const ARP_REPLY = /^Reply (\S+) is-at ([0-9a-f:]{17}),/;
const IP = '(\\d+\\.\\d+\\.\\d+\\.\\d+)';
const TCP = new RegExp(`^${IP}\\.(\\d+) > ${IP}\\.(\\d+): Flags \\[([^\\]]*)\\].*?length (\\d+)`);
const IPIP = new RegExp(`^${IP} > ${IP}: (.*)$`);

function tcpOf(text: string): SeenFrame['tcp'] {
  const m = TCP.exec(text);
  return m
    ? { src: m[1], sport: Number(m[2]), dst: m[3], dport: Number(m[4]), flags: m[5], length: Number(m[6]) }
    : undefined;
}

/** One line of `tcpdump -tt -e -n` on `host`'s `dev`; undefined for what is neither ARP nor TCP. */
export function parseFrame(line: string, host: string, dev: string): SeenFrame | undefined {
  const m = HEAD.exec(line);
  if (!m) return undefined;
  const base = { t: Number(m[1]), host, dev, srcMac: m[2], dstMac: m[3], line };
  const rest = m[5];
  if (m[4] === 'ARP') {
    const req = ARP_REQUEST.exec(rest);
    if (req) return { ...base, kind: 'arp', arp: { op: 'request', target: req[1], sender: req[2] } };
    const rep = ARP_REPLY.exec(rest);
    return rep ? { ...base, kind: 'arp', arp: { op: 'reply', target: rep[1], mac: rep[2] } } : undefined;
  }
  const direct = tcpOf(rest);
  if (direct) return { ...base, kind: 'tcp', tcp: direct };
  const ipip = IPIP.exec(rest);
  const inner = ipip && tcpOf(ipip[3]);
  return inner ? { ...base, kind: 'tcp', tcp: inner, outer: { src: ipip[1], dst: ipip[2] } } : undefined;
}

/** Every host's frames in one timeline, oldest first (a frame seen on two hosts appears twice, once each). */
export function timeline(captures: Array<{ host: string; dev: string; lines: string[] }>): SeenFrame[] {
  return captures
    .flatMap((c) => c.lines.flatMap((l) => parseFrame(l, c.host, c.dev) ?? []))
    .sort((a, b) => a.t - b.t || a.host.localeCompare(b.host));
}
