import type { Float } from '../nn/backend.js';
import type { Param } from '../nn/param.js';
import type { Optimizer } from './optimizer.js';

export interface AdamOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/**
 * Adam (Kingma & Ba). For embedding tables it is "lazy": moments of a row are updated only when the row is in the
 * batch (as TensorFlow's sparse Adam), so rare ids are not dragged by stale momentum and a step costs O(batch rows).
 * Moment tables have the size of the parameter (state, not gradient).
 */
export class Adam implements Optimizer {
  readonly name = 'adam';
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private t = 0;
  private readonly m = new Map<Param, Float64Array>();
  private readonly v = new Map<Param, Float64Array>();

  constructor(opts: AdamOptions = {}) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
  }

  step(params: Param[], lr: number): void {
    this.t++;
    const { beta1: b1, beta2: b2, eps } = this;
    const c1 = 1 - Math.pow(b1, this.t);
    const c2 = 1 - Math.pow(b2, this.t);
    const ic1 = 1 / c1;
    const ic2 = 1 / c2;
    for (const p of params) {
      let m = this.m.get(p);
      let v = this.v.get(p);
      if (!m || !v) {
        m = new Float64Array(p.value.length);
        v = new Float64Array(p.value.length);
        this.m.set(p, m);
        this.v.set(p, v);
      }
      const w = p.value;
      const g = p.grad;
      if (p.sparse) {
        // Embedding tables: only the rows in this batch (lazy Adam). Explicit loops: this is the optimizer's hot path.
        const dim = p.shape[1];
        const ids = p.sparse.ids;
        for (let r = 0, count = p.sparse.count; r < count; r++) {
          adamRange(w, g, m, v, ids[r] * dim, r * dim, dim, b1, b2, lr, ic1, ic2, eps);
        }
      } else {
        adamRange(w, g, m, v, 0, 0, w.length, b1, b2, lr, ic1, ic2, eps);
      }
    }
  }
}

function adamRange(w: Float, g: Float, m: Float64Array, v: Float64Array, vo: number, go: number, n: number,
  b1: number, b2: number, lr: number, ic1: number, ic2: number, eps: number): void {
  for (let i = 0; i < n; i++) {
    const gi = g[go + i];
    const k = vo + i;
    const mk = (m[k] = b1 * m[k] + (1 - b1) * gi);
    const vk = (v[k] = b2 * v[k] + (1 - b2) * gi * gi);
    w[k] -= (lr * mk * ic1) / (Math.sqrt(vk * ic2) + eps);
  }
}
