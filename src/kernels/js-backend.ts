import { prepareEvalActivation, type Backend, type DiceStats, type EvalActivation, type Float, type PreparedActivation } from './backend.js';
import { sigmoid, sigmoidF32 } from '../util/math.js';

/**
 * Reference backend in plain TypeScript. float64 by default (gradient checks); float32 is available so the WASM
 * kernels can be compared against the same arithmetic precision.
 */
export class JsBackend implements Backend {
  readonly name: string;
  constructor(readonly dtype: 'float32' | 'float64' = 'float64') {
    this.name = `js-${dtype === 'float64' ? 'f64' : 'f32'}`;
  }

  alloc(n: number): Float {
    return this.dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  }
  allocInt(n: number): Int32Array {
    return new Int32Array(n);
  }
  allocF64(n: number): Float64Array {
    return new Float64Array(n);
  }
  free(_a: Float | Int32Array): void {}

  adamUpdate(w: Float, g: Float, m: Float, v: Float, ids: Int32Array | null, n: number, dim: number,
    b1: number, b2: number, lr: number, ic1: number, ic2: number, eps: number): void {
    // float64 moments: the reference arithmetic in float64; float32 moments: every op rounded to float32, as the
    // WASM kernel computes (bit-identical to it).
    const range = m instanceof Float64Array ? adamRange : adamRangeF32;
    if (ids === null) {
      range(w, g, m, v, 0, 0, n, b1, b2, lr, ic1, ic2, eps);
      return;
    }
    // Explicit loops: this is the optimizer's hot path.
    for (let r = 0; r < n; r++) range(w, g, m, v, ids[r] * dim, r * dim, dim, b1, b2, lr, ic1, ic2, eps);
  }

  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: Float, B: Float,
    beta: number, C: Float): void {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const a = transA ? A[k * M + i] : A[i * K + k];
          const b = transB ? B[j * K + k] : B[k * N + j];
          s += a * b;
        }
        const c = i * N + j;
        C[c] = (beta === 0 ? 0 : beta * C[c]) + alpha * s;
      }
    }
  }

  sumSquares(x: Float, n: number): number {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i] * x[i];
    return s;
  }

  addBias(Y: Float, b: Float, M: number, N: number): void {
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) Y[i * N + j] += b[j];
  }

  sumRows(dY: Float, M: number, N: number, db: Float): void {
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) db[j] += dY[i * N + j];
  }

  gather(table: Float, dim: number, ids: Int32Array, n: number, out: Float): void {
    for (let i = 0; i < n; i++) {
      const id = ids[i];
      const o = i * dim;
      if (id < 0) {
        out.fill(0, o, o + dim);
      } else {
        const t = id * dim;
        for (let j = 0; j < dim; j++) out[o + j] = table[t + j];
      }
    }
  }

  scatterAddRows(grad: Float, dim: number, slots: Int32Array, n: number, dOut: Float): void {
    for (let i = 0; i < n; i++) {
      const s = slots[i];
      if (s < 0) continue;
      const g = s * dim;
      const o = i * dim;
      for (let j = 0; j < dim; j++) grad[g + j] += dOut[o + j];
    }
  }

  attnInput(q: Float, K: Float, B: number, T: number, D: number, out: Float): void {
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const r = b * T + t;
        const o = r * 4 * D;
        for (let d = 0; d < D; d++) {
          const qv = q[b * D + d];
          const kv = K[r * D + d];
          out[o + d] = qv;
          out[o + D + d] = kv;
          out[o + 2 * D + d] = qv - kv;
          out[o + 3 * D + d] = qv * kv;
        }
      }
    }
  }

  attnInputBackward(q: Float, K: Float, dOut: Float, B: number, T: number, D: number, dq: Float, dK: Float): void {
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const r = b * T + t;
        const o = r * 4 * D;
        for (let d = 0; d < D; d++) {
          const qv = q[b * D + d];
          const kv = K[r * D + d];
          const g0 = dOut[o + d];
          const g1 = dOut[o + D + d];
          const g2 = dOut[o + 2 * D + d];
          const g3 = dOut[o + 3 * D + d];
          dq[b * D + d] += g0 + g2 + g3 * kv;
          dK[r * D + d] += g1 - g2 + g3 * qv;
        }
      }
    }
  }

  attnPairs(q: Float, K: Float, rowIdx: Int32Array, rowB: Int32Array, N: number, _B: number, _T: number, D: number,
    x2: Float): void {
    for (let i = 0; i < N; i++) {
      const ko = rowIdx[i] * D;
      const qo = rowB[i] * D;
      const o = i * 2 * D;
      for (let d = 0; d < D; d++) {
        const k = K[ko + d];
        x2[o + d] = k;
        x2[o + D + d] = q[qo + d] * k;
      }
    }
  }

  attnPairsBackward(q: Float, K: Float, dx2: Float, rowIdx: Int32Array, rowB: Int32Array, N: number, _B: number,
    _T: number, D: number, dq: Float, dK: Float): void {
    for (let i = 0; i < N; i++) {
      const ko = rowIdx[i] * D;
      const qo = rowB[i] * D;
      const o = i * 2 * D;
      for (let d = 0; d < D; d++) {
        const g1 = dx2[o + d];
        const g2 = dx2[o + D + d];
        dK[ko + d] += g1 + g2 * q[qo + d];
        dq[qo + d] += g2 * K[ko + d];
      }
    }
  }

  weightedSum(w: Float, K: Float, B: number, T: number, D: number, out: Float): void {
    for (let b = 0; b < B; b++) {
      for (let d = 0; d < D; d++) {
        let s = 0;
        for (let t = 0; t < T; t++) s += w[b * T + t] * K[(b * T + t) * D + d];
        out[b * D + d] = s;
      }
    }
  }

  weightedSumBackward(w: Float, K: Float, dOut: Float, B: number, T: number, D: number, dw: Float, dK: Float): void {
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const r = b * T + t;
        let s = 0;
        for (let d = 0; d < D; d++) {
          s += dOut[b * D + d] * K[r * D + d];
          dK[r * D + d] += w[r] * dOut[b * D + d];
        }
        dw[r] = s;
      }
    }
  }

  preluForward(x: Float, alpha: Float, n: number, C: number, y: Float): void {
    const a = alpha;
    // Branch-free (p = [x > 0] as 0/1): the sign of activations is random, and a mispredicted branch per element
    // made this loop ~3× slower. p + α(1 − p) is exactly 1 or α.
    for (let i = 0; i < n; i++) {
      const o = i * C;
      for (let c = 0; c < C; c++) {
        const v = x[o + c];
        const p = +(v > 0);
        y[o + c] = v * (p + a[c] * (1 - p));
      }
    }
  }

  preluBackward(x: Float, alpha: Float, dy: Float, n: number, C: number, dx: Float, dAlpha: Float): void {
    const a = alpha;
    const ga = dAlpha;
    for (let i = 0; i < n; i++) {
      const o = i * C;
      for (let c = 0; c < C; c++) {
        const v = x[o + c];
        const g = dy[o + c];
        const p = +(v > 0);
        dx[o + c] = g * (p + a[c] * (1 - p));
        ga[c] += g * v * (1 - p);
      }
    }
  }

  diceStats(C: number): DiceStats {
    return new JsDiceStats(C);
  }

  diceForward(x: Float, n: number, C: number, alpha: Float, movingMean: Float, movingVar: Float, train: boolean,
    momentum: number, epsilon: number, stats: DiceStats, y: Float, p: Float, z: Float): void {
    const st = jsStats(stats, C);
    if (n === 0) return;
    if (train) {
      this.diceSumX(x, n, C, st);
      for (let c = 0; c < C; c++) st.mean[c] /= n;
      this.diceSumSqDev(x, n, C, st);
      finishBatchStats(st, C, n, movingMean, movingVar, momentum, epsilon);
    } else {
      for (let c = 0; c < C; c++) {
        st.mean[c] = movingMean[c];
        st.inv[c] = 1 / Math.sqrt(movingVar[c] + epsilon);
      }
    }
    this.diceApply(x, n, C, alpha, st, y, p, z);
  }

  diceSumShifted(x: Float, n: number, C: number, shift: Float, stats: DiceStats): void {
    const { mean, inv } = jsStats(stats, C);
    mean.fill(0);
    inv.fill(0);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < C; c++) {
        const d = x[i * C + c] - shift[c];
        mean[c] += d;
        inv[c] += d * d;
      }
    }
  }

  private diceSumX(x: Float, n: number, C: number, st: JsDiceStats): void {
    const mean = st.mean;
    mean.fill(0);
    for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) mean[c] += x[i * C + c];
  }

  private diceSumSqDev(x: Float, n: number, C: number, st: JsDiceStats): void {
    const { mean, inv } = st;
    inv.fill(0);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < C; c++) {
        const d = x[i * C + c] - mean[c];
        inv[c] += d * d;
      }
    }
  }

  diceForwardStats(x: Float, n: number, C: number, N: number, alpha: Float, movingMean: Float, movingVar: Float,
    momentum: number, epsilon: number, stats: DiceStats, y: Float, p: Float, z: Float): void {
    const st = jsStats(stats, C);
    finishBatchStats(st, C, N, movingMean, movingVar, momentum, epsilon);
    this.diceApply(x, n, C, alpha, st, y, p, z);
  }

  private diceApply(x: Float, n: number, C: number, a: Float, st: JsDiceStats, y: Float, p: Float, z: Float): void {
    const { mean, inv } = st;
    const f32 = this.dtype === 'float32';
    for (let i = 0; i < n; i++) {
      const o = i * C;
      for (let c = 0; c < C; c++) {
        const v = x[o + c];
        const zz = (v - mean[c]) * inv[c];
        const pp = f32 ? sigmoidF32(zz) : sigmoid(zz);
        z[o + c] = zz;
        p[o + c] = pp;
        y[o + c] = v * (a[c] + (1 - a[c]) * pp);
      }
    }
  }

  diceBackward(x: Float, dy: Float, n: number, C: number, alpha: Float, train: boolean, stats: DiceStats, p: Float,
    z: Float, dx: Float, dAlpha: Float): void {
    if (n === 0) return;
    this.diceBackwardSums(x, dy, n, C, alpha, stats, p, z, dx, dAlpha);
    if (train) this.diceBackwardCorrect(n, C, n, stats, z, dx);
  }

  diceBackwardSums(x: Float, dy: Float, n: number, C: number, alpha: Float, stats: DiceStats, p: Float, z: Float,
    dx: Float, dAlpha: Float): void {
    const st = jsStats(stats, C);
    const a = alpha;
    const ga = dAlpha;
    const { sumG, sumGZ, inv } = st;
    sumG.fill(0);
    sumGZ.fill(0);
    for (let i = 0; i < n; i++) {
      const o = i * C;
      for (let c = 0; c < C; c++) {
        const v = x[o + c];
        const g = dy[o + c];
        const pp = p[o + c];
        ga[c] += g * v * (1 - pp);
        dx[o + c] = g * (a[c] + (1 - a[c]) * pp);
        // dL/dz, then dL/dx through z = (x − μ)·inv.
        const gz = g * (1 - a[c]) * v * pp * (1 - pp);
        dx[o + c] += gz * inv[c];
        sumG[c] += gz;
        sumGZ[c] += gz * z[o + c];
      }
    }
  }

  diceBackwardCorrect(n: number, C: number, N: number, stats: DiceStats, z: Float, dx: Float): void {
    // Batch statistics: μ and σ² depend on every row. Scaled copies, so the gz slots keep the sums.
    const st = jsStats(stats, C);
    const { sumG, sumGZ, inv, corrA, corrB } = st;
    for (let c = 0; c < C; c++) {
      corrA[c] = (sumG[c] / N) * inv[c];
      corrB[c] = (sumGZ[c] / N) * inv[c];
    }
    for (let i = 0; i < n; i++) {
      const o = i * C;
      for (let c = 0; c < C; c++) dx[o + c] -= corrA[c] + z[o + c] * corrB[c];
    }
  }

  prepareActivation(a: EvalActivation, C: number): PreparedActivation {
    return prepareEvalActivation(this, a, C);
  }

  evalActivationGrid(act: PreparedActivation, x: Float, xRow0: number, nA: number, nB: number, A: Float, aOff: number, sA: number,
    B: Float, bOff: number, sB: number): void {
    if (nA <= 0 || nB <= 0) return;
    const C = act.C;
    if (x.length < (xRow0 + nA * nB) * C) throw new RangeError(`evalActivationGrid: rows exceed an array of ${x.length}`);
    const f32 = this.dtype === 'float32';
    const row = new Float64Array(C);
    for (let i = 0; i < nA; i++) {
      for (let j = 0; j < nB; j++) {
        const ao = aOff + i * sA;
        const bo = bOff + j * sB;
        for (let c = 0; c < C; c++) row[c] = A[ao + c] + B[bo + c];
        evalRow(act, x, (xRow0 + i * nB + j) * C, row, f32);
      }
    }
  }

  pairProducts(out: Float, outRow0: number, Q: Float, qRow0: number, nA: number, K: Float, kRow0: number, nB: number, D: number): void {
    let o = outRow0 * D;
    for (let i = 0; i < nA; i++) {
      const qo = (qRow0 + i) * D;
      for (let j = 0; j < nB; j++) {
        const ko = (kRow0 + j) * D;
        for (let d = 0; d < D; d++) out[o + d] = Q[qo + d] * K[ko + d];
        o += D;
      }
    }
  }
}

