// The benchmark's chart: a Vega-Lite spec rendered headless to SVG, then to PNG by resvg. No browser, no canvas.
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { directorPacketsPerRequest, type BenchResults } from './results.js';

/** A panel of horizontal bars, one per data-plane path, labelled in full. */
function pathBars(title: string, values: object[], x: object, color: object, height: number) {
  return {
    title,
    data: { values },
    mark: 'bar' as const,
    encoding: {
      y: { field: 'path', type: 'nominal' as const, sort: null, title: null, axis: { labelLimit: 220 } },
      x,
      color,
    },
    width: 220,
    height,
  };
}

/** The figures each panel draws, as rows. */
function chartData(r: BenchResults) {
  const lifecycle = r.lifecycle.flatMap((t) =>
    t.phases.map((p) => ({ testbed: t.testbed, phase: p.phase, seconds: p.median, min: p.min, max: p.max })),
  );
  const scale = r.scale.map((s) => ({ realservers: s.realservers, seconds: s.median, part: 'network + provisioning' }));
  const dataPlane = r.dataPlane.map((d) => ({ path: d.path, rps: d.requestsPerSecond, kernelCpu: d.kernelCpuSeconds }));
  const packets = r.dataPlane
    .filter((d) => d.ipvsInPkts + d.ipvsOutPkts > 0)
    .flatMap((d) => {
      const per = directorPacketsPerRequest(d);
      return [
        { path: d.path, direction: 'inbound (client to VIP)', packets: per.in },
        { path: d.path, direction: 'outbound (replies)', packets: per.out },
      ];
    });
  const shares = (r.shares ?? []).flatMap((x) => {
    const total = Object.values(x.share).reduce((a, b) => a + b, 0) || 1;
    return Object.entries(x.share).map(([realserver, n]) => ({
      path: `${x.scheduler} ${x.weights}`,
      realserver,
      share: n / total,
    }));
  });
  return { lifecycle, scale, dataPlane, packets, shares };
}

/** The requests/s axis of the data-plane panels. */
const RPS = { field: 'rps', type: 'quantitative', title: 'requests/s (wrk, 16 connections)' };

/** Each scheduler's share per realserver, stacked to 100%. */
const sharePanel = (shares: object[]) =>
  pathBars(
    'share per realserver, rs1 200 ms slower',
    shares,
    { field: 'share', type: 'quantitative', stack: 'zero', title: 'share of responses', axis: { format: '%' } },
    { field: 'realserver', legend: { orient: 'bottom', direction: 'vertical', title: null } },
    100,
  );

/** The lifecycle's phases per testbed: median bars, min-max rules. */
const lifecyclePanel = (lifecycle: object[]) => {
  const phase = { field: 'phase', type: 'nominal' as const, sort: ['up', 'verify', 'redeploy', 'down'] };
  return {
    title: 'lifecycle, median s (rule: min-max)',
    data: { values: lifecycle },
    layer: [
      {
        mark: 'bar' as const,
        encoding: {
          x: phase,
          xOffset: { field: 'testbed' },
          y: { field: 'seconds', type: 'quantitative' as const },
          color: {
            field: 'testbed',
            legend: { orient: 'bottom' as const, direction: 'vertical' as const, title: null },
          },
        },
      },
      {
        mark: 'rule' as const,
        encoding: {
          x: phase,
          xOffset: { field: 'testbed' },
          y: { field: 'min', type: 'quantitative' as const },
          y2: { field: 'max' },
        },
      },
    ],
    width: 260,
    height: 220,
  };
};

/** Every panel that has figures in this run (`--only data` and `--only span` measure a part). */
export function chartSpec(r: BenchResults): TopLevelSpec {
  const { lifecycle, scale, dataPlane, packets, shares } = chartData(r);
  const span = (r.span ?? []).map((x) => ({ path: x.layout, rps: x.requestsPerSecond.median }));
  const panels = [
    lifecycle.length > 0 && lifecyclePanel(lifecycle),
    scale.length > 0 && {
      title: 'scale: netns lab build + provisioning, s',
      data: { values: scale },
      mark: { type: 'line' as const, point: true },
      encoding: {
        x: { field: 'realservers', type: 'quantitative' as const },
        y: { field: 'seconds', type: 'quantitative' as const },
      },
      width: 220,
      height: 220,
    },
    dataPlane.length > 0 &&
      pathBars('data plane: requests/s through each path', dataPlane, RPS, { field: 'path', legend: null }, 120),
    packets.length > 0 &&
      pathBars(
        "director's IPVS packets per request",
        packets,
        { field: 'packets', type: 'quantitative', stack: 'zero', title: 'packets per request' },
        { field: 'direction', legend: { orient: 'bottom', direction: 'vertical', title: null, labelLimit: 260 } },
        80,
      ),
    shares.length > 0 && sharePanel(shares),
    span.length > 0 &&
      pathBars('DR through the VIP, one engine VM or two', span, RPS, { field: 'path', legend: null }, 60),
  ].filter((p) => p !== false);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `lvs-lab benchmark (${r.machine.description})`, subtitle: r.when },
    config: { font: 'DejaVu Sans' },
    // Each panel its own colours and legend (testbeds, paths, directions).
    resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } },
    hconcat: panels,
  };
}

export async function renderPng(r: BenchResults): Promise<Buffer> {
  const view = new vega.View(vega.parse(compile(chartSpec(r)).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  return new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, background: 'white', font: { loadSystemFonts: true } })
    .render()
    .asPng();
}
