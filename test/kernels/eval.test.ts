// The eval-mode kernels behind Backend (prepareActivation, evalActivationGrid, pairProducts): the float32 backends
// (WASM SIMD, WASM relaxed SIMD where the engine has it, plain TS in float32) against the float64 JsBackend on seeded
// random grids, every activation kind, several rows per side (nA, nB > 1), broadcast and padded strides, unaligned
// offsets. Errors are bounded per element from the float32 roundings of each step (see `bound`). Node 20 validates
// relaxed-SIMD modules only with --experimental-wasm-relaxed-simd: relaxed.test.ts re-runs this file with that flag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WasmBackend, relaxedSimdSupported } from '../../src/kernels/wasm-backend.js';
import { JsBackend } from '../../src/kernels/js-backend.js';
import type { Backend, EvalActivation, Float } from '../../src/kernels/backend.js';
import { Rng } from '../../src/util/rng.js';
import { U32, randValues } from './util.js';

const ref = new JsBackend('float64');
const backends: Backend[] = [new WasmBackend({ relaxed: false, memoryMB: 64 }), new JsBackend('float32')];
if (relaxedSimdSupported()) backends.push(new WasmBackend({ relaxed: true, memoryMB: 64 }));

const KINDS: EvalActivation['kind'][] = ['none', 'sigmoid', 'prelu', 'dice'];

/** A float32-representable activation of kind `kind` on C channels (the same values reach every backend). */
function activation(rng: Rng, kind: EvalActivation['kind'], C: number): EvalActivation {
  const f = (lo: number, hi: number) => Array.from({ length: C }, () => Math.fround(lo + (hi - lo) * rng.next()));
  switch (kind) {
    case 'none':
      return { kind };
    case 'sigmoid':
      return { kind };
    case 'prelu':
      return { kind, alpha: f(-0.5, 1.5) };
    case 'dice':
      return { kind, alpha: f(-0.5, 1.5), mean: f(-1, 1), invStd: f(0.2, 5) };
  }
}

/**
 * Bound on |float32 result − float64 result| for one element: v = x + (a + b) is rounded twice (ev), then each
 * activation adds its own roundings; sigmoid/exp is the kernels' polynomial (a few ulp), counted as 8u.
 */
function bound(act: EvalActivation, c: number, x: number, a: number, b: number): number {
  const u = U32;
  const v = x + a + b;
  const ev = 2 * u * (Math.abs(x) + Math.abs(a) + Math.abs(b));
  switch (act.kind) {
    case 'none':
      return ev;
    case 'sigmoid':
      return ev / 4 + 8 * u;
    case 'prelu': {
      const al = Math.abs(act.alpha[c]);
      return (1 + al) * (ev + u * Math.abs(v));
    }
    case 'dice': {
      const al = act.alpha[c];
      const s = act.invStd[c];
      const ez = s * ev + 3 * u * (Math.abs(v) + Math.abs(act.mean[c])) * s;
      const ep = ez / 4 + 8 * u;
      const g = Math.abs(al) + Math.abs(1 - al);
      return Math.abs(v) * Math.abs(1 - al) * ep + g * (ev + 4 * u * Math.abs(v));
    }
  }
}

/** Backend copy of float64 values (float32 rounding on float32 backends: the values are float32 already). */
function put(be: Backend, v: ArrayLike<number>): Float {
  const a = be.alloc(v.length);
  for (let i = 0; i < v.length; i++) a[i] = v[i];
  return a;
}

interface Case {
  C: number; nA: number; nB: number; sA: number; sB: number; xRow0: number; aOff: number; bOff: number; scale: number;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const C of [1, 3, 4, 7, 8, 13, 40]) {
    for (const [nA, nB] of [[1, 1], [1, 5], [3, 1], [2, 6], [5, 3]]) {
      for (const [sA, sB] of [[C, 0], [0, C], [C + 3, C + 2], [C, C]]) {
        out.push({ C, nA, nB, sA, sB, xRow0: (C + nA) % 3, aOff: (nA + nB) % 4, bOff: C % 3, scale: 2 });
      }
    }
  }
  // Saturated sigmoids and Dice gates: exp's input clamping.
  for (const C of [5, 16]) out.push({ C, nA: 2, nB: 3, sA: C, sB: C, xRow0: 1, aOff: 1, bOff: 2, scale: 60 });
  return out;
}

