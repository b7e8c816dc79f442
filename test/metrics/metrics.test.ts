import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auc, evaluate, gauc, logloss, loglossFromProbs, relaImpr } from '../../src/metrics/index.js';
import { Rng } from '../../src/util/rng.js';

const close = (a: number, b: number, eps = 1e-12): void => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

/** O(n²) pairwise reference with ties = 1/2 and optional weights. */
function pairwiseAuc(s: ArrayLike<number>, y: ArrayLike<number>, w?: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < s.length; i++) {
    if (y[i] !== 1) continue;
    for (let j = 0; j < s.length; j++) {
      if (y[j] !== 0) continue;
      const ww = w ? w[i] * w[j] : 1;
      den += ww;
      num += ww * (s[i] > s[j] ? 1 : s[i] === s[j] ? 0.5 : 0);
    }
  }
  return num / den;
}

test('auc: hand-computed cases', () => {
  close(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
  close(auc([1, 2, 3, 4], [0, 0, 1, 1]), 1);
  close(auc([1, 2, 3, 4], [1, 1, 0, 0]), 0);
  // ties: pos {2, 3}, neg {2, 1}: pairs (2>1)=1, (2=2)=.5, (3>2)=1, (3>1)=1 → 3.5/4
  close(auc([2, 3, 2, 1], [1, 1, 0, 0]), 0.875);
  close(auc([5, 5, 5, 5, 5], [1, 0, 1, 0, 0]), 0.5);
  assert.ok(Number.isNaN(auc([1, 2], [1, 1])));
  assert.ok(Number.isNaN(auc([1, Number.NaN], [1, 0])));
});

test('auc: weighted', () => {
  // pos 0.9 (w 2), pos 0.2 (w 1), neg 0.5 (w 3), neg 0.2 (w 1)
  // pairs: (0.9,0.5)=6·1, (0.9,0.2)=2·1, (0.2,0.5)=3·0, (0.2,0.2)=1·.5 → 8.5 / (3·4)
  close(auc([0.9, 0.2, 0.5, 0.2], [1, 1, 0, 0], [2, 1, 3, 1]), 8.5 / 12);
  close(auc([0.9, 0.2, 0.5, 0.2], [1, 1, 0, 0], [1, 1, 1, 1]), auc([0.9, 0.2, 0.5, 0.2], [1, 1, 0, 0]));
});

test('auc: random case vs O(n²) reference (with ties)', () => {
  const rng = new Rng(7);
  const n = 700;
  const s = new Float64Array(n);
  const y = new Uint8Array(n);
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = rng.next() < 0.3 ? 1 : 0;
    s[i] = Math.round((rng.normal() + y[i]) * 8) / 8; // coarse grid ⇒ many ties
    w[i] = 0.5 + rng.next();
  }
  close(auc(s, y), pairwiseAuc(s, y), 1e-12);
  close(auc(s, y, w), pairwiseAuc(s, y, w), 1e-12);
  close(auc(Float32Array.from(s), Float32Array.from(y)), pairwiseAuc(s, y), 1e-12);
});

test('gauc: impression weights, single-class users skipped', () => {
  // user 0: 3 samples, AUC 1 (pos 0.9 > negs 0.1, 0.2)
  // user 1: 4 samples, pos {0.3, 0.6}, neg {0.5, 0.6}: (0.3,·)=0, (0.6,0.5)=1, (0.6,0.6)=.5 → 1.5/4
  // user 2: all positive → skipped; user 3: all negative → skipped
  const scores = [0.9, 0.1, 0.2, 0.3, 0.6, 0.5, 0.6, 0.7, 0.8, 0.4];
  const labels = [1, 0, 0, 1, 1, 0, 0, 1, 1, 0];
  const users = [0, 0, 0, 1, 1, 1, 1, 2, 2, 3];
  const g = gauc(scores, labels, users);
  close(g.gauc, (3 * 1 + 4 * 0.375) / 7);
  assert.equal(g.users, 2);
  assert.equal(g.skippedUsers, 2);
  assert.equal(g.weight, 7);
  const c = gauc(scores, labels, users, { weightBy: 'clicks' });
  close(c.gauc, (1 * 1 + 2 * 0.375) / 3);
  // Sparse/non-dense user ids give the same result.
  const sparse = users.map((u) => u * 1_000_003 + 5);
  assert.deepEqual(gauc(scores, labels, sparse), g);
  assert.ok(Number.isNaN(gauc([1, 2], [1, 1], [0, 0]).gauc));
});

test('gauc: random case vs per-user reference', () => {
  const rng = new Rng(3);
  const n = 2000;
  const s = new Float64Array(n);
  const y = new Uint8Array(n);
  const u = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    u[i] = rng.int(60);
    y[i] = rng.next() < 0.4 ? 1 : 0;
    s[i] = Math.round((rng.normal() + y[i] * 0.7) * 4) / 4;
  }
  let num = 0;
  let den = 0;
  let used = 0;
  for (let k = 0; k < 60; k++) {
    const idx = [...u.keys()].filter((i) => u[i] === k);
    const ys = idx.map((i) => y[i]);
    if (ys.every((v) => v === ys[0])) continue;
    num += idx.length * pairwiseAuc(idx.map((i) => s[i]), ys);
    den += idx.length;
    used++;
  }
  const g = gauc(s, y, u);
  close(g.gauc, num / den, 1e-12);
  assert.equal(g.users, used);
});

test('logloss: stable from logits, clamped from probabilities', () => {
  const z = [0, 2, -3, 8, -8];
  const y = [1, 0, 0, 1, 0];
  const ref = z.map((v, i) => {
    const p = 1 / (1 + Math.exp(-v));
    return -(y[i] * Math.log(p) + (1 - y[i]) * Math.log(1 - p));
  });
  close(logloss(z, y), ref.reduce((a, b) => a + b) / z.length, 1e-12);
  // Extreme wrong logits stay finite (softplus form): loss ≈ |z|.
  close(logloss([1000, -1000], [0, 1]), 1000, 1e-9);
  close(loglossFromProbs([0.5], [1]), Math.log(2));
  close(loglossFromProbs([0, 1], [1, 0], 1e-7), -Math.log(1e-7), 1e-9);
});

test('relaImpr and evaluate', () => {
  close(relaImpr(0.75, 0.7), 25, 1e-9);
  close(relaImpr(0.7, 0.7), 0);
  const r = evaluate(Float32Array.from([2, -1, 0.5, -2]), Uint8Array.from([1, 0, 0, 1]), Int32Array.from([0, 0, 1, 1]));
  close(r.auc, 0.5);
  close(r.gauc, 0.5);
  assert.equal(r.samples, 4);
  assert.equal(r.gaucUsers, 2);
  assert.equal(r.gaucSkippedUsers, 0);
  assert.ok(r.logloss > 0);
});
