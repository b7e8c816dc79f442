import type { Backend, Float } from '../kernels/backend.js';
import { FloatBuf } from './workspace.js';

export type PoolingKind = 'sum' | 'avg';

/**
 * Masked pooling of K [B·T, D] over the first lengths[b] positions of each row: sum, or average (1/len weights).
 * Implemented as a weighted sum with weight 0 at padded positions, so they contribute nothing and get no gradient;
 * an empty history gives a zero vector (avg included).
 */
export class MaskedPooling {
  private readonly w: FloatBuf;
  private readonly dw: FloatBuf;
  private readonly out: FloatBuf;
  private K: Float | null = null;
  private B = 0;
  private T = 0;

  constructor(private readonly backend: Backend, readonly kind: PoolingKind, readonly D: number) {
    this.w = new FloatBuf(backend, 1);
    this.dw = new FloatBuf(backend, 1);
    this.out = new FloatBuf(backend, D);
  }

  forward(K: Float, lengths: ArrayLike<number>, B: number, T: number): Float {
    const w = this.w.ensure(B * T);
    const out = this.out.ensure(B);
    for (let b = 0; b < B; b++) {
      const len = Math.min(Math.max(lengths[b], 0), T);
      const v = this.kind === 'avg' ? (len > 0 ? 1 / len : 0) : 1;
      for (let t = 0; t < T; t++) w[b * T + t] = t < len ? v : 0;
    }
    this.K = K;
    this.B = B;
    this.T = T;
    if (B * T === 0) {
      out.fill(0);
      return out;
    }
    this.backend.weightedSum(w, K, B, T, this.D, out);
    return out;
  }

  /** Accumulates dK += w·dOut (0 on padded positions). */
  backward(dOut: Float, dK: Float): void {
    const { B, T, K } = this;
    if (K === null) throw new Error('pooling: backward before forward');
    if (B * T === 0) return;
    this.backend.weightedSumBackward(this.w.view, K, dOut, B, T, this.D, this.dw.ensure(B * T), dK);
  }
}
