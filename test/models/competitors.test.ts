// The paper's competitors (LR, Wide&Deep, PNN, DeepFM): gradients vs finite differences, hand-computed logits,
// the FM identity, the cross hash, masking of padded positions, and a few training steps on the WASM backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModel } from '../../src/models/index.js';
import type { Batch } from '../../src/core/types.js';
import type { Backend, Float } from '../../src/kernels/backend.js';
import type { Model, ModelConfig } from '../../src/models/model.js';
import type { Param } from '../../src/nn/param.js';
import { sigmoidLogLoss } from '../../src/nn/loss.js';
import { FmSecondOrder } from '../../src/nn/fm.js';
import { InnerProduct } from '../../src/nn/product.js';
import { CROSS_SEED_ATTR, CROSS_SEED_GOODS, crossHash } from '../../src/nn/cross.js';
import { createBackend } from '../../src/kernels/backends.js';
import { createOptimizer } from '../../src/optim/index.js';
import { be, checkParams, randn } from '../nn/helpers.js';
import { assertPaddingInvariance, context, Rng, tinyBatch, tinyCatalog, tinyConfig } from './fixtures.js';

type Over = Partial<ModelConfig> & Pick<ModelConfig, 'model'>;

/** Random values everywhere (default init has zero linear weights, tiny embeddings and zero biases). */
function perturb(model: Model, seed: number): void {
  const rng = new Rng(seed);
  for (const p of model.params()) {
    const alpha = p.name.endsWith('alpha');
    const scale = p.sparse ? 0.7 : p.name.endsWith('bias') ? 0.2 : 0.5;
    for (let i = 0; i < p.value.length; i++) {
      p.value[i] = alpha ? 0.1 + 0.4 * rng.next() : p.name.endsWith('weight') ? p.value[i] * 1.5 : rng.normal() * scale;
    }
  }
}

function param(model: Model, name: string): Param {
  const p = model.params().find((q) => q.name === name);
  assert.ok(p, `no param ${name} in ${model.params().map((q) => q.name).join(', ')}`);
  return p;
}

function touched(p: Param): Set<number> {
  return new Set(p.sparse!.ids.subarray(0, p.sparse!.count));
}

// goodsDim 3 / attrDim 2 (tinyConfig): PNN and DeepFM use the 2-field layout [q, u]; 3/3 the 4-field one.
const configs: Over[] = [
  { model: 'lr' },
  { model: 'wide-deep', wideBuckets: 61, activation: 'prelu' },
  { model: 'wide-deep', wideBuckets: 1 << 12, wideAttrCross: false, activation: 'dice', pooling: 'avg' },
  { model: 'pnn', activation: 'prelu' },
  { model: 'pnn', goodsDim: 3, attrDim: 3, activation: 'dice' },
  { model: 'deepfm', activation: 'dice' },
  { model: 'deepfm', goodsDim: 3, attrDim: 3, activation: 'prelu', itemBias: false },
];

