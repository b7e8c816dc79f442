import type { Backend, Float } from './backend.js';

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
  free(_a: Float | Int32Array): void {}

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
}
