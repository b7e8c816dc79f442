import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PRelu } from '../../src/nn/prelu.js';
import { Dice } from '../../src/nn/dice.js';
import { Sigmoid } from '../../src/nn/sigmoid.js';
import { expF32, sigmoid, sigmoidF32 } from '../../src/util/math.js';
import { JsBackend } from '../../src/kernels/js-backend.js';
import type { Layer, Mode } from '../../src/nn/layer.js';
import { be, checkInput, checkParams, dot, randn, Rng } from './helpers.js';

function gradTest(layer: Layer, n: number, mode: Mode, seed: number): void {
  const rng = new Rng(seed);
  for (const p of layer.params()) for (let i = 0; i < p.value.length; i++) p.value[i] = 0.1 + 0.5 * rng.next();
  const x = randn(rng, n * layer.inDim, 1.5);
  const r = randn(rng, n * layer.outDim);
  const f = () => dot(layer.forward(x, n, mode), r);
  f();
  const dx = Float64Array.from(layer.backward(r));
  checkInput(`${layer.constructor.name}(${mode}).x`, f, x, dx);
  checkParams(layer.params(), f);
}

test('prelu: backward matches finite differences', () => gradTest(new PRelu(be, 'p', 4), 7, 'train', 1));
test('sigmoid: backward matches finite differences', () => gradTest(new Sigmoid(be, 's', 4), 7, 'train', 2));
test('dice (train, through the batch statistics): backward matches finite differences', () =>
  gradTest(new Dice(be, 'd', 4), 7, 'train', 3));
test('dice (eval, moving averages): backward matches finite differences', () => {
  const d = new Dice(be, 'd', 4);
  d.movingMean.set([0.3, -0.2, 0.1, 0]);
  d.movingVar.set([0.5, 2, 1, 0.7]);
  gradTest(d, 5, 'eval', 4);
});

test('dice: batch statistics in train mode, moving averages in eval mode', () => {
  const rng = new Rng(5);
  const d = new Dice(be, 'mlp.0.dice', 3);
  assert.deepEqual(Object.keys(d.buffers()), ['mlp.0.dice.mean', 'mlp.0.dice.var']);
  assert.equal(d.alpha.name, 'mlp.0.dice.alpha');
  const n = 6;
  const x = randn(rng, n * 3, 2);
  const train1 = Array.from(d.forward(x, n, 'train'));
  // Moving averages: one update from (0, 1) with momentum 0.99.
  for (let c = 0; c < 3; c++) {
    let m = 0;
    for (let i = 0; i < n; i++) m += x[i * 3 + c] / n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (x[i * 3 + c] - m) ** 2 / n;
    assert.ok(Math.abs(d.movingMean[c] - 0.01 * m) < 1e-15);
    assert.ok(Math.abs(d.movingVar[c] - (0.99 + 0.01 * v)) < 1e-15);
  }
  // Train output ignores the buffers.
  d.movingMean.fill(5);
  d.movingVar.fill(9);
  assert.deepEqual(Array.from(d.forward(x, n, 'train')), train1);
  d.movingMean.fill(5);
  d.movingVar.fill(9);
  const eval1 = Array.from(d.forward(x, n, 'eval'));
  assert.notDeepEqual(eval1, train1);
  // Eval output is a function of the buffers (and does not update them).
  assert.equal(d.movingMean[0], 5);
  d.movingMean.fill(-1);
  const eval2 = Array.from(d.forward(x, n, 'eval'));
  assert.notDeepEqual(eval2, eval1);
  // Per element it is exactly the paper's formula with the buffers' statistics.
  const a = d.alpha.value;
  for (let i = 0; i < n * 3; i++) {
    const c = i % 3;
    const p = 1 / (1 + Math.exp(-(x[i] + 1) / Math.sqrt(9 + 1e-8)));
    assert.ok(Math.abs(eval2[i] - (p * x[i] + (1 - p) * a[c] * x[i])) < 1e-14);
  }
  // A single-row batch (zero variance) stays finite.
  for (const v of d.forward(x, 1, 'train')) assert.ok(Number.isFinite(v));
});

test('float32 sigmoid/exp: within float32 resolution; float32 Dice matches float64 Dice', () => {
  let worstExp = 0;
  let worstSig = 0;
  for (let x = -87; x <= 88; x += 0.0137) {
    worstExp = Math.max(worstExp, Math.abs(expF32(x) - Math.exp(x)) / Math.exp(x));
    worstSig = Math.max(worstSig, Math.abs(sigmoidF32(x) - sigmoid(x)));
  }
  console.log(`  expF32 max rel err ${worstExp.toExponential(2)}, sigmoidF32 max abs err ${worstSig.toExponential(2)}`);
  assert.ok(worstExp < 2e-8 && worstSig < 2e-8);
  assert.ok(sigmoidF32(-1e4) >= 0 && sigmoidF32(-1e4) < 1e-37);
  assert.equal(sigmoidF32(1e4), 1);
  const f32 = new JsBackend('float32');
  const rng = new Rng(9);
  const n = 50;
  const x = randn(rng, n * 4, 2);
  const d64 = new Dice(be, 'd', 4, { alphaInit: 0.2 });
  const d32 = new Dice(f32, 'd', 4, { alphaInit: 0.2 });
  const x32 = f32.alloc(x.length);
  x32.set(x);
  const y64 = d64.forward(x, n, 'train');
  const y32 = d32.forward(x32, n, 'train');
  for (let i = 0; i < y64.length; i++) assert.ok(Math.abs(y64[i] - y32[i]) < 1e-5 * (1 + Math.abs(y64[i])));
});
