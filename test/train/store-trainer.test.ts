/**
 * Training with the tables in a row store (src/train/store-trainer.ts) on one trainer is in-memory training: same
 * kernels, same rows, same order. Checked bit for bit against trainModel, with a MemoryRowStore (the Redis store's
 * tests run the same comparison against a real cluster: test/store/).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadDataset } from '../../src/data/load.js';
import { createBackend } from '../../src/kernels/backends.js';
import { createModel } from '../../src/models/index.js';
import { DEFAULT_MODEL_CONFIG, type ModelConfig } from '../../src/models/model.js';
import { modelCatalog } from '../../src/train/run.js';
import { DEFAULT_TRAIN_OPTIONS, trainModel, type TrainOptions } from '../../src/train/trainer.js';
import { trainWithStore } from '../../src/train/store-trainer.js';
import { storeTables } from '../../src/train/working-set.js';
import { MemoryRowStore } from '../../src/store/memory-store.js';

const cases: Array<{ name: string; config: Partial<ModelConfig>; opts: Partial<TrainOptions> }> = [
  { name: 'DIN, Adam, MBA, clipping', config: { model: 'din' }, opts: { reg: 'mba', lambda: 30 } },
  { name: 'Base with Dice, SGD, dropout', config: { model: 'base', activation: 'dice' }, opts: { optimizer: 'sgd', lr: 0.5, reg: 'dropout' } },
  { name: 'DIN softmax + u⊙q, DiFacto', config: { model: 'din', attentionNorm: 'softmax', mlpInput: 'concat-product' }, opts: { reg: 'difacto', lambda: 1e-3 } },
];

for (const c of cases) {
  test(`one trainer on a MemoryRowStore = in-memory training, bit for bit: ${c.name}`, async () => {
    const data = await loadDataset({ path: 'synthetic:small', noCache: true });
    const config: ModelConfig = { ...DEFAULT_MODEL_CONFIG, goodsDim: 8, attrDim: 8, hidden: [24, 12], attentionHidden: [12, 6], ...c.config } as ModelConfig;
    const options: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS, epochs: 2, batchSize: 64, maxHistory: 15, seed: 5, threads: 1, ...c.opts };
    const catalog = modelCatalog(data.catalog, data.train, options);
    const ref = createModel(config, { backend: createBackend('wasm'), catalog, seed: options.seed, sampleFields: data.sampleFields });
    const a = trainModel(ref, data, options);
    const ext = createModel(config, { backend: createBackend('wasm'), catalog, seed: options.seed, sampleFields: data.sampleFields, externalTables: true });
    const store = new MemoryRowStore(storeTables(ext, { stateSlots: options.optimizer === 'adam' ? 2 : 0 }));
    const b = await trainWithStore(ext, data, options, { store });
    assert.deepEqual(b.history.map((h) => h.test), a.history.map((h) => h.test), 'test metrics of every epoch');
    assert.deepEqual(b.history.map((h) => h.trainLoss), a.history.map((h) => h.trainLoss), 'training loss of every epoch');
    const extParams = ext.params();
    ref.params().forEach((p, i) => {
      const q = extParams[i];
      assert.equal(q.name, p.name);
      if (!p.sparse) {
        assert.ok(p.value.every((v, k) => Object.is(v, q.value[k])), `dense ${p.name} bit-identical`);
        return;
      }
      const t = store.tables.findIndex((s) => s.name === p.name);
      const { rows, dim, stateDim } = store.tables[t];
      const out = new Float32Array(rows * (dim + stateDim));
      store.readSync(t, Int32Array.from({ length: rows }, (_, r) => r), rows, out);
      for (let r = 0; r < rows; r++) {
        for (let k = 0; k < dim; k++) {
          if (!Object.is(out[r * (dim + stateDim) + k], p.value[r * dim + k])) assert.fail(`${p.name} row ${r} col ${k}: store ${out[r * (dim + stateDim) + k]} vs memory ${p.value[r * dim + k]}`);
        }
      }
    });
    for (const [name, buf] of Object.entries(ref.buffers())) assert.deepEqual(Array.from(ext.buffers()[name]), Array.from(buf), `buffer ${name}`);
  });
}
