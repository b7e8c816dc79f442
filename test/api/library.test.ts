/**
 * The public library API (src/index.ts) as a user calls it: train → save → load → rank, settings validation, and the
 * README's "Use it as a library" example, which must be examples/library.mjs verbatim and must run.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import * as din from '../../src/index.js';
import { loadDataset, loadModel, RankingEngine, resolveTrainSettings, train, TRAIN_SETTINGS_KEYS, type RankRequest } from '../../src/index.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const EXAMPLE = join(ROOT, 'examples', 'library.mjs');
const dir = mkdtempSync(join(tmpdir(), 'din-api-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

test('the README example is examples/library.mjs verbatim, at most ~20 lines', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf('## Use it as a library');
  assert.ok(at >= 0, 'README has a "Use it as a library" section');
  const block = /```js\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(block, 'the section has a ```js block');
  const example = readFileSync(EXAMPLE, 'utf8');
  assert.equal(block[1], example, 'README block and examples/library.mjs differ: keep them identical');
  assert.ok(example.trim().split('\n').length <= 22, 'the example stays short');
});

test('the README example runs: trains Base and DIN, saves, loads into the engine, ranks with attention', () => {
  const cwd = mkdtempSync(join(dir, 'example-'));
  const out = execFileSync(process.execPath, [EXAMPLE], { cwd, encoding: 'utf8', timeout: 300_000 });
  const lines = out.trim().split('\n');
  const g = /^GAUC: base (\d\.\d{4}), DIN (\d\.\d{4}), RelaImpr (-?\d+\.\d\d)%$/.exec(lines[0]);
  assert.ok(g, `first line reports GAUC: ${lines[0]}`);
  for (const v of [g[1], g[2]]) assert.ok(Number(v) > 0.5 && Number(v) < 1, `GAUC ${v} is better than chance`);
  const ranked = lines.slice(1).map((l) => /^#(\d) item (\S+): ctr (\d\.\d{3}), eCPM (\d+\.\d{3}), attention \[(.*)\]$/.exec(l));
  assert.equal(ranked.length, 3, out);
  ranked.forEach((m, i) => {
    assert.ok(m, `ranked line ${i + 1}: ${lines[i + 1]}`);
    assert.equal(Number(m[1]), i + 1);
    assert.equal(m[5].split(' ').length, 3, 'one attention weight per behaviour');
  });
  const ecpm = ranked.map((m) => Number(m![4]));
  assert.ok(ecpm[0] >= ecpm[1] && ecpm[1] >= ecpm[2], `ranked by eCPM: ${ecpm}`);
});

test('train → save → loadModel reproduces predictions and rankings bit for bit', async () => {
  const data = await loadDataset({ path: 'synthetic:small', noCache: true });
  const trained = await train(data, { model: 'din', epochs: 1, embeddingDim: 8, hidden: [16], attentionHidden: [8], threads: 1, maxHistory: 12 });
  assert.equal(trained.config.model, 'din');
  assert.equal(trained.maxHistory, 12);
  assert.equal(trained.metrics.test.samples, data.test.size);
  assert.deepEqual(trained.evaluate(data), trained.metrics.test, 'evaluate(data) = the metrics training reported');
  const out = join(dir, 'din');
  trained.save(out);
  const loaded = loadModel(out);
  assert.equal(loaded.maxHistory, 12);
  assert.deepEqual(loaded.metrics?.test, trained.metrics.test, 'metrics.json read back');
  const p1 = trained.predict(data.test);
  const p2 = loaded.predict(data.test);
  assert.equal(p1.length, data.test.size);
  assert.ok(p1.every((p) => p > 0 && p < 1), 'predict gives probabilities');
  assert.ok(p1.every((p, i) => Object.is(p, p2[i])), 'loaded predictions identical');

  const keys = data.catalog.itemKeys;
  const req: RankRequest = { user: { behaviors: [{ id: keys[0] }, { id: keys[9] }] }, candidates: keys.slice(20, 30).map((id, i) => ({ id, bid: 1 + i / 10 })) };
  const a = RankingEngine.fromTrained(trained).explain(req);
  const b = RankingEngine.load(out).explain(req);
  assert.deepEqual(a.candidates, b.candidates);
  assert.equal(a.rankedBy, 'ecpm');
  assert.ok(a.candidates.every((c) => c.attention?.length === 2), 'explain gives a weight per behaviour');
  assert.ok(RankingEngine.fromTrained(trained).rank(req).candidates.every((c) => c.attention === undefined), 'rank alone does not explain');
});

test('train() takes a path, and its settings are checked with errors naming the key', async () => {
  const t = await train('synthetic:small', { model: 'lr', epochs: 1, threads: 1 });
  assert.equal(t.dataset.name, 'synthetic-small');
  assert.equal(t.trainOptions.lr, 0.01, 'lr model default learning rate, as din train');
  await assert.rejects(train('synthetic:small', { model: 'dinn' as 'din' }), /settings\.model must be one of lr \| base \| wide-deep \| pnn \| deepfm \| din/);
  assert.throws(() => resolveTrainSettings({ epoch: 3 } as object), (e: Error) => e.message.includes('unknown setting "epoch"') && e.message.includes('epochs'));
  assert.throws(() => resolveTrainSettings({ epochs: 0, lr: -1 }), (e: Error) => /settings\.epochs must be >= 1/.test(e.message) && /settings\.lr must be > 0/.test(e.message));
  assert.throws(() => resolveTrainSettings({ threads: 'many' as 'auto' }), /settings\.threads must be "auto" or an integer in \[1, 16\]/);
  assert.throws(() => resolveTrainSettings({ hidden: [200, 0] }), /settings\.hidden\.1 must be >= 1/);
  const { config, options } = resolveTrainSettings({ model: 'base', embeddingDim: 18, threads: 2, reg: 'mba' });
  assert.equal(config.goodsDim, 18);
  assert.equal(config.attrDim, 18);
  assert.equal(options.threads, 2);
  assert.equal(options.reg, 'mba');
  assert.ok(TRAIN_SETTINGS_KEYS.includes('attentionNorm'));
});

test('the package exports what the README and the issue promise', () => {
  const fns = ['loadDataset', 'loadAmazonSeq', 'loadAmazonRaw', 'loadDinRemapped', 'loadMovieLens', 'loadTaobao', 'loadSchemaDataset', 'openShards',
    'generateSynthetic', 'fetchDataset', 'createModel', 'createBackend', 'train', 'trainModel', 'evaluateModel', 'predict', 'auc', 'gauc',
    'logloss', 'relaImpr', 'loadModel', 'saveCheckpoint', 'loadCheckpoint', 'exportOnnx', 'exportCheckpointToOnnx', 'renderReport'];
  for (const f of fns) assert.equal(typeof (din as Record<string, unknown>)[f], 'function', f);
  for (const c of ['RankingEngine', 'RankingServer', 'TrainedModel', 'Batcher']) assert.equal(typeof (din as Record<string, unknown>)[c], 'function', c);
});
