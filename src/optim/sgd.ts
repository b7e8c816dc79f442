import type { Param } from '../nn/param.js';
import { type Optimizer, forEachGradRow } from './optimizer.js';

/** Plain SGD: w ← w − lr·g (the paper's Amazon setting: lr 1.0 with exponential decay). */
export class Sgd implements Optimizer {
  readonly name = 'sgd';
  step(params: Param[], lr: number): void {
    for (const p of params) {
      const w = p.value;
      const g = p.grad;
      forEachGradRow(p, (vo, go, n) => {
        for (let i = 0; i < n; i++) w[vo + i] -= lr * g[go + i];
      });
    }
  }
}
