import type { Float } from './backend.js';
import type { Param } from './param.js';

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
}

/** Zeroes the gradient of dense params; sparse params are reset by their owning embedding. */
export function zeroDenseGrads(params: Param[]): void {
  for (const p of params) if (!p.sparse) p.grad.fill(0);
}
