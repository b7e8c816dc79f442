import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel } from '../../src/models/index.js';
import type { ModelConfig, ModelContext } from '../../src/models/model.js';
import type { ItemField, SampleField } from '../../src/core/fields.js';
import type { Batch, Dataset, ItemCatalog } from '../../src/core/types.js';
import { allocSampleSet, validateDataset } from '../../src/data/sample-set.js';
import { Batcher } from '../../src/data/batcher.js';
import { validationSplit } from '../../src/data/split.js';
import { sigmoidLogLoss } from '../../src/nn/loss.js';
import { createBackend } from '../../src/kernels/backends.js';
import { loadCheckpoint, saveCheckpoint, catalogToJson } from '../../src/checkpoint/checkpoint.js';
import { be, checkParams } from '../nn/helpers.js';
import { assertPaddingInvariance, Rng, tinyBatch, tinyCatalog, tinyConfig } from './fixtures.js';

/** tinyCatalog + a shop field (item 6 has none) and a brand field; items 4 and 7 have no goods id (behaviour-only). */
function fieldCatalog(): ModelContext['catalog'] {
  const shop: ItemField = { name: 'shop', size: 4, keys: ['s0', 's1', 's2', 's3'], values: Int32Array.from([0, 1, 2, 3, 0, 1, -1, 2, 3, 0, 1, 2]) };
  const brand: ItemField = { name: 'brand', size: 3, keys: ['b0', 'b1', 'b2'], values: Int32Array.from([2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0]) };
  const goodsRows = Int32Array.from([0, 1, 2, 3, -1, 5, 6, -1, 8, 9, 10, 11]);
  return { ...tinyCatalog(), itemFields: [shop, brand], goodsRows, numGoodsRows: 12 };
}

const sampleFields: SampleField[] = [
  { name: 'gender', group: 'user', size: 3, keys: ['<oov>', 'f', 'm'], oov: true },
  { name: 'pid', group: 'context', size: 2, keys: ['p0', 'p1'] },
];

function fieldBatch(): Batch {
  return { ...tinyBatch(), fieldValues: [Int32Array.from([1, 2, 0, 1, 2, 1]), Int32Array.from([0, 1, 1, 0, 0, 1])] };
}

const kinds: Array<Partial<ModelConfig> & Pick<ModelConfig, 'model'>> = [
  { model: 'base' }, { model: 'din', activation: 'dice' }, { model: 'lr' }, { model: 'wide-deep', wideBuckets: 64 },
  { model: 'pnn' }, { model: 'deepfm' }, { model: 'din', mlpInput: 'concat-product' },
];

for (const over of kinds) {
  test(`${over.model}${over.mlpInput ? ' prod' : ''} with item fields, behaviour-only items and user/context fields: gradients vs finite differences`, () => {
    const model = createModel(tinyConfig({ ...over, goodsDim: 2, attrDim: 2 }), { backend: be, catalog: fieldCatalog(), seed: 5, sampleFields });
    const names = model.params().map((p) => p.name);
    if (over.model === 'lr') {
      for (const n of ['lr.cand_shop', 'lr.hist_brand', 'lr.user_gender', 'lr.ctx_pid']) assert.ok(names.includes(n), n);
    } else {
      for (const n of ['field.shop', 'field.brand', 'user.gender', 'ctx.pid']) assert.ok(names.includes(n), `${n} in ${names}`);
    }
    const rng = new Rng(11);
    for (const p of model.params()) {
      if (p.name.endsWith('alpha')) continue;
      for (let i = 0; i < p.value.length; i++) p.value[i] += rng.normal() * 0.4;
    }
    const batch = fieldBatch();
    const f = () => sigmoidLogLoss(model.forward(batch, 'train'), batch.labels, batch.size);
    model.zeroGrad();
    const d = be.alloc(batch.size);
    sigmoidLogLoss(model.forward(batch, 'train'), batch.labels, batch.size, d);
    model.backward(d);
    checkParams(model.params(), f, 4);
    if (over.model !== 'lr') {
      // behaviour-only items (no goods id) never touch the goods table
      const goods = model.params().find((p) => p.name === 'goods_emb')!;
      const rows = Array.from(goods.sparse!.ids.subarray(0, goods.sparse!.count));
      assert.ok(!rows.includes(4) && !rows.includes(7), `goods rows ${rows}`);
    }
  });
}

