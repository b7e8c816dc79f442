import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel } from '../../src/models/index.js';
import type { Model, ModelConfig, ModelContext } from '../../src/models/model.js';
import type { ItemField, SampleField } from '../../src/core/fields.js';
import type { Batch } from '../../src/core/types.js';
import { createBackend, type BackendKind } from '../../src/kernels/backends.js';
import { createOptimizer, createRegularizer } from '../../src/optim/index.js';
import { DataParallel } from '../../src/train/data-parallel.js';
import { DEFAULT_TRAIN_OPTIONS, trainModel, trainStep } from '../../src/train/trainer.js';
import { generateSynthetic, syntheticOptions } from '../../src/data/sources/synthetic.js';
import { enableRelaxedSimd } from '../../src/kernels/relaxed-flag.js';
import { Rng, tinyCatalog, tinyConfig } from '../models/fixtures.js';

enableRelaxedSimd();

/** tinyCatalog with two item fields and a goods filter (items 4 and 7 have no goods row). */
function catalog(): ModelContext['catalog'] {
  const shop: ItemField = { name: 'shop', size: 4, keys: ['s0', 's1', 's2', 's3'], values: Int32Array.from([0, 1, 2, 3, 0, 1, -1, 2, 3, 0, 1, 2]) };
  const brand: ItemField = { name: 'brand', size: 3, keys: ['b0', 'b1', 'b2'], values: Int32Array.from([2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0]) };
  return { ...tinyCatalog(), itemFields: [shop, brand], goodsRows: Int32Array.from([0, 1, 2, 3, -1, 5, 6, -1, 8, 9, 10, 11]), numGoodsRows: 12 };
}

const sampleFields: SampleField[] = [
  { name: 'gender', group: 'user', size: 3, keys: ['<oov>', 'f', 'm'], oov: true },
  { name: 'pid', group: 'context', size: 2, keys: ['p0', 'p1'] },
];

/** A random batch of B rows (lengths 0..T, −1 padding, labels of both classes). */
function randomBatch(rng: Rng, B: number, T: number): Batch {
  const hist = new Int32Array(B * T).fill(-1);
  const lengths = new Int32Array(B);
  for (let r = 0; r < B; r++) {
    lengths[r] = r === 1 ? 0 : 1 + rng.int(T);
    for (let t = 0; t < lengths[r]; t++) hist[r * T + t] = rng.int(12);
  }
  return {
    size: B, T, hist, lengths,
    labels: Float32Array.from({ length: B }, (_, r) => r % 2),
    users: Int32Array.from({ length: B }, (_, r) => r % 3),
    items: Int32Array.from({ length: B }, () => rng.int(12)),
    index: Int32Array.from({ length: B }, (_, r) => r),
    fieldValues: [Int32Array.from({ length: B }, () => rng.int(3)), Int32Array.from({ length: B }, () => rng.int(2))],
  };
}

const kinds: Array<Partial<ModelConfig> & Pick<ModelConfig, 'model'>> = [
  { model: 'lr' },
  { model: 'base', activation: 'dice' },
  { model: 'din', activation: 'dice', attentionActivation: 'dice' },
  { model: 'din', mlpInput: 'concat-product', attentionNorm: 'softmax' },
  { model: 'wide-deep', wideBuckets: 64 },
  { model: 'pnn', activation: 'dice' },
  { model: 'deepfm' },
];

function pair(kind: Partial<ModelConfig> & Pick<ModelConfig, 'model'>, backend: BackendKind): [Model, Model] {
  const mk = () => createModel(tinyConfig({ ...kind, goodsDim: 3, attrDim: 2 }), { backend: createBackend(backend), catalog: catalog(), seed: 11, sampleFields });
  return [mk(), mk()];
}

function maxRelDiff(a: Model, b: Model): { what: string; rel: number } {
  let worst = { what: '', rel: 0 };
  const check = (name: string, x: ArrayLike<number>, y: ArrayLike<number>) => {
    for (let i = 0; i < x.length; i++) {
      const rel = Math.abs(x[i] - y[i]) / (1e-3 + Math.abs(x[i]));
      if (!(rel <= worst.rel)) worst = { what: `${name}[${i}] ${x[i]} vs ${y[i]}`, rel };
    }
  };
  a.params().forEach((p, i) => check(p.name, p.value, b.params()[i].value));
  const bb = b.buffers();
  for (const [k, v] of Object.entries(a.buffers())) check(k, v, bb[k]);
  return worst;
}

