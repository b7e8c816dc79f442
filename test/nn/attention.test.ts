import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttentionUnit } from '../../src/nn/attention.js';
import { be, checkInput, checkParams, dot, fillRandn, randn, Rng } from './helpers.js';

const B = 4;
const T = 4;
const D = 3;
// A full row, a short one, an empty one (fully padded) and one more; enough valid rows for Dice statistics.
const lengths = Int32Array.from([4, 2, 0, 3]);

for (const norm of ['none', 'softmax'] as const) {
  for (const act of ['prelu', 'dice', 'sigmoid'] as const) {
    test(`attention (norm ${norm}, ${act}): masking and backward vs finite differences`, () => {
      const rng = new Rng(norm === 'none' ? 20 : 30);
      const att = new AttentionUnit(be, 'att', D, { hidden: [5, 3], activation: act, norm }, rng.fork(1));
      for (const p of att.params()) if (p.name.endsWith('alpha') || p.name.endsWith('bias')) fillRandn(rng, p.value, 0.3);
      const q = randn(rng, B * D);
      const K = randn(rng, B * T * D); // padded rows hold garbage on purpose
      const r = randn(rng, B * D);
      const f = () => dot(att.forward(q, K, lengths, B, T, 'train'), r);
      f();
      const u = Array.from(att.forward(q, K, lengths, B, T, 'train'));
      const { weights: w } = att.weights();
      for (let b = 0; b < B; b++) {
        let sum = 0;
        for (let t = 0; t < T; t++) {
          if (t >= lengths[b]) assert.equal(w[b * T + t], 0, 'padded weight is exactly 0');
          sum += w[b * T + t];
        }
        if (norm === 'softmax' && lengths[b] > 0) assert.ok(Math.abs(sum - 1) < 1e-12);
      }
      assert.deepEqual(u.slice(2 * D, 3 * D), [0, 0, 0], 'fully padded row gives zeros');
      // Garbage in padded K rows does not change the output (bit-identical).
      const K2 = Float64Array.from(K);
      for (let b = 0; b < B; b++) for (let t = lengths[b]; t < T; t++) for (let d = 0; d < D; d++) K2[(b * T + t) * D + d] = 1e3 * (d + 1);
      assert.deepEqual(Array.from(att.forward(q, K2, lengths, B, T, 'train')), u);
      att.forward(q, K, lengths, B, T, 'train');
      const dq = be.alloc(B * D);
      const dK = be.alloc(B * T * D);
      att.backward(r, dq, dK);
      for (let b = 0; b < B; b++) {
        for (let t = lengths[b]; t < T; t++) {
          for (let d = 0; d < D; d++) assert.equal(dK[(b * T + t) * D + d], 0, 'padded rows get no gradient');
        }
      }
      // The factorized first layer equals the plain one on [q, k, q−k, q⊙k] (attnInput op) at every valid position.
      if (norm === 'none') {
        const N = lengths.reduce((a, l) => a + l, 0);
        const qc = be.alloc(N * D);
        const kc = be.alloc(N * D);
        for (let b = 0, i = 0; b < B; b++) {
          for (let t = 0; t < lengths[b]; t++, i++) {
            qc.set(q.subarray(b * D, (b + 1) * D), i * D);
            kc.set(K.subarray((b * T + t) * D, (b * T + t + 1) * D), i * D);
          }
        }
        const x = be.alloc(N * 4 * D);
        be.attnInput(qc, kc, N, 1, D, x);
        const s = att.rest!.forward(att.act0!.forward(att.first.forward(x, N, 'train'), N, 'train'), N, 'train');
        const w = Array.from(att.forward(q, K, lengths, B, T, 'train') && att.weights().weights);
        for (let b = 0, i = 0; b < B; b++) {
          for (let t = 0; t < lengths[b]; t++, i++) assert.ok(Math.abs(w[b * T + t] - s[i]) < 1e-12);
        }
      }
      const kinks = act === 'prelu' ? 2 : 0;
      checkInput(`att(${norm},${act}).q`, f, q, Float64Array.from(dq), kinks);
      checkInput(`att(${norm},${act}).K`, f, K, Float64Array.from(dK), kinks);
      checkParams(att.params(), f, kinks);
    });
  }
}

test('attention: no hidden layers (a single linear scorer)', () => {
  const rng = new Rng(40);
  const att = new AttentionUnit(be, 'att', D, { hidden: [], activation: 'dice', norm: 'softmax' }, rng.fork(1));
  assert.deepEqual(att.params().map((p) => p.name), ['att.0.weight', 'att.0.bias']);
  const q = randn(rng, B * D);
  const K = randn(rng, B * T * D);
  const r = randn(rng, B * D);
  const f = () => dot(att.forward(q, K, lengths, B, T, 'train'), r);
  f();
  const dq = be.alloc(B * D);
  const dK = be.alloc(B * T * D);
  att.backward(r, dq, dK);
  checkInput('att(linear).q', f, q, Float64Array.from(dq));
  checkInput('att(linear).K', f, K, Float64Array.from(dK));
  checkParams(att.params(), f);
});

test('attention: an all-empty batch gives zeros and no gradient', () => {
  const att = new AttentionUnit(be, 'att', D, { hidden: [4], activation: 'dice', norm: 'softmax' }, new Rng(1));
  const rng = new Rng(2);
  const q = randn(rng, 2 * D);
  const K = randn(rng, 2 * 3 * D);
  const u = att.forward(q, K, Int32Array.from([0, 0]), 2, 3, 'train');
  assert.deepEqual(Array.from(u), new Array(2 * D).fill(0));
  const dq = be.alloc(2 * D);
  const dK = be.alloc(2 * 3 * D);
  att.backward(randn(rng, 2 * D), dq, dK);
  assert.ok(dq.every((v) => v === 0) && dK.every((v) => v === 0));
});
