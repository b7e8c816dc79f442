import type { Backend, Float } from '../kernels/backend.js';
import { FloatBuf } from './workspace.js';

/**
 * Mean binary log loss of logits z against labels y ∈ [0,1], computed stably as
 * max(z,0) − z·y + log1p(exp(−|z|)). When `dLogits` is given it receives ∂loss/∂z = (sigmoid(z) − y) / denom,
 * denom = n unless given (a worker holding n rows of a batch of `denom` rows, in data-parallel training).
 */
export function sigmoidLogLoss(logits: ArrayLike<number>, labels: ArrayLike<number>, n: number,
  dLogits?: Float, denom = n): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const z = logits[i];
    const y = labels[i];
    sum += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
    if (dLogits) {
      const p = z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
      dLogits[i] = (p - y) / denom;
    }
  }
  return n > 0 ? sum / n : 0;
}

/** {@link sigmoidLogLoss} with a backend-owned dLogits workspace, for a training loop. */
export class LogLoss {
  private readonly d: FloatBuf;
  constructor(backend: Backend) {
    this.d = new FloatBuf(backend, 1);
  }
  /** Returns the mean loss; `grad` then holds dLogits (length n) until the next call. */
  forward(logits: ArrayLike<number>, labels: ArrayLike<number>, n: number): number {
    return sigmoidLogLoss(logits, labels, n, this.d.ensure(n));
  }
  get grad(): Float {
    return this.d.view;
  }
}