/**
 * One row of x at offset o biased by `row` and activated: the layers' eval forward. float64: exactly their arithmetic
 * (the reference the engine tests hold the kernels to); float32: each op rounded as the WASM kernels round.
 */
function evalRow(act: PreparedActivation, x: Float, o: number, row: Float64Array, f32: boolean): void {
  const C = act.C;
  const a = act.alpha;
  switch (act.kind) {
    case 'none':
      for (let c = 0; c < C; c++) x[o + c] += row[c];
      return;
    case 'prelu':
      // p + α(1 − p) is exactly 1 or α (p = [v > 0]), as in src/nn/prelu.ts.
      for (let c = 0; c < C; c++) {
        const v = f32 ? Math.fround(x[o + c] + row[c]) : x[o + c] + row[c];
        const p = +(v > 0);
        x[o + c] = v * (p + a[c] * (1 - p));
      }
      return;
    case 'dice': {
      const { oneMinusAlpha: a1, mean, invStd: inv } = act;
      for (let c = 0; c < C; c++) {
        const v = f32 ? Math.fround(x[o + c] + row[c]) : x[o + c] + row[c];
        x[o + c] = v * (a[c] + a1[c] * (f32 ? sigmoidF32((v - mean[c]) * inv[c]) : sigmoid((v - mean[c]) * inv[c])));
      }
      return;
    }
    case 'sigmoid':
      for (let c = 0; c < C; c++) x[o + c] = f32 ? sigmoidF32(Math.fround(x[o + c] + row[c])) : sigmoid(x[o + c] + row[c]);
      return;
  }
}

