import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allocSampleSet } from '../../src/data/sample-set.js';
import type { ItemCatalog, SampleSet } from '../../src/core/types.js';
import { BehaviourDropout } from '../../src/data/id-dropout.js';
import { filterGoods, itemSampleCounts } from '../../src/data/goods-filter.js';
import { countPerSample } from '../../src/core/occurrence.js';
import { createModel } from '../../src/models/index.js';
import type { ModelConfig } from '../../src/models/model.js';
import { Embedding } from '../../src/nn/embedding.js';
import { ItemEncoder } from '../../src/nn/item-encoder.js';
import { FirstOrderTerms } from '../../src/nn/first-order.js';
import { HashedCross, crossHash, CROSS_SEED_GOODS, CROSS_SEED_ATTR } from '../../src/nn/cross.js';
import { sigmoidLogLoss } from '../../src/nn/loss.js';
import type { Param } from '../../src/nn/param.js';
import { Sgd, createRegularizer } from '../../src/optim/index.js';
import { Rng } from '../../src/util/rng.js';
import { be, checkParams } from '../nn/helpers.js';
import { tinyBatch, tinyCatalog, tinyConfig } from '../models/fixtures.js';

/** 4 items without attributes; samples: (cand 0 | hist 1 2), (cand 1 | hist 1 1), (cand 2 | hist 3 0 2 1) */
function toySet(): SampleSet {
  const hv = Int32Array.from([1, 2, 1, 1, 3, 0, 2, 1]);
  const s = allocSampleSet(3, hv);
  s.items.set([0, 1, 2]);
  s.histStart.set([0, 2, 4]);
  s.histLen.set([2, 2, 4]);
  s.users.set([0, 1, 2]);
  return s;
}

test('occurrence counts: each sample counts an id once, histories truncated like the batcher', () => {
  const set = toySet();
  // all history: item0 in s0 (cand), s2 (hist) → 2; item1 in s0, s1, s2 → 3; item2 in s0, s2 → 2; item3 in s2 → 1
  assert.deepEqual(Array.from(itemSampleCounts(set, 4, 0)), [2, 3, 2, 1]);
  // most recent 2 behaviours: s2 sees (2, 1) only → item0 1, item3 0
  assert.deepEqual(Array.from(itemSampleCounts(set, 4, 2)), [1, 3, 2, 0]);
  assert.throws(() => countPerSample(set, 2, (i, emit) => emit(set.items[i])), /row 2 outside 0\.\.1 \(sample 2\)/);
});

test('occurrence counts of every sparse table: encoder, first-order fields and hashed crosses', () => {
  const cat = tinyCatalog();
  const hv = Int32Array.from([1, 4, 4, 2]);
  const set = allocSampleSet(2, hv);
  set.items.set([1, 8]); // attrs of 1: [1,2]; of 8: [2,3]
  set.histStart.set([0, 2]);
  set.histLen.set([2, 2]); // s0 hist 1,4 (attrs 3,0,1); s1 hist 4,2 (attrs 3,0,1 / 2)
  const enc = new ItemEncoder(be, cat, { goodsDim: 2, attrDim: 2, itemBias: true }, new Rng(1));
  const goods = enc.goods.param.countRows!(set, 0);
  const want = new Array(12).fill(0);
  want[1] = 1; want[4] = 2; want[8] = 1; want[2] = 1;
  assert.deepEqual(Array.from(goods), want);
  // s0 attrs {1,2} ∪ {1,2,3,0} = {0,1,2,3}; s1 {2,3} ∪ {3,0,1,2} = {0,1,2,3}
  assert.deepEqual(Array.from(enc.attrs!.param.countRows!(set, 0)), [2, 2, 2, 2, 0]);
  assert.equal(enc.bias!.param.decay, false);
  const fo = new FirstOrderTerms(be, 'lin', cat);
  assert.equal(fo.candGoods.param.countRows!(set, 0)[8], 1);
  assert.equal(fo.candGoods.param.countRows!(set, 0)[4], 0, 'a behaviour is not a candidate feature');
  assert.equal(fo.histGoods.param.countRows!(set, 0)[4], 2);
  assert.deepEqual(Array.from(fo.candAttr!.param.countRows!(set, 0)), [0, 1, 2, 1, 0]);
  assert.deepEqual(Array.from(fo.histAttr!.param.countRows!(set, 0)), [2, 2, 2, 2, 0]);
  assert.deepEqual(Array.from(fo.histAttr!.param.countRows!(set, 1)), [1, 1, 1, 1, 0]); // s0 sees 4 only, s1 sees 2
  const cross = new HashedCross(be, 'wide', 1 << 16, cat, true);
  const c = cross.bag.param.countRows!(set, 0);
  assert.equal(c[crossHash(4, 1, CROSS_SEED_GOODS, 1 << 16)], 1);
  assert.equal(c[crossHash(4, 8, CROSS_SEED_GOODS, 1 << 16)], 1);
  // attr pair (0 of item 4, 2 of the candidate): candidates 1 (attrs 1,2) and 8 (attrs 2,3) both have 2 → 2 samples
  assert.equal(c[crossHash(0, 2, CROSS_SEED_ATTR, 1 << 16)], 2);
});