test('data-parallel step = single-thread step (float64, SGD: the same gradients) for every model, even and odd splits', () => {
  for (const kind of kinds) {
    for (const threads of [2, 3]) {
      const [single, multi] = pair(kind, 'js');
      const optS = createOptimizer('sgd');
      const optM = createOptimizer('sgd');
      const dp = DataParallel.create(multi, threads, optM, undefined, 0);
      try {
        const rng = new Rng(5);
        const d = single.backend.alloc(16);
        // B = 7 splits unevenly; B = 2 < 3 threads trains on rank 0 alone; several steps so Dice moving averages move.
        for (const B of [7, 8, 2, 7]) {
          const batch = randomBatch(rng, B, 5);
          const l1 = trainStep(single, batch, optS, 0.5, 0, d);
          const l2 = dp.step(batch, 0.5);
          assert.ok(Math.abs(l1 - l2) <= 1e-12 * Math.abs(l1), `${JSON.stringify(kind)} threads ${threads} B ${B}: loss ${l1} vs ${l2}`);
        }
        assert.doesNotThrow(() => dp.verify(), `${JSON.stringify(kind)} threads ${threads}`);
      } finally {
        dp.close();
      }
      const d = maxRelDiff(single, multi);
      assert.ok(d.rel < 1e-10, `${JSON.stringify(kind)} threads ${threads}: ${d.what} (rel ${d.rel})`);
    }
  }
});

test('data-parallel with Adam, clipping and MBA on the WASM backend stays within float32 rounding of one thread', () => {
  const kind = { model: 'din', activation: 'dice' } as const;
  const [single, multi] = pair(kind, 'auto');
  const rng = new Rng(9);
  const batches = Array.from({ length: 6 }, () => randomBatch(rng, 9, 6));
  // MBA with no training set: every n_j = 1 (any counts do: both sides get the same).
  const reg1 = createRegularizer({ reg: 'mba', lambda: 0.5, denseL2: 1e-3 }, single.params(), [], 6);
  const reg2 = createRegularizer({ reg: 'mba', lambda: 0.5, denseL2: 1e-3 }, multi.params(), [], 6);
  const opt1 = createOptimizer('adam', single.backend);
  const dp = DataParallel.create(multi, 2, createOptimizer('adam', multi.backend), reg2.spec, 0.05);
  try {
    const d = single.backend.alloc(16);
    for (const b of batches) {
      const l1 = trainStep(single, b, opt1, 0.01, 0.05, d, reg1);
      const l2 = dp.step(b, 0.01);
      assert.ok(Math.abs(l1 - l2) < 1e-5, `loss ${l1} vs ${l2}`);
    }
    dp.verify();
  } finally {
    dp.close();
  }
  const diff = maxRelDiff(single, multi);
  assert.ok(diff.rel < 2e-3, `${diff.what} (rel ${diff.rel})`);
});

test('trainModel on 2 threads: verified replicas, reproducible, metrics as on one thread', () => {
  const data = generateSynthetic(syntheticOptions('small'));
  const run = (threads: number) => {
    const model = createModel({ ...tinyConfig({ model: 'din', activation: 'dice' }), goodsDim: 8, attrDim: 8, hidden: [16, 8], attentionHidden: [8, 4] },
      { backend: createBackend('auto'), catalog: data.catalog, seed: 3 });
    const lines: string[] = [];
    const r = trainModel(model, data, { ...DEFAULT_TRAIN_OPTIONS, epochs: 2, threads, maxHistory: 20 }, { log: (l) => lines.push(l) });
    return { r, lines };
  };
  const one = run(1);
  const a = run(2);
  const b = run(2);
  assert.ok(a.lines.some((l) => /training on 2 threads/.test(l)), a.lines.join('\n'));
  assert.deepEqual(a.r.history.map((h) => h.test), b.r.history.map((h) => h.test), 'same seed, same threads ⇒ same metrics');
  assert.deepEqual(a.r.history.map((h) => h.trainLoss), b.r.history.map((h) => h.trainLoss));
  const g1 = one.r.history.at(-1)!.test!.gauc;
  const g2 = a.r.history.at(-1)!.test!.gauc;
  assert.ok(g1 > 0.6 && g2 > 0.6, `both learn: ${g1}, ${g2}`);
  assert.ok(Math.abs(g1 - g2) < 0.02, `GAUC one thread ${g1} vs two ${g2}`);
});

test('a worker that fails reports its error to the caller instead of hanging', () => {
  const [, multi] = pair({ model: 'base' }, 'js');
  // MBA without counts: the worker's regularizer refuses it while building its replica.
  assert.throws(
    () => DataParallel.create(multi, 2, createOptimizer('adam', multi.backend), { opts: { reg: 'mba', lambda: 1, denseL2: 0 }, inverseCounts: {} }, 5),
    /worker 1: .*mba: no counts/s,
  );
  assert.throws(() => DataParallel.create(multi, 1, createOptimizer('sgd'), undefined, 0), /2\.\.16 threads/);
});

test('a model that does not record its context (a Model implemented elsewhere) cannot be replicated', () => {
  const [m] = pair({ model: 'base' }, 'js');
  const fake = Object.create(m, { context: { value: undefined } }) as Model;
  assert.throws(() => DataParallel.create(fake, 2, createOptimizer('sgd'), undefined, 0), /does not record the context/);
});