/** JsBackend's Dice workspace (the common layout of DiceStats.data: mean, 1/sqrt(var + ε), Σ gz, Σ gz·z; then scratch). */
class JsDiceStats implements DiceStats {
  readonly data: Float64Array;
  readonly mean: Float64Array;
  readonly inv: Float64Array;
  readonly sumG: Float64Array;
  readonly sumGZ: Float64Array;
  readonly corrA: Float64Array;
  readonly corrB: Float64Array;
  constructor(readonly channels: number) {
    const C = channels;
    this.data = new Float64Array(6 * C);
    this.mean = this.data.subarray(0, C);
    this.inv = this.data.subarray(C, 2 * C);
    this.sumG = this.data.subarray(2 * C, 3 * C);
    this.sumGZ = this.data.subarray(3 * C, 4 * C);
    this.corrA = this.data.subarray(4 * C, 5 * C);
    this.corrB = this.data.subarray(5 * C, 6 * C);
  }
}

/** mean slots = batch mean, var slots = Σ (x − mean)² over N rows → moving averages, and var slots = 1/sqrt(var + ε). */
function finishBatchStats(st: JsDiceStats, C: number, N: number, movingMean: Float, movingVar: Float, m: number,
  epsilon: number): void {
  const { mean, inv } = st;
  for (let c = 0; c < C; c++) {
    const v = inv[c] / N;
    movingMean[c] = m * movingMean[c] + (1 - m) * mean[c];
    movingVar[c] = m * movingVar[c] + (1 - m) * v;
    inv[c] = 1 / Math.sqrt(v + epsilon);
  }
}

