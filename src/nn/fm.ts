import type { Backend, Float } from '../kernels/backend.js';
import { FloatBuf } from './workspace.js';

/**
 * Factorization-machine second-order term over F field embeddings of width k per row, V [n, F·k] row-major:
 *   y = ½ Σ_j [(Σ_f v_fj)² − Σ_f v_fj²] = Σ_{f<g} ⟨v_f, v_g⟩   (Rendle's O(F·k) form),
 *   ∂y/∂v_f = s − v_f with s = Σ_f v_f.
 * Parameter-free: the embeddings belong to the model (DeepFM shares them with its deep part).
 */
export class FmSecondOrder {
  private readonly s: FloatBuf;
  private readonly out: FloatBuf;
  private readonly dV: FloatBuf;
  private V: Float | null = null;
  private n = 0;

  constructor(backend: Backend, readonly F: number, readonly k: number) {
    this.s = new FloatBuf(backend, k);
    this.out = new FloatBuf(backend, 1);
    this.dV = new FloatBuf(backend, F * k);
  }

  /** y [n] (owned). V is kept by reference until backward. */
  forward(V: Float, n: number): Float {
    const { F, k } = this;
    const s = this.s.ensure(n);
    const out = this.out.ensure(n);
    this.V = V;
    this.n = n;
    for (let r = 0; r < n; r++) {
      const o = r * F * k;
      let sq = 0;
      for (let j = 0; j < k; j++) {
        let acc = 0;
        for (let f = 0; f < F; f++) {
          const v = V[o + f * k + j];
          acc += v;
          sq += v * v;
        }
        s[r * k + j] = acc;
      }
      let ss = 0;
      for (let j = 0; j < k; j++) ss += s[r * k + j] * s[r * k + j];
      out[r] = 0.5 * (ss - sq);
    }
    return out;
  }

  /** dV [n, F·k] = dy · (s − v_f) (owned, overwritten). */
  backward(dy: Float): Float {
    const { F, k, n, V } = this;
    if (V === null) throw new Error('fm: backward before forward');
    const s = this.s.view;
    const dV = this.dV.ensure(n);
    for (let r = 0; r < n; r++) {
      const g = dy[r];
      const o = r * F * k;
      for (let f = 0; f < F; f++) {
        for (let j = 0; j < k; j++) dV[o + f * k + j] = g * (s[r * k + j] - V[o + f * k + j]);
      }
    }
    return dV;
  }
}