const label = (c: Over): string => JSON.stringify(c).replace(/"/g, '');

const expectedNames: Record<string, (c: Over) => string[]> = {
  lr: () => ['lr.bias', 'lr.cand_goods', 'lr.cand_attr', 'lr.hist_goods', 'lr.hist_attr'],
  'wide-deep': () => ['wide.bias', 'wide.cand_goods', 'wide.cand_attr', 'wide.hist_goods', 'wide.hist_attr', 'wide.cross'],
  pnn: () => [],
  deepfm: () => ['fm.bias', 'fm.cand_goods', 'fm.cand_attr', 'fm.hist_goods', 'fm.hist_attr'],
};

for (const [k, over] of configs.entries()) {
  test(`${label(over)}: loss gradient wrt every parameter vs finite differences`, () => {
    const model = createModel(tinyConfig(over), context(be, 20 + k));
    perturb(model, 200 + k);
    const batch = tinyBatch();
    const f = () => sigmoidLogLoss(model.forward(batch, 'train'), batch.labels, batch.size);
    model.zeroGrad();
    const dLogits = be.alloc(batch.size);
    sigmoidLogLoss(model.forward(batch, 'train'), batch.labels, batch.size, dLogits);
    model.backward(dLogits);
    const params = model.params();
    const names = params.map((p) => p.name);
    assert.equal(new Set(names).size, names.length, 'param names are unique');
    const extra = expectedNames[over.model](over);
    if (over.model === 'lr') {
      assert.deepEqual(names, extra);
    } else {
      // Base's params first, unchanged, then the wide / first-order params.
      assert.deepEqual(names.slice(0, 2), ['goods_emb', 'attr_emb']);
      assert.equal(names.includes('item_bias'), over.itemBias !== false);
      assert.deepEqual(names.slice(names.length - extra.length), extra);
      assert.ok(!names.some((n) => n.startsWith('att.')));
    }
    // Items 9 and 11 appear only at padded positions: no gradient row in any item-indexed table.
    for (const p of params) {
      if (!p.sparse || !/goods|item_bias/.test(p.name)) continue;
      const rows = touched(p);
      assert.ok(!rows.has(9) && !rows.has(11), `${p.name}: padded items have no gradient row`);
    }
    if (over.model === 'pnn') {
      const { goodsDim, attrDim } = model.config;
      const F = goodsDim === attrDim ? 4 : 2;
      const D = goodsDim + attrDim;
      assert.deepEqual(param(model, 'mlp.0.weight').shape, [2 * D + (F * (F - 1)) / 2, 6]);
    }
    checkParams(params, f, over.model !== 'lr' && over.activation === 'prelu' ? 2 : 0);
  });
}

test('lr: logit is the hand-computed sum of weights', () => {
  const model = createModel(tinyConfig({ model: 'lr' }), context(be));
  const w = (name: string) => param(model, `lr.${name}`).value;
  w('bias')[0] = 0.5;
  for (let i = 0; i < 12; i++) {
    w('cand_goods')[i] = 1 + i; // 1..12
    w('hist_goods')[i] = 100 * (1 + i); // 100..1200
  }
  for (let a = 0; a < 5; a++) {
    w('cand_attr')[a] = 0.01 * (1 + a);
    w('hist_attr')[a] = 0.0001 * (1 + a);
  }
  // Catalog attrs: 0:[0] 1:[1,2] 3:[] 4:[3,0,1] 11:[4,4].
  const batch: Batch = {
    size: 3, T: 3,
    labels: Float32Array.from([1, 0, 1]),
    users: Int32Array.from([0, 1, 2]),
    items: Int32Array.from([1, 3, 11]),
    hist: Int32Array.from([4, 4, 9, /**/ 7, 7, 7, /**/ 0, 11, 3]),
    lengths: Int32Array.from([2, 0, 3]),
    index: Int32Array.from([0, 1, 2]),
  };
  const expected = [
    // bias + cand 1 + attrs 1,2 + hist 4 twice + attrs of 4 (3,0,1) twice
    0.5 + 2 + (0.02 + 0.03) + 2 * 500 + 2 * (0.0004 + 0.0001 + 0.0002),
    // bias + cand 3 (no attrs), empty history
    0.5 + 4,
    // bias + cand 11 + attr 4 twice + hist 0, 11, 3 + attrs 0; 4, 4
    0.5 + 12 + 2 * 0.05 + (100 + 1200 + 400) + (0.0001 + 2 * 0.0005),
  ];
  const z = Array.from(model.forward(batch, 'eval'));
  z.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-12, `row ${i}: ${v} vs ${expected[i]}`));
});

/** Σ_{f<g} ⟨v_f, v_g⟩ of row r of V [n, F·k]. */
function pairwise(V: ArrayLike<number>, r: number, F: number, k: number): number {
  let s = 0;
  for (let f = 0; f < F; f++) for (let g = f + 1; g < F; g++) for (let j = 0; j < k; j++) s += V[r * F * k + f * k + j] * V[r * F * k + g * k + j];
  return s;
}