for (const be of backends) {
  test(`${be.name}: evalActivationGrid matches the float64 reference for every activation kind`, (t) => {
    const rng = new Rng(1601);
    const worst: Record<string, number> = {};
    let n = 0;
    for (const kind of KINDS) {
      for (const k of cases()) {
        const { C, nA, nB, sA, sB, xRow0, aOff, bOff, scale } = k;
        const act = activation(rng, kind, C);
        const rows = xRow0 + nA * nB + 2; // two trailing rows that must stay untouched
        const xv = randValues(rng, rows * C, scale);
        const av = randValues(rng, aOff + (nA - 1) * sA + C + 1, scale);
        const bv = randValues(rng, bOff + (nB - 1) * sB + C + 1, scale);
        const x = put(be, xv);
        const xr = put(ref, xv);
        be.evalActivationGrid(be.prepareActivation(act, C), x, xRow0, nA, nB, put(be, av), aOff, sA, put(be, bv), bOff, sB);
        ref.evalActivationGrid(ref.prepareActivation(act, C), xr, xRow0, nA, nB, put(ref, av), aOff, sA, put(ref, bv), bOff, sB);
        for (let r = 0; r < rows; r++) {
          const inGrid = r >= xRow0 && r < xRow0 + nA * nB;
          const i = Math.floor((r - xRow0) / nB);
          const j = (r - xRow0) % nB;
          for (let c = 0; c < C; c++) {
            const e = r * C + c;
            if (!inGrid) {
              assert.equal(x[e], xv[e], `${kind} ${JSON.stringify(k)}: row ${r} outside the grid was written`);
              continue;
            }
            const tol = 1.01 * bound(act, c, xv[e], av[aOff + i * sA + c], bv[bOff + j * sB + c]) + 1e-30;
            const err = Math.abs(x[e] - xr[e]);
            n++;
            assert.ok(err <= tol, `${be.name} ${kind} ${JSON.stringify(k)} row ${r} channel ${c}: ${x[e]} vs ${xr[e]} ` +
              `(error ${err.toExponential(3)} > bound ${tol.toExponential(3)})`);
            worst[kind] = Math.max(worst[kind] ?? 0, err / tol);
          }
        }
      }
    }
    const w = Object.entries(worst).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ');
    t.diagnostic(`${be.name} evalActivationGrid: ${n} elements, worst error/bound per kind: ${w}`);
  });

  test(`${be.name}: pairProducts is the float32-rounded product q ⊙ k of every (i, j) pair`, () => {
    const rng = new Rng(1602);
    for (const D of [1, 3, 4, 18, 36]) {
      for (const [nA, nB] of [[1, 1], [1, 7], [4, 1], [3, 5]]) {
        const qRow0 = D % 3;
        const kRow0 = (nA + D) % 2;
        const outRow0 = nB % 3;
        const qv = randValues(rng, (qRow0 + nA) * D, 3);
        const kv = randValues(rng, (kRow0 + nB) * D, 3);
        const rows = outRow0 + nA * nB + 1;
        const ov = randValues(rng, rows * D);
        const out = put(be, ov);
        be.pairProducts(out, outRow0, put(be, qv), qRow0, nA, put(be, kv), kRow0, nB, D);
        for (let r = 0; r < rows; r++) {
          for (let d = 0; d < D; d++) {
            const e = r * D + d;
            if (r < outRow0 || r >= outRow0 + nA * nB) {
              assert.equal(out[e], ov[e], `D=${D}: row ${r} outside the pairs was written`);
              continue;
            }
            const i = Math.floor((r - outRow0) / nB);
            const j = (r - outRow0) % nB;
            const want = Math.fround(qv[(qRow0 + i) * D + d] * kv[(kRow0 + j) * D + d]);
            assert.equal(out[e], want, `D=${D} nA=${nA} nB=${nB} pair (${i}, ${j}) element ${d}`);
          }
        }
      }
    }
  });
}

test('the float64 reference is the layers\' eval arithmetic', () => {
  // One Dice channel by hand: y = v·(α + (1 − α)·sigmoid((v − mean)·invStd)), v = x + a + b.
  const act: EvalActivation = { kind: 'dice', alpha: [0.25], mean: [0.5], invStd: [2] };
  const x = ref.alloc(1);
  x[0] = 1;
  const A = ref.alloc(1);
  A[0] = 0.5;
  const B = ref.alloc(1);
  B[0] = -0.25;
  ref.evalActivationGrid(ref.prepareActivation(act, 1), x, 0, 1, 1, A, 0, 1, B, 0, 1);
  const v = 1.25;
  assert.equal(x[0], v * (0.25 + 0.75 / (1 + Math.exp(-(v - 0.5) * 2))));
  // PReLU: α·v below zero, v above.
  const p = ref.prepareActivation({ kind: 'prelu', alpha: [0.1, 0.1] }, 2);
  const y = ref.alloc(2);
  y.set([-2, 3]);
  ref.evalActivationGrid(p, y, 0, 1, 1, p.zero, 0, 0, p.zero, 0, 0);
  assert.deepEqual(Array.from(y), [-0.2, 3]);
});

test('WASM eval kernels validate their operands', () => {
  const w = backends[0] as WasmBackend;
  const act = w.prepareActivation({ kind: 'prelu', alpha: [0.1, 0.2, 0.3] }, 3);
  const x = w.alloc(6);
  const a = w.alloc(3);
  assert.throws(() => w.evalActivationGrid(act, new Float32Array(6), 0, 1, 2, a, 0, 0, act.zero, 0, 0), /not an array of this WasmBackend/);
  assert.throws(() => w.evalActivationGrid(act, x, 1, 1, 2, a, 0, 0, act.zero, 0, 0), /x has 6 elements, needs 9/);
  assert.throws(() => w.evalActivationGrid(act, x, 0, 2, 1, a, 0, 3, act.zero, 0, 0), /A has 3 elements, needs 6/);
  assert.throws(() => w.evalActivationGrid(act, x, 0, 2, 1, a, 0, -3, act.zero, 0, 0), /sA must be an int32 >= 0/);
  const other = new JsBackend('float32').prepareActivation({ kind: 'prelu', alpha: [0.1, 0.2, 0.3] }, 3);
  assert.throws(() => w.evalActivationGrid(other, x, 0, 1, 2, a, 0, 0, act.zero, 0, 0), /not an array of this WasmBackend/);
  assert.throws(() => w.prepareActivation({ kind: 'prelu', alpha: [0.1] }, 3), /1 parameters for 3 channels/);
  assert.throws(() => w.pairProducts(x, 0, w.alloc(3), 0, 2, w.alloc(3), 0, 1, 3), /Q has 3 elements, needs 6/);
  // Empty grids are no-ops.
  w.evalActivationGrid(act, x, 0, 0, 2, a, 0, 0, act.zero, 0, 0);
  w.pairProducts(x, 0, w.alloc(3), 0, 1, w.alloc(3), 0, 0, 3);
  assert.deepEqual(Array.from(x), [0, 0, 0, 0, 0, 0]);
});
