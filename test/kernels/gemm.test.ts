// The WASM gemm's shape-specific paths against the float64 reference, in BOTH builds (plain SIMD and, where the
// engine has it, relaxed SIMD with FMA): the outer product (K = 1), the matrix-vector kernels (N = 1 with both
// layouts of A, and M = 1 routed through them), the column kernel's block widths, overlapped M % 4 tail and row
// chunks, and the packed path's vectorized transposing packs with odd sizes, k tails, several K and N blocks.
// Every case runs all four layouts and a rotation of alpha/beta; beta = 0 must never read C (it is filled with NaN).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WasmBackend, relaxedSimdSupported } from '../../src/kernels/wasm-backend.js';
import { JsBackend } from '../../src/kernels/js-backend.js';
import { enableRelaxedSimd } from '../../src/kernels/relaxed-flag.js';
import { Rng } from '../../src/util/rng.js';
import { abs64, maxRelErr, randValues, tolFor } from './util.js';

enableRelaxedSimd(); // before any module is compiled, so that the relaxed build can be instantiated below

const ref = new JsBackend('float64');
const builds: WasmBackend[] = [new WasmBackend({ relaxed: false, memoryMB: 64 })];
if (relaxedSimdSupported()) builds.push(new WasmBackend({ relaxed: true, memoryMB: 64 }));

const COEFFS: [number, number][] = [[1, 0], [0.5, 1], [-1.25, 0.3], [2, -1], [0.75, 0], [1, 1]];

/** Runs every layout of each [M, N, K] on every build; returns the number of checked products. */
function check(shapes: [number, number, number][], seed: number): number {
  const rng = new Rng(seed);
  let n = 0;
  let c = 0;
  for (const w of builds) {
    for (const [M, N, K] of shapes) {
      for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
        const [alpha, beta] = COEFFS[c++ % COEFFS.length];
        const a = randValues(rng, M * K);
        const b = randValues(rng, K * N);
        const c0 = randValues(rng, M * N);
        // Odd element offsets: operands that are not 16-byte aligned.
        const offA = rng.int(4), offB = rng.int(4), offC = rng.int(4);
        const baseA = w.alloc(M * K + offA), baseB = w.alloc(K * N + offB), baseC = w.alloc(M * N + offC);
        const A = baseA.subarray(offA), B = baseB.subarray(offB), C = baseC.subarray(offC);
        A.set(a);
        B.set(b);
        if (beta === 0) C.fill(NaN);
        else C.set(c0);
        const want = beta === 0 ? new Float64Array(M * N) : Float64Array.from(c0);
        ref.gemm(transA, transB, M, N, K, alpha, Float64Array.from(a), Float64Array.from(b), beta, want);
        const mag = beta === 0 ? new Float64Array(M * N) : abs64(c0);
        ref.gemm(transA, transB, M, N, K, Math.abs(alpha), abs64(a), abs64(b), Math.abs(beta), mag);
        w.gemm(transA, transB, M, N, K, alpha, A, B, beta, C);
        const err = maxRelErr(C, want, mag);
        const what = `${w.name} ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'} M=${M} N=${N} K=${K} α=${alpha} β=${beta}`;
        assert.ok(err <= tolFor(K), `${what}: max relative error ${err.toExponential(3)} > ${tolFor(K).toExponential(3)}`);
        w.free(baseA); w.free(baseB); w.free(baseC);
        n++;
      }
    }
  }
  return n;
}

test('gemm K = 1: the outer-product path (tails of 16, of 4 and scalar in N)', (t) => {
  const n = check([[1, 1, 1], [5, 3, 1], [7, 16, 1], [9, 21, 1], [33, 40, 1], [64, 37, 1], [3, 100, 1], [130, 1, 1]], 201);
  t.diagnostic(`${builds.map((w) => w.name).join(', ')}: ${n} products`);
});

test('gemm N = 1: row kernel (K % 4 tails, M % 4 rows) and column kernel (every block width, M % 4 tail)', (t) => {
  const shapes: [number, number, number][] = [];
  // M covers: M < 4 (scalar columns), one vector, the overlapped tail, every width 2–5 after the 24-wide blocks.
  for (const M of [1, 2, 3, 4, 5, 7, 8, 11, 16, 19, 23, 24, 25, 29, 40, 47, 48, 49, 67, 100, 144]) {
    for (const K of [2, 3, 7, 8, 33]) shapes.push([M, 1, K]);
  }
  const n = check(shapes, 202);
  t.diagnostic(`${builds.map((w) => w.name).join(', ')}: ${n} products`);
});

test('gemm N = 1 with a long reduction: the column kernel\'s L1-sized row chunks and their beta chaining', (t) => {
  // rows per chunk = 32 KiB / (4M) rounded down to a multiple of 4, at least 16: several chunks and a partial one.
  const n = check([[40, 1, 1000], [7, 1, 3001], [24, 1, 350], [300, 1, 70], [5120, 1, 40], [2000, 1, 37]], 203);
  t.diagnostic(`${builds.map((w) => w.name).join(', ')}: ${n} products`);
});

test('gemm M = 1: wide rows through the matrix-vector kernels, narrow rows through the micro-kernel', (t) => {
  const n = check([[1, 16, 2], [1, 17, 9], [1, 200, 9], [1, 45, 300], [1, 100, 1200], [1, 8, 5], [1, 15, 64]], 204);
  t.diagnostic(`${builds.map((w) => w.name).join(', ')}: ${n} products`);
});

test('gemm packed path: odd M, N, K, k tails of the 4×4 transposing packs, several K and N blocks', (t) => {
  const n = check([
    [2, 2, 2], [3, 5, 7], [4, 8, 4], [5, 9, 6], [13, 17, 19], [33, 31, 65], [8, 24, 3], [61, 40, 80],
    [32, 80, 144], [37, 81, 145], [9, 263, 258], [70, 300, 530], [130, 7, 513], [6, 600, 11],
  ], 205);
  t.diagnostic(`${builds.map((w) => w.name).join(', ')}: ${n} products`);
});