test('fm second order equals the explicit pairwise sum; inner products likewise', () => {
  const rng = new Rng(11);
  for (const [F, k] of [[4, 3], [2, 5], [5, 1], [1, 4]]) {
    const n = 7;
    const V = randn(rng, n * F * k);
    const fm = new FmSecondOrder(be, F, k).forward(V, n);
    const ip = new InnerProduct(be, F, k);
    const p = ip.forward(V, n);
    assert.equal(ip.P, (F * (F - 1)) / 2);
    for (let r = 0; r < n; r++) {
      const want = pairwise(V, r, F, k);
      assert.ok(Math.abs(fm[r] - want) < 1e-12, `F=${F} k=${k} row ${r}: fm ${fm[r]} vs ${want}`);
      let sum = 0;
      for (let q = 0; q < ip.P; q++) sum += p[r * ip.P + q];
      assert.ok(Math.abs(sum - want) < 1e-12);
    }
  }
});

/** q [B, D] and sum-pooled u [B, D] from the model's encoder (a fresh lookup, so the model's caches are untouched). */
function encode(model: Model, batch: Batch): { q: Float; u: number[]; D: number } {
  const enc = (model as unknown as { encoder: { D: number; lookup(): { forward(ids: ArrayLike<number>, n: number): Float; forwardPadded(h: ArrayLike<number>, l: ArrayLike<number>, B: number, T: number): Float } } }).encoder;
  const D = enc.D;
  const q = Float64Array.from(enc.lookup().forward(batch.items, batch.size));
  const K = enc.lookup().forwardPadded(batch.hist, batch.lengths, batch.size, batch.T);
  const u = new Array<number>(batch.size * D).fill(0);
  for (let b = 0; b < batch.size; b++) for (let t = 0; t < batch.T; t++) for (let j = 0; j < D; j++) u[b * D + j] += K[(b * batch.T + t) * D + j];
  return { q, u, D };
}

/** A model of another kind with the same values for the params both have (fm./wide. first-order → lr.). */
function sibling(model: Model, over: Over): Model {
  const other = createModel(tinyConfig({ ...model.config, ...over }), context(be, 1));
  const byName = new Map(model.params().map((p) => [p.name.replace(/^(fm|wide)\./, 'lr.'), p]));
  for (const p of other.params()) p.value.set(byName.get(p.name)!.value);
  return other;
}

test('deepfm logit = deep (Base) + first order (LR) + Σ_{f<g} ⟨v_f, v_g⟩ over [q_goods, q_attr, u_goods, u_attr]', () => {
  for (const dims of [{ goodsDim: 3, attrDim: 3 }, { goodsDim: 3, attrDim: 2 }]) {
    const model = createModel(tinyConfig({ model: 'deepfm', ...dims }), context(be, 4));
    perturb(model, 9);
    const batch = tinyBatch();
    const z = Array.from(model.forward(batch, 'eval'));
    const deep = Array.from(sibling(model, { model: 'base', pooling: 'sum' }).forward(batch, 'eval'));
    const lin = Array.from(sibling(model, { model: 'lr' }).forward(batch, 'eval'));
    const { q, u, D } = encode(model, batch);
    const F = dims.goodsDim === dims.attrDim ? 4 : 2;
    const k = (2 * D) / F;
    for (let b = 0; b < batch.size; b++) {
      const V = [...Array.from(q.subarray(b * D, (b + 1) * D)), ...u.slice(b * D, (b + 1) * D)];
      const want = deep[b] + lin[b] + pairwise(V, 0, F, k);
      assert.ok(Math.abs(z[b] - want) < 1e-12, `${JSON.stringify(dims)} row ${b}: ${z[b]} vs ${want}`);
    }
  }
});

