import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadDataset } from '../../src/data/load.js';
import { itemSampleCounts } from '../../src/data/goods-filter.js';
import { createBackend } from '../../src/kernels/backends.js';
import { DEFAULT_MODEL_CONFIG } from '../../src/models/model.js';
import { runTraining } from '../../src/train/run.js';
import { DEFAULT_TRAIN_OPTIONS, type TrainOptions } from '../../src/train/trainer.js';

const config = { ...DEFAULT_MODEL_CONFIG, model: 'base' as const, goodsDim: 8, attrDim: 8 };

async function run(over: Partial<TrainOptions>) {
  const data = await loadDataset({ path: 'synthetic:small', seed: 3, noCache: true });
  const options = { ...DEFAULT_TRAIN_OPTIONS, epochs: 1, maxHistory: 20, lr: 0.01, ...over };
  return { data, ...runTraining({ data, config, options, backend: createBackend('auto') }) };
}

test('dropout in training: every behaviour fed is counted, about half are dropped; evaluation sees all', async () => {
  const { data, metrics } = await run({ reg: 'dropout', dropoutRate: 0.5 });
  let fed = 0;
  for (let i = 0; i < data.train.size; i++) fed += Math.min(data.train.histLen[i], 20);
  const d = metrics.regularization.dropout!;
  assert.equal(d.behaviours, fed);
  assert.ok(Math.abs(d.dropped - fed / 2) < 0.01 * fed, `dropped ${d.dropped} of ${fed}`);
  assert.ok(Number.isFinite(metrics.test.gauc));
});

test('filter: the kept goods are the top-K of the data the model trains on (never of the validation samples)', async () => {
  const { data, model, metrics } = await run({ reg: 'filter', filterTop: 30 });
  assert.deepEqual(metrics.regularization.filter, { top: 30, goodsRows: 31 });
  const goods = model.params().find((p) => p.name === 'goods_emb')!;
  assert.deepEqual(goods.shape, [31, 8]);
  const counts = itemSampleCounts(data.train, data.catalog.numItems, 20);
  const threshold = [...counts].sort((a, b) => b - a)[29];
  // every item counted more often than the 30th is kept (ties at the threshold may go either way)
  const enc = (model as unknown as { encoder: { goodsMap: Int32Array } }).encoder;
  for (let i = 0; i < counts.length; i++) if (counts[i] > threshold) assert.ok(enc.goodsMap[i] < 30, `item ${i} (count ${counts[i]}) kept`);
});

test('mba with a large λ shrinks the goods embeddings compared with no regularization', async () => {
  const norm = (m: Awaited<ReturnType<typeof run>>['model']) => {
    const p = m.params().find((x) => x.name === 'goods_emb')!;
    let s = 0;
    for (const v of p.value) s += v * v;
    return Math.sqrt(s);
  };
  const none = await run({ reg: 'none' });
  const mba = await run({ reg: 'mba', lambda: 50 });
  assert.deepEqual(mba.metrics.regularization, { reg: 'mba', lambda: 50 });
  assert.ok(norm(mba.model) < 0.8 * norm(none.model), `‖goods‖ ${norm(mba.model)} vs ${norm(none.model)}`);
});

test('goods never seen in training share one out-of-vocabulary row that starts at zero (no untrained random rows)', async () => {
  const { modelCatalog } = await import('../../src/train/run.js');
  const { allocSampleSet } = await import('../../src/data/sample-set.js');
  const { createModel } = await import('../../src/models/index.js');
  const attrs = [[0], [1], [0], [1], [0]];
  const attrOffsets = new Int32Array(6);
  attrs.forEach((a, i) => (attrOffsets[i + 1] = attrOffsets[i] + a.length));
  const catalog = { numItems: 5, numAttrs: 2, attrOffsets, attrValues: Int32Array.from(attrs.flat()), itemKeys: ['a', 'b', 'c', 'd', 'e'], attrKeys: ['x', 'y'] };
  const train = allocSampleSet(2, Int32Array.from([1, 3]));
  train.items.set([0, 1]);
  train.histStart.set([0, 1]);
  train.histLen.set([1, 1]); // seen: 0, 1, 3; never seen: 2, 4
  const opts = { ...DEFAULT_TRAIN_OPTIONS };
  const c = modelCatalog(catalog, train, opts);
  assert.deepEqual(Array.from(c.goodsRows!), [0, 1, 3, 2, 3]);
  assert.equal(c.numGoodsRows, 4);
  assert.ok(c.goodsOov);
  // everything seen: the catalog is left alone (no extra row)
  const all = allocSampleSet(1, Int32Array.from([1, 2, 3, 4]));
  all.histLen[0] = 4;
  assert.equal(modelCatalog(catalog, all, opts), catalog);
  const model = createModel({ ...config, goodsDim: 4, attrDim: 4 }, { backend: createBackend('js'), catalog: c, seed: 1 });
  const goods = model.params().find((p) => p.name === 'goods_emb')!;
  assert.deepEqual(Array.from(goods.value.subarray(12, 16)), [0, 0, 0, 0], 'the OOV row starts at zero');
  // items 2 and 4 (both unseen, same attribute) are now the same input
  const batch = { size: 2, T: 1, labels: new Float32Array(2), users: new Int32Array(2), items: Int32Array.from([2, 4]),
    hist: Int32Array.from([1, 1]), lengths: Int32Array.from([1, 1]), index: new Int32Array(2) };
  const z = model.forward(batch, 'eval');
  assert.equal(z[0], z[1]);
});
