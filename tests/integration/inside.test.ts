// Working inside the test lab as a user does, through the CLI: exec (exit status and output, every host), shell
// (driven through a pseudo-terminal by `script`), observe, capture (pcaps read back here, byte by byte), graph; and
// the refusals: an unknown host, a lab that is not up, a capture naming a host that does not exist (no tcpdump left).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LabSession } from '../../lab/lifecycle.js';
import { labs } from '../labs.js';
import { macsOf } from '../../verify/probes.js';
import { cli, cliInTerminal, TEST_LAB } from './lab.js';

const lab = TEST_LAB;
let s: LabSession;
let macs: Map<string, string>;
let dir: string;

beforeAll(async () => {
  s = await labs.connect(lab.name);
  macs = await macsOf(s);
  dir = mkdtempSync(join(tmpdir(), 'lvs-lab-inside-'));
});
afterAll(async () => {
  await s?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Ethernet frames of a pcap file (libpcap format, as tcpdump -w writes it): MACs, IPv4 addresses, TCP ports. */
function pcapFrames(file: string) {
  const b = readFileSync(file);
  expect(b.readUInt32LE(0)).toBe(0xa1b2c3d4); // libpcap magic, microseconds
  expect(b.readUInt32LE(20)).toBe(1); // link type: Ethernet
  const mac = (o: number) => [...b.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
  const ip = (o: number) => [...b.subarray(o, o + 4)].join('.');
  const frames = [];
  for (let o = 24; o + 16 <= b.length;) {
    const len = b.readUInt32LE(o + 8);
    const f = o + 16;
    if (b.readUInt16BE(f + 12) === 0x0800 && b[f + 23] === 6) {
      const ihl = (b[f + 14] & 0x0f) * 4;
      frames.push({
        dst: mac(f),
        src: mac(f + 6),
        srcIp: ip(f + 26),
        dstIp: ip(f + 30),
        srcPort: b.readUInt16BE(f + 14 + ihl),
        dstPort: b.readUInt16BE(f + 16 + ihl),
      });
    }
    o = f + len;
  }
  return frames;
}

describe('exec', () => {
  it("runs a command on a host and exits with the command's status and output", async () => {
    const table = await cli(['exec', 'director', '--name', lab.name, '--', 'ipvsadm', '-Ln']);
    expect(table.exitCode).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`TCP  ${lab.vip.replace(/\./g, '\\.')}:80 rr`));
    const failing = await cli([
      'exec',
      'rs1',
      '--name',
      lab.name,
      '--',
      'sh',
      '-c',
      'cat /proc/sys/net/ipv4/conf/all/arp_ignore; exit 3',
    ]);
    expect(failing.exitCode).toBe(3);
    expect(failing.stdout.trim()).toBe('1');
  });

  it('passes each word as given, as docker exec does: spaces, quotes and $ arrive intact', async () => {
    const two = await cli(['exec', 'client', '--name', lab.name, '--', 'sh', '-c', 'echo one; echo two']);
    expect(two.stdout).toBe('one\ntwo\n');
    const words = await cli(['exec', 'client', '--name', lab.name, '--', 'echo', 'a  b', '$HOME', "it's"]);
    expect(words.stdout).toBe("a  b $HOME it's\n");
  });

  it('--all runs it on every host, each line prefixed with its host', async () => {
    const res = await cli(['exec', '--all', '--name', lab.name, '--', 'cat', '/sys/class/net/eth0/address']);
    expect(res.exitCode).toBe(0);
    expect(res.stdout.trim().split('\n').sort()).toEqual([...macs].map(([h, m]) => `${h}| ${m}`).sort());
  });

  it('refuses an unknown host and a lab that is not up, with exit status 2', async () => {
    const unknown = await cli(['exec', 'rs9', '--name', lab.name, '--', 'true']);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain(
      `error: host "rs9" is not in lab ${lab.name} (its hosts: client, director, rs1, rs2)`,
    );
    const down = await cli(['exec', 'director', '--name', 'nolab', '--', 'true']);
    expect(down.exitCode).toBe(2);
    expect(down.stderr).toContain('error: no lab named "nolab" is up');
  });
});

describe('shell', () => {
  it('gives an interactive shell with a terminal whose prompt names the host; `exit` leaves it', async () => {
    // `script` gives the CLI a pseudo-terminal and types what comes on its standard input.
    const res = await cliInTerminal(
      ['shell', 'director', '--name', lab.name],
      'cat /sys/class/net/eth0/address; tty\nexit\n',
    );
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toContain(`[lvs-lab ${lab.name}:director]`);
    expect(res.stdout).toContain(macs.get('director'));
    expect(res.stdout).toMatch(/\/dev\/pts\/\d+/); // the host's shell has a terminal of its own
  });
});

describe('observe', () => {
  it("shows the requests in the director's connection table and the client's address in a realserver's sockets", async () => {
    const res = await cli(['observe', '--name', lab.name, '--requests', '5']);
    expect(res.exitCode).toBe(0);
    const section = (header: string) => res.stdout.split('\n== ').find((part) => part.startsWith(header)) ?? '';
    // every request is one connection from the client to the VIP, forwarded to a realserver
    const conns = section('director# ipvsadm -lnc')
      .split('\n')
      .filter((l) => l.includes(`${lab.client.ip}:`) && l.includes(`${lab.vip}:80`));
    expect(conns.length).toBeGreaterThanOrEqual(5);
    expect(conns.every((l) => lab.realservers.some((r) => l.includes(`${r.ip}:80`)))).toBe(true);
    expect(section('rs1# netstat')).toMatch(
      new RegExp(`${lab.vip.replace(/\./g, '\\.')}:80\\s+${lab.client.ip.replace(/\./g, '\\.')}:\\d+`),
    );
    expect(section('director# netstat')).toContain('(no TCP socket on port 80)');
    expect(section('client# arp -an')).toContain(`(${lab.vip}) at ${macs.get('director')}`);
    expect(res.stdout).toContain("-> the client's ARP entry for the VIP is the director's MAC");
  });
});

describe('capture', () => {
  it("writes a pcap per host: requests to the director's MAC, forwarded to a realserver's unchanged, replies from it", async () => {
    const out = join(dir, 'pcaps');
    const res = await cli([
      'capture',
      '--name',
      lab.name,
      '--requests',
      '4',
      '--hosts',
      'client,director,rs1',
      '--out',
      out,
    ]);
    expect(res.exitCode, res.stderr).toBe(0);
    const client = pcapFrames(join(out, 'client.pcap'));
    const toVip = client.filter((f) => f.dstIp === lab.vip && f.dstPort === 80);
    const replies = client.filter((f) => f.srcIp === lab.vip && f.srcPort === 80);
    expect(toVip.length).toBeGreaterThanOrEqual(4 * 3);
    expect(new Set(toVip.map((f) => f.dst))).toEqual(new Set([macs.get('director')]));
    expect(new Set(replies.map((f) => f.src))).toEqual(new Set(lab.realservers.map((r) => macs.get(r.name))));
    // On the director: each request arrives for its MAC and leaves for a realserver's, the IP header as it came.
    const director = pcapFrames(join(out, 'director.pcap')).filter(
      (f) => f.dstIp === lab.vip && f.srcIp === lab.client.ip,
    );
    expect(
      director.some((f) => f.src === macs.get('director') && lab.realservers.some((r) => f.dst === macs.get(r.name))),
    ).toBe(true);
    expect(director.some((f) => f.dst === macs.get('director'))).toBe(true);
    const rs1 = pcapFrames(join(out, 'rs1.pcap'));
    expect(rs1.some((f) => f.dst === macs.get('rs1') && f.dstIp === lab.vip)).toBe(true);
    // the summary is tcpdump's own reading of the same files
    expect(res.stdout).toMatch(new RegExp(`${macs.get('client')} > ${macs.get('director')}, ethertype IPv4`));
    expect((await s.transport.run('director', 'pgrep -x tcpdump || true')).stdout.trim()).toBe('');
  });

  it('refuses a host the lab does not have before starting any capture, and leaves no tcpdump running', async () => {
    const res = await cli(['capture', '--name', lab.name, '--hosts', 'director,nosuch', '--out', join(dir, 'none')]);
    expect(res.exitCode).toBe(2);
    expect(res.stderr).toContain('error: host "nosuch" is not in lab');
    for (const h of ['client', 'director'])
      expect((await s.transport.run(h, 'pgrep -x tcpdump || true')).stdout.trim(), h).toBe('');
  });
});

describe('graph', () => {
  it('draws the running lab: an SVG with every host IP and live MAC, and a PNG beside it', async () => {
    const out = join(dir, 'lab.svg');
    const res = await cli(['graph', '--name', lab.name, '--out', out]);
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stdout).toContain('live MACs from the running lab');
    const svg = readFileSync(out, 'utf8');
    for (const h of [lab.client, lab.director, ...lab.realservers]) {
      expect(svg).toContain(h.ip);
      expect(svg).toContain(macs.get(h.name));
    }
    expect(svg).toContain(`VIP ${lab.vip} on eth0:0`);
    expect(readFileSync(join(dir, 'lab.png')).subarray(1, 4).toString()).toBe('PNG');
  });
});
