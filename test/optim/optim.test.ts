import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Param } from '../../src/nn/param.js';
import { Adam, Sgd, clipGradNorm, gradNorm, learningRate } from '../../src/optim/index.js';
import { JsBackend } from '../../src/kernels/js-backend.js';

function dense(values: number[], grads: number[]): Param {
  return { name: 'w', shape: [values.length], value: Float64Array.from(values), grad: Float64Array.from(grads) };
}

function table(rows: number, dim: number, ids: number[], grads: number[]): Param {
  const value = new Float64Array(rows * dim).map((_, i) => i + 1);
  const grad = new Float64Array(Math.max(ids.length, 1) * dim);
  grad.set(grads);
  return { name: 'emb', shape: [rows, dim], value, grad, sparse: { ids: Int32Array.from(ids), count: ids.length } };
}

test('sgd: dense step is w − lr·g', () => {
  const p = dense([1, 2, 3], [0.5, -1, 0]);
  new Sgd().step([p], 0.1);
  assert.deepEqual(Array.from(p.value), [1 - 0.05, 2 + 0.1, 3]);
});

test('sgd: sparse step touches only the rows in the batch', () => {
  const p = table(4, 2, [2, 0], [1, 2, 3, 4]);
  const before = Float64Array.from(p.value);
  new Sgd().step([p], 1);
  // row 2 gets grad row 0, row 0 gets grad row 1; rows 1 and 3 untouched
  assert.deepEqual(Array.from(p.value), [before[0] - 3, before[1] - 4, before[2], before[3], before[4] - 1, before[5] - 2, before[6], before[7]]);
});

test('adam: first steps match the hand-computed update, lazily on sparse rows', () => {
  const p = dense([1], [2]);
  const adam = new Adam({ beta1: 0.9, beta2: 0.999, eps: 1e-8 });
  adam.step([p], 0.1);
  // t=1: m̂ = g, v̂ = g², update = lr · g/(|g| + eps) ≈ lr
  assert.ok(Math.abs(p.value[0] - (1 - (0.1 * 2) / (2 + 1e-8))) < 1e-12);
  p.grad[0] = -1;
  adam.step([p], 0.1);
  const m = 0.9 * (0.1 * 2) + 0.1 * -1;
  const v = 0.999 * (0.001 * 4) + 0.001 * 1;
  const mh = m / (1 - 0.81);
  const vh = v / (1 - 0.999 * 0.999);
  const expected = 1 - (0.1 * 2) / (2 + 1e-8) - (0.1 * mh) / (Math.sqrt(vh) + 1e-8);
  assert.ok(Math.abs(p.value[0] - expected) < 1e-12, `${p.value[0]} vs ${expected}`);

  const e = table(3, 1, [1], [5]);
  const before = Float64Array.from(e.value);
  new Adam().step([e], 0.01);
  assert.equal(e.value[0], before[0]);
  assert.equal(e.value[2], before[2]);
  assert.ok(Math.abs(e.value[1] - (before[1] - 0.01)) < 1e-9);
});

test('clipGradNorm scales live gradients to the max norm and reports the norm before', () => {
  const a = dense([0, 0], [3, 0]);
  const b = table(5, 2, [4], [0, 4]);
  b.grad = Float64Array.from([0, 4, 99, 99]); // values past count are stale and must be ignored
  assert.equal(gradNorm([a, b]), 5);
  assert.equal(gradNorm([a, b], new JsBackend('float64')), 5, 'through a backend\'s sumSquares');
  const n = clipGradNorm([a, b], 1);
  assert.equal(n, 5);
  assert.ok(Math.abs(gradNorm([a, b]) - 1) < 1e-12);
  assert.deepEqual(Array.from(b.grad.subarray(2)), [99, 99]);
  const c = dense([0], [0.5]);
  clipGradNorm([c], 1);
  assert.equal(c.grad[0], 0.5);
});

test('learningRate decays exponentially per epoch', () => {
  assert.equal(learningRate(1, 0.5, 0), 1);
  assert.equal(learningRate(1, 0.5, 3), 0.125);
});
