import assert from 'node:assert/strict';
import type { Batch } from '../../src/core/types.js';
import type { Backend } from '../../src/kernels/backend.js';
import { DEFAULT_MODEL_CONFIG, type Model, type ModelConfig, type ModelContext } from '../../src/models/model.js';
import { Rng } from '../../src/util/rng.js';

/** 12 items, 5 attributes; items 3 and 10 have none, several have more than one. */
export function tinyCatalog(): ModelContext['catalog'] {
  const attrs = [[0], [1, 2], [2], [], [3, 0, 1], [4], [0, 4], [1], [2, 3], [3], [], [4, 4]];
  const attrOffsets = new Int32Array(attrs.length + 1);
  attrs.forEach((a, i) => (attrOffsets[i + 1] = attrOffsets[i] + a.length));
  return { numItems: attrs.length, numAttrs: 5, attrOffsets, attrValues: Int32Array.from(attrs.flat()) };
}

export function tinyConfig(over: Partial<ModelConfig> & Pick<ModelConfig, 'model'>): ModelConfig {
  return { ...DEFAULT_MODEL_CONFIG, goodsDim: 3, attrDim: 2, hidden: [6, 4], attentionHidden: [5, 3], ...over };
}

export function context(backend: Backend, seed = 7): ModelContext {
  return { backend, catalog: tinyCatalog(), seed };
}

/**
 * B = 6, T = 4 with a full row, an empty row, a single-behaviour row, duplicates, and the candidate repeated in the
 * history. Items 9 and 11 appear only at padded positions (they hold ids instead of −1 to prove masking by length).
 */
export function tinyBatch(): Batch {
  const B = 6;
  const T = 4;
  const hist = Int32Array.from([
    1, 2, 3, 4,
    5, 5, 9, 11,
    11, 9, 9, 11,
    0, 9, -1, -1,
    6, 7, 8, 11,
    2, 2, 1, -1,
  ]);
  return {
    size: B,
    T,
    labels: Float32Array.from([1, 0, 1, 0, 0, 1]),
    users: Int32Array.from([0, 1, 2, 3, 4, 5]),
    items: Int32Array.from([2, 5, 7, 0, 10, 3]),
    hist,
    lengths: Int32Array.from([4, 2, 0, 1, 3, 3]),
    index: Int32Array.from([0, 1, 2, 3, 4, 5]),
  };
}

export { Rng };

/**
 * Asserts that padded history positions contribute exactly 0 to a model's logits: other ids at padded positions
 * (−1 or ids used elsewhere), changed weights of items seen only there (9 and 11), and a longer padding (larger T)
 * all leave the logits unchanged. Returns the reference batch and its train-mode logits for further checks.
 */
export function assertPaddingInvariance(model: Model): { batch: Batch; ref: number[] } {
  const batch = tinyBatch();
  const b2 = tinyBatch();
  for (let b = 0; b < b2.size; b++) for (let t = b2.lengths[b]; t < b2.T; t++) b2.hist[b * b2.T + t] = (b + t) % 3 === 0 ? -1 : (b * 5 + t) % 12;
  // (eval first: a train forward moves the Dice averages)
  assert.deepEqual(Array.from(model.forward(b2, 'eval')), Array.from(model.forward(batch, 'eval')));
  const ref = Array.from(model.forward(batch, 'train'));
  assert.deepEqual(Array.from(model.forward(b2, 'train')), ref);
  // Every goods-indexed weight of items 9 and 11 (seen only at padded positions).
  for (const p of model.params()) {
    if (!p.sparse || !/goods/.test(p.name)) continue;
    const dim = p.shape[1];
    for (const row of [9, 11]) for (let j = 0; j < dim; j++) p.value[row * dim + j] += 10;
  }
  assert.deepEqual(Array.from(model.forward(batch, 'train')), ref);
  const T = 7;
  const hist = new Int32Array(batch.size * T).fill(-1);
  for (let b = 0; b < batch.size; b++) for (let t = 0; t < batch.T; t++) hist[b * T + t] = batch.hist[b * batch.T + t];
  const logitsWide = Array.from(model.forward({ ...batch, T, hist }, 'train'));
  logitsWide.forEach((v, i) => assert.ok(Math.abs(v - ref[i]) < 1e-12));
  return { batch, ref };
}
