import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { buildProgram } from '../../src/cli/main.js';
import { buildReportData } from '../../src/report/build.js';
import { renderReportHtml } from '../../src/report/html.js';
import type { AttentionView, EmbeddingMap, Note } from '../../src/report/types.js';
import { makeFixture, type Fixture } from './fixture.js';

let fx: Fixture;
before(async () => {
  fx = await makeFixture('din-report-');
});

const isNote = (x: object): x is Note => 'note' in x;

test('report data of a DIN run with a compare dir: curves, table, attention and embedding map are all filled', async () => {
  const r = await buildReportData({ run: fx.din, compare: fx.compare, seed: 1 });
  // Curves: the run itself first, then one series per compare row.
  assert.deepEqual(r.curves.map((c) => c.label), ['run-din (din)', 'base', 'din']);
  for (const c of r.curves) {
    assert.deepEqual(c.epochs, [1, 2]);
    assert.ok(c.trainLoss.every((x) => typeof x === 'number' && x > 0 && x < 1.5));
    assert.ok(c.testGauc.every((x) => typeof x === 'number' && x > 0 && x <= 1));
  }
  const m = JSON.parse(readFileSync(join(fx.din, 'metrics.json'), 'utf8'));
  assert.equal(r.curves[0].testGauc[1], m.history[1].test.gauc);
  // Table 3 analog.
  assert.equal(r.table?.length, 2);
  assert.equal(r.table![0].relaimpr, 0);
  assert.ok(Number.isFinite(r.table![1].relaimpr!));
  // Attention (Fig 5).
  assert.ok(!isNote(r.attention), JSON.stringify(r.attention));
  const a = r.attention as AttentionView;
  assert.ok(a.behaviours.length > 0);
  assert.equal(a.candidates[0].kind, 'positive');
  assert.ok(a.candidates.length >= 3);
  for (const c of a.candidates) {
    assert.equal(c.weights.length, a.behaviours.length);
    assert.ok(c.weights.every(Number.isFinite));
    assert.ok(c.ctr > 0 && c.ctr < 1);
    assert.match(c.category, /^c\d+/); // synthetic items carry their cluster as an attribute
  }
  // Weights depend on the candidate (the point of local activation).
  assert.notDeepEqual(a.candidates[0].weights, a.candidates[1].weights);
  // Embedding map (Fig 6).
  assert.ok(!isNote(r.embedding), JSON.stringify(r.embedding));
  const e = r.embedding as EmbeddingMap;
  assert.equal(e.param, 'goods_emb');
  assert.match(e.method, /^UMAP \(umap-js/);
  assert.equal(e.categories.length, 5);
  const pts = e.categories.flatMap((c) => c.points);
  assert.ok(pts.length >= 50 && pts.length <= 600, `${pts.length} points`);
  assert.ok(pts.every((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && p.ctr > 0 && p.ctr < 1));
  assert.equal(new Set(pts.map((p) => p.key)).size, pts.length);
  assert.equal(e.user, a.user);
});

test('the report is deterministic for a seed, and --user picks the user', async () => {
  const a = await buildReportData({ run: fx.din, seed: 7 });
  const b = await buildReportData({ run: fx.din, seed: 7 });
  assert.deepEqual(a.attention, b.attention);
  assert.deepEqual(a.embedding, b.embedding);
  const user = (a.attention as AttentionView).user;
  const other = (await buildReportData({ run: fx.din, seed: 8, user: 'u3' })).attention as AttentionView;
  assert.equal(other.user, 'u3');
  assert.equal(other.chosen, '--user');
  assert.notEqual(user, undefined);
  await assert.rejects(buildReportData({ run: fx.din, user: 'nobody' }), /--user nobody: no such user/);
});

test('a BaseModel run: attention says it is DIN-only, the embedding map is still drawn', async () => {
  const r = await buildReportData({ run: fx.base });
  assert.ok(isNote(r.attention));
  assert.match((r.attention as Note).note, /DIN-only/);
  assert.ok(!isNote(r.embedding));
  assert.equal(r.table, null);
  const only = await buildReportData({ compare: fx.compare });
  assert.equal(only.curves.length, 2);
  assert.match((only.attention as Note).note, /No run given/);
  await assert.rejects(buildReportData({ run: fx.dir }), /metrics\.json: not found/);
});

test('din report writes one self-contained HTML file: inlined Chart.js and data, no external resources', async () => {
  const out = join(fx.dir, 'report.html');
  await buildProgram().parseAsync(['node', 'din', 'report', '--run', fx.din, '--compare', fx.compare, '--out', out]);
  const html = readFileSync(out, 'utf8');
  for (const id of ['curves', 'table', 'attention', 'embedding']) assert.match(html, new RegExp(`<section id="${id}">`));
  assert.doesNotMatch(html, /<script[^>]+src=/);
  assert.doesNotMatch(html, /<link[^>]+href=/);
  assert.match(html, /Chart\.js v?4\./i);
  const json = /<script id="report-data" type="application\/json">(.*?)<\/script>/s.exec(html);
  assert.ok(json);
  const data = JSON.parse(json[1]);
  assert.equal(data.curves.length, 3);
  // The same data renders to the same page apart from the time stamp.
  assert.equal(renderReportHtml(data), html);
});
