import { Batcher } from '../data/batcher.js';
import type { SampleSet } from '../core/types.js';
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

/**
 * GAUC (impression-weighted, grouped by user), AUC and log loss of a model on one sample set, from logits computed in
 * eval mode. Pass the training `maxHistory` to measure what the model was trained to see.
 */
export function evaluateModel(model: Model, set: SampleSet, opts: { batchSize: number; maxHistory: number }): EvalResult {
  const logits = predict(model, set, opts);
  return evaluate(logits, set.labels, set.users);
}

/** Samples to evaluate: one SampleSet, or parts (shards) produced one at a time. */
export type EvalSource = SampleSet | (() => Iterable<SampleSet>);

/**
 * Metrics over a set or over parts read one at a time (sharded data): logits, labels and users of every part are
 * collected (13 bytes per sample) so AUC and GAUC (grouped by user across parts) are over the whole split.
 */
export function evaluateSource(model: Model, src: EvalSource, opts: { batchSize: number; maxHistory: number }): EvalResult {
  if (typeof src !== 'function') return evaluateModel(model, src, opts);
  const parts = [];
  // copies: a view would keep the whole shard buffer alive while the next parts are read
  for (const set of src()) parts.push({ logits: predict(model, set, opts), labels: set.labels.slice(), users: set.users.slice() });
  return evaluateParts(parts);
}

/**
 * Metrics over the concatenation of parts (the shards of a split, predicted one at a time): AUC and GAUC grouped by
 * user across parts.
 */
export function evaluateParts(parts: ReadonlyArray<{ logits: Float64Array; labels: Uint8Array; users: Int32Array }>): EvalResult {
  const n = parts.reduce((a, p) => a + p.logits.length, 0);
  const logits = new Float64Array(n);
  const labels = new Uint8Array(n);
  const users = new Int32Array(n);
  let at = 0;
  for (const p of parts) {
    logits.set(p.logits, at);
    labels.set(p.labels, at);
    users.set(p.users, at);
    at += p.logits.length;
  }
  return evaluate(logits, labels, users);
}