test('padding stays inert with item and sample fields; the batch must carry the fields the model expects', () => {
  const model = createModel(tinyConfig({ model: 'din', goodsDim: 2, attrDim: 2 }), { backend: be, catalog: fieldCatalog(), seed: 2, sampleFields });
  const batch = fieldBatch();
  const ref = Array.from(model.forward(batch, 'eval'));
  const b2 = fieldBatch();
  for (let b = 0; b < b2.size; b++) for (let t = b2.lengths[b]; t < b2.T; t++) b2.hist[b * b2.T + t] = (b + t) % 12;
  assert.deepEqual(Array.from(model.forward(b2, 'eval')), ref);
  assert.throws(() => model.forward(tinyBatch(), 'eval'), /the batch has 0 fields, the model expects 2 \(gender, pid\)/);
  const bad = fieldBatch();
  bad.fieldValues![0][3] = 3;
  assert.throws(() => model.forward(bad, 'eval'), /sample field "gender": id 3 at row 3 is outside 0\.\.2/);
  // a model without fields ignores nothing silently: it still works on plain batches
  const plain = createModel(tinyConfig({ model: 'din' }), { backend: be, catalog: tinyCatalog(), seed: 2 });
  assertPaddingInvariance(plain);
});

function fieldDataset(): Dataset {
  const catalog: ItemCatalog = { ...(fieldCatalog() as ItemCatalog), itemKeys: Array.from({ length: 12 }, (_, i) => `i${i}`), attrKeys: ['a', 'b', 'c', 'd', 'e'] };
  const hv = Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  const mk = (n: number, offset: number) => {
    const s = allocSampleSet(n, hv);
    s.fieldValues = [new Int32Array(n), new Int32Array(n)];
    for (let i = 0; i < n; i++) {
      s.users[i] = i % 3;
      s.items[i] = (i * 5 + offset) % 12;
      s.labels[i] = i % 2;
      s.histStart[i] = 0;
      s.histLen[i] = 1 + (i % 8);
      s.fieldValues[0][i] = 1 + (i % 3) % 2;
      s.fieldValues[1][i] = i % 2;
    }
    return s;
  };
  return {
    name: 'fields', format: 'test', catalog, numUsers: 3, userKeys: ['u0', 'u1', 'u2'],
    train: mk(24, 0), test: mk(9, 1), sampleFields, skipped: {}, buildOptions: {},
  };
}

test('batcher, validation split and validateDataset carry the sample fields', () => {
  const ds = fieldDataset();
  validateDataset(ds);
  const batcher = new Batcher(ds.train, { batchSize: 5, maxHistory: 4, shuffle: true, seed: 3 });
  let seen = 0;
  for (const b of batcher.epoch(0)) {
    assert.equal(b.fieldValues!.length, 2);
    for (let r = 0; r < b.size; r++) {
      assert.equal(b.fieldValues![0][r], ds.train.fieldValues![0][b.index[r]]);
      assert.equal(b.fieldValues![1][r], ds.train.fieldValues![1][b.index[r]]);
    }
    assert.ok(b.fieldValues![0].length >= b.size);
    seen += b.size;
  }
  assert.equal(seen, 24);
  const v = validationSplit(ds);
  for (const s of [v.train, v.test]) assert.equal(s.fieldValues!.length, 2);
  validateDataset(v);
  const broken = fieldDataset();
  broken.test.fieldValues![1][4] = 7;
  assert.throws(() => validateDataset(broken), /fields test\[4\]: sample field 1 id 7 outside 0\.\.1/);
});

test('a model with item and sample fields saves and reloads bit for bit (float32 WASM backend)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'din-fields-'));
  try {
    const ds = fieldDataset();
    const backend = createBackend('auto');
    const model = createModel(tinyConfig({ model: 'din', goodsDim: 2, attrDim: 2 }), { backend, catalog: ds.catalog, seed: 9, sampleFields });
    const rng = new Rng(4);
    for (const p of model.params()) for (let i = 0; i < p.value.length; i++) p.value[i] += rng.normal() * 0.3;
    saveCheckpoint(dir, model, {
      train: {}, dataset: { name: ds.name, format: ds.format, buildOptions: {}, skipped: {} },
      catalog: catalogToJson(ds.catalog), sampleFields,
    });
    const { model: again, info } = loadCheckpoint(dir, backend);
    assert.deepEqual(info.sampleFields, sampleFields);
    const batch = fieldBatch();
    assert.deepEqual(Array.from(again.forward(batch, 'eval')), Array.from(model.forward(batch, 'eval')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
