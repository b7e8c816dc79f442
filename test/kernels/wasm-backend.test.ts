// Every WasmBackend op against the float64 JsBackend reference on seeded random inputs. Errors are measured relative to
// the magnitude of the terms (the same op on absolute values) and bounded by the float32 summation bound tolFor(L).
// Run directly with `node --experimental-wasm-relaxed-simd` (see relaxed.test.ts) the same checks cover the FMA build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WasmBackend } from '../../src/kernels/wasm-backend.js';
import { JsBackend } from '../../src/kernels/js-backend.js';
import { Rng } from '../../src/util/rng.js';
import { abs64, maxRelErr, randValues, tolFor } from './util.js';

const w = new WasmBackend({ relaxed: 'auto' });
const ref = new JsBackend('float64');

/** An operand: `a` is an unaligned (when off > 0) view into the WASM arena, `f` the same values in float64. */
interface Op { a: Float32Array; f: Float64Array; base: Float32Array }

function operand(rng: Rng, n: number, off: number, scale = 1): Op {
  const base = w.alloc(n + off);
  const a = base.subarray(off, off + n);
  const v = randValues(rng, n, scale);
  a.set(v);
  return { a, f: Float64Array.from(v), base };
}

function release(...ops: Op[]): void {
  for (const o of ops) w.free(o.base);
}

/** Tracks the worst error of one op across cases and reports it. */
class Worst {
  err = 0;
  ratio = 0;
  cases = 0;
  where = '';
  check(what: string, err: number, tol: number): void {
    this.cases++;
    if (err / tol >= this.ratio) {
      this.ratio = err / tol;
      this.err = Math.max(this.err, err);
      this.where = what;
    }
    assert.ok(err <= tol, `${what}: max relative error ${err.toExponential(3)} > tolerance ${tol.toExponential(3)}`);
  }
  report(t: { diagnostic(msg: string): void }, name: string): void {
    const msg = `${w.name} ${name}: ${this.cases} cases, max relative error ${this.err.toExponential(2)} ` +
      `(worst error/tolerance ${this.ratio.toFixed(3)} at ${this.where})`;
    t.diagnostic(msg);
  }
}

test('backend identity', () => {
  assert.equal(w.dtype, 'float32');
  const expect = process.env.DIN_KERNEL_TEST_EXPECT;
  if (expect) assert.equal(w.name, expect);
  else assert.match(w.name, /^wasm-(relaxed-)?simd$/);
});

test('gemm matches the float64 reference in all layouts, edge sizes, alpha/beta and offsets', (t) => {
  const rng = new Rng(101);
  const shapes: [number, number, number][] = [
    [1, 1, 1], [1, 5, 3], [3, 1, 5], [5, 17, 3], [17, 5, 1], [4, 8, 4], [8, 4, 16], [7, 9, 13], [2, 3, 2],
    [33, 31, 65], [64, 80, 144], [37, 1, 130], [45, 1, 19], [5120, 1, 40], [13, 257, 300], [300, 3, 513],
    [129, 260, 257], [6, 1, 600], [1, 200, 9],
  ];
  const coeffs: [number, number][] = [[1, 0], [0.5, 1], [-1.25, 0.3], [0, 1], [2, -1], [1, 1], [0.75, 0]];
  const worst = new Worst();
  let c = 0;
  for (const [M, N, K] of shapes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (let rep = 0; rep < 2; rep++) {
          const [alpha, beta] = coeffs[c++ % coeffs.length];
          const A = operand(rng, M * K, rng.int(4));
          const B = operand(rng, K * N, rng.int(4));
          const C = operand(rng, M * N, rng.int(6));
          const want = Float64Array.from(C.f);
          ref.gemm(transA, transB, M, N, K, alpha, A.f, B.f, beta, want);
          const mag = abs64(C.f);
          ref.gemm(transA, transB, M, N, K, Math.abs(alpha), abs64(A.f), abs64(B.f), Math.abs(beta), mag);
          w.gemm(transA, transB, M, N, K, alpha, A.a, B.a, beta, C.a);
          const what = `${transA ? 'T' : 'N'}${transB ? 'T' : 'N'} M=${M} N=${N} K=${K} α=${alpha} β=${beta}`;
          worst.check(what, maxRelErr(C.a, want, mag), tolFor(K));
          release(A, B, C);
        }
      }
    }
  }
  worst.report(t, 'gemm');
});

