import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Linear } from '../../src/nn/linear.js';
import { be, checkInput, checkParams, dot, fillRandn, randn, Rng } from './helpers.js';

test('linear: backward matches finite differences (x, W, b)', () => {
  const rng = new Rng(1);
  const lin = new Linear(be, 'lin', 5, 4, rng.fork(1));
  fillRandn(rng, lin.bias.value, 0.3);
  const n = 6;
  const x = randn(rng, n * 5);
  const r = randn(rng, n * 4);
  const f = () => dot(lin.forward(x, n, 'train'), r);
  f();
  const dx = Float64Array.from(lin.backward(r));
  checkInput('lin.x', f, x, dx);
  checkParams(lin.params(), f);
});

test('linear: gradients accumulate over backward calls; init is seeded', () => {
  const rng = new Rng(2);
  const a = new Linear(be, 'a', 3, 2, new Rng(7));
  const b = new Linear(be, 'b', 3, 2, new Rng(7), 'he');
  const c = new Linear(be, 'c', 3, 2, new Rng(7));
  assert.deepEqual(Array.from(a.weight.value), Array.from(c.weight.value));
  assert.notDeepEqual(Array.from(a.weight.value), Array.from(b.weight.value));
  const limit = Math.sqrt(6 / 5);
  for (const v of a.weight.value) assert.ok(Math.abs(v) <= limit);
  const x = randn(rng, 6);
  const dy = randn(rng, 4);
  a.forward(x, 2, 'train');
  a.backward(dy);
  const once = Array.from(a.weight.grad);
  a.backward(dy);
  assert.deepEqual(Array.from(a.weight.grad), once.map((v) => 2 * v));
  assert.equal(a.weight.name, 'a.weight');
  assert.equal(a.bias.decay, false);
});
