/**
 * The workers that share one training batch (data-parallel training, src/train/data-parallel.ts): each holds a
 * replica of the model on its own backend and runs forward/backward on its slice of the batch. Layers whose train-mode
 * output depends on the whole batch (Dice's batch statistics) sum their per-channel sums over the group: the trainer
 * hands the group to the model (`Model.setBatchGroup`), which hands it to those layers (`Layer.setBatchGroup`).
 *
 * `allReduce` must be called by every worker of the group in the same order with arrays of the same length; it
 * leaves the same sum, computed in the same order, on every worker (so replicas stay bit-identical).
 */
export interface BatchGroup {
  readonly size: number;
  allReduce(a: Float64Array): void;
}
