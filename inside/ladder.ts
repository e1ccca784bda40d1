// The walk as a ladder diagram: a column per host, an arrow per frame from the host whose MAC sent it to the host
// whose MAC it was for, labelled with what it carried and its addresses; the DR re-addressing marked.
import { escapeXml } from '../base/xml.js';
import type { Walk } from './explain.js';
import type { SeenFrame } from './frames.js';

const COL = 190;
const ROW = 34;
const TOP = 70;
const BROADCAST = 'ff:ff:ff:ff:ff:ff';

/** What a frame carried, in a few words. */
function label(f: SeenFrame): string {
  if (f.arp) return f.arp.op === 'request' ? `ARP who-has ${f.arp.target}` : `ARP ${f.arp.target} is-at ${f.arp.mac}`;
  const t = f.tcp!;
  const flags = { S: 'SYN', 'S.': 'SYN-ACK', '.': 'ACK', 'P.': 'data', 'F.': 'FIN' }[t.flags] ?? t.flags;
  const outer = f.outer ? `IPIP ${f.outer.src}>${f.outer.dst}: ` : '';
  return `${outer}${flags}${t.length > 0 ? ` (${t.length} B)` : ''} ${t.src}:${t.sport} > ${t.dst}:${t.dport}`;
}

/** Each frame once: as its receiver saw it (a broadcast as its sender sent it). */
function arrows(w: Walk): Array<{ from: string; to: string; f: SeenFrame }> {
  return w.frames.flatMap((f) => {
    const from = w.macs[f.srcMac];
    const to = f.dstMac === BROADCAST ? 'all' : w.macs[f.dstMac];
    if (!from || !to) return [];
    const seenBy = to === 'all' ? from : to;
    return f.host === seenBy ? [{ from, to, f }] : [];
  });
}

export function ladderSvg(w: Walk, lab: { hosts: Array<{ name: string; role: string }>; vip: string }): string {
  const hosts = lab.hosts.map((h) => h.name);
  const role = (h: string) => lab.hosts.find((x) => x.name === h)?.role;
  const x = (h: string) => 100 + hosts.indexOf(h) * COL;
  const list = arrows(w);
  const height = TOP + (list.length + 1) * ROW;
  const width = 100 + (hosts.length - 1) * COL + 160;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif" font-size="11">`,
    '<defs><marker id="a" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z"/></marker></defs>',
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="10" y="20" font-size="14" font-weight="bold">${escapeXml(`lab ${w.lab} (${w.forwarding.toUpperCase()}): one request, ${w.client.ip}:${w.client.port} to the VIP`)}</text>`,
    ...hosts.flatMap((h) => [
      `<text x="${x(h)}" y="${TOP - 20}" text-anchor="middle" font-weight="bold">${escapeXml(h)}</text>`,
      `<line x1="${x(h)}" y1="${TOP - 10}" x2="${x(h)}" y2="${height - 10}" stroke="#999"/>`,
    ]),
  ];
  list.forEach(({ from, to, f }, i) => {
    const y = TOP + (i + 1) * ROW;
    const x2 = to === 'all' ? x(from) + (from === hosts.at(-1) ? -COL / 2 : COL / 2) : x(to);
    // DR: the director sends the client's own IP packet on to a realserver's MAC.
    const readdressed =
      f.tcp && !f.outer && f.tcp.dst === lab.vip && role(from) === 'director' && role(to) === 'realserver';
    const colour = f.arp ? '#8a5a00' : readdressed ? '#b3261e' : '#1f5fbf';
    parts.push(
      `<line x1="${x(from)}" y1="${y}" x2="${x2}" y2="${y}" stroke="${colour}" stroke-width="1.5" marker-end="url(#a)"/>`,
      `<text x="${(x(from) + x2) / 2}" y="${y - 4}" text-anchor="middle" fill="${colour}">${escapeXml(label(f))}${readdressed ? ' (same IP packet, new MAC)' : ''}</text>`,
      `<text x="${(x(from) + x2) / 2}" y="${y + 10}" text-anchor="middle" fill="#666" font-size="9">${escapeXml(`${f.srcMac} > ${f.dstMac}`)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}