/** A 4×2 table with values 1..8 whose compact gradient holds rows 2 and 0 (in that order). */
function table(): { emb: Embedding; p: Param } {
  const emb = new Embedding(be, 'goods_emb', 4, 2, new Rng(0));
  const p = emb.param;
  p.value.set([1, 2, 3, 4, 5, 6, 7, 8]);
  emb.backward(Int32Array.from([2, 0, 2]), 3, Float64Array.from([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]));
  // compact rows: slot 0 = row 2 (0.1+0.5, 0.2+0.6), slot 1 = row 0 (0.3, 0.4)
  p.countRows = () => Float64Array.from([4, 1, 2, 0]);
  return { emb, p };
}

test('mba: one SGD step equals the hand-computed Eq. 7, rows absent from the batch are bit-identical', () => {
  const { p } = table();
  const lambda = 0.5;
  const lr = 0.1;
  const reg = createRegularizer({ reg: 'mba', lambda, denseL2: 0 }, [p], allocSampleSet(0, new Int32Array(0)), 0);
  const before = Float64Array.from(p.value);
  reg.apply();
  new Sgd().step([p], lr);
  // row 2 (n=2): w − η(g + λ/2·w); row 0 (n=4): w − η(g + λ/4·w)
  const exp = Array.from(before);
  exp[4] = 5 - lr * (0.6 + (lambda / 2) * 5);
  exp[5] = 6 - lr * (0.8 + (lambda / 2) * 6);
  exp[0] = 1 - lr * (0.3 + (lambda / 4) * 1);
  exp[1] = 2 - lr * (0.4 + (lambda / 4) * 2);
  for (let i = 0; i < 8; i++) assert.ok(Math.abs(p.value[i] - exp[i]) < 1e-15, `w[${i}] = ${p.value[i]}, expected ${exp[i]}`);
  // rows 1 and 3 were not in the batch: untouched, bit for bit
  assert.deepEqual([p.value[2], p.value[3], p.value[6], p.value[7]], [before[2], before[3], before[6], before[7]]);
});

