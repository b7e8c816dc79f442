import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Mlp } from '../../src/nn/mlp.js';
import { be, checkInput, checkParams, dot, fillRandn, randn, Rng } from './helpers.js';

for (const act of ['prelu', 'dice', 'sigmoid'] as const) {
  test(`mlp (${act}): backward matches finite differences`, () => {
    const rng = new Rng(10);
    const mlp = new Mlp(be, 'mlp', 5, [6, 4], act, rng.fork(1));
    for (const p of mlp.params()) if (p.name.endsWith('alpha') || p.name.endsWith('bias')) fillRandn(rng, p.value, 0.3);
    assert.deepEqual(mlp.params().map((p) => p.name), [
      'mlp.0.weight', 'mlp.0.bias', ...(act === 'sigmoid' ? [] : [`mlp.0.${act}.alpha`]),
      'mlp.1.weight', 'mlp.1.bias', ...(act === 'sigmoid' ? [] : [`mlp.1.${act}.alpha`]),
      'mlp.2.weight', 'mlp.2.bias',
    ]);
    const n = 7;
    const x = randn(rng, n * 5);
    const r = randn(rng, n);
    const f = () => dot(mlp.forward(x, n, 'train'), r);
    f();
    const dx = Float64Array.from(mlp.backward(r));
    const kinks = act === 'prelu' ? 2 : 0;
    checkInput(`mlp(${act}).x`, f, x, dx, kinks);
    checkParams(mlp.params(), f, kinks);
  });
}
