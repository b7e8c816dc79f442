import type { Backend } from './backend.js';

/**
 * The workers that share one training batch (data-parallel training, src/train/data-parallel.ts): each holds a
 * replica of the model on its own backend and runs forward/backward on its slice of the batch. Layers whose train-mode
 * output depends on the whole batch (Dice's batch statistics) sum their per-channel sums over the group.
 *
 * `allReduce` must be called by every worker of the group in the same order with arrays of the same length; it
 * leaves the same sum, computed in the same order, on every worker (so replicas stay bit-identical).
 */
export interface BatchGroup {
  readonly size: number;
  allReduce(a: Float64Array): void;
}

const groups = new WeakMap<Backend, BatchGroup>();

/** Makes the layers on `backend` sum their batch statistics over `group` (null: this backend's batch is its own). */
export function setBatchGroup(backend: Backend, group: BatchGroup | null): void {
  if (group === null) groups.delete(backend);
  else groups.set(backend, group);
}

export function batchGroupOf(backend: Backend): BatchGroup | undefined {
  return groups.get(backend);
}
