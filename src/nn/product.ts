import type { Backend, Float } from '../kernels/backend.js';
import { FloatBuf } from './workspace.js';

/**
 * Inner-product layer of IPNN: for F field embeddings of width k per row, V [n, F·k], the P = F(F−1)/2 pairwise
 * inner products p_(f,g) = ⟨v_f, v_g⟩, f < g, in row-major pair order (0,1), (0,2), …, (F−2,F−1). Parameter-free;
 * the model feeds them to its MLP beside the embeddings.
 */
export class InnerProduct {
  readonly P: number;
  private readonly out: FloatBuf;
  private readonly dV: FloatBuf;
  private V: Float | null = null;
  private n = 0;

  constructor(backend: Backend, readonly F: number, readonly k: number) {
    this.P = (F * (F - 1)) / 2;
    this.out = new FloatBuf(backend, Math.max(1, this.P));
    this.dV = new FloatBuf(backend, F * k);
  }

  /** p [n, P] (owned). V is kept by reference until backward. */
  forward(V: Float, n: number): Float {
    const { F, k, P } = this;
    const out = this.out.ensure(n);
    this.V = V;
    this.n = n;
    for (let r = 0; r < n; r++) {
      const o = r * F * k;
      let p = r * P;
      for (let f = 0; f < F; f++) {
        for (let g = f + 1; g < F; g++) {
          let acc = 0;
          for (let j = 0; j < k; j++) acc += V[o + f * k + j] * V[o + g * k + j];
          out[p++] = acc;
        }
      }
    }
    return out;
  }

  /** dV [n, F·k] for dp [n, P] (owned, overwritten): ∂/∂v_f += dp_(f,g)·v_g, ∂/∂v_g += dp_(f,g)·v_f. */
  backward(dp: Float): Float {
    const { F, k, P, n, V } = this;
    if (V === null) throw new Error('inner product: backward before forward');
    const dV = this.dV.ensure(n);
    dV.fill(0);
    for (let r = 0; r < n; r++) {
      const o = r * F * k;
      let p = r * P;
      for (let f = 0; f < F; f++) {
        for (let g = f + 1; g < F; g++) {
          const d = dp[p++];
          for (let j = 0; j < k; j++) {
            dV[o + f * k + j] += d * V[o + g * k + j];
            dV[o + g * k + j] += d * V[o + f * k + j];
          }
        }
      }
    }
    return dV;
  }
}