test('wide-deep logit = deep (Base) + LR + Σ hashed cross weights of valid behaviours', () => {
  const buckets = 97;
  for (const wideAttrCross of [true, false]) {
    const model = createModel(tinyConfig({ model: 'wide-deep', wideBuckets: buckets, wideAttrCross }), context(be, 5));
    perturb(model, 10);
    const batch = tinyBatch();
    const z = Array.from(model.forward(batch, 'eval'));
    const deep = Array.from(sibling(model, { model: 'base', pooling: 'sum' }).forward(batch, 'eval'));
    const lin = Array.from(sibling(model, { model: 'lr' }).forward(batch, 'eval'));
    const w = param(model, 'wide.cross').value;
    const { attrOffsets, attrValues } = tinyCatalog();
    const attrs = (i: number) => Array.from(attrValues.subarray(attrOffsets[i], attrOffsets[i + 1]));
    for (let b = 0; b < batch.size; b++) {
      let cross = 0;
      const c = batch.items[b];
      for (let t = 0; t < batch.lengths[b]; t++) {
        const h = batch.hist[b * batch.T + t];
        cross += w[crossHash(h, c, CROSS_SEED_GOODS, buckets)];
        if (wideAttrCross) for (const x of attrs(h)) for (const y of attrs(c)) cross += w[crossHash(x, y, CROSS_SEED_ATTR, buckets)];
      }
      const want = deep[b] + lin[b] + cross;
      assert.ok(Math.abs(z[b] - want) < 1e-12, `attrCross=${wideAttrCross} row ${b}: ${z[b]} vs ${want}`);
    }
  }
});

test('cross hash: deterministic, in range, spread, order-sensitive, independent of the model seed', () => {
  // Pinned values (= MurmurHash3 x86_32 of the 8 little-endian bytes, checked with a Python reference): a
  // checkpoint's wide.cross rows must mean the same pairs in every version.
  assert.deepEqual([crossHash(0, 0, CROSS_SEED_GOODS, 2 ** 20), crossHash(1, 2, CROSS_SEED_GOODS, 2 ** 20),
    crossHash(123456, 7, CROSS_SEED_ATTR, 1000)], [891864, 561742, 304]);
  for (const buckets of [1, 2, 61, 1024, 2 ** 20, 2 ** 26]) {
    for (let a = 0; a < 200; a++) {
      for (const b of [0, 1, 17, 99999, 2 ** 31 - 1]) {
        const h = crossHash(a, b, CROSS_SEED_GOODS, buckets);
        assert.ok(Number.isInteger(h) && h >= 0 && h < buckets, `${h} not in [0, ${buckets})`);
        assert.equal(crossHash(a, b, CROSS_SEED_GOODS, buckets), h);
      }
    }
  }
  const counts = new Array<number>(64).fill(0);
  let swapped = 0;
  for (let a = 0; a < 128; a++) {
    for (let b = 0; b < 100; b++) {
      counts[crossHash(a, b, CROSS_SEED_GOODS, 64)]++;
      if (a !== b && crossHash(a, b, CROSS_SEED_GOODS, 2 ** 20) !== crossHash(b, a, CROSS_SEED_GOODS, 2 ** 20)) swapped++;
    }
  }
  // 12800 pairs into 64 buckets: mean 200, sd ≈ 14.
  assert.ok(Math.min(...counts) > 130 && Math.max(...counts) < 270, `uneven buckets ${Math.min(...counts)}..${Math.max(...counts)}`);
  assert.ok(swapped > 12600, `(a, b) and (b, a) collide too often (${12700 - swapped})`);
  const rowsOf = (seed: number) => {
    const m = createModel(tinyConfig({ model: 'wide-deep', wideBuckets: 1 << 16 }), context(be, seed));
    const batch = tinyBatch();
    m.zeroGrad();
    m.forward(batch, 'train');
    m.backward(be.alloc(batch.size).fill(1));
    return [...touched(param(m, 'wide.cross'))].sort((x, y) => x - y);
  };
  assert.deepEqual(rowsOf(1), rowsOf(2));
});

for (const over of [
  { model: 'lr' },
  { model: 'wide-deep', wideBuckets: 4093 },
  { model: 'pnn', goodsDim: 3, attrDim: 3, activation: 'dice' },
  { model: 'pnn' },
  { model: 'deepfm', goodsDim: 3, attrDim: 3 },
  { model: 'deepfm', activation: 'dice', pooling: 'avg' },
] as Over[]) {
  test(`${label(over)}: padded positions contribute exactly 0`, () => {
    const model = createModel(tinyConfig(over), context(be));
    perturb(model, 5);
    assertPaddingInvariance(model);
    assert.equal(model.attention(), null);
  });
}

