// `npm run lab -- graph`: a picture of the lab drawn from the model: the hosts with names, IPs and MACs (live ones
// when the lab runs), the L2 switch, where the VIP lives on each host, and the two paths of a request: in through
// the director, out straight from the realserver (DR, TUN) or back through the director (NAT). A Vega scene (the
// project's chart library) rendered headless to SVG, and to PNG by resvg.
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { macFor } from '../model/addressing.js';
import { hostsOf, type Lab, type LabHost } from '../model/topology.js';
import type { LabAccess } from '../provision/transport.js';

/** Where the lab's hosts run when its segment spans machines (LabAccess's segments): each box names its machine. */
type Segments = NonNullable<LabAccess['segments']>;

const REQUEST = '#1f5fbf';
const REPLY = '#1e8a3c';
const W = 1000;
const BOX_H = 96;

interface Box {
  host: LabHost;
  x: number;
  y: number;
  w: number;
  lines: string[];
}

function vipNote(lab: Lab, h: LabHost): string {
  if (h.role === 'director')
    return lab.outside && lab.forwarding === 'nat'
      ? `eth1 ${lab.outside.directorIp}, VIP on eth1:0`
      : `VIP ${lab.vip} on eth0:0`;
  if (h.role !== 'realserver') return `sends to ${lab.vip}:${lab.service.port}`;
  if (lab.forwarding === 'nat') return `default gw ${lab.director.ip} (no VIP)`;
  return `VIP on ${lab.forwarding === 'tun' ? 'tunl0' : 'lo:0'}, ARP hidden`;
}

const SWITCH_Y = 250;
const OUTSIDE_Y = 40 + BOX_H / 2;

interface Line {
  x: number;
  y: number;
  x2: number;
  y2: number;
}

/** The hosts' boxes: client and director on top, the realservers in a row under the switch. */
function boxesOf(lab: Lab, macs: ReadonlyMap<string, string>, where: ReadonlyMap<string, string>): Box[] {
  const slot = (W - 80) / lab.realservers.length;
  const rsW = Math.min(260, slot - 16);
  const box = (host: LabHost, x: number, y: number, w: number): Box => ({
    host,
    x,
    y,
    w,
    lines: [
      (host.name === host.role ? host.name : `${host.name} (${host.role})`) +
        (where.has(host.name) ? ` · ${where.get(host.name)}` : ''),
      host.ip,
      macs.get(host.name) ?? macFor(host.ip),
      vipNote(lab, host),
    ],
  });
  const [client, director, ...rss] = hostsOf(lab);
  return [
    box(client, 60, 40, 260),
    box(director, W - 60 - 260, 40, 260),
    ...rss.map((r, i) => box(r, 40 + i * slot + (slot - rsW) / 2, 360, rsW)),
  ];
}

const mid = (b: Box) => b.x + b.w / 2;

/** Links to the switches: every host but NAT's client on the lab switch; NAT's client and director on the outside one. */
function linksOf(lab: Lab, boxes: Box[]): Line[] {
  const nat = lab.forwarding === 'nat';
  const [cb, db] = boxes;
  const links = boxes
    .filter((b) => !(nat && b.host.role === 'client'))
    .map((b) => {
      const above = b.y < SWITCH_Y;
      return { x: mid(b), y: above ? b.y + BOX_H : b.y, x2: mid(b), y2: SWITCH_Y + (above ? 0 : 14) };
    });
  return nat ? [...links, { x: cb.x + cb.w, y: OUTSIDE_Y, x2: db.x, y2: OUTSIDE_Y }] : links;
}

/** The paths, drawn beside the links: request in blue, reply in green, each with its head's angle. */
function arrowsOf(lab: Lab, boxes: Box[]) {
  const nat = lab.forwarding === 'nat';
  const [cb, db, rs] = boxes;
  const request: Line[] = [
    nat
      ? { x: cb.x + cb.w, y: OUTSIDE_Y - 14, x2: db.x, y2: OUTSIDE_Y - 14 }
      : { x: cb.x + cb.w, y: OUTSIDE_Y, x2: db.x - 6, y2: OUTSIDE_Y },
    { x: mid(db) - 20, y: db.y + BOX_H, x2: mid(rs) + 20, y2: rs.y - 6 },
  ];
  const reply: Line[] = nat
    ? [
        { x: mid(rs) + 50, y: rs.y, x2: mid(db) - 60, y2: db.y + BOX_H + 6 },
        { x: db.x, y: OUTSIDE_Y + 14, x2: cb.x + cb.w + 6, y2: OUTSIDE_Y + 14 },
      ]
    : [{ x: mid(rs) - 20, y: rs.y, x2: mid(cb) + 20, y2: cb.y + BOX_H + 6 }];
  return [...request.map((r) => ({ ...r, color: REQUEST })), ...reply.map((r) => ({ ...r, color: REPLY }))].map(
    // the head's rotation: vega's triangle-up points up, angles turn clockwise
    (a) => ({ ...a, angle: (Math.atan2(a.y2 - a.y, a.x2 - a.x) * 180) / Math.PI + 90 }),
  );
}