test('gemm with beta = 0 ignores NaN in C; K = 0 scales C by beta', () => {
  const rng = new Rng(102);
  for (const [tA, tB] of [[false, false], [true, true]] as const) {
    const M = 9, N = 11, K = 7;
    const A = operand(rng, M * K, 1);
    const B = operand(rng, K * N, 2);
    const C = operand(rng, M * N, 3);
    C.a.fill(NaN);
    const want = new Float64Array(M * N);
    ref.gemm(tA, tB, M, N, K, 1.5, A.f, B.f, 0, want);
    w.gemm(tA, tB, M, N, K, 1.5, A.a, B.a, 0, C.a);
    const mag = new Float64Array(M * N);
    ref.gemm(tA, tB, M, N, K, 1.5, abs64(A.f), abs64(B.f), 0, mag);
    assert.ok(maxRelErr(C.a, want, mag) <= tolFor(K));
    release(A, B, C);
  }
  const C = operand(rng, 12, 1);
  const dummy = operand(rng, 1, 0);
  w.gemm(false, false, 3, 4, 0, 1, dummy.a, dummy.a, 0.5, C.a);
  assert.deepEqual(Array.from(C.a), Array.from(C.f, (v) => Math.fround(0.5 * v)));
  w.gemm(false, false, 3, 4, 0, 1, dummy.a, dummy.a, 0, C.a);
  assert.deepEqual(Array.from(C.a), new Array(12).fill(0));
  release(C, dummy);
});

test('addBias and sumRows', (t) => {
  const rng = new Rng(103);
  const wb = new Worst();
  const ws = new Worst();
  for (const [M, N] of [[1, 1], [3, 5], [17, 3], [5, 4], [64, 80], [5, 257], [513, 19], [1000, 36]]) {
    const Y = operand(rng, M * N, rng.int(4));
    const b = operand(rng, N, rng.int(4));
    const want = Float64Array.from(Y.f);
    ref.addBias(want, b.f, M, N);
    const mag = abs64(Y.f);
    ref.addBias(mag, abs64(b.f), M, N);
    w.addBias(Y.a, b.a, M, N);
    wb.check(`M=${M} N=${N}`, maxRelErr(Y.a, want, mag), tolFor(1));

    const dY = operand(rng, M * N, rng.int(4));
    const db = operand(rng, N, rng.int(4));
    const wantDb = Float64Array.from(db.f);
    ref.sumRows(dY.f, M, N, wantDb);
    const magDb = abs64(db.f);
    ref.sumRows(abs64(dY.f), M, N, magDb);
    w.sumRows(dY.a, M, N, db.a);
    ws.check(`M=${M} N=${N}`, maxRelErr(db.a, wantDb, magDb), tolFor(M + 1));
    release(Y, b, dY, db);
  }
  wb.report(t, 'addBias');
  ws.report(t, 'sumRows');
});

test('gather copies rows exactly, zero rows for negative ids, rejects ids past the table', () => {
  const rng = new Rng(104);
  for (const dim of [1, 3, 4, 5, 8, 17, 18, 36, 64]) {
    const rows = 1 + rng.int(50);
    const n = 1 + rng.int(200);
    const table = operand(rng, rows * dim, rng.int(4));
    const idsBase = w.allocInt(n + 3);
    const ids = idsBase.subarray(3);
    for (let i = 0; i < n; i++) ids[i] = rng.next() < 0.2 ? -1 - rng.int(5) : rng.int(rows);
    ids[0] = rows - 1;
    if (n > 1) ids[n - 1] = -1;
    const out = operand(rng, n * dim, rng.int(4));
    out.a.fill(NaN); // padding rows must be written, not left alone
    const want = new Float64Array(n * dim);
    ref.gather(table.f, dim, Int32Array.from(ids), n, want);
    w.gather(table.a, dim, ids, n, out.a);
    assert.deepEqual(Array.from(out.a), Array.from(want), `dim=${dim} n=${n}`);
    ids[n >> 1] = rows;
    assert.throws(() => w.gather(table.a, dim, ids, n, out.a), /out of range/);
    release(table, out);
    w.free(idsBase);
  }
});

