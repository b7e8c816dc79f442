import type { Backend } from '../kernels/backend.js';
import { Adam } from './adam.js';
import type { Optimizer } from './optimizer.js';
import { Sgd } from './sgd.js';

/**
 * `sgd`: plain w ← w − lr·g (the paper's Amazon setting, lr 1.0). `adam`: Adam with β = (0.9, 0.999), ε = 1e-8,
 * lazy on embedding tables (a row's moments move only when the row is in the batch).
 */
export type OptimizerName = 'sgd' | 'adam';
export { Adam, Sgd };
export type { Optimizer };
export { clipGradNorm, gradNorm, gradSumSquares, scaleToNorm } from './optimizer.js';
export { createRegularizer, regularizerFromSpec, PENALTY_REGS, REG_NAMES, type RegName, type Regularizer, type RegularizerOptions,
  type RegularizerSpec } from './regularizer.js';

/** `backend`: the one the params live on (the model's), so optimizers with state can run on its kernels. */
export function createOptimizer(name: OptimizerName, backend?: Backend): Optimizer {
  switch (name) {
    case 'sgd':
      return new Sgd();
    case 'adam':
      return new Adam({ backend });
    default:
      throw new Error(`unknown optimizer "${name as string}" (expected sgd or adam)`);
  }
}

/** Exponential decay per epoch: lr · decay^epoch (epoch counted from 0). */
export function learningRate(base: number, decay: number, epoch: number): number {
  return base * Math.pow(decay, epoch);
}
