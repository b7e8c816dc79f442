import { Batcher } from '../data/batcher.js';
import type { SampleSet } from '../data/types.js';
import { evaluate, type EvalResult } from '../metrics/index.js';
import type { Model } from '../models/model.js';

export type { EvalResult };

/** Logits of every sample of a set, in sample order, computed in eval mode (Dice uses its moving averages). */
export function predict(model: Model, set: SampleSet, opts: { batchSize: number; maxHistory: number }): Float64Array {
  const out = new Float64Array(set.size);
  const batcher = new Batcher(set, { batchSize: opts.batchSize, maxHistory: opts.maxHistory, shuffle: false, seed: 0 });
  for (const batch of batcher.epoch(0)) {
    const logits = model.forward(batch, 'eval');
    for (let i = 0; i < batch.size; i++) out[batch.index[i]] = logits[i];
  }
  return out;
}

export function evaluateModel(model: Model, set: SampleSet, opts: { batchSize: number; maxHistory: number }): EvalResult {
  const logits = predict(model, set, opts);
  return evaluate(logits, set.labels, set.users);
}
