/**
 * Renders ReportData as one self-contained HTML file: Chart.js (its UMD build, minified) and the data (JSON) are inlined,
 * so the page opens from disk with no network. The page's own script only maps the data onto charts and tables.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ReportData } from './types.js';

const require = createRequire(import.meta.url);

function chartJsSource(): { code: string; version: string } {
  // The package's exports map hides its UMD build: find it beside the main entry (dist/chart.cjs).
  const dist = dirname(require.resolve('chart.js'));
  const version = (JSON.parse(readFileSync(join(dist, '..', 'package.json'), 'utf8')) as { version: string }).version;
  return { code: readFileSync(join(dist, 'chart.umd.min.js'), 'utf8'), version };
}

/** Text safe inside a <script> element (no "</script" or "<!--" can end or confuse it). */
function scriptSafe(s: string): string {
  return s.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const CSS = `
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:16px 24px;color:#222}
h1{font-size:22px;margin:8px 0} h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #ddd;padding-bottom:4px}
.muted{color:#666} .note{background:#f6f6f6;border-left:4px solid #bbb;padding:8px 12px}
.charts{display:flex;flex-wrap:wrap;gap:16px} .chart{position:relative;height:320px;flex:1 1 480px;min-width:360px}
.chart.tall{height:560px;flex-basis:100%}
table{border-collapse:collapse;margin:8px 0} th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left}
table.heat td.w{min-width:64px;font-variant-numeric:tabular-nums} table.heat th{min-width:96px;max-width:160px;vertical-align:bottom}
table.heat td.b{max-width:360px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.pos{color:#b40426;font-weight:600} .neg{color:#3b4cc0;font-weight:600}
.cbar{height:12px;width:260px;display:inline-block;vertical-align:middle;border:1px solid #999;
 background:linear-gradient(90deg,rgb(59,76,192),rgb(221,221,221),rgb(180,4,38))}
`;

/** The page's script: plain ES2017, reads window.REPORT and draws. */
const GLUE = String.raw`
(function () {
  var R = JSON.parse(document.getElementById('report-data').textContent);
  var PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  var SHAPES = ['circle', 'triangle', 'rect', 'rectRot', 'star', 'crossRot', 'rectRounded', 'cross'];
  // Chart.js draws these with strokes only: they take the CTR colour as their border.
  var LINE_ONLY = { star: true, crossRot: true, cross: true };
  Chart.defaults.animation = false;
  Chart.defaults.font.size = 12;
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function f4(x) { return typeof x === 'number' && isFinite(x) ? x.toFixed(4) : '-'; }
  function pct(x) { return typeof x === 'number' && isFinite(x) ? (x >= 0 ? '+' : '') + x.toFixed(2) + '%' : '-'; }
  function note(parent, text) { parent.appendChild(el('p', { 'class': 'note' }, text)); }
  // Blue → grey → red, like matplotlib's coolwarm: low values blue, high red.
  function coolwarm(t) {
    t = Math.max(0, Math.min(1, t));
    var a = t < 0.5 ? [59, 76, 192] : [221, 221, 221], b = t < 0.5 ? [221, 221, 221] : [180, 4, 38], u = t < 0.5 ? t * 2 : t * 2 - 1;
    return 'rgb(' + a.map(function (v, i) { return Math.round(v + (b[i] - v) * u); }).join(',') + ')';
  }

  // ---- training curves
  (function () {
    var sec = document.getElementById('curves');
    var series = R.curves.filter(function (s) { return s.epochs.length > 0; });
    if (!series.length) { note(sec, 'No per-epoch history in the run or compare directory.'); return; }
    var maxE = Math.max.apply(null, series.map(function (s) { return s.epochs.length; }));
    var labels = []; for (var e = 1; e <= maxE; e++) labels.push(e);
    function chart(id, title, sets) {
      var box = el('div', { 'class': 'chart' }); var c = el('canvas', { id: id, 'class': 'report-chart' });
      box.appendChild(c); sec.querySelector('.charts').appendChild(box);
      new Chart(c, {
        type: 'line',
        data: { labels: labels, datasets: sets },
        options: { responsive: true, maintainAspectRatio: false, spanGaps: true,
          plugins: { title: { display: true, text: title }, legend: { position: 'bottom' } },
          scales: { x: { title: { display: true, text: 'epoch' } } } }
      });
    }
    chart('chart-loss', 'Train log loss per epoch', series.map(function (s, i) {
      return { label: s.label, data: s.trainLoss, borderColor: PALETTE[i % 10], backgroundColor: PALETTE[i % 10], pointRadius: 3 };
    }));
    var g = [];
    series.forEach(function (s, i) {
      if (s.testGauc.some(function (v) { return v !== null; }))
        g.push({ label: s.label + ' test', data: s.testGauc, borderColor: PALETTE[i % 10], backgroundColor: PALETTE[i % 10], pointRadius: 3 });
      if (s.validGauc.some(function (v) { return v !== null; }))
        g.push({ label: s.label + ' valid', data: s.validGauc, borderColor: PALETTE[i % 10], backgroundColor: PALETTE[i % 10], borderDash: [6, 4], pointRadius: 3 });
    });
    if (g.length) chart('chart-gauc', 'GAUC per epoch (solid: test, dashed: validation)', g);
    else note(sec, 'The runs recorded no per-epoch GAUC.');
  })();

  // ---- comparison table
  (function () {
    var sec = document.getElementById('table');
    if (!R.table) { note(sec, R.compare ? 'compare.json has no rows.' : 'No compare directory given (--compare): run din compare for the Table 3 analog.'); return; }
    var t = el('table', { id: 'compare-table' }); var head = el('tr');
    ['model', 'reg', 'seeds', 'GAUC', 'AUC', 'log loss', 'RelaImpr (GAUC)', 'RelaImpr (AUC)', 'epochs kept', 'peak test GAUC'].forEach(function (h, i) { head.appendChild(el('th', i < 2 ? { 'class': 'l' } : {}, h)); });
    t.appendChild(head);
    R.table.forEach(function (r) {
      var tr = el('tr');
      [r.model, r.reg, String(r.seeds), f4(r.gauc) + ' ± ' + f4(r.gaucStd), f4(r.auc) + ' ± ' + f4(r.aucStd), f4(r.logloss), pct(r.relaimpr), pct(r.relaimprAuc), r.bestEpoch, f4(r.peakTestGauc)]
        .forEach(function (v, i) { tr.appendChild(el('td', i < 2 ? { 'class': 'l' } : {}, v)); });
      t.appendChild(tr);
    });
    sec.appendChild(t);
    sec.appendChild(el('p', { 'class': 'muted' }, 'Test split, mean ± sample std over seeds. RelaImpr = ((GAUC − 0.5)/(GAUC_base − 0.5) − 1) × 100%. "peak test GAUC" peeks at the test split (the paper\'s Table 4 statistic).'));
  })();

  // ---- attention heat strips (Fig 5)
  (function () {
    var sec = document.getElementById('attention');
    var A = R.attention;
    if (A.note) { note(sec, A.note); return; }
    var max = 0, min = Infinity;
    A.candidates.forEach(function (c) { c.weights.forEach(function (w) { if (Math.abs(w) > max) max = Math.abs(w); if (w < min) min = w; }); });
    // All weights positive (sigmoid-like units, softmax): shade from the smallest to the largest so differences show.
    var floor = min >= 0 && max > min ? min : 0;
    sec.appendChild(el('p', {}, 'User ' + A.user + ' (' + A.chosen + '): attention weight of each behaviour (oldest first) for each candidate; ' +
      'attention normalization: ' + A.norm + (A.norm === 'none' ? ' (raw weights, as in the paper: they need not sum to 1).' : '.') +
      ' Colour: red positive, blue negative, intensity relative to the largest |weight| in the table' + (floor > 0 ? ' (from the smallest weight, ' + floor.toFixed(3) + ', up).' : '.')));
    var t = el('table', { id: 'attention-table', 'class': 'heat' });
    var h = el('tr'); h.appendChild(el('th', { 'class': 'l' }, '#')); h.appendChild(el('th', { 'class': 'l' }, 'behaviour')); h.appendChild(el('th', { 'class': 'l' }, 'category'));
    A.candidates.forEach(function (c) {
      var th = el('th', { title: c.key + ' — ' + c.category });
      th.appendChild(el('span', { 'class': c.kind === 'positive' ? 'pos' : c.kind === 'negative' ? 'neg' : '' }, c.kind));
      th.appendChild(el('br')); th.appendChild(document.createTextNode(c.label.length > 28 ? c.label.slice(0, 27) + '…' : c.label));
      th.appendChild(el('br')); th.appendChild(el('span', { 'class': 'muted' }, c.category.length > 28 ? c.category.slice(0, 27) + '…' : c.category));
      th.appendChild(el('br')); th.appendChild(el('span', { 'class': 'muted' }, 'pCTR ' + c.ctr.toFixed(3)));
      h.appendChild(th);
    });
    t.appendChild(h);
    A.behaviours.forEach(function (b, j) {
      var tr = el('tr');
      tr.appendChild(el('td', { 'class': 'l muted' }, String(j + 1)));
      tr.appendChild(el('td', { 'class': 'l b', title: b.key }, b.label));
      tr.appendChild(el('td', { 'class': 'l b' }, b.category));
      A.candidates.forEach(function (c) {
        // Raw (unnormalized) weights can be negative: red for positive, blue for negative, intensity ∝ |w|.
        var w = c.weights[j], u = max > floor ? (Math.abs(w) - floor) / (max - floor) : 0;
        var td = el('td', { 'class': 'w', title: c.label + ' ← ' + b.label + ': ' + w.toFixed(4) }, w.toFixed(3));
        td.style.background = (w >= 0 ? 'rgba(214,39,40,' : 'rgba(59,76,192,') + (0.06 + 0.94 * u).toFixed(3) + ')';
        if (u > 0.6) td.style.color = '#fff';
        tr.appendChild(td);
      });
      t.appendChild(tr);
    });
    sec.appendChild(t);
  })();

  // ---- embedding map (Fig 6)
  (function () {
    var sec = document.getElementById('embedding');
    var M = R.embedding;
    if (M.note) { note(sec, M.note); return; }
    var all = []; M.categories.forEach(function (c) { c.points.forEach(function (p) { all.push(p.ctr); }); });
    var lo = Math.min.apply(null, all), hi = Math.max.apply(null, all), span = hi - lo || 1;
    var p = el('p', {}, M.method + ', table ' + M.param + '. Marker shape: category; colour: predicted CTR for user ' + M.user + ' ');
    p.appendChild(el('span', { 'class': 'muted' }, lo.toFixed(3) + ' ')); p.appendChild(el('span', { 'class': 'cbar' })); p.appendChild(el('span', { 'class': 'muted' }, ' ' + hi.toFixed(3)));
    sec.appendChild(p);
    var box = el('div', { 'class': 'chart tall' }); var c = el('canvas', { id: 'chart-embedding', 'class': 'report-chart' }); box.appendChild(c); sec.appendChild(box);
    var sets = M.categories.map(function (cat, i) {
      var cols = cat.points.map(function (q) { return coolwarm((q.ctr - lo) / span); });
      return { label: cat.name + ' (' + cat.points.length + ')', data: cat.points, pointStyle: SHAPES[i % SHAPES.length], pointRadius: 6,
        backgroundColor: cols, borderColor: LINE_ONLY[SHAPES[i % SHAPES.length]] ? cols : '#333', borderWidth: LINE_ONLY[SHAPES[i % SHAPES.length]] ? 2 : 0.6 };
    });
    new Chart(c, {
      type: 'scatter',
      data: { datasets: sets },
      options: { responsive: true, maintainAspectRatio: false,
        plugins: {
          legend: { position: 'bottom', labels: { usePointStyle: true, generateLabels: function (ch) {
            return ch.data.datasets.map(function (d, i) { return { text: d.label, pointStyle: d.pointStyle, fillStyle: '#bbb', strokeStyle: '#333', lineWidth: 1, datasetIndex: i, hidden: !ch.isDatasetVisible(i) }; });
          } } },
          tooltip: { callbacks: { label: function (ctx) { return ctx.raw.label + ' — pCTR ' + ctx.raw.ctr.toFixed(3); } } }
        },
        scales: { x: { title: { display: true, text: 'dim 1' } }, y: { title: { display: true, text: 'dim 2' } } } }
    });
  })();
  document.body.setAttribute('data-ready', '1');
})();
`;

export function renderReportHtml(data: ReportData): string {
  const chart = chartJsSource();
  const r = data.run;
  const summary = r
    ? `<p>Run <code>${esc(r.dir)}</code>: ${esc(r.model)} on ${esc(r.dataset)}; ${esc(r.evaluatedOn)} GAUC <b>${r.test.gauc.toFixed(4)}</b>, ` +
      `AUC ${r.test.auc.toFixed(4)}, log loss ${r.test.logloss.toFixed(4)} (${r.test.samples} samples${r.bestEpoch ? `; kept epoch ${r.bestEpoch}` : ''}).</p>`
    : '';
  const cmp = data.compare ? `<p>Compare <code>${esc(data.compare.dir)}</code> on ${esc(data.compare.data)}.</p>` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(data.title)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${esc(data.title)}</h1>
${summary}${cmp}<p class="muted">Generated ${esc(data.createdAt)} by din report; charts by Chart.js ${esc(chart.version)} (inlined, works offline).</p>
<section id="curves"><h2>Training curves (the paper's Fig 4)</h2><div class="charts"></div></section>
<section id="table"><h2>Model comparison (the paper's Table 3)</h2></section>
<section id="attention"><h2>Attention on behaviours (the paper's Fig 5)</h2></section>
<section id="embedding"><h2>Goods embeddings (the paper's Fig 6)</h2></section>
<script id="report-data" type="application/json">${data ? JSON.stringify(data).replace(/</g, '\\u003c') : '{}'}</script>
<script>${scriptSafe(chart.code)}</script>
<script>${scriptSafe(GLUE)}</script>
</body>
</html>
`;
}