test('difacto: rows in the batch get λ·w whatever their frequency; l2: every row, every step', () => {
  {
    const { p } = table();
    const before = Float64Array.from(p.value);
    createRegularizer({ reg: 'difacto', lambda: 0.5, denseL2: 0 }, [p], allocSampleSet(0, new Int32Array(0)), 0).apply();
    assert.deepEqual(Array.from(p.grad.subarray(0, 4)), [0.6 + 0.5 * 5, 0.8 + 0.5 * 6, 0.3 + 0.5 * 1, 0.4 + 0.5 * 2]);
    new Sgd().step([p], 1);
    assert.deepEqual([p.value[2], p.value[3], p.value[6], p.value[7]], [before[2], before[3], before[6], before[7]]);
  }
  {
    const { p } = table();
    createRegularizer({ reg: 'l2', lambda: 0.5, denseL2: 0 }, [p], allocSampleSet(0, new Int32Array(0)), 0).apply();
    assert.equal(p.sparse!.count, 4, 'l2 lists every row');
    const g = new Map<number, number[]>();
    for (let r = 0; r < 4; r++) g.set(p.sparse!.ids[r], [p.grad[2 * r], p.grad[2 * r + 1]]);
    assert.deepEqual(g.get(2), [0.6 + 2.5, 0.8 + 3]);
    assert.deepEqual(g.get(0), [0.3 + 0.5, 0.4 + 1]);
    assert.deepEqual(g.get(1), [1.5, 2]); // not in the batch: penalty only
    assert.deepEqual(g.get(3), [3.5, 4]);
  }
});

test('regularizers skip decay-free params; dense L2 applies to dense weights under any reg', () => {
  const { p } = table();
  const bias: Param = { name: 'b', shape: [2], value: Float64Array.from([1, 1]), grad: new Float64Array(2), decay: false };
  const w: Param = { name: 'w', shape: [2], value: Float64Array.from([2, -4]), grad: Float64Array.from([1, 1]) };
  const itemBias = table().p;
  itemBias.decay = false;
  const g0 = Float64Array.from(itemBias.grad);
  const set = allocSampleSet(0, new Int32Array(0));
  createRegularizer({ reg: 'mba', lambda: 1, denseL2: 0.25 }, [p, bias, w, itemBias], set, 0).apply();
  assert.deepEqual(Array.from(w.grad), [1.5, 0]);
  assert.deepEqual(Array.from(bias.grad), [0, 0]);
  assert.deepEqual(Array.from(itemBias.grad), Array.from(g0));
  // none with dense L2 only touches the dense weights
  const q = table().p;
  const gq = Float64Array.from(q.grad);
  createRegularizer({ reg: 'none', lambda: 1, denseL2: 0.25 }, [q, w], set, 0).apply();
  assert.deepEqual(Array.from(q.grad), Array.from(gq));
  assert.deepEqual(Array.from(w.grad), [2, -1]);
});

test('mba: clear errors for a table without counts and for bad λ', () => {
  const { p } = table();
  delete p.countRows;
  const set = allocSampleSet(0, new Int32Array(0));
  assert.throws(() => createRegularizer({ reg: 'mba', lambda: 1, denseL2: 0 }, [p], set, 0), /table "goods_emb" has no occurrence counts/);
  assert.throws(() => createRegularizer({ reg: 'difacto', lambda: -1, denseL2: 0 }, [p], set, 0), /lambda must be a number >= 0/);
  assert.throws(() => createRegularizer({ reg: 'bogus' as never, lambda: 1, denseL2: 0 }, [p], set, 0), /unknown regularizer "bogus"/);
});

test('mba: a real model step changes only the embedding rows of the batch (plus dense weights)', () => {
  const model = createModel(tinyConfig({ model: 'din' }), { backend: be, catalog: tinyCatalog(), seed: 3 });
  const batch = tinyBatch();
  const set = allocSampleSet(1, Int32Array.from([1]));
  set.items[0] = 0;
  set.histLen[0] = 1;
  const reg = createRegularizer({ reg: 'mba', lambda: 10, denseL2: 0 }, model.params(), set, 50);
  const goods = model.params()[0];
  const before = Float64Array.from(goods.value);
  model.zeroGrad();
  const logits = model.forward(batch, 'train');
  const d = be.alloc(batch.size);
  sigmoidLogLoss(logits, batch.labels, batch.size, d);
  model.backward(d);
  reg.apply();
  new Sgd().step(model.params(), 0.1);
  const inBatch = new Set<number>();
  for (let b = 0; b < batch.size; b++) {
    inBatch.add(batch.items[b]);
    for (let t = 0; t < batch.lengths[b]; t++) inBatch.add(batch.hist[b * batch.T + t]);
  }
  for (let r = 0; r < 12; r++) {
    const changed = goods.value[r * 3] !== before[r * 3] || goods.value[r * 3 + 1] !== before[r * 3 + 1] || goods.value[r * 3 + 2] !== before[r * 3 + 2];
    assert.equal(changed, inBatch.has(r), `goods row ${r}`);
  }
});

