import type { Float } from '../kernels/backend.js';
import type { Param } from '../nn/param.js';
import type { Optimizer } from './optimizer.js';

/** Plain SGD: w ← w − lr·g (the paper's Amazon setting: lr 1.0 with exponential decay). */
export class Sgd implements Optimizer {
  readonly name = 'sgd';
  readonly stateSlots = 0;
  /** Steps taken (SGD keeps no other state). */
  steps = 0;
  bindState(_p: Param, _arrays: Float[]): void {}
  stateOf(_p: Param): Float[] | undefined {
    return undefined;
  }
  step(params: Param[], lr: number): void {
    this.steps++;
    for (const p of params) {
      const w = p.value;
      const g = p.grad;
      if (p.sparse) {
        const dim = p.shape[1];
        const ids = p.sparse.ids;
        for (let r = 0, count = p.sparse.count; r < count; r++) {
          const vo = ids[r] * dim;
          const go = r * dim;
          for (let i = 0; i < dim; i++) w[vo + i] -= lr * g[go + i];
        }
      } else {
        for (let i = 0; i < w.length; i++) w[i] -= lr * g[i];
      }
    }
  }
}
