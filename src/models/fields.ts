import type { Backend, Float } from '../kernels/backend.js';
import type { ModelConfig } from './model.js';
import { FloatBuf } from '../nn/workspace.js';

/**
 * The field embeddings the product layer (PNN) and the FM (DeepFM) interact. Per row they are V = [q, u]:
 *  - goodsDim == attrDim (> 0): 4 fields of width goodsDim — candidate goods, candidate attributes (mean-pooled, as
 *    the encoder gives them), pooled history goods, pooled history attributes (q = [goods, attr], u likewise);
 *    With E extra item fields (each goodsDim wide, see ItemEncoder) there are 2·(2 + E) such fields.
 *  - otherwise (widths differ, or no attribute part): 2 fields of width D — the candidate q and the pooled history u
 *    (inner products need equal widths, so the per-table split is only used when it is defined).
 */
export function fieldLayout(config: Pick<ModelConfig, 'goodsDim' | 'attrDim'>, extraItemFields = 0): { F: number; k: number } {
  const { goodsDim, attrDim } = config;
  return attrDim > 0 && attrDim === goodsDim
    ? { F: 2 * (2 + extraItemFields), k: goodsDim }
    : { F: 2, k: goodsDim + attrDim + extraItemFields * goodsDim };
}

/** Builds V [B, 2D] = [q, u] per row and routes dV back into dq, du. */
export class FieldStack {
  private readonly V: FloatBuf;

  constructor(backend: Backend, readonly D: number) {
    this.V = new FloatBuf(backend, 2 * D);
  }

  forward(q: Float, u: Float, B: number): Float {
    const D = this.D;
    const V = this.V.ensure(B);
    for (let b = 0; b < B; b++) {
      const o = b * 2 * D;
      for (let j = 0; j < D; j++) {
        V[o + j] = q[b * D + j];
        V[o + D + j] = u[b * D + j];
      }
    }
    return V;
  }

  /** dq += dV[:, :D], du += dV[:, D:]. */
  backward(dV: Float, B: number, dq: Float, du: Float): void {
    const D = this.D;
    for (let b = 0; b < B; b++) {
      const o = b * 2 * D;
      for (let j = 0; j < D; j++) {
        dq[b * D + j] += dV[o + j];
        du[b * D + j] += dV[o + D + j];
      }
    }
  }
}