test('competitors: config validation, unknown model, batch of one, empty batch', () => {
  assert.throws(() => createModel(tinyConfig({ model: 'wide-deep', wideBuckets: 0 }), context(be)), /wideBuckets/);
  assert.throws(() => createModel(tinyConfig({ model: 'wide-deep', wideBuckets: 2.5 }), context(be)), /wideBuckets/);
  assert.throws(() => createModel(tinyConfig({ model: 'wide-deep', wideBuckets: 2 ** 40 }), context(be)), /wideBuckets/);
  assert.throws(() => createModel(tinyConfig({ model: 'lr', goodsDim: -1 }), context(be)), /goodsDim/);
  assert.throws(() => createModel(tinyConfig({ model: 'fm' as 'lr' }), context(be)), /unknown model.*lr \| base \| wide-deep \| pnn \| deepfm \| din/);
  // PNN / DeepFM with mismatched or zero attribute width fall back to the [q, u] field pair instead of failing.
  for (const model of ['pnn', 'deepfm'] as const) {
    for (const dims of [{ goodsDim: 4, attrDim: 2 }, { goodsDim: 3, attrDim: 0 }]) {
      const m = createModel(tinyConfig({ model, ...dims }), context(be));
      perturb(m, 1);
      const z = Array.from(m.forward(tinyBatch(), 'train'));
      assert.ok(z.every(Number.isFinite), `${model} ${JSON.stringify(dims)}`);
      m.backward(be.alloc(6).fill(0.1));
    }
  }
  // A catalog without attributes: no attribute tables, still works.
  const bare = { numItems: 12, numAttrs: 0, attrOffsets: new Int32Array(13), attrValues: new Int32Array(0) };
  for (const model of ['lr', 'wide-deep', 'pnn', 'deepfm'] as const) {
    const m = createModel(tinyConfig({ model, goodsDim: 2, attrDim: 2, wideBuckets: 64 }), { backend: be, catalog: bare, seed: 1 });
    assert.ok(!m.params().some((p) => p.name.endsWith('attr')), `${model}: no attribute tables`);
    perturb(m, 2);
    assert.ok(Array.from(m.forward(tinyBatch(), 'train')).every(Number.isFinite));
    m.backward(be.alloc(6).fill(0.1));
    const one = { ...tinyBatch(), size: 1 };
    assert.equal(m.forward(one, 'train').length, 1);
    assert.equal(m.forward({ ...tinyBatch(), size: 0 }, 'train').length, 0);
    m.backward(be.alloc(0));
    assert.throws(() => m.forward({ ...tinyBatch(), items: Int32Array.from([0, 1, 2, 3, 4, 12]) }, 'eval'), /out of range/);
  }
});

test('every model trains on the WASM backend: finite loss that decreases on a tiny learnable batch', () => {
  const backend: Backend = createBackend('auto');
  const batch = tinyBatch();
  const losses: string[] = [];
  for (const model of ['lr', 'base', 'wide-deep', 'pnn', 'deepfm', 'din'] as const) {
    // Full-size default wide table; tiny embeddings and MLP.
    const m = createModel(tinyConfig({ model, goodsDim: 8, attrDim: 8, hidden: [16, 8] }), context(backend, 3));
    const opt = createOptimizer('adam', backend);
    const dLogits = backend.alloc(batch.size);
    const curve: number[] = [];
    for (let step = 0; step < 40; step++) {
      m.zeroGrad();
      const loss = sigmoidLogLoss(m.forward(batch, 'train'), batch.labels, batch.size, dLogits);
      assert.ok(Number.isFinite(loss), `${model}: loss ${loss} at step ${step}`);
      curve.push(loss);
      m.backward(dLogits);
      opt.step(m.params(), 0.02);
    }
    losses.push(`${model} ${curve[0].toFixed(4)} → ${curve[curve.length - 1].toFixed(4)}`);
    assert.ok(curve[curve.length - 1] < 0.8 * curve[0], `${model}: loss ${curve[0]} → ${curve[curve.length - 1]}`);
  }
  console.log(`  ${backend.name}: ${losses.join(', ')}`);
});