test('scatterAddRows accumulates repeated slots, skips negative ones', (t) => {
  const rng = new Rng(105);
  const worst = new Worst();
  for (const dim of [1, 3, 4, 5, 17, 18, 36]) {
    const rows = 1 + rng.int(20);
    const n = 1 + rng.int(300);
    const grad = operand(rng, rows * dim, rng.int(4));
    const dOut = operand(rng, n * dim, rng.int(4));
    const slotsBase = w.allocInt(n + 1);
    const slots = slotsBase.subarray(1);
    for (let i = 0; i < n; i++) slots[i] = rng.next() < 0.2 ? -1 - rng.int(3) : rng.int(rows);
    const plainSlots = Int32Array.from(slots);
    const want = Float64Array.from(grad.f);
    ref.scatterAddRows(want, dim, plainSlots, n, dOut.f);
    const mag = abs64(grad.f);
    ref.scatterAddRows(mag, dim, plainSlots, n, abs64(dOut.f));
    w.scatterAddRows(grad.a, dim, slots, n, dOut.a);
    worst.check(`dim=${dim} n=${n} rows=${rows}`, maxRelErr(grad.a, want, mag), tolFor(n + 1));
    slots[0] = rows;
    assert.throws(() => w.scatterAddRows(grad.a, dim, slots, n, dOut.a), /out of range/);
    release(grad, dOut);
    w.free(slotsBase);
  }
  worst.report(t, 'scatterAddRows');
});

const attnShapes: [number, number, number][] = [
  [1, 1, 1], [2, 3, 5], [3, 5, 4], [4, 7, 17], [5, 1, 18], [8, 20, 36], [3, 50, 3], [2, 9, 64],
];

test('attnInput is exact: [q, k, q−k, q⊙k] rounded once to float32', () => {
  const rng = new Rng(106);
  for (const [B, T, D] of attnShapes) {
    const q = operand(rng, B * D, rng.int(4));
    const K = operand(rng, B * T * D, rng.int(4));
    const out = operand(rng, B * T * 4 * D, rng.int(4));
    const want = new Float64Array(B * T * 4 * D);
    ref.attnInput(q.f, K.f, B, T, D, want);
    w.attnInput(q.a, K.a, B, T, D, out.a);
    // One float32 op on float32 inputs, evaluated in float64 then rounded, equals the float32 op (53 ≥ 2·24 + 2).
    assert.deepEqual(Array.from(out.a), Array.from(want, Math.fround), `B=${B} T=${T} D=${D}`);
    release(q, K, out);
  }
});

test('attnInputBackward', (t) => {
  const rng = new Rng(107);
  const wq = new Worst();
  const wk = new Worst();
  for (const [B, T, D] of attnShapes) {
    const q = operand(rng, B * D, rng.int(4));
    const K = operand(rng, B * T * D, rng.int(4));
    const g = operand(rng, B * T * 4 * D, rng.int(4));
    const dq = operand(rng, B * D, rng.int(4));
    const dK = operand(rng, B * T * D, rng.int(4));
    const wantQ = Float64Array.from(dq.f);
    const wantK = Float64Array.from(dK.f);
    ref.attnInputBackward(q.f, K.f, g.f, B, T, D, wantQ, wantK);
    // Term magnitudes: dq gets |g0|+|g2|+|g3||k| per t, dK gets |g1|+|g2|+|g3||q|.
    const magQ = abs64(dq.f);
    const magK = abs64(dK.f);
    for (let b = 0; b < B; b++) {
      for (let tt = 0; tt < T; tt++) {
        const r = b * T + tt;
        for (let d = 0; d < D; d++) {
          const o = r * 4 * D + d;
          const a = (i: number) => Math.abs(g.f[o + i * D]);
          magQ[b * D + d] += a(0) + a(2) + a(3) * Math.abs(K.f[r * D + d]);
          magK[r * D + d] += a(1) + a(2) + a(3) * Math.abs(q.f[b * D + d]);
        }
      }
    }
    w.attnInputBackward(q.a, K.a, g.a, B, T, D, dq.a, dK.a);
    wq.check(`B=${B} T=${T} D=${D}`, maxRelErr(dq.a, wantQ, magQ), tolFor(3 * T + 1));
    wk.check(`B=${B} T=${T} D=${D}`, maxRelErr(dK.a, wantK, magK), tolFor(4));
    release(q, K, g, dq, dK);
  }
  wq.report(t, 'attnInputBackward dq');
  wk.report(t, 'attnInputBackward dK');
});

