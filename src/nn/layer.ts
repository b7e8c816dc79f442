import type { EvalActivation, Float } from '../kernels/backend.js';
import type { Param } from './param.js';
import type { BatchGroup } from './batch-group.js';

/**
 * How a forward pass runs. `'train'`: Dice normalizes with the batch's own mean and variance and updates its moving
 * averages, and the pass can be followed by `backward`. `'eval'`: Dice uses the moving averages and no state changes,
 * so a sample's output does not depend on the rest of its batch (evaluation, prediction, serving).
 */
export type Mode = 'train' | 'eval';

/**
 * A row-wise layer on an `n × inDim` matrix. `forward` caches what `backward` needs (the input by reference, so the
 * caller must not overwrite it in between); `backward` accumulates parameter gradients and returns dX, which is
 * owned by the layer and valid until its next backward.
 */
export interface Layer {
  readonly inDim: number;
  readonly outDim: number;
  forward(x: Float, n: number, mode: Mode): Float;
  backward(dy: Float): Float;
  params(): Param[];
  /** Non-trainable state (e.g. Dice moving averages), by stable name. */
  buffers(): Record<string, Float>;
  /**
   * Layers whose train-mode output depends on the whole batch (Dice) take the data-parallel group their batch is
   * split over (null: the batch they see is the whole batch); absent on the others.
   */
  setBatchGroup?(group: BatchGroup | null): void;
}

/** An elementwise activation layer (PReLU, Dice, sigmoid) that can describe its eval form. */
export interface ActivationLayer extends Layer {
  /** Param-name prefix, e.g. `mlp.0.dice`. */
  readonly name: string;
  /** Its eval-mode function with the parameters it has now (see src/nn/eval-form.ts). */
  evalActivation(): EvalActivation;
}

/** Zeroes the gradient of dense params; sparse params are reset by their owning embedding. */
export function zeroDenseGrads(params: Param[]): void {
  for (const p of params) if (!p.sparse) p.grad.fill(0);
}
