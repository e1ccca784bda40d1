// The live view's page: one HTML file with its style and script inline, no build step. The lab's picture is the
// `graph` command's SVG, inline; the rest is filled from the server's events (one snapshot a second), always as text
// (textContent), never as markup.
import type { Lab } from '../model/topology.js';

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const STYLE = `
body { font: 15px system-ui, sans-serif; margin: 1.2em 2em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .3em; }
#holder { font-size: 1.1em; margin: .4em 0 .8em; }
#holder b { color: #1f5fbf; }
#graph { margin: 0; }
#graph svg { width: 100%; max-width: 1000px; height: auto; border: 1px solid #ddd; }
table { border-collapse: collapse; margin: .8em 0; }
th, td { padding: .25em .8em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child, td.state { text-align: left; }
tr.out td { color: #b00; }
.bar { display: inline-block; height: .8em; background: #1e8a3c; vertical-align: middle; margin-right: .4em; }
#faults li { color: #b00; }
#faults li.empty { color: #777; }
td.state, td.share { white-space: nowrap; }
td.share { text-align: left; min-width: 14em; }
pre { background: #f6f6f6; padding: .6em; max-width: 1000px; overflow: auto; }
#status { color: #777; font-size: .9em; }
#status.error { color: #b00; }
.empty { color: #777; }
`;

/** In the browser: one snapshot (see snapshot.ts) into the page. */
const SCRIPT = `
const $ = (s) => document.querySelector(s);
function text(el, t) { if (el.textContent !== String(t)) el.textContent = String(t); }
function row(r) {
  let tr = document.querySelector('tr[data-rs="' + CSS.escape(r.name) + '"]');
  if (tr) return tr;
  tr = document.createElement('tr');
  tr.dataset.rs = r.name;
  for (const c of ['name', 'ip', 'state', 'weight', 'active', 'inactive', 'conns', 'share']) {
    const td = document.createElement('td'); td.className = c; tr.appendChild(td);
  }
  tr.querySelector('.share').innerHTML = '<span class="bar"></span><span class="pct"></span>';
  $('#rs tbody').appendChild(tr);
  return tr;
}
function show(s) {
  text($('#holder b'), s.holders.length ? s.holders.join(' and ') : 'no director');
  const total = s.realservers.reduce((n, r) => n + r.conns, 0);
  for (const r of s.realservers) {
    const tr = row(r);
    tr.classList.toggle('out', !r.inTable);
    text(tr.querySelector('.name'), r.name);
    text(tr.querySelector('.ip'), r.ip);
    text(tr.querySelector('.state'), r.inTable ? 'in the table' : 'out of the table');
    text(tr.querySelector('.weight'), r.weight ?? '-');
    text(tr.querySelector('.active'), r.active);
    text(tr.querySelector('.inactive'), r.inactive);
    text(tr.querySelector('.conns'), r.conns);
    const pct = total ? Math.round((100 * r.conns) / total) : 0;
    tr.querySelector('.bar').style.width = (2 * pct) + 'px';
    text(tr.querySelector('.pct'), total ? pct + '%' : '');
  }
  const faults = $('#faults');
  faults.replaceChildren(...(s.faults.length ? s.faults : ['none']).map((f) => {
    const li = document.createElement('li'); li.textContent = f; if (!s.faults.length) li.className = 'empty'; return li;
  }));
  text($('#load pre'), s.load ?? 'no load run while this page is open (npm run lab -- load)');
  const ladder = $('#ladder img');
  if (s.ladderAt && ladder.dataset.at !== String(s.ladderAt)) {
    ladder.dataset.at = String(s.ladderAt); ladder.src = '/explain.svg?at=' + s.ladderAt; ladder.hidden = false;
    $('#ladder .empty').hidden = true;
  }
  text($('#status'), 'updated ' + new Date(s.at).toLocaleTimeString() + ' (scheduler ' + (s.scheduler ?? '?') + ')');
  $('#status').classList.remove('error');
}
const events = new EventSource('/events');
events.addEventListener('snapshot', (e) => show(JSON.parse(e.data)));
events.addEventListener('problem', (e) => { text($('#status'), JSON.parse(e.data)); $('#status').classList.add('error'); });
events.addEventListener('stopped', (e) => { text($('#status'), JSON.parse(e.data)); $('#status').classList.add('error'); events.close(); });
`;

/** The page, the lab's picture inline (its host names are text the page holds). */
export function pageHtml(lab: Lab, graphSvg: string): string {
  const title = `lab ${lab.name}: ${lab.forwarding.toUpperCase()}, ${lab.service.scheduler}, VIP ${lab.vip}:${lab.service.port}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title><style>${STYLE}</style></head>
<body>
<h1>${escape(title)}</h1>
<div id="holder">the VIP is held by <b>…</b></div>
<figure id="graph">${graphSvg.replace(/^<\?xml[^>]*>\s*/, '')}</figure>
<h2>the director's table</h2>
<table id="rs"><thead><tr><th>realserver</th><th>RIP</th><th>state</th><th>weight</th><th>active</th><th>inactive</th>
<th>new connections since this page opened</th><th>share</th></tr></thead><tbody></tbody></table>
<h2>faults in force</h2><ul id="faults"></ul>
<h2>load</h2><section id="load"><pre></pre></section>
<h2>the last explain</h2><section id="ladder"><p class="empty">none yet (npm run lab -- explain)</p><img hidden alt="the last explain's ladder diagram"></section>
<p id="status">connecting…</p>
<script>${SCRIPT}</script>
</body></html>
`;
}
