import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkGradient, numericDerivative } from '../../src/nn/gradcheck.js';
import { be } from './helpers.js';

test('gradcheck: accurate on smooth functions, catches wrong gradients, flags kinks', () => {
  const x = be.alloc(3);
  x.set([0.3, -1.2, 2]);
  const f = () => Math.sin(x[0]) * Math.exp(x[1]) + x[2] ** 3;
  const good = [Math.cos(x[0]) * Math.exp(x[1]), Math.sin(x[0]) * Math.exp(x[1]), 3 * x[2] ** 2];
  const r = checkGradient('smooth', f, x, [0, 1, 2], good);
  assert.ok(r.maxRelErr < 1e-9, String(r.maxRelErr));
  const bad = [...good];
  bad[1] *= 1.01;
  assert.ok(checkGradient('bad', f, x, [0, 1, 2], bad).maxRelErr > 1e-3);
  const y = be.alloc(1);
  y[0] = 3e-5; // kink of |y| within the stencil
  const g = () => Math.abs(y[0]);
  assert.equal(checkGradient('kink', g, y, [0], [1]).skipped, 1);
  assert.equal(y[0], 3e-5, 'value restored');
  assert.ok(Math.abs(numericDerivative(() => 2 * y[0], y, 0, 1e-4).value - 2) < 1e-10);
});
