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
  for (const bad of ['0', '17', 'two']) {
    const r = din('train', '--data', 'synthetic:small', '--threads', bad);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /--threads must be auto or an integer in \[1, 16\]/);
  }
});

test('din train --threads 2 trains data-parallel and records the thread count; --threads 1 does not start workers', () => {
  for (const threads of ['2', '1']) {
    const out = join(dir, `run-threads-${threads}`);
    const r = din('train', '--data', 'synthetic:small', '--model', 'din', '--activation', 'dice', '--epochs', '1', '--embedding-dim', '4',
      '--threads', threads, '--out', out);
    assert.equal(r.code, 0, r.err);
    assert.equal(/training on 2 threads/.test(r.out + r.err), threads === '2', r.out + r.err);
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    assert.equal(JSON.stringify(metrics).includes(`"threads":${threads}`), true, 'thread count recorded with the run');
  }
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
    '--embedding-dim', '8', '--regs', 'none,filter:0,filter,mba', '--grid', 'mba=0.01,1', '--grid', 'filter=20,200', '--out', out];
  const r = din(...args);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /base mba: lambda = (0\.01|1) chosen on validation/);
  const res = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8'));
  assert.deepEqual(res.rows.map((x: { reg: string }) => x.reg), ['none', 'filter', 'filter', 'mba']);
  assert.deepEqual(res.rows[1].regParam, { filterTop: 0 }, 'filter:0 is fixed, the value-less filter is searched');
  assert.equal(res.search.length, 4);
  for (const reg of ['filter', 'mba']) {
    const grid = res.search.filter((g: { reg: string }) => g.reg === reg);
    assert.equal(grid.length, 2);
    assert.equal(grid.filter((g: { chosen: boolean }) => g.chosen).length, 1);
    const chosen = grid.find((g: { chosen: boolean }) => g.chosen);
    assert.ok(chosen.validGauc >= Math.max(...grid.map((g: { validGauc: number }) => g.validGauc)));
    const row = res.rows[reg === 'filter' ? 2 : 3];
    assert.deepEqual(row.regParam, { [reg === 'filter' ? 'filterTop' : 'lambda']: chosen.value });
  }
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

test('din train on a schema-described CSV log (item, user and context fields) → din eval reproduces; vocabulary flags recorded', async () => {
  const { writeFileSync, mkdirSync } = await import('node:fs');
  const d = join(dir, 'schema-log');
  mkdirSync(d, { recursive: true });
  const rng = (s: number) => () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const r = rng(7);
  const rows = (n: number) => {
    const out = ['clk,user_id,item_id,cate_id,shop_id,gender,pid,hist_item_ids,hist_cate_ids,hist_shop_ids'];
    for (let i = 0; i < n; i++) {
      const u = Math.floor(r() * 30);
      const item = Math.floor(r() * 40);
      const len = 1 + Math.floor(r() * 6);
      const hist = Array.from({ length: len }, () => Math.floor(r() * 40));
      // clicks follow a planted rule: the candidate's category appears in the history
      const clk = hist.some((h) => h % 5 === item % 5) ? 1 : 0;
      out.push([clk, `u${u}`, `i${item}`, `c${item % 5}`, `s${item % 7}`, u % 2 ? 'f' : 'm', `p${i % 3}`,
        hist.map((h) => `i${h}`).join('|'), hist.map((h) => `c${h % 5}`).join('|'), hist.map((h) => `s${h % 7}`).join('|')].join(','));
    }
    return out.join('\n') + '\n';
  };
  writeFileSync(join(d, 'train.csv'), rows(600));
  writeFileSync(join(d, 'test.csv'), rows(200));
  writeFileSync(join(d, 'log.json'), JSON.stringify({
    files: { train: 'train.csv', test: 'test.csv' }, label: 'clk', user: 'user_id',
    candidate: { goods: 'item_id', category: 'cate_id', fields: ['shop_id'] },
    behaviors: { goods: 'hist_item_ids', category: 'hist_cate_ids', fields: { shop_id: 'hist_shop_ids' } },
    userFields: ['gender'], contextFields: ['pid'],
  }));
  const out = join(dir, 'run-schema');
  const tr = din('train', '--data', join(d, 'log.json'), '--model', 'din', '--epochs', '2', '--embedding-dim', '8', '--min-count', '2', '--out', out);
  assert.equal(tr.code, 0, tr.err);
  assert.match(tr.err, /\(schema\)/);
  const info = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
  assert.deepEqual(info.sampleFields.map((f: { group: string; name: string }) => `${f.group}.${f.name}`), ['user.gender', 'context.pid']);
  assert.equal(info.catalog.itemFields[0].name, 'shop_id');
  assert.equal(info.dataset.buildOptions.vocab.minCount, 2);
  const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
  const ev = din('eval', '--model', out, '--json');
  assert.equal(ev.code, 0, ev.err);
  assert.equal(JSON.parse(ev.out).auc, m.test.auc);
  // the same log converted into shards (streamed, 150 rows each): trained shard by shard, same data, same model
  const shards = join(dir, 'shards');
  const cv = din('data', 'convert', '--data', join(d, 'log.json'), '--min-count', '2', '--shard-rows', '150', '--out', shards);
  assert.equal(cv.code, 0, cv.err);
  assert.match(cv.out, /600 train \/ 200 test samples in \d+ shard\(s\)/);
  const outS = join(dir, 'run-shards');
  const ts = din('train', '--data', shards, '--model', 'din', '--epochs', '2', '--embedding-dim', '8', '--out', outS);
  assert.equal(ts.code, 0, ts.err);
  assert.match(ts.err, /shards\): 600 train \/ 200 test samples/);
  const ms = JSON.parse(readFileSync(join(outS, 'metrics.json'), 'utf8'));
  assert.equal(ms.test.samples, 200);
  assert.ok(Math.abs(ms.test.auc - m.test.auc) < 0.05, `shards auc ${ms.test.auc} vs in-memory ${m.test.auc}`);
  const es = din('eval', '--model', outS, '--json');
  assert.equal(es.code, 0, es.err);
  assert.equal(JSON.parse(es.out).auc, ms.test.auc);
  const again = din('train', '--data', shards, '--min-count', '3', '--epochs', '1');
  assert.notEqual(again.code, 0);
  assert.match(again.err, /shards are already converted; --min-count apply when converting/);
  const bad = din('train', '--data', 'synthetic:small', '--hash-buckets', '10', '--epochs', '1');
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /apply to sources that build field vocabularies \(schema, taobao\); synthetic builds its own/);
});
