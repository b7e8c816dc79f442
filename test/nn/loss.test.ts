import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogLoss, sigmoidLogLoss } from '../../src/nn/loss.js';
import { be, checkInput, randn, Rng } from './helpers.js';

test('log loss: value, stability and dLogits vs finite differences', () => {
  assert.ok(Math.abs(sigmoidLogLoss([0], [1], 1) - Math.LN2) < 1e-15);
  assert.ok(Math.abs(sigmoidLogLoss([1000, -1000], [1, 0], 2)) < 1e-15);
  assert.ok(Math.abs(sigmoidLogLoss([1000], [0], 1) - 1000) < 1e-9);
  const d = be.alloc(2);
  sigmoidLogLoss([800, -800], [0, 1], 2, d);
  assert.deepEqual(Array.from(d), [0.5, -0.5]);
  const rng = new Rng(1);
  const n = 9;
  const z = randn(rng, n, 3);
  const y = Float32Array.from({ length: n }, (_, i) => i % 2);
  const loss = new LogLoss(be);
  const value = loss.forward(z, y, n);
  assert.equal(value, sigmoidLogLoss(z, y, n));
  checkInput('loss.logits', () => sigmoidLogLoss(z, y, n), z, Float64Array.from(loss.grad));
});
