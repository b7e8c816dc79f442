import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Embedding } from '../../src/nn/embedding.js';
import { be, checkParams, dot, randn, Rng } from './helpers.js';

function ids(a: number[]): Int32Array {
  const x = be.allocInt(a.length);
  x.set(a);
  return x;
}

test('embedding: sparse backward with duplicates and padding matches finite differences', () => {
  const rng = new Rng(3);
  const emb = new Embedding(be, 'emb', 10, 3, rng.fork(1), { initStd: 1 });
  const a = ids([2, 5, 2, -1, 7, 2]);
  const b = ids([5, 9, -1]);
  const outA = be.alloc(a.length * 3);
  const outB = be.alloc(b.length * 3);
  const rA = randn(rng, outA.length);
  const rB = randn(rng, outB.length);
  const f = () => {
    emb.forward(a, a.length, outA);
    emb.forward(b, b.length, outB);
    return dot(outA, rA) + dot(outB, rB);
  };
  f();
  assert.deepEqual(Array.from(outA.subarray(9, 12)), [0, 0, 0], 'id -1 gives a zero row');
  // Two call sites accumulate into one set of compact rows.
  emb.backward(a, a.length, rA);
  emb.backward(b, b.length, rB);
  const sp = emb.param.sparse!;
  assert.deepEqual(Array.from(sp.ids.subarray(0, sp.count)).sort(), [2, 5, 7, 9]);
  assert.equal(emb.param.grad.length >= sp.count * 3, true);
  checkParams([emb.param], f);
});

test('embedding: zeroGrad resets rows; capacity grows past the initial size', () => {
  const rng = new Rng(4);
  const rows = 300;
  const dim = 2;
  const emb = new Embedding(be, 'emb', rows, dim, rng);
  const first = ids([1, 2, 3]);
  emb.backward(first, 3, randn(rng, 6));
  emb.zeroGrad();
  assert.equal(emb.param.sparse!.count, 0);
  const many = ids(Array.from({ length: 250 }, (_, i) => (i * 7) % rows));
  const many2 = ids(Array.from({ length: 250 }, (_, i) => (i * 11 + 3) % rows));
  const g1 = randn(rng, 250 * dim);
  const g2 = randn(rng, 250 * dim);
  emb.backward(many, 250, g1);
  emb.backward(many2, 250, g2);
  const expect = new Float64Array(rows * dim);
  for (const [idv, g] of [[many, g1], [many2, g2]] as const) {
    for (let i = 0; i < 250; i++) for (let j = 0; j < dim; j++) expect[idv[i] * dim + j] += g[i * dim + j];
  }
  const sp = emb.param.sparse!;
  const seen = new Set<number>();
  for (let s = 0; s < sp.count; s++) {
    const row = sp.ids[s];
    assert.ok(!seen.has(row));
    seen.add(row);
    for (let j = 0; j < dim; j++) assert.ok(Math.abs(emb.param.grad[s * dim + j] - expect[row * dim + j]) < 1e-12);
  }
  const touched = new Set([...many, ...many2]);
  assert.equal(seen.size, touched.size);
  // The optimizer may also clear the row list by setting count = 0 itself: stale row→slot entries must not leak.
  sp.count = 0;
  emb.backward(ids([7]), 1, be.alloc(dim).fill(1));
  assert.equal(sp.count, 1);
  assert.deepEqual(Array.from(emb.param.grad.subarray(0, dim)), [1, 1]);
});
