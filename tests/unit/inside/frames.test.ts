// tcpdump's lines (-tt -e -n) as frames: ARP requests and replies, TCP with flags and payload, TCP inside IP-in-IP.
import { describe, expect, it } from 'vitest';
import { parseFrame, timeline } from '../../../inside/frames.js';

const ARP_REQ =
  '1765100000.100000 02:00:c0:a8:aa:0a > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 192.168.170.100 tell 192.168.170.10, length 28';
const ARP_REP =
  '1765100000.100300 02:00:c0:a8:aa:65 > 02:00:c0:a8:aa:0a, ethertype ARP (0x0806), length 42: Reply 192.168.170.100 is-at 02:00:c0:a8:aa:65, length 28';
const SYN =
  '1765100000.101000 02:00:c0:a8:aa:0a > 02:00:c0:a8:aa:65, ethertype IPv4 (0x0800), length 74: 192.168.170.10.41234 > 192.168.170.100.80: Flags [S], seq 1, win 64240, options [mss 1460], length 0';
const GET =
  '1765100000.102000 02:00:c0:a8:aa:0a > 02:00:c0:a8:aa:65, ethertype IPv4 (0x0800), length 146: 192.168.170.10.41234 > 192.168.170.100.80: Flags [P.], seq 1:81, ack 1, win 502, length 80: HTTP: GET / HTTP/1.1';
const IPIP =
  '1765100000.101200 02:00:c0:a8:aa:65 > 02:00:c0:a8:aa:66, ethertype IPv4 (0x0800), length 94: 192.168.170.101 > 192.168.170.102: 192.168.170.10.41234 > 192.168.170.100.80: Flags [S], seq 1, win 64240, length 0';

describe('tcpdump frames', () => {
  it('ARP requests and replies, with the address asked for and the MAC given', () => {
    expect(parseFrame(ARP_REQ, 'client', 'eth0')).toMatchObject({
      srcMac: '02:00:c0:a8:aa:0a',
      dstMac: 'ff:ff:ff:ff:ff:ff',
      kind: 'arp',
      arp: { op: 'request', target: '192.168.170.100', sender: '192.168.170.10' },
    });
    expect(parseFrame(ARP_REP, 'client', 'eth0')?.arp).toEqual({
      op: 'reply',
      target: '192.168.170.100',
      mac: '02:00:c0:a8:aa:65',
    });
  });

  it('TCP with its flags and payload length; IP-in-IP with the outer header', () => {
    expect(parseFrame(SYN, 'director', 'eth0')?.tcp).toEqual({
      src: '192.168.170.10',
      sport: 41234,
      dst: '192.168.170.100',
      dport: 80,
      flags: 'S',
      length: 0,
    });
    expect(parseFrame(GET, 'client', 'eth0')?.tcp).toMatchObject({ flags: 'P.', length: 80 });
    const tunnelled = parseFrame(IPIP, 'rs1', 'eth0')!;
    expect(tunnelled.outer).toEqual({ src: '192.168.170.101', dst: '192.168.170.102' });
    expect(tunnelled.tcp).toMatchObject({ dst: '192.168.170.100', flags: 'S' });
    expect(parseFrame('listening on eth0, link-type EN10MB', 'x', 'eth0')).toBeUndefined();
  });

  it('one timeline over every host, oldest first', () => {
    const frames = timeline([
      { host: 'director', dev: 'eth0', lines: [SYN, GET] },
      { host: 'client', dev: 'eth0', lines: [ARP_REQ, ARP_REP] },
      { host: 'rs1', dev: 'eth0', lines: [IPIP] },
    ]);
    expect(frames.map((f) => `${f.host}:${f.kind}`)).toEqual([
      'client:arp',
      'client:arp',
      'director:tcp',
      'rs1:tcp',
      'director:tcp',
    ]);
  });
});
