import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../../../..');
const bin = join(root, 'bin/din.js');
const dir = mkdtempSync(join(tmpdir(), 'din-cli-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function din(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, CI: '1', DIN_CACHE_DIR: join(dir, 'cache') },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('din --help and din train --help list the commands and the shared training options with defaults', () => {
  const top = din('--help');
  assert.equal(top.code, 0);
  for (const c of ['quickstart', 'train', 'eval']) assert.match(top.out, new RegExp(`\\b${c}\\b`));
  const t = din('train', '--help');
  assert.equal(t.code, 0);
  for (const o of ['--model', '--activation', '--optimizer', '--lr', '--lr-decay', '--batch-size', '--epochs', '--seed', '--embedding-dim', '--max-history', '--attention-norm', '--out', '--data']) {
    assert.ok(t.out.includes(o), `train --help lists ${o}`);
  }
  assert.match(t.out, /default: "din"/);
});

test('din train → din eval: the saved model re-evaluates to the same numbers', () => {
  const out = join(dir, 'run-din');
  const tr = din('train', '--data', 'synthetic:small', '--model', 'din', '--epochs', '1', '--embedding-dim', '8', '--out', out);
  assert.equal(tr.code, 0, tr.err);
  assert.match(tr.out, /din test: gauc 0\.\d+ auc 0\.\d+ logloss \d\.\d+/);
  assert.match(tr.err, /samples\/s/);
  const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
  const ev = din('eval', '--model', out, '--json');
  assert.equal(ev.code, 0, ev.err);
  const r = JSON.parse(ev.out);
  assert.equal(r.gauc, metrics.test.gauc);
  assert.equal(r.auc, metrics.test.auc);
  assert.equal(r.logloss, metrics.test.logloss);
  assert.equal(r.samples, metrics.test.samples);
});

test('bad input gets a clear error naming the place, and a non-zero exit', () => {
  const missing = din('train', '--data', join(dir, 'nope'), '--epochs', '1');
  assert.notEqual(missing.code, 0);
  assert.match(missing.err, /nope/);
  const badLr = din('train', '--data', 'synthetic:small', '--lr', '-1');
  assert.notEqual(badLr.code, 0);
  assert.match(badLr.err, /--lr must be a number > 0/);
  const noData = din('train');
  assert.notEqual(noData.code, 0);
  assert.match(noData.err, /no data given/);
});

test('din compare on a tiny synthetic set writes a well-formed compare.json and compare.md, and reuses finished runs', () => {
  const out = join(dir, 'cmp');
  const args = ['compare', '--data', 'synthetic:small', '--models', 'base,din', '--seeds', '2', '--epochs', '2', '--embedding-dim', '8', '--out', out];
  const first = din(...args);
  assert.equal(first.code, 0, first.err);
  assert.match(first.err, /4 runs .* 0 already finished, 4 to run/);
  const res = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8'));
  assert.equal(res.rows.length, 2);
  for (const row of res.rows) {
    assert.deepEqual(row.seeds, [1, 2]);
    assert.equal(row.reg, 'none');
    for (const k of ['gauc', 'auc', 'logloss']) {
      assert.equal(row[k].values.length, 2);
      assert.ok(Number.isFinite(row[k].mean) && Number.isFinite(row[k].std), `${row.model} ${k}`);
    }
    assert.equal(typeof row.relaimpr, 'number');
    assert.equal(row.history.length, 2);
    assert.ok(row.history[0].length >= 1 && row.history[0][0].epoch === 1 && typeof row.history[0][0].trainLoss === 'number');
    assert.ok(row.trainSeconds > 0 && row.samplesPerSecond > 0);
  }
  assert.equal(res.rows[0].model, 'base');
  assert.equal(res.rows[0].relaimpr, 0);
  const md = readFileSync(join(out, 'compare.md'), 'utf8');
  assert.match(md, /\| base \| none \| 0\.\d{4} ± 0\.\d{4} \|/);
  assert.match(md, /\| din \| none \|/);
  const again = din(...args);
  assert.equal(again.code, 0, again.err);
  assert.match(again.err, /4 already finished, 0 to run/);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')).rows[1].gauc, res.rows[1].gauc);
  const bad = din('compare', '--data', 'synthetic:small', '--models', 'base,nope', '--out', out);
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /unknown model "nope"/);
});

