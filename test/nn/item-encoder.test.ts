import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ItemEncoder, type CatalogAttrs } from '../../src/nn/item-encoder.js';
import { be, checkParams, dot, fillRandn, randn, Rng } from './helpers.js';

/** 9 items; item 4 has no attributes; some have several (general path) unless `single`. */
function catalog(single: boolean): CatalogAttrs {
  const attrs = single
    ? [[0], [1], [2], [3], [], [4], [0], [1], [2]]
    : [[0, 3], [1], [2, 2, 4], [3], [], [4, 0], [0], [1, 4], [2]];
  const attrOffsets = new Int32Array(attrs.length + 1);
  attrs.forEach((a, i) => (attrOffsets[i + 1] = attrOffsets[i] + a.length));
  return { numItems: attrs.length, numAttrs: 5, attrOffsets, attrValues: Int32Array.from(attrs.flat()) };
}

for (const single of [false, true]) {
  test(`item encoder (${single ? 'single-attribute' : 'multi-attribute'} catalog): shared tables, two call sites, bias`, () => {
    const rng = new Rng(single ? 5 : 6);
    const enc = new ItemEncoder(be, catalog(single), { goodsDim: 3, attrDim: 2, itemBias: true, initStd: 1 }, rng);
    fillRandn(rng, enc.bias!.param.value, 0.5);
    assert.equal(enc.singleAttr, single);
    const cand = enc.lookup();
    const hist = enc.lookup();
    const items = Int32Array.from([2, 4, 0, 2]);
    const B = 4;
    const T = 3;
    // Item 8 appears only past the lengths (must be ignored); row 2 is empty.
    const histIds = Int32Array.from([1, 2, 8, 5, 8, 8, 8, 8, 8, 0, 2, 1]);
    const lengths = Int32Array.from([2, 1, 0, 3]);
    const rq = randn(rng, B * 5);
    const rk = randn(rng, B * T * 5);
    const rb = randn(rng, B);
    const f = () => {
      const q = cand.forward(items, B);
      const K = hist.forwardPadded(histIds, lengths, B, T);
      return dot(q, rq) + dot(K, rk) + dot(cand.forwardBias(), rb);
    };
    f();
    const K = hist.forwardPadded(histIds, lengths, B, T);
    for (let r = 0; r < B * T; r++) {
      if (r % T >= lengths[Math.floor(r / T)]) assert.deepEqual(Array.from(K.subarray(r * 5, r * 5 + 5)), [0, 0, 0, 0, 0]);
    }
    const q = cand.forward(items, B);
    // Item 4 has no attributes: zero attribute part, goods part intact.
    assert.deepEqual(Array.from(q.subarray(8, 10)), [0, 0]);
    assert.deepEqual(Array.from(q.subarray(5, 8)), Array.from(enc.goods.param.value.subarray(12, 15)));
    enc.zeroGrad();
    cand.forward(items, B);
    cand.forwardBias();
    hist.forwardPadded(histIds, lengths, B, T);
    hist.backward(rk);
    cand.backward(rq);
    cand.backwardBias(rb);
    const goodsRows = new Set(enc.goods.param.sparse!.ids.subarray(0, enc.goods.param.sparse!.count));
    assert.ok(!goodsRows.has(8), 'an item seen only at padded positions got a gradient row');
    checkParams(enc.params(), f);
  });
}

test('item encoder: bad ids, lengths and sizes are rejected', () => {
  const enc = new ItemEncoder(be, catalog(false), { goodsDim: 2, attrDim: 2, itemBias: false }, new Rng(1));
  assert.throws(() => enc.lookup().forward(Int32Array.from([9]), 1), /out of range/);
  assert.throws(() => enc.lookup().forwardPadded(Int32Array.from([1, 2]), Int32Array.from([3]), 1, 2), /outside 0..T/);
  assert.throws(() => enc.lookup().forwardPadded(Int32Array.from([1]), Int32Array.from([1]), 1, 2), /B×T/);
});
