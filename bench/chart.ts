// The benchmark's chart: a Vega-Lite spec rendered headless to SVG, then to PNG by resvg. No browser, no canvas.
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { BenchResults } from './results.js';

export function chartSpec(r: BenchResults): TopLevelSpec {
  const lifecycle = r.lifecycle.flatMap((t) => t.phases.map((p) => ({ testbed: t.testbed, phase: p.phase, seconds: p.median, min: p.min, max: p.max })));
  const scale = r.scale.map((s) => ({ realservers: s.realservers, seconds: s.median, part: 'network + provisioning' }));
  const dataPlane = r.dataPlane.map((d) => ({ path: d.path, rps: d.requestsPerSecond, kernelCpu: d.kernelCpuSeconds }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `lvs-lab benchmark (${r.machine.description})`, subtitle: r.when },
    config: { font: 'DejaVu Sans' },
    hconcat: [
      {
        title: 'lifecycle, median s (rule: min-max)',
        data: { values: lifecycle },
        layer: [
          { mark: 'bar', encoding: { x: { field: 'phase', type: 'nominal', sort: ['up', 'verify', 'redeploy', 'down'] }, xOffset: { field: 'testbed' }, y: { field: 'seconds', type: 'quantitative' }, color: { field: 'testbed' } } },
          { mark: 'rule', encoding: { x: { field: 'phase', type: 'nominal', sort: ['up', 'verify', 'redeploy', 'down'] }, xOffset: { field: 'testbed' }, y: { field: 'min', type: 'quantitative' }, y2: { field: 'max' } } },
        ],
        width: 260,
        height: 220,
      },
      {
        title: 'scale: netns lab build + provisioning, s',
        data: { values: scale },
        mark: { type: 'line', point: true },
        encoding: { x: { field: 'realservers', type: 'quantitative' }, y: { field: 'seconds', type: 'quantitative' } },
        width: 220,
        height: 220,
      },
      {
        title: 'data plane: requests/s through each path',
        data: { values: dataPlane },
        mark: 'bar',
        encoding: { x: { field: 'path', type: 'nominal', sort: null }, y: { field: 'rps', type: 'quantitative' }, color: { field: 'path', legend: null } },
        width: 200,
        height: 220,
      },
    ],
  };
}

export async function renderPng(r: BenchResults): Promise<Buffer> {
  const view = new vega.View(vega.parse(compile(chartSpec(r)).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  return new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, background: 'white', font: { loadSystemFonts: true } }).render().asPng();
}
