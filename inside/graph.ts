// `npm run lab -- graph`: a picture of the lab drawn from the model: the hosts with names, IPs and MACs (live ones
// when the lab runs), the L2 switch, where the VIP lives on each host, and the two paths of a request: in through
// the director, out straight from the realserver (DR, TUN) or back through the director (NAT). A Vega scene (the
// project's chart library) rendered headless to SVG, and to PNG by resvg.
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { macFor } from '../model/addressing.js';
import { hostsOf, type Lab, type LabHost } from '../model/topology.js';

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

export function graphSpec(lab: Lab, macs: ReadonlyMap<string, string>, live: boolean): vega.Spec {
  const nat = lab.forwarding === 'nat';
  const switchY = 250;
  const rsCount = lab.realservers.length;
  const slot = (W - 80) / rsCount;
  const rsW = Math.min(260, slot - 16);
  const box = (host: LabHost, x: number, y: number, w: number): Box => ({
    host,
    x,
    y,
    w,
    lines: [
      host.name === host.role ? host.name : `${host.name} (${host.role})`,
      host.ip,
      macs.get(host.name) ?? macFor(host.ip),
      vipNote(lab, host),
    ],
  });
  const [client, director, ...rss] = hostsOf(lab);
  const boxes = [
    box(client, 60, 40, 260),
    box(director, W - 60 - 260, 40, 260),
    ...rss.map((r, i) => box(r, 40 + i * slot + (slot - rsW) / 2, 360, rsW)),
  ];
  const mid = (b: Box) => b.x + b.w / 2;
  const [cb, db, ...rbs] = boxes;
  // Links to the switches: every host but NAT's client on the lab switch; NAT's client and director on the outside one.
  const links = boxes
    .filter((b) => !(nat && b.host.role === 'client'))
    .map((b) => ({
      x: mid(b),
      y: b.y < switchY ? b.y + BOX_H : b.y,
      x2: mid(b),
      y2: switchY + (b.y < switchY ? 0 : 14),
    }));
  const outsideY = 40 + BOX_H / 2;
  const outside = nat ? [{ x: cb.x + cb.w, y: outsideY, x2: db.x, y2: outsideY }] : [];
  // The paths, drawn beside the links: request in blue, reply in green.
  const rs = rbs[0];
  const request = [
    nat
      ? { x: cb.x + cb.w, y: outsideY - 14, x2: db.x, y2: outsideY - 14 }
      : { x: cb.x + cb.w, y: outsideY, x2: db.x - 6, y2: outsideY },
    { x: mid(db) - 20, y: db.y + BOX_H, x2: mid(rs) + 20, y2: rs.y - 6 },
  ];
  const reply = nat
    ? [
        { x: mid(rs) + 50, y: rs.y, x2: mid(db) - 60, y2: db.y + BOX_H + 6 },
        { x: db.x, y: outsideY + 14, x2: cb.x + cb.w + 6, y2: outsideY + 14 },
      ]
    : [{ x: mid(rs) - 20, y: rs.y, x2: mid(cb) + 20, y2: cb.y + BOX_H + 6 }];
  const arrows = [...request.map((r) => ({ ...r, color: REQUEST })), ...reply.map((r) => ({ ...r, color: REPLY }))].map(
    (a) => ({
      ...a,
      // the head's rotation: vega's triangle-up points up, angles turn clockwise
      angle: (Math.atan2(a.y2 - a.y, a.x2 - a.x) * 180) / Math.PI + 90,
    }),
  );
  const text = boxes.flatMap((b) => b.lines.map((t, i) => ({ t, x: b.x + 10, y: b.y + 22 + i * 19, bold: i === 0 })));
  const legend = [
    {
      t: `request: ${client.name} -> ${director.name} -> realserver${lab.forwarding === 'tun' ? ' (IP-in-IP tunnel to the RIP)' : nat ? ' (destination rewritten to the RIP)' : ' (frame re-addressed to the realserver MAC, IP header untouched)'}`,
      color: REQUEST,
      y: 490,
    },
    {
      t: nat
        ? `reply: realserver -> ${director.name} (source rewritten to the VIP) -> ${client.name}`
        : `reply: realserver -> ${client.name} directly, from the VIP, bypassing the director`,
      color: REPLY,
      y: 512,
    },
  ];
  const title = `lvs-lab "${lab.name}": ${lab.forwarding.toUpperCase()}, ${lab.service.scheduler}, VIP ${lab.vip}:${lab.service.port}, ${lab.subnet}${nat ? ` (client on ${lab.outside!.subnet})` : ''}${live ? '' : ' (MACs as planned)'}`;
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
      { name: 'links', values: [...links, ...outside] },
      { name: 'arrows', values: arrows },
      { name: 'legend', values: legend },
    ],
    marks: [
      {
        type: 'text',
        encode: {
          enter: {
            x: { value: 0 },
            y: { value: 14 },
            text: { value: title },
            fontSize: { value: 15 },
            fontWeight: { value: 'bold' },
          },
        },
      },
      {
        type: 'rect',
        encode: {
          enter: {
            x: { value: 30 },
            x2: { value: W - 30 },
            y: { value: switchY },
            height: { value: 14 },
            fill: { value: '#666' },
            cornerRadius: { value: 3 },
          },
        },
      },
      {
        type: 'text',
        encode: {
          enter: {
            x: { value: W - 30 },
            y: { value: switchY - 6 },
            align: { value: 'right' },
            text: { value: `L2 switch: ${lab.subnet}` },
            fill: { value: '#444' },
          },
        },
      },
      ...(nat
        ? [
            {
              type: 'text' as const,
              encode: {
                enter: {
                  x: { value: (cb.x + cb.w + db.x) / 2 },
                  y: { value: outsideY + 34 },
                  align: { value: 'center' as const },
                  text: { value: `outside ${lab.outside!.subnet}` },
                  fill: { value: '#444' },
                },
              },
            },
          ]
        : []),
      {
        type: 'rule',
        from: { data: 'links' },
        encode: {
          enter: {
            x: { field: 'x' },
            y: { field: 'y' },
            x2: { field: 'x2' },
            y2: { field: 'y2' },
            stroke: { value: '#666' },
            strokeWidth: { value: 3 },
          },
        },
      },
      {
        type: 'rect',
        from: { data: 'boxes' },
        encode: {
          enter: {
            x: { field: 'x' },
            y: { field: 'y' },
            width: { field: 'w' },
            height: { value: BOX_H },
            fill: { signal: "datum.role === 'director' ? '#fff4d6' : datum.role === 'client' ? '#eef2fb' : '#eaf6ec'" },
            stroke: { value: '#333' },
            cornerRadius: { value: 6 },
          },
        },
      },
      {
        type: 'text',
        from: { data: 'text' },
        encode: {
          enter: {
            x: { field: 'x' },
            y: { field: 'y' },
            text: { field: 't' },
            fontSize: { value: 13 },
            fontWeight: { signal: "datum.bold ? 'bold' : 'normal'" },
            fill: { value: '#111' },
          },
        },
      },
      {
        type: 'rule',
        from: { data: 'arrows' },
        encode: {
          enter: {
            x: { field: 'x' },
            y: { field: 'y' },
            x2: { field: 'x2' },
            y2: { field: 'y2' },
            stroke: { field: 'color' },
            strokeWidth: { value: 3 },
            strokeDash: { value: [8, 4] },
          },
        },
      },
      {
        type: 'symbol',
        from: { data: 'arrows' },
        encode: {
          enter: {
            x: { field: 'x2' },
            y: { field: 'y2' },
            shape: { value: 'triangle-up' },
            size: { value: 220 },
            angle: { field: 'angle' },
            fill: { field: 'color' },
          },
        },
      },
      {
        type: 'text',
        from: { data: 'legend' },
        encode: {
          enter: {
            x: { value: 40 },
            y: { field: 'y' },
            text: { field: 't' },
            fill: { field: 'color' },
            fontSize: { value: 14 },
            fontWeight: { value: 'bold' },
          },
        },
      },
    ],
  };
}

/** The lab's picture as SVG and PNG. `macs` from the running lab; without them, the MACs the scheme plans. */
export async function renderGraph(
  lab: Lab,
  macs: ReadonlyMap<string, string> = new Map(),
): Promise<{ svg: string; png: Buffer }> {
  const view = new vega.View(vega.parse(graphSpec(lab, macs, macs.size > 0)), { renderer: 'none' });
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