/** The valid rows of a random padded batch: rowIdx[i] = b·T + t for t < len_b, rowB[i] = b (backend-owned). */
function validRows(rng: Rng, B: number, T: number): { rowIdx: Int32Array; rowB: Int32Array; N: number } {
  const idx: number[] = [];
  const bs: number[] = [];
  for (let b = 0; b < B; b++) {
    const len = b === 1 ? 0 : 1 + rng.int(T);
    for (let t = 0; t < len; t++) {
      idx.push(b * T + t);
      bs.push(b);
    }
  }
  const rowIdx = w.allocInt(Math.max(1, idx.length));
  const rowB = w.allocInt(Math.max(1, idx.length));
  rowIdx.set(idx);
  rowB.set(bs);
  return { rowIdx, rowB, N: idx.length };
}

test('sumSquares: float64 sum of squares of float32 values, any length and offset', () => {
  const rng = new Rng(112);
  for (const n of [0, 1, 3, 4, 5, 17, 64, 1001]) {
    const x = operand(rng, n, rng.int(4), 3);
    let want = 0;
    for (let i = 0; i < n; i++) want += x.f[i] * x.f[i];
    const got = w.sumSquares(x.a, n);
    assert.ok(Math.abs(got - want) <= 1e-12 * want, `n=${n}: ${got} vs ${want}`);
    assert.equal(ref.sumSquares(x.f, n), want);
    release(x);
  }
});

test('attnPairs is exact: [k, q⊙k] on the valid rows, rounded once to float32', () => {
  const rng = new Rng(110);
  for (const [B, T, D] of attnShapes) {
    const { rowIdx, rowB, N } = validRows(rng, B, T);
    const q = operand(rng, B * D, rng.int(4));
    const K = operand(rng, B * T * D, rng.int(4));
    const out = operand(rng, N * 2 * D, rng.int(4));
    const want = new Float64Array(N * 2 * D);
    ref.attnPairs(q.f, K.f, rowIdx, rowB, N, B, T, D, want);
    w.attnPairs(q.a, K.a, rowIdx, rowB, N, B, T, D, out.a);
    assert.deepEqual(Array.from(out.a), Array.from(want, Math.fround), `B=${B} T=${T} D=${D}`);
    release(q, K, out);
    w.free(rowIdx);
    w.free(rowB);
  }
  assert.throws(() => w.attnPairs(w.alloc(2), w.alloc(2), w.allocInt(3), w.allocInt(3), 3, 1, 2, 1, w.alloc(6)), /N = 3 rows but B·T = 2/);
});

test('attnPairsBackward', (t) => {
  const rng = new Rng(111);
  const wq = new Worst();
  const wk = new Worst();
  for (const [B, T, D] of attnShapes) {
    const { rowIdx, rowB, N } = validRows(rng, B, T);
    const q = operand(rng, B * D, rng.int(4));
    const K = operand(rng, B * T * D, rng.int(4));
    const g = operand(rng, N * 2 * D, rng.int(4));
    const dq = operand(rng, B * D, rng.int(4));
    const dK = operand(rng, B * T * D, rng.int(4));
    const wantQ = Float64Array.from(dq.f);
    const wantK = Float64Array.from(dK.f);
    ref.attnPairsBackward(q.f, K.f, g.f, rowIdx, rowB, N, B, T, D, wantQ, wantK);
    const magQ = abs64(dq.f);
    const magK = abs64(dK.f);
    for (let i = 0; i < N; i++) {
      for (let d = 0; d < D; d++) {
        const g1 = Math.abs(g.f[i * 2 * D + d]);
        const g2 = Math.abs(g.f[i * 2 * D + D + d]);
        magQ[rowB[i] * D + d] += g2 * Math.abs(K.f[rowIdx[i] * D + d]);
        magK[rowIdx[i] * D + d] += g1 + g2 * Math.abs(q.f[rowB[i] * D + d]);
      }
    }
    w.attnPairsBackward(q.a, K.a, g.a, rowIdx, rowB, N, B, T, D, dq.a, dK.a);
    wq.check(`B=${B} T=${T} D=${D}`, maxRelErr(dq.a, wantQ, magQ), tolFor(T + 1));
    wk.check(`B=${B} T=${T} D=${D}`, maxRelErr(dK.a, wantK, magK), tolFor(3));
    release(q, K, g, dq, dK);
    w.free(rowIdx);
    w.free(rowB);
  }
  wq.report(t, 'attnPairsBackward dq');
  wk.report(t, 'attnPairsBackward dK');
});

