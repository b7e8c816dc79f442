import type { Backend, Float } from '../kernels/backend.js';
import type { Param } from '../nn/param.js';

/**
 * An optimizer updates parameters from their gradients. Embedding tables (params with `sparse`) are updated only on
 * the rows present in this step's compact gradient, so a step costs O(rows in the batch), never O(table size).
 */
export interface Optimizer {
  /** The {@link OptimizerName} it was made from (`createOptimizer`); data-parallel replicas are made from it. */
  readonly name: string;
  /**
   * One update of every param in place from its current gradient, at learning rate `lr`; sparse params only on their
   * compact rows. Stateful optimizers (Adam) keep their moments per Param object and count steps, so pass the same
   * Param objects every step.
   */
  step(params: Param[], lr: number): void;
  /** State arrays it keeps per parameter value (Adam: 2, the moments; SGD: 0). A row store keeps them with each row. */
  readonly stateSlots: number;
  /**
   * Uses `arrays` (stateSlots arrays, each as long as `p.value`, allocated on the optimizer's backend, or plain arrays
   * of the backend's dtype when it has none) as the state of `p` from now
   * on: an external table's working set brings each step's rows' state from its store.
   */
  bindState(p: Param, arrays: Float[]): void;
  /** Step count of a stateful optimizer (Adam's bias correction); saved with checkpoints. */
  steps: number;
  /** The state arrays of `p`, when it has any yet (dense params: saved with checkpoints). */
  stateOf(p: Param): Float[] | undefined;
}

/** Number of gradient values that are live this step (compact rows for sparse params). */
export function liveGradLength(p: Param): number {
  return p.sparse ? p.sparse.count * p.shape[1] : p.grad.length;
}

/** Global L2 norm of all live gradients (with `backend`, the params' own, its sumSquares kernel adds them up). */
export function gradNorm(params: Param[], backend?: Backend): number {
  return Math.sqrt(gradSumSquares(params, backend));
}

/** Σ g² over all live gradients. */
export function gradSumSquares(params: Param[], backend?: Backend): number {
  let s = 0;
  for (const p of params) {
    const g = p.grad;
    const n = liveGradLength(p);
    if (backend) {
      s += backend.sumSquares(g, n);
    } else {
      for (let i = 0; i < n; i++) s += g[i] * g[i];
    }
  }
  return s;
}

/**
 * Scales all gradients so their global norm is at most maxNorm (the original DIN code clips at 5).
 * Returns the norm before clipping.
 */
export function clipGradNorm(params: Param[], maxNorm: number, backend?: Backend): number {
  const norm = gradNorm(params, backend);
  scaleToNorm(params, norm, maxNorm);
  return norm;
}

/** Scales all live gradients by maxNorm / norm when norm > maxNorm (norm: their global norm, computed elsewhere). */
export function scaleToNorm(params: Param[], norm: number, maxNorm: number): void {
  if (maxNorm > 0 && norm > maxNorm && Number.isFinite(norm)) {
    const s = maxNorm / norm;
    for (const p of params) scale(p.grad, liveGradLength(p), s);
  }
}

function scale(g: Float, n: number, s: number): void {
  for (let i = 0; i < n; i++) g[i] *= s;
}