/** The title, the switch's and the outside network's labels, and the legend of the two paths. */
function labelsOf(lab: Lab, boxes: Box[], live: boolean, segments: Segments) {
  const nat = lab.forwarding === 'nat';
  const [cb, db] = boxes;
  const via =
    lab.forwarding === 'tun'
      ? ' (IP-in-IP tunnel to the RIP)'
      : nat
        ? ' (destination rewritten to the RIP)'
        : ' (frame re-addressed to the realserver MAC, IP header untouched)';
  const reply = nat
    ? `reply: realserver -> ${lab.director.name} (source rewritten to the VIP) -> ${lab.client.name}`
    : `reply: realserver -> ${lab.client.name} directly, from the VIP, bypassing the director`;
  const title = `lvs-lab "${lab.name}": ${lab.forwarding.toUpperCase()}, ${lab.service.scheduler}, VIP ${lab.vip}:${lab.service.port}, ${lab.subnet}${nat ? ` (client on ${lab.outside!.subnet})` : ''}${live ? '' : ' (MACs as planned)'}`;
  const label = (t: string, x: number, y: number, more: object = {}) => ({
    t,
    x,
    y,
    align: 'left',
    size: 13,
    bold: false,
    color: '#444',
    ...more,
  });
  return [
    label(title, 0, 14, { size: 15, bold: true, color: '#111' }),
    label(
      segments.length > 1
        ? `one L2 segment ${lab.subnet}: a bridge on each of ${segments.map((s) => s.where).join(', ')}, joined by VXLAN`
        : `L2 switch: ${lab.subnet}`,
      W - 30,
      SWITCH_Y - 6,
      { align: 'right' },
    ),
    ...(nat
      ? [label(`outside ${lab.outside!.subnet}`, (cb.x + cb.w + db.x) / 2, OUTSIDE_Y + 34, { align: 'center' })]
      : []),
    label(`request: ${lab.client.name} -> ${lab.director.name} -> realserver${via}`, 40, 490, {
      size: 14,
      bold: true,
      color: REQUEST,
    }),
    label(reply, 40, 512, { size: 14, bold: true, color: REPLY }),
  ];
}

const at = { x: { field: 'x' }, y: { field: 'y' } };
const line = { ...at, x2: { field: 'x2' }, y2: { field: 'y2' }, strokeWidth: { value: 3 } };

/** The marks, each drawing one data set: the same for every lab. */
const MARKS: vega.Mark[] = [
  {
    type: 'rect',
    encode: {
      enter: {
        ...{ x: { value: 30 }, x2: { value: W - 30 }, y: { value: SWITCH_Y }, height: { value: 14 } },
        ...{ fill: { value: '#666' }, cornerRadius: { value: 3 } },
      },
    },
  },
  { type: 'rule', from: { data: 'links' }, encode: { enter: { ...line, stroke: { value: '#666' } } } },
  {
    type: 'rect',
    from: { data: 'boxes' },
    encode: {
      enter: {
        ...{
          ...at,
          width: { field: 'w' },
          height: { value: BOX_H },
          stroke: { value: '#333' },
          cornerRadius: { value: 6 },
        },
        fill: { signal: "datum.role === 'director' ? '#fff4d6' : datum.role === 'client' ? '#eef2fb' : '#eaf6ec'" },
      },
    },
  },
  {
    type: 'text',
    from: { data: 'text' },
    encode: {
      enter: {
        ...{ ...at, text: { field: 't' }, fontSize: { value: 13 }, fill: { value: '#111' } },
        fontWeight: { signal: "datum.bold ? 'bold' : 'normal'" },
      },
    },
  },
  {
    type: 'rule',
    from: { data: 'arrows' },
    encode: { enter: { ...line, stroke: { field: 'color' }, strokeDash: { value: [8, 4] } } },
  },
  {
    type: 'symbol',
    from: { data: 'arrows' },
    encode: {
      enter: {
        ...{ x: { field: 'x2' }, y: { field: 'y2' }, shape: { value: 'triangle-up' }, size: { value: 220 } },
        ...{ angle: { field: 'angle' }, fill: { field: 'color' } },
      },
    },
  },
  {
    type: 'text',
    from: { data: 'labels' },
    encode: {
      enter: {
        ...{ ...at, text: { field: 't' }, align: { field: 'align' }, fill: { field: 'color' } },
        ...{ fontSize: { field: 'size' }, fontWeight: { signal: "datum.bold ? 'bold' : 'normal'" } },
      },
    },
  },
];

/** The lab's picture as a Vega spec: a pure layout (boxes, links, paths, labels) drawn by constant marks. */
export function graphSpec(
  lab: Lab,
  macs: ReadonlyMap<string, string>,
  live: boolean,
  segments: Segments = [],
): vega.Spec {
  const where = new Map(segments.flatMap((s) => (segments.length > 1 ? s.hosts.map((h) => [h, s.where]) : [])));
  const boxes = boxesOf(lab, macs, where);
  const text = boxes.flatMap((b) => b.lines.map((t, i) => ({ t, x: b.x + 10, y: b.y + 22 + i * 19, bold: i === 0 })));
  return {
    $schema: 'https://vega.github.io/schema/vega/v5.json',
    width: W,
    height: 530,
    padding: 10,
    background: 'white',
    config: { text: { font: 'DejaVu Sans, Liberation Sans, Arial, sans-serif' } },
    data: [
      { name: 'boxes', values: boxes.map((b) => ({ x: b.x, y: b.y, w: b.w, role: b.host.role })) },
      { name: 'text', values: text },
      { name: 'links', values: linksOf(lab, boxes) },
      { name: 'arrows', values: arrowsOf(lab, boxes) },
      { name: 'labels', values: labelsOf(lab, boxes, live, segments) },
    ],
    marks: MARKS,
  };
}

/** The lab's picture as SVG and PNG. `macs` from the running lab; without them, the MACs the scheme plans. */
export async function renderGraph(
  lab: Lab,
  macs: ReadonlyMap<string, string> = new Map(),
  segments: Segments = [],
): Promise<{ svg: string; png: Buffer }> {
  const view = new vega.View(vega.parse(graphSpec(lab, macs, macs.size > 0, segments)), { renderer: 'none' });
  const svg = await view.toSVG();
  const png = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: 1.5 },
    background: 'white',
    font: { loadSystemFonts: true },
  })
    .render()
    .asPng();
  return { svg, png: Buffer.from(png) };
}