test('weightedSum and weightedSumBackward', (t) => {
  const rng = new Rng(108);
  const wo = new Worst();
  const ww = new Worst();
  const wk = new Worst();
  for (const [B, T, D] of attnShapes) {
    const wt = operand(rng, B * T, rng.int(4));
    const K = operand(rng, B * T * D, rng.int(4));
    const out = operand(rng, B * D, rng.int(4));
    out.a.fill(NaN); // overwritten, never read
    const want = new Float64Array(B * D);
    ref.weightedSum(wt.f, K.f, B, T, D, want);
    const mag = new Float64Array(B * D);
    ref.weightedSum(abs64(wt.f), abs64(K.f), B, T, D, mag);
    w.weightedSum(wt.a, K.a, B, T, D, out.a);
    wo.check(`B=${B} T=${T} D=${D}`, maxRelErr(out.a, want, mag), tolFor(T));

    const g = operand(rng, B * D, rng.int(4));
    const dw = operand(rng, B * T, rng.int(4));
    dw.a.fill(NaN);
    const dK = operand(rng, B * T * D, rng.int(4));
    const wantW = new Float64Array(B * T);
    const wantK = Float64Array.from(dK.f);
    ref.weightedSumBackward(wt.f, K.f, g.f, B, T, D, wantW, wantK);
    const magW = new Float64Array(B * T);
    const magK = abs64(dK.f);
    ref.weightedSumBackward(abs64(wt.f), abs64(K.f), abs64(g.f), B, T, D, magW, magK);
    w.weightedSumBackward(wt.a, K.a, g.a, B, T, D, dw.a, dK.a);
    ww.check(`B=${B} T=${T} D=${D}`, maxRelErr(dw.a, wantW, magW), tolFor(D));
    wk.check(`B=${B} T=${T} D=${D}`, maxRelErr(dK.a, wantK, magK), tolFor(2));
    release(wt, K, out, g, dw, dK);
  }
  wo.report(t, 'weightedSum');
  ww.report(t, 'weightedSumBackward dw');
  wk.report(t, 'weightedSumBackward dK');
});

test('the error measure detects a wrong element (the checks can fail)', () => {
  const rng = new Rng(109);
  const M = 40, N = 24, K = 64;
  const A = operand(rng, M * K, 0);
  const B = operand(rng, K * N, 0);
  const C = operand(rng, M * N, 0);
  const want = new Float64Array(M * N);
  ref.gemm(false, false, M, N, K, 1, A.f, B.f, 0, want);
  const mag = new Float64Array(M * N);
  ref.gemm(false, false, M, N, K, 1, abs64(A.f), abs64(B.f), 0, mag);
  w.gemm(false, false, M, N, K, 1, A.a, B.a, 0, C.a);
  assert.ok(maxRelErr(C.a, want, mag) <= tolFor(K));
  // Dropping a single product term from one output must exceed the tolerance.
  const i = 7, j = 5;
  C.a[i * N + j] -= A.a[i * K + K - 1] * B.a[(K - 1) * N + j];
  assert.ok(maxRelErr(C.a, want, mag) > tolFor(K));
  // Using the wrong layout must too.
  w.gemm(false, true, M, N, K, 1, A.a, B.a, 0, C.a);
  assert.ok(maxRelErr(C.a, want, mag) > 100 * tolFor(K));
  release(A, B, C);
});

test('operands are validated: foreign arrays, short arrays, bad sizes', () => {
  const a = w.alloc(16);
  const other = new WasmBackend({ relaxed: false, memoryMB: 16 });
  const foreignMsg = /not an array of this WasmBackend/;
  assert.throws(() => w.gemm(false, false, 4, 4, 1, 1, new Float32Array(4), a, 0, a), foreignMsg);
  assert.throws(() => w.addBias(a, other.alloc(4), 4, 4), /not an array of this WasmBackend/);
  assert.throws(() => w.addBias(a, new Float64Array(4) as never, 4, 4), /not an array of this WasmBackend/);
  assert.throws(() => w.gather(a, 4, new Int32Array(2), 2, a), /ids .*not an array of this WasmBackend/);
  assert.throws(() => w.gemm(false, false, 5, 4, 1, 1, a, a, 0, a), /C has 16 elements, needs 20/);
  assert.throws(() => w.sumRows(a, -1, 4, a), /M must be an int32 >= 0/);
  assert.throws(() => w.addBias(a, a, 1.5, 4), /M must be an int32 >= 0/);
  w.free(a);
});