test('dropout: exactly ⌊rate·L⌋ or ⌈rate·L⌉ behaviours dropped per row, order kept, padding −1', () => {
  const rng = new Rng(5);
  for (const rate of [0.5, 0.25, 0.3]) {
    const drop = new BehaviourDropout(rate, rng.fork(Math.round(rate * 100)));
    let expected = 0;
    let variance = 0;
    for (let rep = 0; rep < 200; rep++) {
      const batch = tinyBatch();
      const orig = Int32Array.from(batch.hist);
      const lens = Int32Array.from(batch.lengths);
      drop.apply(batch);
      for (let b = 0; b < batch.size; b++) {
        const L = lens[b];
        const x = rate * L;
        expected += x;
        variance += (x - Math.floor(x)) * (1 - (x - Math.floor(x)));
        const dropped = L - batch.lengths[b];
        assert.ok(dropped === Math.floor(x) || dropped === Math.ceil(x), `row ${b}: dropped ${dropped} of ${L} at rate ${rate}`);
        // kept ids are a subsequence of the original, then padding
        let j = 0;
        for (let t = 0; t < batch.lengths[b]; t++) {
          while (orig[b * batch.T + j] !== batch.hist[b * batch.T + t]) j++;
          j++;
          assert.ok(j <= L);
        }
        for (let t = batch.lengths[b]; t < L; t++) assert.equal(batch.hist[b * batch.T + t], -1);
        assert.equal(batch.items[b], tinyBatch().items[b], 'the candidate is never dropped');
      }
    }
    assert.equal(drop.seen, 200 * 13);
    // the rounding is unbiased: the total is rate·L in expectation (within 4.5 standard deviations)
    assert.ok(Math.abs(drop.dropped - expected) <= 4.5 * Math.sqrt(variance) + 1e-9, `dropped ${drop.dropped}, expected ≈ ${expected} ± ${Math.sqrt(variance)}`);
  }
  // rate·L integral → exact; rate 0 → no change
  const d = new BehaviourDropout(0.25, new Rng(1));
  const batch = tinyBatch();
  d.apply(batch);
  assert.equal(batch.lengths[0], 3); // 4 → 3 exactly
  const b0 = tinyBatch();
  new BehaviourDropout(0, new Rng(1)).apply(b0);
  assert.deepEqual(b0, tinyBatch());
  assert.throws(() => new BehaviourDropout(1, new Rng(1)), /dropout rate must be in \[0, 1\)/);
});

function fullCatalog(): ItemCatalog {
  const c = tinyCatalog();
  return { ...c, itemKeys: Array.from({ length: c.numItems }, (_, i) => `i${i}`), attrKeys: ['a', 'b', 'c', 'd', 'e'] };
}