function jsStats(stats: DiceStats, C: number): JsDiceStats {
  if (!(stats instanceof JsDiceStats) || stats.channels !== C) {
    throw new TypeError(`dice: stats is not a JsBackend Dice workspace for ${C} channels (make it with diceStats(C))`);
  }
  return stats;
}

/** Adam on float32 moments, every op rounded to float32 in the WASM kernel's order (src/kernels/assembly/adam.ts). */
function adamRangeF32(w: Float, g: Float, m: Float, v: Float, vo: number, go: number, n: number,
  b1: number, b2: number, lr: number, ic1: number, ic2: number, eps: number): void {
  const f = Math.fround;
  const fb1 = f(b1), fb2 = f(b2), flr = f(lr), fic1 = f(ic1), fic2 = f(ic2), feps = f(eps);
  const c1 = f(1 - fb1);
  const c2 = f(1 - fb2);
  for (let i = 0; i < n; i++) {
    const gi = f(g[go + i]);
    const k = vo + i;
    const mk = f(f(fb1 * m[k]) + f(c1 * gi));
    const vk = f(f(fb2 * v[k]) + f(f(c2 * gi) * gi));
    m[k] = mk;
    v[k] = vk;
    const u = f(f(f(flr * mk) * fic1) / f(f(Math.sqrt(f(vk * fic2))) + feps));
    w[k] = f(w[k] - u);
  }
}

function adamRange(w: Float, g: Float, m: Float, v: Float, vo: number, go: number, n: number,
  b1: number, b2: number, lr: number, ic1: number, ic2: number, eps: number): void {
  for (let i = 0; i < n; i++) {
    const gi = g[go + i];
    const k = vo + i;
    const mk = (m[k] = b1 * m[k] + (1 - b1) * gi);
    const vk = (v[k] = b2 * v[k] + (1 - b2) * gi * gi);
    w[k] -= (lr * mk * ic1) / (Math.sqrt(vk * ic2) + eps);
  }
}