test('din train --reg: filter and mba runs record what they did; a filtered model saves, reloads and re-evaluates exactly', () => {
  const out = join(dir, 'run-filter');
  const tr = din('train', '--data', 'synthetic:small', '--model', 'base', '--epochs', '1', '--embedding-dim', '8', '--reg', 'filter', '--filter-top', '50', '--out', out);
  assert.equal(tr.code, 0, tr.err);
  const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
  assert.deepEqual(m.regularization, { reg: 'filter', filter: { top: 50, goodsRows: 51 } });
  const info = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
  assert.equal(info.catalog.numGoodsRows, 51);
  assert.equal(info.catalog.goodsRows.filter((r: number) => r < 50).length, 50);
  const ev = din('eval', '--model', out, '--json');
  assert.equal(ev.code, 0, ev.err);
  assert.equal(JSON.parse(ev.out).gauc, m.test.gauc);
  const mba = din('train', '--data', 'synthetic:small', '--model', 'din', '--epochs', '1', '--embedding-dim', '8', '--reg', 'mba', '--lambda', '0.5', '--dense-l2', '1e-5', '--out', join(dir, 'run-mba'));
  assert.equal(mba.code, 0, mba.err);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'run-mba', 'metrics.json'), 'utf8')).regularization, { reg: 'mba', lambda: 0.5, denseL2: 1e-5 });
  const bad = din('train', '--data', 'synthetic:small', '--reg', 'dropout', '--dropout-rate', '1', '--epochs', '1');
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /dropout rate must be in \[0, 1\)/);
});

test('din compare --regs: a λ grid chosen on validation, per-epoch curves, Table 4 markdown', () => {
  const out = join(dir, 'cmp-regs');
  const args = ['compare', '--data', 'synthetic:small', '--models', 'base', '--seeds', '1', '--epochs', '2', '--patience', '2', '--no-refit',
    '--embedding-dim', '8', '--regs', 'none,filter:0,mba', '--grid', 'mba=0.01,1', '--out', out];
  const r = din(...args);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /base mba: lambda = (0\.01|1) chosen on validation/);
  const res = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8'));
  assert.deepEqual(res.rows.map((x: { reg: string }) => x.reg), ['none', 'filter', 'mba']);
  assert.deepEqual(res.rows[1].regParam, { filterTop: 0 });
  assert.equal(res.search.length, 2);
  assert.equal(res.search.filter((g: { chosen: boolean }) => g.chosen).length, 1);
  const chosen = res.search.find((g: { chosen: boolean }) => g.chosen);
  assert.deepEqual(res.rows[2].regParam, { lambda: chosen.value });
  assert.ok(chosen.validGauc >= Math.max(...res.search.map((g: { validGauc: number }) => g.validGauc)));
  for (const row of res.rows) {
    assert.equal(row.history[0].length, 2);
    assert.ok(row.history[0].every((h: { testGauc: number; validAuc: number }) => typeof h.testGauc === 'number' && typeof h.validAuc === 'number'));
  }
  const md = readFileSync(join(out, 'compare.md'), 'utf8');
  assert.match(md, /## Regularizers/);
  assert.match(md, /\| base \| filter \(K=0: no goods ids\) \|/);
  assert.match(md, /## Grid search on the validation split/);
  const noVal = din('compare', '--data', 'synthetic:small', '--models', 'base', '--regs', 'mba', '--grid', 'mba=0.1,1', '--patience', '0', '--out', join(dir, 'cmp-bad'));
  assert.notEqual(noVal.code, 0);
  assert.match(noVal.err, /grid search .* set --patience >= 1/);
});

test('din compare --grid: clear errors for a reg not compared, a fixed value, a bad value', () => {
  const base = ['compare', '--data', 'synthetic:small', '--models', 'base', '--patience', '1', '--out', join(dir, 'cmp-grid-bad')];
  const notThere = din(...base, '--regs', 'none', '--grid', 'mba=1,2');
  assert.match(notThere.err, /"mba" is not among --regs/);
  const fixed = din(...base, '--regs', 'mba:1', '--grid', 'mba=1,2');
  assert.match(fixed.err, /--regs already fixes mba:1/);
  const bad = din(...base, '--regs', 'filter', '--grid', 'filter=10,2.5');
  assert.match(bad.err, /bad value 2\.5 for filterTop/);
  const syntax = din(...base, '--regs', 'mba', '--grid', 'mba:1,2');
  assert.match(syntax.err, /--grid expects reg=v1,v2/);
  for (const r of [notThere, fixed, bad, syntax]) assert.notEqual(r.code, 0);
});