test('filter: the top-K goods keep their own row, the rest share one; K = 0 removes goods ids', () => {
  const cat = fullCatalog();
  const counts = Float64Array.from([5, 0, 9, 1, 5, 2, 7, 0, 3, 0, 0, 1]);
  const f = filterGoods(cat, counts, 3); // top 3: item 2 (9), item 6 (7), item 0 (5, beats item 4 by id)
  assert.equal(f.numGoodsRows, 4);
  assert.deepEqual(Array.from(f.goodsRows!), [0, 3, 1, 3, 3, 3, 2, 3, 3, 3, 3, 3]);
  let kept = 0;
  for (const r of f.goodsRows!) if (r < 3) kept++;
  assert.equal(kept, 3);
  assert.equal(cat.goodsRows, undefined, 'the input catalog is unchanged');
  const none = filterGoods(cat, counts, 0);
  assert.equal(none.numGoodsRows, 1);
  assert.ok(none.goodsRows!.every((r) => r === 0));
  const all = filterGoods(cat, counts, 100); // only the 8 seen items are kept
  assert.equal(all.numGoodsRows, 9);
  assert.throws(() => filterGoods(cat, counts, -1), /top-K must be a non-negative integer/);
  // on a catalog that already maps items to goods rows (a vocabulary, behaviour-only items with −1): rows are
  // filtered, −1 stays −1
  const pre = { ...cat, goodsRows: Int32Array.from([0, 0, 1, 2, -1, 3, 3, -1, 4, 4, 4, 5]), numGoodsRows: 6 };
  const g = filterGoods(pre, Float64Array.from([9, 0, 5, 7, 1, 2]), 2); // keep rows 0 (9) and 3 (7)
  assert.equal(g.numGoodsRows, 3);
  assert.deepEqual(Array.from(g.goodsRows!), [0, 0, 2, 2, -1, 1, 1, -1, 2, 2, 2, 2]);
  assert.throws(() => filterGoods(pre, counts, 2), /12 counts for 6 goods rows/);
  // the encoder: filtered-out items share the goods part, keep their attributes
  const enc = new ItemEncoder(be, f, { goodsDim: 2, attrDim: 2, itemBias: true }, new Rng(3));
  assert.deepEqual(enc.goods.param.shape, [4, 2]);
  assert.deepEqual(enc.bias!.param.shape, [4, 1]);
  const out = enc.lookup().forward(Int32Array.from([1, 5, 2]), 3);
  assert.deepEqual([out[0], out[1]], [out[4], out[5]]);
  assert.notDeepEqual([out[2], out[3]], [out[6], out[7]]);
  assert.notDeepEqual([out[0], out[1]], [out[8], out[9]]);
  assert.throws(() => new ItemEncoder(be, { ...f, numGoodsRows: 2 }, { goodsDim: 2, attrDim: 2, itemBias: false }, new Rng(3)),
    /item 1 maps to goods row 3, expected -1\.\.1/);
});

const filteredConfigs: Array<Partial<ModelConfig> & Pick<ModelConfig, 'model'>> = [
  { model: 'base' }, { model: 'din' }, { model: 'lr' }, { model: 'wide-deep', wideBuckets: 64 }, { model: 'deepfm' },
];
for (const over of filteredConfigs) {
  test(`${over.model} with a goods filter: gradients vs finite differences, shared rare row`, () => {
    const counts = Float64Array.from([5, 0, 9, 1, 5, 2, 7, 0, 3, 0, 0, 1]);
    const catalog = filterGoods(fullCatalog(), counts, 4);
    const model = createModel(tinyConfig(over), { backend: be, catalog, seed: 4 });
    const rng = new Rng(9);
    for (const p of model.params()) for (let i = 0; i < p.value.length; i++) p.value[i] += rng.normal() * 0.3;
    const batch = tinyBatch();
    const f = () => sigmoidLogLoss(model.forward(batch, 'train'), batch.labels, batch.size);
    model.zeroGrad();
    const d = be.alloc(batch.size);
    sigmoidLogLoss(model.forward(batch, 'train'), batch.labels, batch.size, d);
    model.backward(d);
    for (const p of model.params()) {
      if (p.sparse && /goods/.test(p.name)) assert.ok(p.shape[0] === 5, `${p.name} has ${p.shape[0]} rows, expected 4 + 1`);
    }
    checkParams(model.params(), f, 2);
  });
}
